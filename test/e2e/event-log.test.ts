// The event log as partitions: under steady ingest with a 20 s window and 5 s partitions, retention drops whole
// partitions (no row is ever deleted), the partitions kept cover about the window, and a consumer replaying from the
// oldest kept seq gets every event after it once. And a database made by the schema before partitioning upgrades
// with `relay migrate`, keeping its events.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { drizzle } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import { sql } from 'drizzle-orm';
import { MIGRATIONS_DIR, openDatabase } from '../../src/storage/db.ts';
import { logPartitions, oldestRetainedSeq } from '../../src/storage/events.ts';
import { encodeMessageFrame } from '../../src/protocol/frame.ts';
import { FakePlc } from '../../dev-env/fake-plc.ts';
import { FakePds } from '../../dev-env/fake-pds.ts';
import { runRelayCli } from '../../dev-env/process.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { crawlAndConnect, startTestRelay } from '../helpers/relay.ts';
import { TestConsumer, eventually } from '../helpers/consumer.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function deletedRows(databaseUrl: string): Promise<number> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const res = await client.query<{ n: string }>(`SELECT COALESCE(sum(n_tup_del), 0) AS n FROM pg_stat_user_tables WHERE relname LIKE 'events%'`);
    return Number(res.rows[0]!.n);
  } finally {
    await client.end();
  }
}

describe('partitioned event log', () => {
  it('keeps about the window by dropping whole partitions, and replays from the oldest kept seq exactly once', { timeout: 120_000 }, async () => {
    const WINDOW_MS = 20_000;
    const plc = await FakePlc.start();
    const pds = await FakePds.start({ plc });
    const databaseUrl = await createTestDatabase();
    const relay = await startTestRelay({ databaseUrl, plcUrl: plc.url, replayWindowMs: WINDOW_MS, eventLogPartitionMs: 5000 }, { retentionIntervalMs: 500 });
    cleanups.push(() => relay.stop(), () => pds.close(), () => plc.close());
    await crawlAndConnect(relay, pds.hostname);
    const live = await TestConsumer.connect(relay.wsUrl);
    cleanups.push(() => live.close());
    const accounts = [await pds.createAccount(), await pds.createAccount()];
    // A minute of steady ingest, ~40 events/s.
    const started = Date.now();
    for (let i = 0; Date.now() - started < 60_000; i++) {
      await pds.createRecord(accounts[i % 2]!, `steady ${i}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    await live.waitFor((c) => c.lastSeq === pds.events.length, 10_000, 'every event live');
    const { db } = relay.relay.ctx.database;
    await eventually(async () => (await logPartitions(db))[0]!.createdAt.getTime() > Date.now() - WINDOW_MS - 10_000, 10_000, 'pruning');
    const parts = await logPartitions(db);
    // About the window: 20 s in 5 s partitions, and the newest filling.
    expect(parts.length).toBeGreaterThanOrEqual(3);
    expect(parts.length).toBeLessThanOrEqual(8);
    const oldest = (await oldestRetainedSeq(db))!;
    expect(oldest).toBeGreaterThan(live.events.length / 3);
    expect(oldest).toBe(parts[0]!.fromSeq);
    // Nothing was deleted from the log: whole partitions went.
    expect(await deletedRows(databaseUrl)).toBe(0);
    // From the oldest kept seq: everything after it, once, in order, then live.
    const replay = await TestConsumer.connect(relay.wsUrl, oldest);
    cleanups.push(() => replay.close());
    await replay.waitFor((c) => c.lastSeq === live.lastSeq, 15_000, 'the replay');
    expect(replay.frames[0]!.frame).not.toMatchObject({ t: '#info' });
    expect(replay.events.map((e) => e.seq)).toEqual(live.events.filter((e) => e.seq > oldest).map((e) => e.seq));
  });

  it('upgrades a database made before partitioning with `relay migrate`, keeping its events', async () => {
    const databaseUrl = await createTestDatabase();
    // The schema as it was: every migration before the partitioning one.
    const old = mkdtempSync(join(tmpdir(), 'relay-migrations-'));
    cleanups.push(() => rmSync(old, { recursive: true, force: true }));
    cpSync(MIGRATIONS_DIR, old, { recursive: true });
    const journalPath = join(old, 'meta/_journal.json');
    const journal = JSON.parse(readFileSync(journalPath, 'utf8')) as { entries: Array<{ tag: string }> };
    journal.entries = journal.entries.filter((e) => e.tag < '0009');
    writeFileSync(journalPath, JSON.stringify(journal));
    const pool = new pg.Pool({ connectionString: databaseUrl });
    await migrate(drizzle(pool), { migrationsFolder: old });
    const db = drizzle(pool);
    await db.execute(sql`INSERT INTO hosts (hostname) VALUES ('old.example.com')`);
    for (let seq = 1; seq <= 50; seq++) {
      const frame = Buffer.from(encodeMessageFrame('#identity', { seq, did: 'did:plc:before', time: 't' }));
      await db.execute(sql`INSERT INTO events (seq, did, kind, frame, host_id) VALUES (${seq}, 'did:plc:before', 'identity', ${frame}, 1)`);
    }
    await db.execute(sql`UPDATE relay_seq SET seq = 50`);
    await pool.end();

    const migrated = await runRelayCli(['migrate'], { DATABASE_URL: databaseUrl });
    expect(migrated.output).toContain('migrations applied (postgres)');
    const database = await openDatabase({ databaseUrl, dataDir: '' });
    cleanups.push(() => database.close());
    expect((await logPartitions(database.db)).map((p) => [p.name, p.fromSeq, p.toSeq, p.events])).toEqual([['events_legacy', 0, 51, 50]]);
    // The relay serves the events kept before, and writes new ones into partitions of their own.
    const plc = await FakePlc.start();
    const pds = await FakePds.start({ plc });
    const relay = await startTestRelay({ databaseUrl, plcUrl: plc.url });
    cleanups.push(() => relay.stop(), () => pds.close(), () => plc.close());
    await crawlAndConnect(relay, pds.hostname);
    const account = await pds.createAccount();
    await pds.createRecord(account, 'after the upgrade');
    const all = await TestConsumer.connect(relay.wsUrl, 0);
    cleanups.push(() => all.close());
    await all.waitFor((c) => c.lastSeq === 54, 10_000, 'old and new events');
    expect(all.events.map((e) => e.seq)).toEqual(Array.from({ length: 54 }, (_, i) => i + 1));
    expect((await logPartitions(database.db)).length).toBeGreaterThanOrEqual(2);
    // Frames are lz4-compressed from the upgrade on, in the partition kept and in those made since.
    const methods = (await database.db.execute(sql`
      SELECT p.name, a.attcompression AS method FROM event_partitions p
      JOIN pg_attribute a ON a.attrelid = p.name::regclass AND a.attname = 'frame'`)) as unknown as { rows: Array<{ name: string; method: string }> };
    expect(methods.rows.length).toBeGreaterThanOrEqual(2);
    expect(methods.rows.filter((r) => r.method !== 'l')).toEqual([]);
    // Account rows, updated by every commit, leave room on their pages for the next version (HOT updates).
    const options = (await database.db.execute(sql`SELECT reloptions FROM pg_class WHERE relname = 'accounts'`)) as unknown as { rows: Array<{ reloptions: string[] | null }> };
    expect(options.rows[0]!.reloptions).toContain('fillfactor=80');
  });
});
