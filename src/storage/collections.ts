// The collection index (listReposByCollection): which accounts' repos hold records of which collection. Written in
// the batch transaction with the account changes that carry it (so it never disagrees with the log), by the PDS
// look-ups that settle what a commit's proof did not show, and by the backfill; read by the sync API.
import { asc, eq, sql } from 'drizzle-orm';
import { arrayParam } from './pg-array.ts';
import type { Db } from './db.ts';
import { accounts, collectionBackfills, collections, repoCollections } from './schema.ts';
import type { AccountChange } from '../core/accounts.ts';

type Rows = { rows: Array<Record<string, unknown>> };

/** A statement of a batch's transaction, sent when awaited (drizzle's queries are lazy): in order, or pipelined. */
export type Write = PromiseLike<unknown>;

/**
 * The collection side of a batch's account changes, to run inside its transaction and after the account rows (an
 * entry names the account by its uid). One statement per kind of change, a parameter per column.
 */
export function collectionChangeWrites(tx: Db, changes: Iterable<AccountChange>): Write[] {
  const reset: string[] = [];
  const gone = { dids: [] as string[], nsids: [] as string[] };
  const held = { dids: [] as string[], nsids: [] as string[] };
  for (const { did, collections: c } of changes) {
    if (!c) continue;
    if (c.reset) reset.push(did);
    for (const nsid of c.absent) {
      gone.dids.push(did);
      gone.nsids.push(nsid);
    }
    for (const nsid of c.present) {
      held.dids.push(did);
      held.nsids.push(nsid);
    }
  }
  const writes: Write[] = [];
  if (reset.length > 0) writes.push(dropEntries(tx, reset));
  if (gone.dids.length > 0) {
    writes.push(
      tx.execute(sql`
      DELETE FROM ${repoCollections} rc
      USING unnest(${arrayParam(gone.dids)}::text[], ${arrayParam(gone.nsids)}::text[]) AS i(did, nsid), ${accounts} a, ${collections} c
      WHERE a.did = i.did AND c.nsid = i.nsid AND rc.uid = a.uid AND rc.collection_id = c.id`),
    );
  }
  if (held.dids.length > 0) writes.push(addEntries(tx, held.dids, held.nsids));
  return writes;
}

/**
 * Adds entries, naming collections never seen before. Only names missing from the statement's snapshot are inserted,
 * and one a concurrent writer has just inserted is returned by the conflict's no-op update, so an entry is never lost
 * to that race and a known collection's row is never written again.
 */
function addEntries(tx: Db, dids: string[], nsids: string[]): Write {
  return tx.execute(sql`
    WITH i AS (SELECT * FROM unnest(${arrayParam(dids)}::text[], ${arrayParam(nsids)}::text[]) AS i(did, nsid)),
    fresh AS (
      INSERT INTO ${collections} (nsid)
      SELECT DISTINCT i.nsid FROM i WHERE NOT EXISTS (SELECT 1 FROM ${collections} c WHERE c.nsid = i.nsid)
      ON CONFLICT (nsid) DO UPDATE SET nsid = excluded.nsid
      RETURNING id, nsid),
    ids AS (SELECT id, nsid FROM fresh UNION ALL SELECT id, nsid FROM ${collections} WHERE nsid IN (SELECT nsid FROM i))
    INSERT INTO ${repoCollections} (collection_id, uid)
    SELECT DISTINCT ids.id, a.uid FROM i JOIN ids ON ids.nsid = i.nsid JOIN ${accounts} a ON a.did = i.did
    ON CONFLICT DO NOTHING`);
}

/**
 * Drops every entry of the accounts. There is no index by account (it would cost as much as the key): the key is
 * probed once per known collection and account, rare enough (deletions, re-descriptions) to be cheap.
 */
function dropEntries(tx: Db, dids: string[]): Write {
  return tx.execute(sql`
    DELETE FROM ${repoCollections}
    WHERE collection_id = ANY(ARRAY(SELECT id FROM ${collections}))
      AND uid = ANY(ARRAY(SELECT uid FROM ${accounts} WHERE did = ANY(${arrayParam(dids)}::text[])))`);
}

/**
 * Makes the account's entries exactly `nsids` (what its PDS described), unless the relay has since accepted a commit
 * newer than `notAfterRev`, the rev the PDS was at before it answered: then the answer may miss what that commit
 * wrote, and is not applied. The account row is locked, so a batch writing the account waits for this and applies
 * on top. Returns whether it was applied.
 */
