// The event log's frame column (issue 15): stored as is (STORAGE EXTERNAL), compressed by TOAST's pglz (PostgreSQL's
// default) or by lz4. Three fresh databases on one server get the same realistic #commit frames through the
// sequencer's own batch transaction (storage/events.ts commitBatch), batch by batch in turn, so the machine's noise
// falls on all three alike. Measured per event: bytes on disk (partitions with their TOAST and indexes), WAL, and
// the CPU of the PostgreSQL backend that wrote them and that reads them back for a replay.
import { existsSync } from 'node:fs';
import pg from 'pg';
import { drizzle } from 'drizzle-orm/node-postgres';
import { sql } from 'drizzle-orm';
import * as schema from '../src/storage/schema.ts';
import type { Db } from '../src/storage/db.ts';
import { commitBatch, LogPartitioner, logBytes, readEvents, type Batch } from '../src/storage/events.ts';
import { WS_BINARY } from '../src/firehose/wire-batch.ts';
import { frameUnderSeq, decodeFrame } from '../src/protocol/frame.ts';
import type { BenchLine } from './lib/record.ts';
import { cachedAccounts, corpusOptions, describeCacheFile } from './lib/corpus-cache.ts';
import { cpuSecondsOf, Harness, machineBusy } from './lib/harness.ts';
import { num, type Flags } from './scenarios.ts';

export type FrameStorage = 'none' | 'pglz' | 'lz4';
const VARIANTS: FrameStorage[] = ['none', 'pglz', 'lz4'];

/** The DDL that stores the log's frames one way (it reaches every partition, and those made later inherit it). */
const STORAGE_DDL: Record<FrameStorage, string> = {
  none: 'ALTER TABLE events ALTER COLUMN frame SET STORAGE EXTERNAL',
  pglz: 'ALTER TABLE events ALTER COLUMN frame SET STORAGE EXTENDED, ALTER COLUMN frame SET COMPRESSION pglz',
  lz4: 'ALTER TABLE events ALTER COLUMN frame SET STORAGE EXTENDED, ALTER COLUMN frame SET COMPRESSION lz4',
};

interface Side {
  variant: FrameStorage;
  pool: pg.Pool;
  db: Db;
  /** The one backend this side's pool talks to (PostgreSQL runs on this machine: its CPU is in /proc). */
  pid: number;
  partitions: LogPartitioner;
  insertCpu: number;
  insertMs: number;
  wal: number;
  readCpu: number;
  batches: number;
}

