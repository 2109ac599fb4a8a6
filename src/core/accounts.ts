// An account as the relay knows it, and the one typed change the sequencer persists with an item. The owner of this
// state is src/accounts/ (its transitions are pure functions there); everyone else reads it.
import type { RepoState, UpstreamStatus } from './events.ts';

/** Why the relay withholds an account's repo events. */
export type Throttle =
  /** The host already carries as many accounts as it may: waits for a slot. */
  | { reason: 'host_account_limit' }
  /** The account spent its write points: until the window ends (epoch ms). */
  | { reason: 'account_budget'; until: number };

export type ThrottleReason = Throttle['reason'];

export interface AccountState {
  did: string;
  /** The host the account is on, as the relay last saw it (null: not seen yet). */
  hostId: number | null;
  /** What the host says (#account); active until it says otherwise. */
  upstream: UpstreamStatus;
  /** Set by this relay's operators (e.g. takendown); overrides the host. */
  localStatus: string | null;
  /** The last repo state the relay accepted. */
  repo: RepoState | null;
  /** The host whose account slots this account holds one of (null: none, or throttled for lack of one). */
  slotHostId: number | null;
  throttle: Throttle | null;
  /** While throttled: the newest signed commit (a CAR) to re-announce as #sync on release. */
  heldCommit: Uint8Array | null;
  /**
   * Collections the collection index is known to hold for the account, learnt from the commits committed through
   * this process (null: not known; every commit writes its collections). A create in one of them writes nothing.
   */
  collections: readonly string[] | null;
}

/** An account the relay has seen nothing of yet. */
export function blankAccount(did: string): AccountState {
  return {
    did,
    hostId: null,
    upstream: { active: true, status: null },
    localStatus: null,
    repo: null,
    slotHostId: null,
    throttle: null,
    heldCommit: null,
    collections: null,
  };
}

/**
 * The relay's own view of an account: inactive if an operator acted, the relay throttles it, or the host says so
 * (in that order of precedence).
 */
export function effectiveStatus(a: { upstream: UpstreamStatus; localStatus: string | null; throttle: Throttle | null }): UpstreamStatus {
  if (a.localStatus) return { active: false, status: a.localStatus };
  if (a.throttle) return { active: false, status: 'throttled' };
  return a.upstream;
}

/** A change to an account, persisted in the batch of the item that caused it. Absent fields are left as they are. */
export interface AccountChange {
  did: string;
  /** The host the account is on (every change records it: accounts move between hosts). */
  hostId: number;
  repo?: RepoState;
  upstream?: UpstreamStatus;
  /** null lifts a throttle. */
  throttle?: Throttle | null;
  /** The newest signed commit (a CAR) to re-announce as #sync on release; null clears it. */
  heldCommit?: Uint8Array | null;
  /** What the change does to the account's entries in the collection index. */
  collections?: CollectionChange;
}

/**
 * What an accepted event does to an account's entries in the collection index (listReposByCollection): a repo is in
 * a collection while it holds a record of it. Collections a commit writes are present after it; a delete's
 * collection is present or absent as the commit's proof shows, or unknown where the proof does not show it.
 */
export interface CollectionChange {
  /** Drop every entry of the account first (the account was deleted). */
  reset?: boolean;
  present: string[];
  absent: string[];
  /** Collections whose last record may be gone, which the event does not show: asked of the PDS once committed. */
  unknown: string[];
  /** The whole repo is to be described by its PDS: nothing in the event says what it holds (a #sync, a move). */
  describe?: boolean;
}

/** Collection names, one string each (an account's known collections are kept for many accounts). */
const names = new Map<string, string>();
const MAX_NAMES = 10_000;

function intern(name: string): string {
  const known = names.get(name);
  if (known !== undefined) return known;
  if (names.size < MAX_NAMES) names.set(name, name);
  return name;
}

/**
 * A change to the index as it needs writing, given what it is known to hold (`known`), and what it is known to hold
 * after: collections already held are not written again (most commits add to collections the repo already has).
 */
export function collectionWrite(known: readonly string[] | null, change: CollectionChange): { write: CollectionChange | null; known: readonly string[] | null } {
  if (change.reset) return { write: change, known: change.present.map(intern) };
  const fresh = known ? change.present.filter((c) => !known.includes(c)) : change.present;
  const quiet = fresh.length === 0 && change.absent.length === 0 && change.unknown.length === 0 && !change.describe;
  const write = quiet ? null : fresh.length === change.present.length ? change : { ...change, present: fresh };
  // A PDS look-up will replace the entries wholesale: nothing is known until it has.
  if (change.describe) return { write, known: null };
  if (quiet) return { write, known };
  const gone = change.absent.length + change.unknown.length > 0 ? new Set([...change.absent, ...change.unknown]) : null;
  const next = [...(known ?? []).filter((c) => !gone?.has(c)), ...fresh.map(intern)];
  // Unknown before, a commit tells only of its own collections: what it wrote is known held from now on.
  return { write, known: next };
}

/** `next` applied over `prev`, collection by collection (the later says what holds). */
export function mergeCollectionChanges(prev: CollectionChange | undefined, next: CollectionChange): CollectionChange {
  if (!prev || next.reset) return next;
  const state = new Map<string, 'present' | 'absent' | 'unknown'>();
  for (const [list, v] of [[prev.present, 'present'], [prev.absent, 'absent'], [prev.unknown, 'unknown'], [next.present, 'present'], [next.absent, 'absent'], [next.unknown, 'unknown']] as const) {
    for (const c of list) state.set(c, v);
  }
  const out: CollectionChange = { present: [], absent: [], unknown: [] };
  for (const [c, v] of state) out[v].push(c);
  if (prev.reset) out.reset = true;
  if (prev.describe || next.describe) out.describe = true;
  return out;
}

/** `next` applied over `prev`: the later change wins, field by field. */
export function mergeChanges(prev: AccountChange | undefined, next: AccountChange): AccountChange {
  if (!prev) return next;
  const out: AccountChange = { ...prev, hostId: next.hostId };
  if (next.repo !== undefined) out.repo = next.repo;
  if (next.upstream !== undefined) out.upstream = next.upstream;
  if (next.throttle !== undefined) out.throttle = next.throttle;
  if (next.heldCommit !== undefined) out.heldCommit = next.heldCommit;
  if (next.collections !== undefined) out.collections = mergeCollectionChanges(prev.collections, next.collections);
  return out;
}

/** Read access to account state (the verifier's view; src/accounts/ owns the writes). */
export interface AccountView {
  get(did: string): Promise<AccountState | null>;
  /** What `get` would answer at once from memory; undefined when it would have to load (optional). */
  hit?(did: string): AccountState | null | undefined;
}
