// Messages between the bench orchestrator and its child processes (fleet, PLC, consumers), over Node IPC.

/** Stands in for `time` in pre-encoded frames; same length as an ISO timestamp, overwritten at publish. */
export const TIME_PLACEHOLDER = '0000-00-00T00:00:00.000Z';

export interface FleetSpec {
  hosts: number;
  /** The first `activeHosts` hosts get accounts and publish; the rest stay connected and silent. */
  activeHosts: number;
  accountsPerHost: number;
  eventsPerHost: number;
  /** Records each repo holds before the measured commits (MST depth). */
  seedRecords: number;
  /** Share of accounts with secp256k1 keys; the rest use P-256. */
  k256Share: number;
}

export type FleetCommand =
  | { cmd: 'start'; spec: FleetSpec }
  | { cmd: 'subscribers' }
  | { cmd: 'accounts' }
  /** Pre-generates account announcements and commits; nothing is published yet. */
  | { cmd: 'prepare' }
  | { cmd: 'announce' }
  /** ratePerHost 0 = as fast as subscribers take it. */
  | { cmd: 'publish'; ratePerHost: number }
  | { cmd: 'exit' };

export type FleetReply =
  | { type: 'ready' }
  | { type: 'listening'; hostnames: string[] }
  | { type: 'subscribers'; connected: number }
  | { type: 'docs'; docs: Array<[string, object]> }
  | { type: 'prepared'; commits: number; announced: number; ms: number }
  | { type: 'announced'; events: number }
  /** hostsWithoutSubscriber: active hosts the relay was not connected to when publishing ended. */
  | { type: 'published'; sent: number; ms: number; hostsWithoutSubscriber: number }
  | { type: 'error'; message: string };

export type PlcCommand = { cmd: 'docs'; docs: Array<[string, object]> } | { cmd: 'exit' };
export type PlcReply = { type: 'ready'; url: string } | { type: 'stored'; count: number };

export interface ConsumerSpec {
  url: string;
  connections: number;
  /** stall: connect, then never read (the socket is paused). */
  mode: 'read' | 'stall';
  cursor: number | null;
}

export type ConsumerCommand = { cmd: 'report' } | { cmd: 'exit' };

export interface ConnectionStats {
  events: number;
  commits: number;
  /** Seq not equal to the previous seq + 1. */
  gaps: number;
  firstSeq: number;
  lastSeq: number;
  firstCommitAt: number;
  lastCommitAt: number;
  /** Frames whose fast byte scan disagreed with a full decode (sampled). */
  scanMismatches: number;
  errorFrames: string[];
  closeCode: number | null;
}

export type ConsumerReply =
  | { type: 'ready' }
  | { type: 'connected' }
  | { type: 'report'; connections: ConnectionStats[]; /** [latency in ms, count] pairs. */ latencyHistogram: Array<[number, number]> }
  | { type: 'error'; message: string };
