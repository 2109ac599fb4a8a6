// The collection index at scale (issue 18): a fresh database filled with accounts holding ~12 of 50 collections each
// (collection i held with probability min(1, 2/i^0.8): a few nearly everyone has, a long tail), then measured: bytes
// per entry on disk (heap and key, after VACUUM), the plan and cost of page reads (index range scans, never a scan
// of the table), and what the batch transaction's writes of entries cost PostgreSQL.
import pg from 'pg';
import { drizzle } from 'drizzle-orm/node-postgres';
import { sql } from 'drizzle-orm';
import * as schema from '../src/storage/schema.ts';
import type { Db } from '../src/storage/db.ts';
import { listReposByCollections, pageQuery, withIndexScans, collectionChangeWrites } from '../src/storage/collections.ts';
import type { AccountChange } from '../src/core/accounts.ts';
import type { BenchLine } from './lib/record.ts';
import { Harness } from './lib/harness.ts';
import { num, type Flags } from './scenarios.ts';

export const BENCH_COLLECTIONS = 50;
export const nsidOf = (i: number) => `app.bench.c${String(i).padStart(3, '0')}`;

/**
 * Fills a migrated, empty database: `accounts` accounts (every 50th deactivated, every 97th taken down) and their
 * index entries. Returns the entries made.
 */
export async function fillIndex(db: Db, accounts: number): Promise<number> {
  await db.execute(sql`INSERT INTO hosts (hostname, status) VALUES ('bench.invalid', 'active')`);
  await db.execute(sql`
    INSERT INTO accounts (did, host_id, rev, head, data, upstream_active, local_status)
    SELECT 'did:plc:' || substr(md5(g::text), 1, 24), (SELECT id FROM hosts LIMIT 1), '3lbench', 'bafyhead', 'bafydata',
      g % 50 <> 0, CASE WHEN g % 97 = 0 THEN 'takendown' END
    FROM generate_series(1, ${accounts}) g`);
  await db.execute(sql`INSERT INTO collections (nsid) SELECT 'app.bench.c' || lpad(g::text, 3, '0') FROM generate_series(1, ${BENCH_COLLECTIONS}) g`);
  await db.execute(sql`
    INSERT INTO repo_collections (collection_id, uid)
    SELECT c.id, a.uid FROM accounts a CROSS JOIN collections c
    -- a.uid in the condition keeps it at the join: on collections alone it would be drawn once per collection
    WHERE random() + 0 * a.uid < LEAST(1.0, 2.0 / power(c.id, 0.8))`);
  await db.execute(sql`VACUUM ANALYZE repo_collections`);
  await db.execute(sql`VACUUM ANALYZE accounts`);
  const res = (await db.execute(sql`SELECT count(*)::bigint AS n FROM repo_collections`)) as unknown as { rows: Array<{ n: string }> };
  return Number(res.rows[0]!.n);
}

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Shared Hit Blocks'?: number;
  'Shared Read Blocks'?: number;
  Plans?: PlanNode[];
}

/** The plan of a page read as listReposByCollections runs it: every scan in it, and the blocks it touched. */
export async function explainPage(db: Db, ids: number[] | null, afterUid: number, limit: number): Promise<{ scans: string[]; blocks: number; ms: number }> {
  const res = (await withIndexScans(db, (tx) => tx.execute(sql`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${pageQuery(ids, afterUid, limit)}`))) as unknown as { rows: Array<{ 'QUERY PLAN': Array<{ Plan: PlanNode; 'Execution Time': number }> }> };
  const top = res.rows[0]!['QUERY PLAN'][0]!;
  const scans: string[] = [];
  const walk = (n: PlanNode) => {
    if (n['Relation Name']) scans.push(`${n['Node Type']} on ${n['Relation Name']}${n['Index Name'] ? ` using ${n['Index Name']}` : ''}`);
    for (const c of n.Plans ?? []) walk(c);
  };
  walk(top.Plan);
  return { scans, blocks: (top.Plan['Shared Hit Blocks'] ?? 0) + (top.Plan['Shared Read Blocks'] ?? 0), ms: top['Execution Time'] };
}

