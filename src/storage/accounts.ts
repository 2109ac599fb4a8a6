// The accounts table: what the account owner (src/accounts/) loads and the sequencer persists, and the reads of the
// sync and admin APIs.
import { and, asc, eq, gt, isNotNull, sql, type SQL } from 'drizzle-orm';
import { arrayParam } from './pg-array.ts';
import type { Db } from './db.ts';
import { accounts, hosts, identities } from './schema.ts';
import type { AccountChange, AccountState, Throttle } from '../core/accounts.ts';
import { collectionChangeWrites, type Write } from './collections.ts';

export type AccountRow = typeof accounts.$inferSelect & { hostname: string };

export const ACCOUNTS_CHANNEL = 'relay_accounts';

const HOST_ACCOUNT_LIMIT: Throttle['reason'] = 'host_account_limit';

function throttleOf(row: { throttled: string | null; throttledUntil: Date | null }): Throttle | null {
  if (row.throttled === HOST_ACCOUNT_LIMIT) return { reason: 'host_account_limit' };
  if (row.throttled === 'account_budget') return { reason: 'account_budget', until: row.throttledUntil?.getTime() ?? 0 };
  return null;
}

/** What effectiveStatus() needs of a row. */
export function statusView(row: typeof accounts.$inferSelect): Pick<AccountState, 'upstream' | 'localStatus' | 'throttle'> {
  return {
    upstream: { active: row.upstreamActive, status: row.upstreamStatus },
    localStatus: row.localStatus,
    throttle: throttleOf(row),
  };
}

/** Accounts' states as persisted, one per DID in order (null: the relay has never seen it). */
export async function loadAccountStates(db: Db, dids: string[]): Promise<Array<AccountState | null>> {
  // One array parameter: inArray's list of one parameter per DID cost the event loop more than the rows did.
  const rows = await db.select().from(accounts).where(sql`${accounts.did} = ANY(${arrayParam(dids)}::text[])`);
  const byDid = new Map(rows.map((r) => [r.did, r]));
  return dids.map((did) => {
    const row = byDid.get(did);
    return row ? stateOf(row) : null;
  });
}

function stateOf(row: typeof accounts.$inferSelect): AccountState {
  const throttle = throttleOf(row);
  return {
    did: row.did,
    hostId: row.hostId,
    ...statusView(row),
    repo: row.rev && row.head && row.data ? { rev: row.rev, head: row.head, data: row.data } : null,
    // A deleted account gave its slot back; one throttled for lack of a slot never had it.
    slotHostId: throttle?.reason === HOST_ACCOUNT_LIMIT || row.upstreamStatus === 'deleted' ? null : row.hostId,
    throttle,
    heldCommit: row.heldCommit,
    // The index is not read with the row: the account's next commits write their collections once each.
    collections: null,
  };
}

/**
 * A batch's repo state changes (one per account that had a commit accepted), as one statement with a parameter per
 * column (drizzle's insert builder spent ~200 ms on the event loop building a 500-row statement). The sequencer
 * carries it in the batch's one write (storage/events.ts), then writes the rest with `accountChangeWrites`.
 */
export function repoStatesUpsert(changes: Map<string, AccountChange>): SQL | null {
  const repo = [...changes.values()].filter((c) => c.repo);
  if (repo.length === 0) return null;
  return sql`
    INSERT INTO ${accounts} (did, host_id, rev, head, data)
    SELECT * FROM unnest(
      ${arrayParam(repo.map((c) => c.did))}::text[], ${arrayParam(repo.map((c) => c.hostId))}::integer[],
      ${arrayParam(repo.map((c) => c.repo!.rev))}::text[], ${arrayParam(repo.map((c) => c.repo!.head))}::text[],
      ${arrayParam(repo.map((c) => c.repo!.data))}::text[])
    ON CONFLICT (did) DO UPDATE SET
      rev = excluded.rev, head = excluded.head, data = excluded.data, host_id = excluded.host_id, updated_at = now()`;
}

/**
 * The rest of a batch's account changes, after its repo states (`repoStatesUpsert`), inside its transaction, the
 * last change per account winning field by field (items of an account are in its order): status changes as one
 * statement, throttle changes (rare) one by one, then the collection index changes they carry.
 */
