export type EventKind = 'commit' | 'sync' | 'identity' | 'account';

/** Repo state the relay records for an account when it accepts a #commit or #sync. */
export interface RepoStateUpdate {
  rev: string;
  head: string;
  data: string;
}

/** Upstream hosting status from an #account event. */
export interface StatusUpdate {
  active: boolean;
  status: string | null;
}

export interface AcceptedEvent {
  did: string;
  kind: EventKind;
  /** Body as received (decoded); its seq is replaced by the relay's own. */
  body: Record<string, unknown>;
  repo?: RepoStateUpdate;
  status?: StatusUpdate;
}

/** A change to an account's throttle state, persisted with the item whether or not its event is relayed. */
export interface ThrottleChange {
  did: string;
  throttled: string | null;
  throttledUntil: number | null;
  /** Signed commit block to re-announce as #sync on release (null clears it; undefined keeps it). */
  heldCommit?: Uint8Array | null;
  /** Repo state of a withheld commit, so a restart continues the chain the relay verified. */
  repo?: RepoStateUpdate;
}

/**
 * One upstream event's outcome, in upstream order. Every upstream seq passes through here — accepted or dropped —
 * because the host's cursor may only move in the same transaction as the events it covers.
 */
export interface SequencerItem {
  hostId: number;
  /** null for an event the relay itself emits: it moves no cursor. */
  upstreamSeq: number | null;
  event: AcceptedEvent | null;
  throttle?: ThrottleChange;
}

/** A frame as committed under the relay seq. */
export interface CommittedEvent {
  seq: number;
  did: string;
  kind: EventKind;
  frame: Uint8Array;
}