/** Flags: --accounts 200000. */
export async function benchCollectionIndex(flags: Flags): Promise<BenchLine[]> {
  const accounts = num(flags, 'accounts', 200_000);
  const h = new Harness();
  try {
    await h.services();
    const url = await h.database();
    await h.migrate(url);
    const pool = new pg.Pool({ connectionString: url, max: 2 });
    const db = drizzle(pool, { schema }) as unknown as Db;
    const t0 = performance.now();
    const entries = await fillIndex(db, accounts);
    const fillS = (performance.now() - t0) / 1000;
    const size = (await db.execute(sql`
      SELECT pg_relation_size('repo_collections') AS heap, pg_indexes_size('repo_collections') AS key,
        pg_total_relation_size('repo_collections') AS total`)) as unknown as { rows: Array<{ heap: string; key: string; total: string }> };
    const { heap, key, total } = size.rows[0]!;
    const per = (b: string) => Math.round((Number(b) / entries) * 10) / 10;

    // Page reads: a popular, a middling and a rare collection, three at once, and every active repo; 2,000 a page
    // from the middle of the key. A scan of a whole table in any of them is a failure of the design.
    const mid = Math.floor(accounts / 2);
    const cases: Array<[string, number[] | null]> = [['popular collection', [1]], ['middling collection', [10]], ['rare collection', [50]], ['three collections', [1, 10, 50]], ['every active repo', null]];
    const lines: BenchLine[] = [];
    let seqScans = 0;
    for (const [name, ids] of cases) {
      await explainPage(db, ids, mid, 2000); // warm
      const runs = [];
      for (let i = 0; i < 5; i++) runs.push(await explainPage(db, ids, mid + i * 997, 2000));
      const plan = runs[0]!;
      seqScans += plan.scans.filter((s) => s.startsWith('Seq Scan')).length;
      const ms = runs.map((r) => r.ms).sort((a, b) => a - b)[2]!;
      lines.push({ name: `page of 2000, ${name}: PostgreSQL time`, value: Math.round(ms * 100) / 100, unit: `ms median of 5, ${plan.blocks} buffers (${[...new Set(plan.scans)].join('; ')})` });
    }
    // The same through the storage function (collection ids looked up, rows mapped).
    const t1 = performance.now();
    for (let i = 0; i < 20; i++) await listReposByCollections(db, [nsidOf(10)], mid + i * 101, 2000);
    const listMs = (performance.now() - t1) / 20;

    // Writes as the batch transaction makes them: 500 accounts each gaining a collection new to them, then the same
    // again (already held: the conflict path), then 500 losing one.
    const sample = (await db.execute(sql`SELECT did FROM accounts ORDER BY uid LIMIT 500`)) as unknown as { rows: Array<{ did: string }> };
    const dids = sample.rows.map((r) => r.did);
    const fresh = 'app.bench.fresh';
    const change = (c: Partial<AccountChange['collections']>): Map<string, AccountChange> =>
      new Map(dids.map((did) => [did, { did, hostId: 1, collections: { present: [], absent: [], unknown: [], ...c } }]));
    const timed = async (m: Map<string, AccountChange>) => {
      const t = performance.now();
      await db.transaction(async (tx) => {
          for (const write of collectionChangeWrites(tx, m.values())) await write;
        });
      return ((performance.now() - t) * 1000) / m.size;
    };
    await timed(change({ present: [nsidOf(49)] })); // warm the statement path
    const insertUs = await timed(change({ present: [fresh] }));
    const noopUs = await timed(change({ present: [fresh] }));
    const deleteUs = await timed(change({ absent: [fresh] }));
    await pool.end();
    return [
      { name: 'bytes per index entry (heap and key)', value: per(total), unit: `bytes (heap ${per(heap)}, key ${per(key)}; ${entries} entries, ${(entries / accounts).toFixed(1)} per account)` },
      { name: 'index entries', value: entries, unit: `entries over ${accounts} accounts, ${BENCH_COLLECTIONS} collections (filled in ${fillS.toFixed(1)} s)` },
      { name: 'sequential scans in page reads', value: seqScans, unit: 'scans (every page read is an index range scan)', target: { op: '<', value: 1 } },
      ...lines,
      { name: 'listReposByCollections, middling collection, limit 2000', value: Math.round(listMs * 100) / 100, unit: 'ms per page, round trip included' },
      { name: 'write: entry new to its account', value: Math.round(insertUs * 10) / 10, unit: 'µs per entry, in a 500-entry batch (round trip included)' },
      { name: 'write: entry already held (conflict, nothing written)', value: Math.round(noopUs * 10) / 10, unit: 'µs per entry, in a 500-entry batch' },
      { name: 'write: entry removed', value: Math.round(deleteUs * 10) / 10, unit: 'µs per entry, in a 500-entry batch' },
    ];
  } finally {
    await h.close();
  }
}