export function accountChangeWrites(tx: Db, changes: Map<string, AccountChange>): Write[] {
  const upstream: AccountChange[] = [];
  const throttles: AccountChange[] = [];
  for (const c of changes.values()) {
    if (c.upstream) upstream.push(c);
    if (c.throttle !== undefined || c.heldCommit !== undefined) throttles.push(c);
  }
  const writes: Write[] = [];
  if (upstream.length > 0) {
    writes.push(
      tx.execute(sql`
      INSERT INTO ${accounts} (did, host_id, upstream_active, upstream_status)
      SELECT * FROM unnest(
        ${arrayParam(upstream.map((c) => c.did))}::text[], ${arrayParam(upstream.map((c) => c.hostId))}::integer[],
        ${arrayParam(upstream.map((c) => c.upstream!.active))}::boolean[],
        ${arrayParam(upstream.map((c) => c.upstream!.status))}::text[])
      ON CONFLICT (did) DO UPDATE SET
        upstream_active = excluded.upstream_active, upstream_status = excluded.upstream_status,
        host_id = excluded.host_id, updated_at = now()`),
    );
  }
  for (const c of throttles) {
    const set = {
      hostId: c.hostId,
      ...(c.throttle !== undefined
        ? {
            throttled: c.throttle?.reason ?? null,
            throttledUntil: c.throttle?.reason === 'account_budget' ? new Date(c.throttle.until) : null,
          }
        : {}),
      ...(c.heldCommit !== undefined ? { heldCommit: c.heldCommit } : {}),
    };
    writes.push(
      tx
        .insert(accounts)
        .values({ did: c.did, ...set })
        .onConflictDoUpdate({ target: accounts.did, set: { ...set, updatedAt: sql`now()` } }),
    );
  }
  // After the rows above: an index entry names its account by uid.
  writes.push(...collectionChangeWrites(tx, changes.values()));
  return writes;
}

export async function getAccount(db: Db, did: string): Promise<AccountRow | null> {
  const [row] = await db
    .select({ account: accounts, hostname: hosts.hostname })
    .from(accounts)
    .innerJoin(hosts, eq(accounts.hostId, hosts.id))
    .where(eq(accounts.did, did));
  return row ? { ...row.account, hostname: row.hostname } : null;
}

/** Accounts with a known repo state, in uid order after `afterUid`. */
export async function listAccounts(db: Db, afterUid: number, limit: number) {
  return db
    .select()
    .from(accounts)
    .where(and(gt(accounts.uid, afterUid), isNotNull(accounts.head), isNotNull(accounts.rev)))
    .orderBy(asc(accounts.uid))
    .limit(limit);
}

export async function accountCounts(db: Db, hostIds: number[]): Promise<Map<number, number>> {
  if (hostIds.length === 0) return new Map();
  const rows = await db
    .select({ hostId: accounts.hostId, n: sql<number>`count(*)::int` })
    .from(accounts)
    .where(sql`${accounts.hostId} in ${hostIds}`)
    .groupBy(accounts.hostId);
  return new Map(rows.flatMap((r) => (r.hostId === null ? [] : [[r.hostId, Number(r.n)] as const])));
}

/** Accounts of a host whose repo events the relay withholds (host account limit, write budget). */
export async function countThrottledAccounts(db: Db, hostId: number): Promise<number> {
  const [row] = await db
    .select({ n: sql<number>`count(*)::int` })
    .from(accounts)
    .where(and(eq(accounts.hostId, hostId), isNotNull(accounts.throttled)));
  return Number(row?.n ?? 0);
}

/**
 * Sets or clears the operator status of an account (e.g. 'takendown'), telling every relay process to drop its
 * cached view. A takedown of an account the relay has not seen makes its row (no host yet), so its events are
 * withheld from the first. Returns the account, or null when clearing the status of one the relay does not know.
 */
export async function setLocalStatus(db: Db, did: string, status: string | null): Promise<typeof accounts.$inferSelect | null> {
  return db.transaction(async (tx) => {
    const [row] =
      status === null
        ? await tx
            .update(accounts)
            .set({ localStatus: null, localStatusAt: null, updatedAt: sql`now()` })
            .where(eq(accounts.did, did))
            .returning()
        : await tx
            .insert(accounts)
            .values({ did, localStatus: status, localStatusAt: sql`now()` })
            .onConflictDoUpdate({
              target: accounts.did,
              // A second takedown keeps the time of the first.
              set: { localStatus: status, localStatusAt: sql`coalesce(${accounts.localStatusAt}, now())`, updatedAt: sql`now()` },
            })
            .returning();
    if (!row) return null;
    await tx.execute(sql`SELECT pg_notify(${ACCOUNTS_CHANNEL}, ${did})`);
    return row;
  });
}

/** Accounts holding one of a host's slots: not throttled for lack of one, and not deleted. */
export async function countSlotHolders(db: Db, hostId: number): Promise<number> {
  const [row] = await db
    .select({ n: sql<number>`count(*)::int` })
    .from(accounts)
    .where(
      sql`${accounts.hostId} = ${hostId} AND ${accounts.throttled} IS DISTINCT FROM ${HOST_ACCOUNT_LIMIT}
        AND ${accounts.upstreamStatus} IS DISTINCT FROM 'deleted'`,
    );
  return Number(row?.n ?? 0);
}

