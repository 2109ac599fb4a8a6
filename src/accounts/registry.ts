// The one owner of account state in a relay process: a bounded cache over the accounts table, where every change is
// a transition (transitions.ts) applied here and persisted by the sequencer with the item that caused it. The next
// event of an account (verified right after, before the batch commits) must see the change at once, so it is
// applied in memory first. Operators' changes made through any process arrive as a NOTIFY and drop the cached view.
import type { Logger } from 'pino';
import type { HeldAccount } from '../storage/accounts.ts';
import { blankAccount, type AccountState, type AccountView } from '../core/accounts.ts';
import type { SequencerItem } from '../core/events.ts';
import type { Clock } from '../core/clock.ts';
import { Batcher } from '../core/batcher.ts';
import type { RelayMetrics } from '../metrics.ts';
import { release, type SlotDelta, type Transition } from './transitions.ts';

/** Where account state is read from (storage/accounts.ts; the sequencer writes it). */
export interface AccountStore {
  /** One answer per DID, in order (null: the relay has never seen it). */
  loadMany(dids: string[]): Promise<Array<AccountState | null>>;
  /** Accounts holding one of a host's slots. */
  countSlots(hostId: number): Promise<number>;
  /** Throttled accounts of the given hosts, oldest first. */
  held(hostIds: number[]): Promise<HeldAccount[]>;
}

export interface AccountRegistryOptions {
  store: AccountStore;
  clock: Clock;
  metrics: RelayMetrics;
  log: Logger;
  maxEntries?: number;
}

/** Heap bytes one cached account state takes (repo state, cache slot; its DID is the identity cache's): 498 measured by `npm run bench memory`. */
export const ACCOUNT_ENTRY_BYTES = 520;

export class AccountRegistry implements AccountView {
  private readonly cache = new Map<string, AccountState | null>();
  /** Accounts holding a slot, per host crawled here (each host is crawled by one process). */
  private readonly slots = new Map<number, number>();
  private readonly o: AccountRegistryOptions;
  private readonly maxEntries: number;
  /** First-seen accounts come in bursts: their rows are read many per round trip. */
  private readonly loads: Batcher<string, AccountState | null>;
  readonly counters = { hits: 0, misses: 0 };

  constructor(o: AccountRegistryOptions) {
    this.o = o;
    this.maxEntries = o.maxEntries ?? 200_000;
    this.loads = new Batcher({ run: (dids) => o.store.loadMany(dids), maxInFlight: 4 });
  }

  get size(): number {
    return this.cache.size;
  }

  /** What `get` answers at once from memory (counted as `get` counts it); undefined when it would load the state. */
  hit(did: string): AccountState | null | undefined {
    if (!this.cache.has(did)) return undefined;
    this.counters.hits++;
    const hit = this.cache.get(did)!;
    this.remember(did, hit);
    return hit;
  }

  async get(did: string): Promise<AccountState | null> {
    const hit = this.hit(did);
    if (hit !== undefined) return hit;
    this.counters.misses++;
    const state = await this.loads.submit(did);
    // A transition applied while the row was loading is newer than the row.
    if (this.cache.has(did)) return this.cache.get(did)!;
    this.remember(did, state);
    return state;
  }

  /** The cached state, without loading it (null when not cached). */
  peek(did: string): AccountState | null {
    return this.cache.get(did) ?? null;
  }

  /** The state to apply a transition to: cached, or blank for an account never seen. */
  current(did: string): AccountState {
    return this.cache.get(did) ?? blankAccount(did);
  }

  /** Drops the cached state (an operator changed it in the database). */
  forget(did: string): void {
    this.cache.delete(did);
  }

  /**
   * Forgets what the collection index is known to hold for the account (something other than its commits here
   * rewrote its entries: a PDS look-up). Its next commits write their collections again.
   */
  forgetCollections(did: string): void {
    const state = this.cache.get(did);
    if (state?.collections) this.cache.set(did, { ...state, collections: null });
  }

  /** The same for every cached account of a host (claimed anew: another process may have changed its entries). */
  forgetCollectionsOfHost(hostId: number): void {
    for (const [did, state] of this.cache) if (state?.hostId === hostId && state.collections) this.cache.set(did, { ...state, collections: null });
  }

