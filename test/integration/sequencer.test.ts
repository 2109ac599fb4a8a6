// The sequencer's promises under concurrency, on a real PostgreSQL: several writers (as several relay processes
// would be) get gapless seqs that commit in seq order, and a hub in another "process" broadcasts every event once,
// in order, reading the ones it did not write from the log.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { gte, sql } from 'drizzle-orm';
import { BytesWrapper } from '@atcute/cbor';
import { openDatabase, type Database, type Db, type Pipeline } from '../../src/storage/db.ts';
import { PgDialect } from 'drizzle-orm/pg-core';
import { Sequencer } from '../../src/sequencer/sequencer.ts';
import { FanoutHub } from '../../src/firehose/hub.ts';
import { WS_BINARY } from '../../src/firehose/wire-batch.ts';
import { createMetrics } from '../../src/metrics.ts';
import { decodeFrame, encodeMessageFrame } from '../../src/protocol/frame.ts';
import { events, hostEventCounts, hosts } from '../../src/storage/schema.ts';
import { type LaidOutEvents, type PartitionPolicy, committedSeq, EVENT_COUNTS_HORIZON_MS, eventCountSeries, eventsLastHour, oldestRetainedSeq, pruneEventCounts, seqBeforeTime } from '../../src/storage/events.ts';
import type { CommittedEvent } from '../../src/core/events.ts';
import { relayEvent } from '../../src/core/events.ts';

function bodyOf(frame: Uint8Array): { n: number; seq: number } {
  const f = decodeFrame(frame);
  if (f.op !== 1) throw new Error('not a message frame');
  return f.body as { n: number; seq: number };
}
import { createTestDatabase, TestDatabases } from '../helpers/db.ts';
import { eventually } from '../helpers/consumer.ts';

const log = pino({ level: 'silent' });
let url: string;
const opened: Database[] = [];

async function open(): Promise<Database> {
  const d = await openDatabase({ databaseUrl: url, dataDir: '' });
  opened.push(d);
  return d;
}

beforeAll(async () => {
  url = await createTestDatabase();
  const d = await open();
  await d.migrate();
  await d.db.insert(hosts).values([{ hostname: 'a.test' }, { hostname: 'b.test' }, { hostname: 'c.test' }]);
});

const embedded = new TestDatabases();

/**
 * A sequencer on `d` that commits as soon as it can, up to 100 events a batch: on a Database through its pipeline,
 * as the relay does; on a bare Db (or with `pipeline: null`) statement by statement, as on the embedded engine.
 */
function sequencerOn(
  d: Database | Db,
  onCommitted: (evs: CommittedEvent[], laid: LaidOutEvents) => void,
  opts: { maxBatchBytes?: number; pipeline?: Pipeline | null; partitions?: PartitionPolicy } = {},
): Sequencer {
  const s = new Sequencer({ db: 'db' in d ? d.db : d, pipeline: 'db' in d ? d.pipeline : null, log, metrics: createMetrics(), maxDelayMs: 1, maxBatch: 100, layout: WS_BINARY, ...opts });
  s.onCommitted((laid) => onCommitted(laid.events, laid));
  return s;
}

/**
 * Two events of `did` (host 3, upstream seqs from `first`) through a sequencer on `on`: each is committed, and
 * logged, exactly once.
 */
async function expectWrittenOnce(d: Database, on: Database | Db, opts: { pipeline?: Pipeline | null }, did: string, first: number): Promise<void> {
  const committed: number[] = [];
  const s = sequencerOn(on, (evs) => committed.push(...evs.map((e) => e.seq)), opts);
  for (const n of [first, first + 1]) s.submit({ hostId: 3, upstreamSeq: n, cursor: { at: n, above: [] }, event: relayEvent(did, 'identity', { did, n }) });
  await s.drain();
  expect(committed).toHaveLength(2);
  const rows = await d.db.select({ seq: events.seq }).from(events).where(sql`${events.did} = ${did}`);
  expect(rows.map((r) => r.seq).sort()).toEqual([...committed].sort());
}

/** `d`'s pipeline, each COMMIT statement going through `onCommit` (which sends it, or not, with `send`). */
function pipelineOnCommit(d: Database, onCommit: (send: () => Promise<unknown>) => Promise<unknown>): Pipeline {
  const dialect = new PgDialect();
  return {
    async checkout() {
      const c = await d.pipeline!.checkout();
      const db = new Proxy(c.db, {
        get(target, prop, receiver) {
          if (prop !== 'execute') return Reflect.get(target, prop, receiver);
          return (q: Parameters<Db['execute']>[0]) => {
            if (typeof q === 'string' || dialect.sqlToQuery(q.getSQL()).sql !== 'COMMIT') return target.execute(q);
            return onCommit(() => target.execute(q));
          };
        },
      });
      return { db, release: c.release };
    },
  };
}