/** The accounts table as the account registry reads it. */
export function accountStore(db: Db) {
  return {
    loadMany: (dids: string[]) => loadAccountStates(db, dids),
    countSlots: (hostId: number) => countSlotHolders(db, hostId),
    held: (hostIds: number[]) => heldAccounts(db, hostIds),
  };
}

export interface HeldAccount {
  did: string;
  hostId: number;
  throttle: Throttle;
  heldCommit: Uint8Array | null;
  rev: string | null;
}

/** Throttled accounts of the given hosts, oldest first (the order slots are handed out in). */
export async function heldAccounts(db: Db, hostIds: number[]): Promise<HeldAccount[]> {
  if (hostIds.length === 0) return [];
  const rows = await db
    .select({
      did: accounts.did,
      hostId: accounts.hostId,
      throttled: accounts.throttled,
      throttledUntil: accounts.throttledUntil,
      heldCommit: accounts.heldCommit,
      rev: accounts.rev,
    })
    .from(accounts)
    .where(sql`${accounts.throttled} IS NOT NULL AND ${accounts.hostId} IN ${hostIds}`)
    .orderBy(asc(accounts.uid));
  return rows.flatMap((r) => {
    const throttle = throttleOf(r);
    return throttle && r.hostId !== null ? [{ did: r.did, hostId: r.hostId, throttle, heldCommit: r.heldCommit, rev: r.rev }] : [];
  });
}

export interface AccountListQuery {
  /** takendown: by this relay's operators; throttled: repo events withheld (host account limit, write budget). */
  status: 'takendown' | 'throttled';
  hostId?: number;
  /** A part of the DID or of the handle. */
  q?: string;
  offset: number;
  limit: number;
}

export interface ListedAccount {
  did: string;
  handle: string | null;
  hostname: string | null;
  localStatusAt: Date | null;
  throttle: Throttle | null;
}

/**
 * One page of the accounts taken down here, or of the throttled ones, with how many match. Each reads only the rows
 * of its partial index (accounts_taken_down_idx by DID, accounts_throttled_idx by uid), never the whole table. The
 * handle is the one the account's stored DID document claims (not checked both ways: it is shown, not acted on).
 */
export async function listAccountsPage(db: Db, o: AccountListQuery): Promise<{ rows: ListedAccount[]; total: number }> {
  const handle = sql`(SELECT substr(aka, 6) FROM ${identities} i, jsonb_array_elements_text(
    CASE WHEN jsonb_typeof(i.doc->'alsoKnownAs') = 'array' THEN i.doc->'alsoKnownAs' ELSE '[]'::jsonb END) aka
    WHERE i.did = ${accounts.did} AND aka LIKE 'at://%' LIMIT 1)`;
  const where = [
    o.status === 'takendown' ? sql`${accounts.localStatus} = 'takendown'` : sql`${accounts.throttled} IS NOT NULL`,
    o.hostId !== undefined ? sql`${accounts.hostId} = ${o.hostId}` : undefined,
    o.q ? sql`(strpos(${accounts.did}, ${o.q}) > 0 OR strpos(lower(coalesce(${handle}, '')), ${o.q.toLowerCase()}) > 0)` : undefined,
  ].filter((w) => w !== undefined);
  const cond = sql.join(where, sql` AND `);
  const order = o.status === 'takendown' ? asc(accounts.did) : asc(accounts.uid);
  const rows = await db
    .select({
      did: accounts.did,
      handle: sql<string | null>`${handle}`,
      hostname: hosts.hostname,
      localStatusAt: accounts.localStatusAt,
      throttled: accounts.throttled,
      throttledUntil: accounts.throttledUntil,
      total: sql<number>`count(*) OVER ()`.mapWith(Number),
    })
    .from(accounts)
    .leftJoin(hosts, eq(accounts.hostId, hosts.id))
    .where(cond)
    .orderBy(order)
    .limit(o.limit)
    .offset(o.offset);
  if (rows.length === 0) {
    // A page past the end still says how many there are.
    const [c] = await db.select({ n: sql<number>`count(*)`.mapWith(Number) }).from(accounts).where(cond);
    return { rows: [], total: c?.n ?? 0 };
  }
  return {
    rows: rows.map((r) => ({ did: r.did, handle: r.handle, hostname: r.hostname, localStatusAt: r.localStatusAt, throttle: throttleOf(r) })),
    total: rows[0]!.total,
  };
}