  /** Makes a transition's state the account's, and counts what it did. */
  apply<T extends Transition>(t: T): T {
    this.remember(t.state.did, t.state);
    const { metrics, log } = this.o;
    if (t.throttled) {
      metrics.accountsThrottled.inc({ reason: t.throttled });
      log.info({ did: t.state.did, reason: t.throttled }, 'account throttled');
    }
    if (t.withheld) metrics.eventsWithheld.inc({ reason: t.withheld });
    if (t.released) metrics.accountsReleased.inc({ reason: t.released });
    return t;
  }

  /** Forgets a host's slot count (the host was claimed anew): recounted by the next slotsReady(). */
  resetSlots(hostId: number): void {
    this.slots.delete(hostId);
  }

  /** Loads a host's slot count (once per claim of the host); hasRoom() needs it. */
  async slotsReady(hostId: number): Promise<void> {
    if (!this.slots.has(hostId)) this.slots.set(hostId, await this.o.store.countSlots(hostId));
  }

  /** Whether the host's slot count is loaded (slotsReady() would not wait). */
  slotsKnown(hostId: number): boolean {
    return this.slots.has(hostId);
  }

  hasRoom(hostId: number, limit: number): boolean {
    return (this.slots.get(hostId) ?? 0) < limit;
  }

  adjustSlots(deltas: readonly SlotDelta[]): void {
    for (const { hostId, delta } of deltas) {
      const n = this.slots.get(hostId);
      if (n !== undefined) this.slots.set(hostId, Math.max(0, n + delta));
    }
  }

  /**
   * Releases what can be released on hosts crawled here: budget throttles whose window has passed, and accounts
   * waiting for a slot when slots are free (a raised limit, deleted accounts). Returns the items to sequence.
   */
  async sweep(hostIds: number[], accountLimit: (hostId: number) => number): Promise<SequencerItem[]> {
    const out: SequencerItem[] = [];
    const held = await this.o.store.held(hostIds);
    const now = this.o.clock.now();
    for (const hostId of hostIds) {
      const waiting = held.filter((h) => h.hostId === hostId);
      if (waiting.length === 0) continue;
      await this.slotsReady(hostId);
      let free = accountLimit(hostId) - (this.slots.get(hostId) ?? 0);
      for (const h of waiting) {
        const state = (await this.get(h.did)) ?? { ...blankAccount(h.did), hostId, throttle: h.throttle };
        const t = state.throttle;
        if (!t) continue; // released in memory; the database has not caught up yet
        if (t.reason === 'account_budget' ? t.until > now : free <= 0) continue;
        if (t.reason === 'host_account_limit') {
          free--;
          this.adjustSlots([{ hostId, delta: 1 }]);
        }
        out.push(...relayItems(hostId, this.apply(release(state, hostId, h, now))));
      }
    }
    return out;
  }

  private remember(did: string, state: AccountState | null): void {
    this.cache.delete(did);
    this.cache.set(did, state);
    if (this.cache.size > this.maxEntries) this.cache.delete(this.cache.keys().next().value as string);
  }
}

/** The items of a transition caused by an upstream event: the relay's announcements, then the event's own item. */
export function eventItems(hostId: number, upstreamSeq: number, t: Transition): SequencerItem[] {
  const items: SequencerItem[] = t.announce.map((event) => ({ hostId, upstreamSeq: null, event }));
  const item: SequencerItem = { hostId, upstreamSeq, event: t.relay };
  if (t.persist) item.account = t.persist;
  items.push(item);
  return items;
}

/** The items of a transition the relay makes on its own (a release, a takedown): its announcements, the change on the last. */
export function relayItems(hostId: number, t: Transition): SequencerItem[] {
  const items: SequencerItem[] = t.announce.map((event) => ({ hostId, upstreamSeq: null, event }));
  if (t.persist) {
    const last = items.at(-1);
    if (last) last.account = t.persist;
    else items.push({ hostId, upstreamSeq: null, event: null, account: t.persist });
  }
  return items;
}