export async function replaceEntries(db: Db, did: string, nsids: string[], notAfterRev: string | null): Promise<boolean> {
  return db.transaction(async (tx) => {
    const res = (await tx.execute(sql`SELECT uid, rev FROM ${accounts} WHERE did = ${did} FOR UPDATE`)) as unknown as Rows;
    const row = res.rows[0];
    if (!row) return false;
    const rev = row.rev as string | null;
    if (rev !== null && (notAfterRev === null || rev > notAfterRev)) return false;
    await dropEntries(tx, [did]);
    if (nsids.length > 0) await addEntries(tx, nsids.map(() => did), nsids);
    return true;
  });
}

/** Which accounts `listReposByCollection` lists: active on the relay's view (effectiveStatus). */
const ACTIVE = sql`a.local_status IS NULL AND a.upstream_active AND a.throttled IS NULL`;

/**
 * A page of active accounts holding any of `nsids` (every active account with a repo when empty), in uid order after
 * `afterUid`: the first `limit` entries of each collection's range of the index key (an index range scan each,
 * however large the index), the first `limit` uids among them, and each one's account looked up by its key. Inactive
 * accounts are scanned but not listed, so a page may hold fewer than `limit` repos; `cursor` is the last uid scanned
 * (null: nothing further).
 */
export async function listReposByCollections(db: Db, nsids: string[], afterUid: number, limit: number): Promise<{ repos: Array<{ uid: number; did: string }>; cursor: number | null }> {
  const ids = nsids.length === 0 ? null : await collectionIds(db, nsids);
  if (ids !== null && ids.length === 0) return { repos: [], cursor: null };
  const res = (await withIndexScans(db, (tx) => tx.execute(pageQuery(ids, afterUid, limit)))) as unknown as Rows;
  const scanned = res.rows.map((r) => ({ uid: Number(r.uid), did: r.did as string | null }));
  return {
    repos: scanned.flatMap((r) => (r.did === null ? [] : [{ uid: r.uid, did: r.did }])),
    cursor: scanned.length === limit ? scanned.at(-1)!.uid : null,
  };
}

/**
 * Runs a page read with sequential scans priced out of the plan. The statistics of a small collection near the end of
 * the key can make a scan of the whole table look cheapest to the planner (`test/integration/collection-index.test.ts`
 * saw it); the key's range scan is never much worse, and a whole scan of the real index is never acceptable.
 */
export async function withIndexScans<T>(db: Db, read: (tx: Db) => Promise<T>): Promise<T> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`SET LOCAL enable_seqscan = off`);
    return read(tx);
  });
}

/**
 * The statement of a page: for the collections with these ids, or every account (null), the first `limit` uids
 * after `afterUid`, each with its DID if the account is active (null if not). The account is looked up by its key
 * for each uid (OFFSET 0 keeps the planner from making it a join, which on a small collection it would run as a scan
 * of the accounts table).
 */
export function pageQuery(ids: number[] | null, afterUid: number, limit: number) {
  if (ids === null) {
    return sql`SELECT a.uid, CASE WHEN ${ACTIVE} THEN a.did END AS did FROM ${accounts} a
      WHERE a.uid > ${afterUid} AND a.head IS NOT NULL ORDER BY a.uid LIMIT ${limit}`;
  }
  const ranges = ids.map((id) => sql`(SELECT uid FROM ${repoCollections} WHERE collection_id = ${id} AND uid > ${afterUid} ORDER BY collection_id, uid LIMIT ${limit})`);
  const scanned = ids.length === 1 ? ranges[0]! : sql`(SELECT DISTINCT uid FROM (${sql.join(ranges, sql` UNION ALL `)}) u ORDER BY uid LIMIT ${limit})`;
  return sql`SELECT s.uid, a.did FROM ${scanned} s
    LEFT JOIN LATERAL (SELECT a.did FROM ${accounts} a WHERE a.uid = s.uid AND ${ACTIVE} OFFSET 0) a ON true
    ORDER BY s.uid`;
}

export async function collectionIds(db: Db, nsids: string[]): Promise<number[]> {
  const res = (await db.execute(sql`SELECT id FROM ${collections} WHERE nsid = ANY(${arrayParam(nsids)}::text[]) ORDER BY id`)) as unknown as Rows;
  return res.rows.map((r) => Number(r.id));
}

