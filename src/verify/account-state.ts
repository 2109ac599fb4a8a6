// What the verifier knows of each account: host, statuses and the last accepted repo state. Loaded from PostgreSQL
// on first use and updated in memory the moment an event is accepted, because the next event of the same account
// (verified right after, before the batch commits) must see it. Events of one account are verified one at a time.
import { eq } from 'drizzle-orm';
import type { Db } from '../storage/db.ts';
import { accounts, hosts } from '../storage/schema.ts';

export interface AccountState {
  did: string;
  /** Hostname of the host the account is on, as the relay last saw it. */
  hostname: string | null;
  upstreamActive: boolean;
  upstreamStatus: string | null;
  localStatus: string | null;
  rev: string | null;
  head: string | null;
  data: string | null;
  /** Host id the account holds one of the host's account slots on (null = none yet, or throttled for lack of one). */
  slotHostId: number | null;
  /** Why the relay withholds the account's repo events (see the quota stage), or null. */
  throttled: string | null;
  throttledUntil: number | null;
  /** While throttled: the newest signed commit (as a CAR) to re-announce on release. */
  heldCommit?: Uint8Array | null;
}

/** An account the relay has seen nothing of yet. */
export function blankAccountState(did: string): AccountState {
  return {
    did,
    hostname: null,
    upstreamActive: true,
    upstreamStatus: null,
    localStatus: null,
    rev: null,
    head: null,
    data: null,
    slotHostId: null,
    throttled: null,
    throttledUntil: null,
  };
}

export class AccountStates {
  private readonly cache = new Map<string, AccountState | null>();

  private readonly db: Db;
  private readonly maxEntries: number;
  constructor(
    db: Db,
    maxEntries = 200_000,
  ) {
    this.db = db;
    this.maxEntries = maxEntries;
  }

  async get(did: string): Promise<AccountState | null> {
    if (this.cache.has(did)) {
      const hit = this.cache.get(did)!;
      // Refresh LRU position.
      this.cache.delete(did);
      this.cache.set(did, hit);
      return hit;
    }
    const [row] = await this.db
      .select({
        did: accounts.did,
        hostname: hosts.hostname,
        upstreamActive: accounts.upstreamActive,
        upstreamStatus: accounts.upstreamStatus,
        localStatus: accounts.localStatus,
        rev: accounts.rev,
        head: accounts.head,
        data: accounts.data,
        hostId: accounts.hostId,
        throttled: accounts.throttled,
        throttledUntil: accounts.throttledUntil,
      })
      .from(accounts)
      .leftJoin(hosts, eq(accounts.hostId, hosts.id))
      .where(eq(accounts.did, did));
    const state: AccountState | null = row
      ? {
          did: row.did,
          hostname: row.hostname,
          upstreamActive: row.upstreamActive,
          upstreamStatus: row.upstreamStatus,
          localStatus: row.localStatus,
          rev: row.rev,
          head: row.head,
          data: row.data,
          // A deleted account gave its slot back; one throttled for lack of a slot never had it.
          slotHostId: row.throttled === 'host_account_limit' || row.upstreamStatus === 'deleted' ? null : row.hostId,
          throttled: row.throttled,
          throttledUntil: row.throttledUntil?.getTime() ?? null,
        }
      : null;
    this.remember(did, state);
    return state;
  }

  /** The cached state, without loading it (null when not cached). */
  peek(did: string): AccountState | null {
    return this.cache.get(did) ?? null;
  }

  /** Records an accepted change (before it is committed). */
  update(did: string, change: Partial<AccountState>): void {
    const prev = this.cache.get(did) ?? blankAccountState(did);
    this.remember(did, { ...prev, ...change });
  }

  /** Drops cached state (e.g. an operator changed it in the database). */
  forget(did: string): void {
    this.cache.delete(did);
  }

  private remember(did: string, state: AccountState | null): void {
    this.cache.delete(did);
    this.cache.set(did, state);
    if (this.cache.size > this.maxEntries) {
      const oldest = this.cache.keys().next().value as string;
      this.cache.delete(oldest);
    }
  }
}
