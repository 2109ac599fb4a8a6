// What flows from stage to stage: an upstream message as decoded, an event accepted for rebroadcast, the outcome a
// host's pipeline hands the sequencer for every upstream seq, and a frame as committed under the relay's seq.
import type { AccountChange, CollectionChange } from './accounts.ts';

export type EventKind = 'commit' | 'sync' | 'identity' | 'account';

/** Message types the relay relays, with their '#'. */
export const RELAYED_TYPES: ReadonlySet<string> = new Set(['#commit', '#sync', '#identity', '#account']);

/** Repo state the relay records for an account when it accepts a #commit or #sync. */
export interface RepoState {
  rev: string;
  head: string;
  data: string;
}

/** Hosting status as an upstream #account event states it. */
export interface UpstreamStatus {
  active: boolean;
  status: string | null;
}

/** An upstream message that carries a seq, after framing checks. */
export interface UpstreamEvent {
  /** Message type with its '#', e.g. '#commit'. */
  t: string;
  seq: number;
  /** Account DID (`repo` on #commit, `did` elsewhere); '' when absent or not a string. */
  did: string;
  body: Record<string, unknown>;
  /** The body's bytes as received: relayed with the relay's seq spliced in, never encoded again. */
  received: Uint8Array;
  /** Size of the whole frame in bytes. */
  frameBytes: number;
}

export interface AcceptedEvent {
  did: string;
  kind: EventKind;
  /** Body as received (decoded); its seq is replaced by the relay's own. */
  body: Record<string, unknown>;
  /** `body`'s bytes as received; null for a body the relay built or changed (it is encoded afresh). */
  received: Uint8Array | null;
  /** What verification established of the repo (#commit, #sync). */
  repo?: RepoState;
  /** What the host says of the account (#account). */
  status?: UpstreamStatus;
  /** What the event does to the account's entries in the collection index (#commit, #sync). */
  collections?: CollectionChange;
}

/** An event the relay emits itself (its own #account, a #sync on release). */
export function relayEvent(did: string, kind: EventKind, body: Record<string, unknown>): AcceptedEvent {
  return { did, kind, body, received: null };
}

/**
 * Microseconds an event takes on the relay's time line: one per op of a commit (each becomes its own Jetstream
 * message, with its own time_us to resume from), one for anything else.
 */
export function timeSpanOf(ev: AcceptedEvent): number {
  const ops = ev.kind === 'commit' ? ev.body.ops : null;
  return Array.isArray(ops) && ops.length > 1 ? ops.length : 1;
}

/** `ev` with another body: the bytes received no longer describe it. */
export function withBody(ev: AcceptedEvent, body: Record<string, unknown>): AcceptedEvent {
  return { ...ev, body, received: null };
}

/**
 * One upstream event's outcome (an account's outcomes in its order), or an event the relay emits. Every upstream seq
 * passes through here, accepted or dropped, because the host's cursor may only move in the same transaction as what
 * it covers.
 */
export interface SequencerItem {
  hostId: number;
  /** null for an event the relay itself emits. */
  upstreamSeq: number | null;
  /** The host's resume point once this item is committed (absent: the cursor stays). */
  cursor?: HostCursor;
  event: AcceptedEvent | null;
  /** The upstream event was dropped by a check (counted in the host's rejections per minute). */
  rejected?: true;
  /** The account's state after this item, persisted with it whether or not its event is relayed. */
  account?: AccountChange;
}

/**
 * Where a host's stream is committed to: every upstream seq up to `at`, and the seqs in `above` (events are committed
 * as they are ready, not in upstream order). A new crawl resumes from `at` and skips `above`.
 */
export interface HostCursor {
  at: number;
  above: readonly number[];
}

/** Where a host's pipeline hands its outcomes (the sequencer). */
export interface SequencerSink {
  submit(item: SequencerItem): void;
  /** Items of a host not yet committed (for per-host backpressure). */
  pendingFor(hostId: number): number;
}

/** A frame as committed under the relay seq. */
export interface CommittedEvent {
  seq: number;
  did: string;
  kind: EventKind;
  frame: Uint8Array;
  /** The last microsecond the event takes on the relay's time line (0 for events logged before it had one). */
  timeUs: number;
}