afterAll(async () => {
  for (const d of opened) await d.close();
  await embedded.closeAll();
});

describe('sequencer', () => {
  it('assigns gapless seqs in commit order across concurrent writers, and moves cursors with them', async () => {
    const writers = await Promise.all([open(), open(), open()]);
    const readerDb = await open();
    const hub = new FanoutHub({ database: readerDb, log, metrics: createMetrics(), recentBytes: 0, recentMaxAgeMs: 0 });
    await hub.start();
    const seen: CommittedEvent[] = [];
    hub.add({ deliver: (batch) => seen.push(...batch.events) });

    const PER_WRITER = 300;
    const sequencers = writers.map(
      (d) =>
        new Sequencer({
          db: d.db,
          log,
          metrics: createMetrics(),
          maxDelayMs: 1,
          maxBatch: 37,
          layout: WS_BINARY,
        }),
    );
    // Host ids 1..3, one per writer; every 10th upstream event is a drop (cursor only).
    await Promise.all(
      sequencers.map(async (s, w) => {
        for (let i = 1; i <= PER_WRITER; i++) {
          const drop = i % 10 === 0;
          s.submit({
            hostId: w + 1,
            upstreamSeq: i,
            cursor: { at: i, above: [] },
            event: drop
              ? null
              : relayEvent(`did:plc:writer${w}`, 'identity', { did: `did:plc:writer${w}`, n: i, time: 'x' }),
          });
          if (i % 50 === 0) await new Promise((r) => setTimeout(r, 1));
        }
        await s.drain();
      }),
    );
    const accepted = 3 * (PER_WRITER - PER_WRITER / 10);
    await eventually(() => hub.lastSeq === accepted, 20_000, 'hub to catch up');

    // Gapless, each once, in order.
    expect(seen.map((e) => e.seq)).toEqual(Array.from({ length: accepted }, (_, i) => i + 1));
    // The time line (Jetstream's cursor) rises with seq whichever writer took it, near the database's clock.
    for (let i = 1; i < seen.length; i++) expect(seen[i]!.timeUs).toBeGreaterThan(seen[i - 1]!.timeUs);
    expect(Math.abs(seen.at(-1)!.timeUs / 1000 - Date.now())).toBeLessThan(60_000);
    // Per writer, upstream order is preserved in relay order.
    for (let w = 0; w < 3; w++) {
      const ns = seen
        .filter((e) => e.did === `did:plc:writer${w}`)
        .map((e) => bodyOf(e.frame));
      expect(ns.map((b) => b.n)).toEqual([...ns.map((b) => b.n)].sort((a, b) => a - b));
      for (const b of ns) expect(b.seq).toBeGreaterThan(0);
    }
    // The frame carries the relay seq.
    for (const e of seen.slice(0, 20)) expect(bodyOf(e.frame).seq).toBe(e.seq);
    // Cursors cover dropped events too.
    const rows = await readerDb.db.select({ id: hosts.id, cursor: hosts.cursor }).from(hosts).orderBy(hosts.id);
    expect(rows.map((r) => r.cursor)).toEqual([PER_WRITER, PER_WRITER, PER_WRITER]);
    const res = (await readerDb.db.execute(sql`select count(*)::int as n from events`)) as unknown as {
      rows: Array<{ n: number }>;
    };
    expect(res.rows[0]!.n).toBe(accepted);
    await hub.stop();
  });

  it('counts each host’s events of the minute in the batch, from every writer, and prunes counts past the horizon', async () => {
    const [d1, d2] = await Promise.all([open(), open()]);
    const made = await d1.db.insert(hosts).values([{ hostname: 'count-a.test' }, { hostname: 'count-b.test' }]).returning({ id: hosts.id });
    const [a, b] = made.map((h) => h.id) as [number, number];
    const batches: number[] = [];
    const writers = [d1, d2].map((d) => sequencerOn(d, () => batches.push(1)));
    // Host a through two writers (as when its claim moved): 40 accepted, 8 rejected, 4 skipped (committed by an
    // earlier crawl: neither), and 2 events the relay emits itself; host b: 5 rejected only.
    for (let i = 1; i <= 52; i++) {
      const s = writers[i % 2]!;
      const kind = i % 13 === 0 ? 'skip' : i % 6 === 0 ? 'rejected' : 'accepted';
      s.submit({
        hostId: a,
        upstreamSeq: i,
        cursor: { at: i, above: [] },
        event: kind === 'accepted' ? relayEvent('did:plc:counted', 'identity', { did: 'did:plc:counted', n: i }) : null,
        ...(kind === 'rejected' ? { rejected: true as const } : {}),
      });
    }
    for (let i = 0; i < 2; i++) writers[0]!.submit({ hostId: a, upstreamSeq: null, event: relayEvent('did:plc:counted', 'account', { did: 'did:plc:counted', active: true }) });
    for (let i = 1; i <= 5; i++) writers[1]!.submit({ hostId: b, upstreamSeq: i, cursor: { at: i, above: [] }, event: null, rejected: true });
    await Promise.all(writers.map((s) => s.drain()));
    const kinds = Array.from({ length: 52 }, (_, k) => k + 1).map((i) => (i % 13 === 0 ? 'skip' : i % 6 === 0 ? 'rejected' : 'accepted'));
    const accepted = kinds.filter((k) => k === 'accepted').length + 2;
    const rejected = kinds.filter((k) => k === 'rejected').length;
    expect(batches.length).toBeGreaterThan(1);

    // One row per host and minute, whichever writer committed (a minute boundary may fall in the run: summed).
    const sum = (pts: Array<{ accepted: number; rejected: number }>) => pts.reduce((n, p) => ({ accepted: n.accepted + p.accepted, rejected: n.rejected + p.rejected }), { accepted: 0, rejected: 0 });
    const seriesA = await eventCountSeries(d1.db, 60, a);
    expect(seriesA).toHaveLength(60);
    for (let i = 1; i < 60; i++) expect(seriesA[i]!.at - seriesA[i - 1]!.at).toBe(60_000);
    expect(sum(seriesA)).toEqual({ accepted, rejected });
    expect(sum(await eventCountSeries(d2.db, 60, b))).toEqual({ accepted: 0, rejected: 5 });
    expect(await eventsLastHour(d2.db, [a, b])).toEqual(new Map([[a, accepted], [b, 0]]));
    const rows = await d1.db.select().from(hostEventCounts).where(sql`${hostEventCounts.hostId} IN (${a}, ${b})`);
    expect(rows.length).toBeLessThanOrEqual(4);

    // Past the horizon, rows go; within it, they stay.
    const minute = (ms: number) => new Date(Math.floor(ms / 60_000) * 60_000);
    await d1.db.insert(hostEventCounts).values([
      { hostId: b, minute: minute(Date.now() - EVENT_COUNTS_HORIZON_MS - 120_000), accepted: 9, rejected: 0 },
      { hostId: b, minute: minute(Date.now() - EVENT_COUNTS_HORIZON_MS + 3_600_000), accepted: 7, rejected: 0 },
    ]);
    await pruneEventCounts(d1.db);
    const left = await d1.db.select({ accepted: hostEventCounts.accepted }).from(hostEventCounts).where(sql`${hostEventCounts.hostId} = ${b}`);
    expect(left.map((r) => r.accepted).sort()).toEqual([0, 7]);
    expect(sum(await eventCountSeries(d1.db, 1440, b))).toEqual({ accepted: 7, rejected: 5 });
  });

  it.each(['postgres', 'embedded'] as const)("%s: writes a batch's frames once, laid out as WebSocket messages, and stores exactly those frames", async (store) => {
      let d: Database;
      if (store === 'postgres') d = await open();
      else {
        d = await embedded.open('embedded');
        await d.db.insert(hosts).values([{ hostname: 'a.test' }]);
      }
      const laidOut: LaidOutEvents[] = [];
      const s = sequencerOn(d, (_, laid) => laidOut.push(laid));
      // Bodies as received (the seq spliced in, at every width of the upstream seq) at each WebSocket length form,
      // and one the relay built (encoded afresh).
      const sizes = [10, 200, 70_000];
      const upstream = [5, 300, 2 ** 33];
      for (let i = 0; i < sizes.length; i++) {
        const f = decodeFrame(encodeMessageFrame('#identity', { seq: upstream[i], did: 'did:plc:laid', pad: 'x'.repeat(sizes[i]!) }));
        if (f.op !== 1) throw new Error('not a message');
        s.submit({ hostId: 1, upstreamSeq: upstream[i]!, event: { did: 'did:plc:laid', kind: 'identity', body: f.body, received: f.received } });
      }
      s.submit({ hostId: 1, upstreamSeq: null, event: relayEvent('did:plc:laid', 'account', { did: 'did:plc:laid', active: true, time: 't' }) });
      await s.drain();
      const all = laidOut.flatMap((laid) =>
        laid.events.map((e, i) => {
          // Each frame is a view of its batch's bytes, right after its WebSocket header, and the header says its length.
          expect(e.frame.buffer).toBe(laid.bytes.buffer);
          const at = laid.offsets[i]!;
          const frameAt = e.frame.byteOffset - laid.bytes.byteOffset;
          expect(laid.bytes[at]).toBe(0x82);
          expect(frameAt - at).toBe(e.frame.length < 126 ? 2 : e.frame.length < 65536 ? 4 : 10);
          expect(frameAt + e.frame.length).toBe(laid.offsets[i + 1]);
          return e;
        }),
      );
      expect(all).toHaveLength(4);
      const stored = await d.db.select({ seq: events.seq, frame: events.frame }).from(events).where(gte(events.seq, all[0]!.seq)).orderBy(events.seq);
      expect(stored.map((r) => r.seq)).toEqual(all.map((e) => e.seq));
      stored.forEach((r, i) => {
        expect(Buffer.compare(Buffer.from(r.frame), Buffer.from(all[i]!.frame))).toBe(0);
        const f = decodeFrame(r.frame);
        if (f.op !== 1) throw new Error('not a message');
        expect(f.body.seq).toBe(r.seq);
        expect(f.body.did).toBe('did:plc:laid');
        if (i < sizes.length) expect((f.body.pad as string).length).toBe(sizes[i]);
      });
      await s.stop();
  });

  it('gives a commit one microsecond per op, stores the times, and finds a time cursor by seq', async () => {
    const d = await open();
    const committed: CommittedEvent[] = [];
    const s = sequencerOn(d, (evs) => committed.push(...evs));
    const ops = (n: number) => Array.from({ length: n }, (_, i) => ({ action: 'delete', path: `app.bsky.feed.post/${i}`, cid: null }));
    for (const n of [3, 1, 0, 5]) s.submit({ hostId: 1, upstreamSeq: null, event: relayEvent('did:plc:timeline', 'commit', { repo: 'did:plc:timeline', ops: ops(n) }) });
    s.submit({ hostId: 1, upstreamSeq: null, event: relayEvent('did:plc:timeline', 'identity', { did: 'did:plc:timeline', time: 'x' }) });
    await s.drain();
    await eventually(() => committed.length === 5, 10_000, 'committed');
    const t = committed.map((e) => e.timeUs);
    // Each event ends where its ops end: 3 ops, 1, none (one all the same), 5, and one for an identity.
    expect([t[1]! - t[0]!, t[2]! - t[1]!, t[3]! - t[2]!, t[4]! - t[3]!]).toEqual([1, 1, 5, 1]);
    const stored = await d.db.select({ seq: events.seq, t: events.timeUs }).from(events).where(gte(events.seq, committed[0]!.seq)).orderBy(events.seq);
    expect(stored.map((r) => r.t)).toEqual(t);
    // A cursor anywhere inside an event's span resumes at that event; at its end, after it.
    const seqs = committed.map((e) => e.seq);
    expect(await seqBeforeTime(d.db, t[0]! - 3)).toBe(seqs[0]! - 1);
    expect(await seqBeforeTime(d.db, t[0]! - 1)).toBe(seqs[0]! - 1);
    expect(await seqBeforeTime(d.db, t[0]!)).toBe(seqs[0]);
    expect(await seqBeforeTime(d.db, t[3]! - 2)).toBe(seqs[2]);
    expect(await seqBeforeTime(d.db, t[4]!)).toBe(seqs[4]);
    expect(await seqBeforeTime(d.db, t[4]! + 1_000_000)).toBe(seqs[4]);
    // Older than anything kept: before the oldest.
    const oldest = await oldestRetainedSeq(d.db);
    expect(await seqBeforeTime(d.db, 1)).toBe(oldest! - 1);
  });

  it('keeps a failed batch and commits it once the database is back', async () => {
    const d = await open();
    const committed: number[] = [];
    const s = sequencerOn(d, (evs) => committed.push(...evs.map((e) => e.seq)));
    // The events table disappears for a moment, so the next batch transaction fails.
    await d.db.execute(sql`ALTER TABLE events RENAME TO events_away`);
    s.submit({ hostId: 1, upstreamSeq: 1000, cursor: { at: 1000, above: [] }, event: relayEvent('did:plc:retry', 'identity', { did: 'did:plc:retry' }) });
    await new Promise((r) => setTimeout(r, 150));
    expect(committed).toEqual([]);
    await d.db.execute(sql`ALTER TABLE events_away RENAME TO events`);
    await s.drain();
    expect(committed).toHaveLength(1);
    const [host] = await d.db.select({ cursor: hosts.cursor }).from(hosts).where(sql`${hosts.id} = 1`);
    expect(host!.cursor).toBe(1000);
  });

  it('does not write a batch again when its COMMIT went through but the answer was lost', async () => {
    const d = await open();
    let loseAnswer = true;
    // The server commits, then the connection drops before the client hears so (as when PostgreSQL is killed).
    const flaky = new Proxy(d.db, {
      get(target, prop, receiver) {
        if (prop !== 'transaction') return Reflect.get(target, prop, receiver);
        return async (fn: Parameters<Db['transaction']>[0]) => {
          const result = await target.transaction(fn);
          if (loseAnswer) {
            loseAnswer = false;
            throw new Error('Connection terminated unexpectedly');
          }
          return result;
        };
      },
    });
    await expectWrittenOnce(d, flaky, {}, 'did:plc:once', 7000);
    expect(loseAnswer).toBe(false);
    const [host] = await d.db.select({ cursor: hosts.cursor }).from(hosts).where(sql`${hosts.id} = 3`);
    expect(host!.cursor).toBe(7001);
  });

  it('does not write a pipelined batch again when its COMMIT went through but the answer was lost', async () => {
    const d = await open();
    let loseAnswer = true;
    // The pipeline's connection hears COMMIT's answer, then fails as if the connection had dropped.
    const flaky = pipelineOnCommit(d, (send) =>
      send().then((v) => {
        if (!loseAnswer) return v;
        loseAnswer = false;
        throw new Error('Connection terminated unexpectedly');
      }),
    );
    await expectWrittenOnce(d, d, { pipeline: flaky }, 'did:plc:once-piped', 7100);
    expect(loseAnswer).toBe(false);
  });

  it('makes a batch’s log partitions again when the transaction that made them rolled back', async () => {
    const d = await open();
    let dropCommit = true;
    // The first COMMIT is never sent: the connection closes, and the server rolls back the partitions it made.
    const flaky = pipelineOnCommit(d, (send) => {
      if (!dropCommit) return send();
      dropCommit = false;
      return Promise.reject(new Error('Connection terminated unexpectedly'));
    });
    const committed: number[] = [];
    // A byte cap of one: every batch makes partitions of its own.
    const s = sequencerOn(d, (evs) => committed.push(...evs.map((e) => e.seq)), { pipeline: flaky, partitions: { spanMs: 3_600_000, maxBytes: 1 } });
    for (const n of [1, 2]) s.submit({ hostId: 1, upstreamSeq: 9000 + n, cursor: { at: 9000 + n, above: [] }, event: relayEvent('did:plc:parted', 'identity', { did: 'did:plc:parted', n }) });
    await eventually(() => committed.length === 2, 10_000, 'the batch committed on its retry');
    expect(dropCommit).toBe(false);
    const rows = await d.db.select({ seq: events.seq }).from(events).where(sql`${events.did} = 'did:plc:parted'`);
    expect(rows.map((r) => r.seq).sort()).toEqual(committed);
    await s.drain();
  });

  it('keeps a host’s cursor with the seqs committed above it, as the newest item of the host says', async () => {
    const d = await open();
    const s = sequencerOn(d, () => {});
    // 8100 waits for its identity while 8101 and 8102 are committed; then it is too.
    s.submit({ hostId: 3, upstreamSeq: 8101, cursor: { at: 8099, above: [8101] }, event: relayEvent('did:plc:early', 'identity', { did: 'did:plc:early' }) });
    s.submit({ hostId: 3, upstreamSeq: 8102, cursor: { at: 8099, above: [8101, 8102] }, event: null });
    await s.drain();
    const row = async () => (await d.db.select({ cursor: hosts.cursor, above: hosts.cursorAbove }).from(hosts).where(sql`${hosts.id} = 3`))[0]!;
    expect(await row()).toEqual({ cursor: 8099, above: [8101, 8102] });
    // Relay-made items (no upstream seq) leave the cursor alone.
    s.submit({ hostId: 3, upstreamSeq: null, event: relayEvent('did:plc:early', 'account', { did: 'did:plc:early', active: true }) });
    s.submit({ hostId: 3, upstreamSeq: 8100, cursor: { at: 8102, above: [] }, event: relayEvent('did:plc:late', 'identity', { did: 'did:plc:late' }) });
    await s.drain();
    expect(await row()).toEqual({ cursor: 8102, above: [] });
  });

  it('a hub that hears of a commit while it starts begins at the head, and broadcasts nothing older', async () => {
    const writer = await open();
    const s = sequencerOn(writer, () => {});
    const relayMade = (did: string, n: number) => ({ hostId: 1, upstreamSeq: null, event: relayEvent(did, 'identity', { did, n }) });
    for (let i = 0; i < 30; i++) s.submit(relayMade('did:plc:beforestart', i));
    await s.drain();
    const readerDb = await open();
    const head = await committedSeq(readerDb.db);
    // Another process's NOTIFY arrives between the hub's LISTEN and its read of the head, as it does when a process
    // starts while events flow.
    const racing: Database = {
      ...readerDb,
      listen: async (channel, onPayload) => {
        const unlisten = await readerDb.listen(channel, onPayload);
        onPayload(String(head));
        return unlisten;
      },
    };
    const hub = new FanoutHub({ database: racing, log, metrics: createMetrics(), recentBytes: 0, recentMaxAgeMs: 0 });
    const seen: number[] = [];
    hub.add({ deliver: (batch) => seen.push(...batch.events.map((e) => e.seq)) });
    await hub.start();
    expect(hub.lastSeq).toBe(head);
    for (let i = 0; i < 10; i++) s.submit(relayMade('did:plc:afterstart', i));
    await s.drain();
    await eventually(() => hub.lastSeq >= head + 10, 10_000, 'the hub to hear of the new commits');
    // Only what was committed after the head, once each, in order: not the log from seq 1 again.
    expect(seen).toEqual(Array.from({ length: 10 }, (_, i) => head + 1 + i));
    await hub.stop();
  });

  it.each(['postgres', 'embedded'] as const)('%s: stores received bodies byte for byte under the new seq, in batches cut at the byte cap', async (store) => {
    let d: Database;
    if (store === 'postgres') d = await open();
    else {
      d = await embedded.open('embedded');
      await d.db.insert(hosts).values([{ hostname: 'a.test' }, { hostname: 'b.test' }]);
    }
    const batches: number[][] = [];
    const s = sequencerOn(d, (evs) => batches.push(evs.map((e) => e.seq)), { maxBatchBytes: 1_000_000 });
    // Twelve ~300 KB commits as a host sends them: at most three fit under the cap in one transaction.
    const sent = Array.from({ length: 12 }, (_, i) => {
      const blocks = new Uint8Array(300_000 + i).map((_, k) => (k * 13 + i) & 0xff);
      const frame = encodeMessageFrame('#commit', { seq: 5000 + i, repo: 'did:plc:big', rev: `r${i}`, blocks: new BytesWrapper(blocks) });
      const f = decodeFrame(frame);
      if (f.op !== 1) throw new Error('not a message');
      return f;
    });
    for (const [i, { body, received }] of sent.entries()) {
      s.submit({ hostId: 2, upstreamSeq: 5000 + i, cursor: { at: 5000 + i, above: [] }, event: { did: 'did:plc:big', kind: 'commit', body, received } });
    }
    const before = (await eventCountSeries(d.db, 60, 2)).reduce((n, p) => n + p.accepted, 0);
    await s.drain();
    // Counted with the cursors' statement, on either store.
    expect((await eventCountSeries(d.db, 60, 2)).reduce((n, p) => n + p.accepted, 0) - before).toBe(12);
    expect(batches.length).toBeGreaterThanOrEqual(4);
    for (const b of batches) expect(b.length).toBeLessThanOrEqual(3);
    const seqs = batches.flat();
    expect(seqs).toEqual(Array.from({ length: 12 }, (_, i) => seqs[0]! + i));
    const rows = await d.db.select({ seq: events.seq, frame: events.frame }).from(events).where(gte(events.seq, seqs[0]!)).orderBy(events.seq);
    expect(rows).toHaveLength(12);
    rows.forEach((row, i) => {
      // Exactly what encoding the received body under the relay's seq gives.
      // (Buffer#equals: a deep toEqual walks 300 KB element by element.)
      expect(Buffer.from(row.frame).equals(Buffer.from(encodeMessageFrame('#commit', { ...sent[i]!.body, seq: row.seq })))).toBe(true);
    });
  });
});

