// Messages between the bench orchestrator and its child processes (fleet, PLC, consumers), over Node IPC.
import type { CorpusOptions } from './corpus-cache.ts';

/** Stands in for `time` in pre-encoded frames; same length as an ISO timestamp, overwritten at publish. */
export const TIME_PLACEHOLDER = '0000-00-00T00:00:00.000Z';

export interface FleetSpec {
  hosts: number;
  /** The first `activeHosts` hosts get accounts and publish; the rest stay connected and silent. */
  activeHosts: number;
  /** Accounts per active host the relay knows before the measured phase (announced: #identity, #account, #sync). */
  accountsPerHost: number;
  /** Commits of those accounts per active host, published in the measured phase. */
  eventsPerHost: number;
  /**
   * Commits of the known accounts per active host published, and delivered, before the measured phase (default 0),
   * with as many other first-seen accounts' commits among them as coldAccountsPerHost: by then the relay's hot paths
   * are compiled, as in a relay that has been running (a fresh process spends its first seconds under load
   * compiling them on V8's helper threads, docs/perf-journal.md, session 22).
   */
  warmupPerHost?: number;
  /**
   * Accounts per active host the relay first sees in the measured phase: never announced, each publishes one commit,
   * spread through the host's stream with the known accounts' commits between them.
   */
  coldAccountsPerHost: number;
  /** Share of accounts with secp256k1 keys; the rest use P-256. */
  k256Share: number;
  corpus: CorpusOptions;
  /**
   * Frames are written to disk as they are made and read back as they are published, for runs too long to hold them
   * in memory (coldAccountsPerHost is not used; the cache keeps the file).
   */
  stream?: boolean;
}

export type FleetCommand =
  | { cmd: 'start'; spec: FleetSpec; index: number }
  | { cmd: 'subscribers' }
  /** Builds (or reads from the cache) the accounts, their announcements and commits; nothing is published yet. */
  | { cmd: 'prepare' }
  | { cmd: 'announce' }
  /** Publishes the warm-up commits as fast as subscribers take them. */
  | { cmd: 'warmup' }
  /** ratePerHost 0 = as fast as subscribers take it (a streaming fleet needs a rate). */
  | { cmd: 'publish'; ratePerHost: number }
  | { cmd: 'exit' };

export type FleetReply =
  | { type: 'ready' }
  | { type: 'listening'; hostnames: string[] }
  | { type: 'subscribers'; connected: number }
  | {
      type: 'prepared';
      /** DID documents of every account, for the PLC. */
      docs: Array<[string, object]>;
      /** The known accounts' DIDs (announced before the measured phase). */
      known: string[];
      commits: number;
      announced: number;
      /** Warm-up commits, published before the measured ones. */
      warmup: number;
      /** Sizes of the #commit frames to be published, and the records in each account's repo. */
      frameSizes: number[];
      repoSizes: number[];
      /** Read from the cache rather than generated. */
      cached: boolean;
      ms: number;
    }
  | { type: 'announced'; events: number }
  | { type: 'warmed'; sent: number }
  /** hostsWithoutSubscriber: active hosts the relay was not connected to when publishing ended. */
  | { type: 'published'; sent: number; ms: number; startedAt: number; hostsWithoutSubscriber: number }
  | { type: 'error'; message: string };

export type PlcCommand = { cmd: 'docs'; docs: Array<[string, object]> } | { cmd: 'stats' } | { cmd: 'exit' };
export type PlcReply = { type: 'ready'; url: string } | { type: 'stored'; count: number } | { type: 'stats'; requests: number; rateLimited: number };

export interface ConsumerSpec {
  url: string;
  connections: number;
  /** stall: connect, then never read (the socket is paused). */
  mode: 'read' | 'stall';
  cursor: number | null;
}

/** track: the commits of these DIDs are tallied and timed apart from the others. */
/** reset: commits and latencies are counted from now on (seq continuity is still checked across it). */
export type ConsumerCommand = { cmd: 'report' } | { cmd: 'track'; dids: string[] } | { cmd: 'reset' } | { cmd: 'exit' };

/** Commits received of one class, with the first and last receipt (ms since the epoch; 0 before any). */
export interface CommitTally {
  commits: number;
  firstAt: number;
  lastAt: number;
}

export interface ConnectionStats {
  events: number;
  commits: number;
  /** Seq not equal to the previous seq + 1. */
  gaps: number;
  firstSeq: number;
  lastSeq: number;
  firstCommitAt: number;
  lastCommitAt: number;
  /** Commits of the tracked DIDs, and of all others (both zero until a `track` command). */
  tracked: CommitTally;
  untracked: CommitTally;
  /** Frames whose fast byte scan disagreed with a full decode (sampled). */
  scanMismatches: number;
  errorFrames: string[];
  closeCode: number | null;
}

/** Latency histograms: [latency in ms, count] pairs. */
export type ConsumerReply =
  | { type: 'ready' }
  | { type: 'connected' }
  | { type: 'tracking'; dids: number }
  | { type: 'reset' }
  | { type: 'report'; connections: ConnectionStats[]; latencyHistogram: Array<[number, number]>; trackedLatencyHistogram: Array<[number, number]> }
  | { type: 'error'; message: string };

/**
 * Jetstream subscribers: `drains` connect with their query and read and discard bytes on a raw socket after the
 * handshake (they cost the machine almost nothing); one measuring subscriber (unfiltered) parses every message and
 * times it from the commit's publish time, which a firehose connection in the same process reads from the frames.
 */
export interface JetstreamConsumerSpec {
  url: string;
  drains: string[];
}

export type JetstreamConsumerCommand = { cmd: 'start'; spec: JetstreamConsumerSpec } | { cmd: 'report' } | { cmd: 'exit' };
export type JetstreamConsumerReply =
  | { type: 'ready' }
  | { type: 'connected' }
  | { type: 'report'; drains: import('./drain.ts').DrainStats[]; measured: { messages: number; commits: number; matched: number; bytes: number; closed: boolean }; latencyHistogram: Array<[number, number]> }
  | { type: 'error'; message: string };

/** Drain readers (bench/lib/drain.ts) at these paths. */
export type DrainCommand = { cmd: 'start'; url: string; paths: string[] } | { cmd: 'pause'; ms: number } | { cmd: 'report' } | { cmd: 'exit' };
/** connected: pid is the process that reads (the C readers' own, or the Node child's), for its CPU. */
export type DrainReply = { type: 'ready' } | { type: 'connected'; pid: number } | { type: 'report'; drains: import('./drain.ts').DrainStats[] } | { type: 'error'; message: string };

/**
 * The official consumer (bench/procs/atproto-sync.ts): reads `url` from `cursor`, and counts and times the commits
 * after `measureAfterSeq` until it has `commits` of them (those before are its own warm-up).
 */
export type OfficialConsumerCommand = { cmd: 'start'; url: string; plcUrl: string; cursor: number; measureAfterSeq: number; commits: number } | { cmd: 'report' } | { cmd: 'exit' };
/**
 * report: first and last commit handed over (ms since the epoch; 0 before any), the CPU between them, the errors it
 * reported, and the directory look-ups it tried again after a failure to connect.
 */
export type OfficialConsumerReply =
  | { type: 'ready' }
  | { type: 'report'; commits: number; ops: number; firstAt: number; lastAt: number; cpuUs: number; errorCount: number; errors: string[]; lookupRetries: number; redelivered: number }
  | { type: 'error'; message: string };
