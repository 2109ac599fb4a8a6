// The collection index's page reads on a real PostgreSQL holding 20,000 accounts and ~240,000 entries (the bench's
// fill, statistics analysed): every plan is index range scans and key lookups, never a scan of either table, and a
// walk of the pages lists exactly the active accounts holding the collections, each once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { openDatabase, type Database } from '../../src/storage/db.ts';
import { listReposByCollections } from '../../src/storage/collections.ts';
import { explainPage, fillIndex, nsidOf } from '../../bench/collection-index.ts';
import { createTestDatabase } from '../helpers/db.ts';

let database: Database;
let idOf: Map<string, number>;

beforeAll(async () => {
  database = await openDatabase({ databaseUrl: await createTestDatabase(), dataDir: '' });
  await database.migrate();
  await fillIndex(database.db, 20_000);
  const res = (await database.db.execute(sql`SELECT id, nsid FROM collections`)) as unknown as { rows: Array<{ id: number; nsid: string }> };
  idOf = new Map(res.rows.map((r) => [r.nsid, Number(r.id)]));
}, 120_000);

afterAll(async () => {
  await database?.close();
});

/** The same answer the slow way: a join over everything. */
async function bruteForce(nsids: string[]): Promise<string[]> {
  const res = (await database.db.execute(sql`
    SELECT DISTINCT a.uid, a.did FROM accounts a JOIN repo_collections rc ON rc.uid = a.uid JOIN collections c ON c.id = rc.collection_id
    WHERE c.nsid = ANY(${sql.param(nsids)}::text[]) AND a.local_status IS NULL AND a.upstream_active AND a.throttled IS NULL
    ORDER BY a.uid`)) as unknown as { rows: Array<{ did: string }> };
  return res.rows.map((r) => r.did);
}

describe('collection index page reads', () => {
  const cases: Array<[string, string[]]> = [
    ['a popular collection', [nsidOf(1)]],
    ['a middling one', [nsidOf(10)]],
    ['a rare one', [nsidOf(50)]],
    ['another rare one', [nsidOf(40)]],
    ['a less rare one', [nsidOf(25)]],
    ['three at once', [nsidOf(1), nsidOf(10), nsidOf(50)]],
    ['every active repo', []],
  ];

  it.each(cases)('%s: index range scans and key lookups only', async (_name, nsids) => {
    for (const cursor of [0, 5_000, 10_000, 15_000, 19_000, 19_900, 19_990]) {
      const { scans } = await explainPage(database.db, nsids.length === 0 ? null : nsids.map((n) => idOf.get(n)!), cursor, 2000);
      expect(scans.length).toBeGreaterThan(0);
      for (const scan of scans) expect(scan, JSON.stringify(scans)).toMatch(/^(Index Only Scan|Index Scan|Bitmap Heap Scan) on (repo_collections|accounts)/);
      expect(scans.some((s) => s.startsWith('Seq Scan'))).toBe(false);
    }
  });

  it.each(cases.filter(([, n]) => n.length > 0))('%s: pages list exactly the active holders, each once', async (_name, nsids) => {
    const seen: string[] = [];
    let cursor = 0;
    for (;;) {
      const page = await listReposByCollections(database.db, nsids, cursor, 700);
      seen.push(...page.repos.map((r) => r.did));
      if (page.cursor === null) break;
      expect(page.cursor).toBeGreaterThan(cursor);
      cursor = page.cursor;
    }
    expect(seen).toEqual(await bruteForce(nsids));
  });
});