/** The collections of an account's repo as the index holds them (tests, the console). */
export async function collectionsOf(db: Db, did: string): Promise<string[]> {
  const res = (await db.execute(sql`
    SELECT c.nsid FROM ${repoCollections} rc JOIN ${collections} c ON c.id = rc.collection_id JOIN ${accounts} a ON a.uid = rc.uid
    WHERE a.did = ${did} ORDER BY c.nsid`)) as unknown as Rows;
  return res.rows.map((r) => r.nsid as string);
}

/**
 * Entries in the index, from the planner's statistics (a count(*) would read the whole table); counted only while
 * the table has never been analysed, when it is small.
 */
export async function estimatedEntries(db: Db): Promise<number> {
  const res = (await db.execute(sql`SELECT reltuples::bigint AS n FROM pg_class WHERE relname = 'repo_collections'`)) as unknown as Rows;
  const n = Number(res.rows[0]?.n ?? -1);
  if (n >= 0) return n;
  const count = (await db.execute(sql`SELECT count(*)::bigint AS n FROM ${repoCollections}`)) as unknown as Rows;
  return Number(count.rows[0]?.n ?? 0);
}

/** Disk the index takes (heap and key). */
export async function indexBytes(db: Db): Promise<number> {
  const res = (await db.execute(sql`SELECT pg_total_relation_size('repo_collections') AS bytes`)) as unknown as Rows;
  return Number(res.rows[0]?.bytes ?? 0);
}

/** Below this many entries the top collections are counted; above it, read from the planner's statistics. */
export const COUNT_TOP_BELOW = 1_000_000;

/**
 * The collections held by the most repos (active or not), largest first. Counted exactly while the index is small;
 * at the network's size a count reads the whole table, so it is read instead from the statistics ANALYZE keeps of
 * the key's first column (its most common values and their shares, times the table's row estimate).
 */
export async function topCollections(db: Db, n: number): Promise<{ exact: boolean; collections: Array<{ nsid: string; repos: number }> }> {
  const entries = await estimatedEntries(db);
  if (entries < COUNT_TOP_BELOW) {
    const res = (await db.execute(sql`
      SELECT c.nsid, t.repos FROM (
        SELECT collection_id, count(*)::bigint AS repos FROM ${repoCollections} GROUP BY collection_id ORDER BY repos DESC LIMIT ${n}
      ) t JOIN ${collections} c ON c.id = t.collection_id ORDER BY t.repos DESC, c.nsid`)) as unknown as Rows;
    return { exact: true, collections: res.rows.map((r) => ({ nsid: r.nsid as string, repos: Number(r.repos) })) };
  }
  const res = (await db.execute(sql`
    SELECT c.nsid, round(s.freq * ${entries})::bigint AS repos
    FROM pg_stats st, unnest(st.most_common_vals::text::int[], st.most_common_freqs) AS s(id, freq), ${collections} c
    WHERE st.tablename = 'repo_collections' AND st.attname = 'collection_id' AND c.id = s.id
    ORDER BY s.freq DESC, c.nsid LIMIT ${n}`)) as unknown as Rows;
  return { exact: false, collections: res.rows.map((r) => ({ nsid: r.nsid as string, repos: Number(r.repos) })) };
}

export type BackfillRow = typeof collectionBackfills.$inferSelect;

/** A host's backfill progress (null: never started). */
export async function backfillProgress(db: Db, hostId: number): Promise<BackfillRow | null> {
  const [row] = await db.select().from(collectionBackfills).where(eq(collectionBackfills.hostId, hostId));
  return row ?? null;
}

export async function allBackfills(db: Db): Promise<BackfillRow[]> {
  return db.select().from(collectionBackfills).orderBy(asc(collectionBackfills.hostId));
}

/** Records a host's backfill progress after a page: the cursor of the next page, and the counts so far. */
export async function saveBackfill(db: Db, p: { hostId: number; cursor: string | null; done: number; failed: number; state: 'running' | 'finished' }): Promise<void> {
  await db
    .insert(collectionBackfills)
    .values(p)
    .onConflictDoUpdate({ target: collectionBackfills.hostId, set: { cursor: p.cursor, done: p.done, failed: p.failed, state: p.state, updatedAt: sql`now()` } });
}

/** Of `dids`, those the relay knows on the host (the index can only hold accounts it has a row for). */
export async function knownOnHost(db: Db, hostId: number, dids: string[]): Promise<Set<string>> {
  if (dids.length === 0) return new Set();
  const res = (await db.execute(sql`
    SELECT did FROM ${accounts} WHERE host_id = ${hostId} AND did = ANY(${arrayParam(dids)}::text[])`)) as unknown as Rows;
  return new Set(res.rows.map((r) => r.did as string));
}