async function openSide(h: Harness, variant: FrameStorage): Promise<Side> {
  const url = await h.database();
  await h.migrate(url);
  const pool = new pg.Pool({ connectionString: url, max: 1, idleTimeoutMillis: 0 });
  const db = drizzle(pool, { schema }) as unknown as Db;
  await db.execute(sql.raw(STORAGE_DDL[variant]));
  const pid = (await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  if (!existsSync(`/proc/${pid}/stat`)) throw new Error('the storage bench reads the PostgreSQL backend\'s CPU from /proc: run PostgreSQL on this machine');
  return { variant, pool, db, pid, partitions: new LogPartitioner({ spanMs: 3_600_000, maxBytes: 0 }), insertCpu: 0, insertMs: 0, wal: 0, readCpu: 0, batches: 0 };
}

/**
 * Flags: --events 30000 (per variant), --batch 500 (events per transaction, about what the sequencer commits under
 * load), --accounts 60, and the corpus flags (--records, --distinct-repos, default 12).
 */
export async function benchLogStorage(flags: Flags): Promise<BenchLine[]> {
  const total = num(flags, 'events', 30_000);
  const batchSize = Math.max(1, num(flags, 'batch', 500));
  const accountCount = Math.max(1, num(flags, 'accounts', 60));
  const log = (m: string) => console.error(`  [${new Date().toISOString().slice(11, 19)}] ${m}`);
  const h = new Harness();
  const sides: Side[] = [];
  try {
    const [backgroundBusy] = await Promise.all([machineBusy(1000), h.services()]);
    const { accounts, loaded } = cachedAccounts(
      Array.from({ length: accountCount }, (_, i) => (i % 5 === 4 ? 'p256' : 'k256')),
      Math.ceil(total / accountCount),
      corpusOptions(flags, { distinctRepos: 12 }),
    );
    log(`corpus ${describeCacheFile(loaded)}`);
    // Interleaved across accounts, as a host's stream is; bodies decoded once so each side re-frames them under its seqs.
    const bodies: Array<{ did: string; body: Record<string, unknown>; received: Uint8Array }> = [];
    for (let i = 0; bodies.length < total; i++) {
      const a = accounts[i % accounts.length]!;
      const frame = a.frames[Math.floor(i / accounts.length)];
      if (!frame) break;
      const decoded = decodeFrame(frame);
      if (decoded.op !== 1) throw new Error('corpus frame is not a message');
      bodies.push({ did: a.did, body: decoded.body, received: decoded.received });
    }
    const frameBytes = bodies.reduce((n, b) => n + b.received.length, 0);
    for (const v of VARIANTS) sides.push(await openSide(h, v));
    const admin = new pg.Client({ connectionString: h.databaseUrl });
    await admin.connect();
    const walNow = async () => (await admin.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn')).rows[0]!.lsn;
    const walDiff = async (from: string) => Number((await admin.query<{ d: string }>('SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), $1::pg_lsn) AS d', [from])).rows[0]!.d);

    const t0 = performance.now();
    for (let from = 0, round = 0; from < bodies.length; from += batchSize, round++) {
      const slice = bodies.slice(from, from + batchSize);
      // A different side goes first each round: whatever the first writer of a round pays, all pay alike.
      for (let k = 0; k < sides.length; k++) {
        const side = sides[(round + k) % sides.length]!;
        const batch: Batch = {
          events: slice.map((b) => ({ did: b.did, kind: 'commit', hostId: 1, upstreamSeq: null, timeSpan: 1, frame: frameUnderSeq('#commit', b.body, b.received) })),
          cursors: new Map(),
          accounts: new Map(),
          counts: new Map(),
        };
        const wal0 = await walNow();
        const cpu0 = cpuSecondsOf(side.pid);
        const started = performance.now();
        await commitBatch(side.db, batch, side.partitions, WS_BINARY);
        side.insertMs += performance.now() - started;
        side.insertCpu += cpuSecondsOf(side.pid) - cpu0;
        side.wal += await walDiff(wal0);
        side.batches++;
      }
    }
    log(`wrote ${bodies.length} events to each of ${sides.length} logs in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    const sizes = new Map<FrameStorage, number>();
    for (const side of sides) {
      sizes.set(side.variant, await logBytes(side.db));
      // A replay reads the whole log back in pages, as firehose/consumer.ts does.
      const cpu0 = cpuSecondsOf(side.pid);
      let after = 0;
      for (;;) {
        const { events: page } = await readEvents(side.db, after, Number.MAX_SAFE_INTEGER, 2000, WS_BINARY);
        if (page.length === 0) break;
        after = page.at(-1)!.seq;
      }
      side.readCpu = cpuSecondsOf(side.pid) - cpu0;
    }
    await admin.end();

    const n = bodies.length;
    const per = (x: number) => x / n;
    const lines: BenchLine[] = [
      { name: 'frames', value: n, unit: `#commit frames per log, ${batchSize} per transaction` },
      { name: 'frame size (mean)', value: Math.round(frameBytes / n), unit: 'bytes' },
    ];
    for (const side of sides) {
      const v = side.variant;
      lines.push(
        { name: `log on disk per event, frames ${v}`, value: Math.round(per(sizes.get(v)!)), unit: 'bytes (partitions, TOAST and indexes)' },
        { name: `WAL per event, frames ${v}`, value: Math.round(per(side.wal)), unit: 'bytes' },
        { name: `PostgreSQL CPU to insert, frames ${v}`, value: Math.round(per(side.insertCpu) * 1e6 * 10) / 10, unit: 'µs per event (the backend; 10 ms clock ticks)' },
        { name: `batch transaction time, frames ${v}`, value: Math.round((side.insertMs / side.batches) * 10) / 10, unit: `ms per ${batchSize} events` },
        { name: `PostgreSQL CPU to read back, frames ${v}`, value: Math.round(per(side.readCpu) * 1e6 * 10) / 10, unit: 'µs per event (replay pages)' },
      );
    }
    lines.push({ name: 'background machine load before the run', value: Math.round(backgroundBusy * 100), unit: '% of all cores busy' });
    return lines;
  } finally {
    await Promise.allSettled(sides.map((s) => s.pool.end()));
    await h.close();
  }
}
