// A consumer replaying a large window is paced by its socket: while it reads slowly, what the relay queues for it
// stays bounded (asserted on the relay's buffered bytes, not on time), and it joins the live stream with no gap and
// no duplicate. Readers replaying the same stretch of the log share its pages: each is read from PostgreSQL once, and
// converted to Jetstream messages once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import type { Socket } from 'node:net';
import { BytesWrapper } from '@atcute/cbor';
import { encodeMessageFrame } from '../../src/protocol/frame.ts';
import { LogPartitioner } from '../../src/storage/events.ts';
import { LOG_PAGE } from '../../src/firehose/log-pages.ts';
import { startWorld, type World } from '../helpers/world.ts';
import { TestConsumer } from '../helpers/consumer.ts';
import { metricValue } from '../helpers/relay.ts';
import { JetstreamClient } from '../helpers/jetstream.ts';

const EVENTS = 20_000;
// ~80 MB in all: well past what the loopback socket buffers can hold (tcp_rmem reaches 32 MB here).
const FRAME_PAYLOAD = 4000;
let world: World;

beforeAll(async () => {
  world = await startWorld();
});

afterAll(async () => {
  await world?.close();
});

/** Writes `count` synthetic commit frames straight into the log after the head, as if they had been relayed. */
async function prefill(count: number, payloadBytes = FRAME_PAYLOAD): Promise<number> {
  const { ctx } = world.relay.relay;
  const client = new pg.Client({ connectionString: ctx.config.databaseUrl! });
  await client.connect();
  try {
    const head = await ctx.hub.refreshHead();
    const { rows } = await client.query<{ id: number }>('SELECT id FROM hosts LIMIT 1');
    const hostId = rows[0]!.id;
    const payload = new BytesWrapper(new Uint8Array(payloadBytes).fill(7));
    // The partitions the rows go to, made as the sequencer makes them.
    await ctx.database.db.transaction((tx) => new LogPartitioner({ spanMs: 3_600_000, maxBytes: 0 }).cover(tx, head + count, 1, 1));
    const t0 = Date.now() * 1000;
    for (let start = head + 1; start <= head + count; start += 1000) {
      const values: unknown[] = [];
      const tuples: string[] = [];
      for (let seq = start; seq < Math.min(start + 1000, head + count + 1); seq++) {
        const frame = encodeMessageFrame('#commit', { seq, repo: 'did:plc:replayreplayreplayreplay', blocks: payload });
        const i = values.length;
        tuples.push(`($${i + 1}, $${i + 2}, 'commit', $${i + 3}, $${i + 4}, $${i + 5})`);
        // Each its own time (Jetstream's cursor), in seq order as the sequencer gives them.
        values.push(seq, 'did:plc:replayreplayreplayreplay', Buffer.from(frame), hostId, t0 + seq - head);
      }
      await client.query(`INSERT INTO events (seq, did, kind, frame, host_id, time_us) VALUES ${tuples.join(',')}`, values);
    }
    await client.query('UPDATE relay_seq SET seq = $1 WHERE id = 1', [head + count]);
    await ctx.hub.refreshHead();
    return head + count;
  } finally {
    await client.end();
  }
}

describe('replay backpressure', () => {
  it('keeps a slow replaying reader within a bounded queue, then joins live with no gap', async () => {
    const head = await prefill(EVENTS);
    const reader = await TestConsumer.connect(world.relay.wsUrl, 0);
    const socket = (reader.ws as unknown as { _socket: Socket })._socket;
    const [sink] = world.relay.relay.ctx.firehose.consumers;
    // Read in short bursts with long pauses: a reader far slower than the relay could write.
    let caughtUp = false;
    while (!caughtUp) {
      socket.pause();
      await new Promise((r) => setTimeout(r, 40));
      socket.resume();
      await new Promise((r) => setTimeout(r, 10));
      caughtUp = reader.lastSeq >= head;
    }

    const seqs = reader.events.map((e) => e.seq);
    expect(seqs.length).toBeGreaterThanOrEqual(EVENTS);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBe(seqs[i - 1]! + 1);
    const replayedBytes = reader.events.reduce((n, e) => n + e.bytes.length, 0);
    expect(replayedBytes).toBeGreaterThan(EVENTS * FRAME_PAYLOAD);
    // The slow reader made the relay queue (more than half its replay high-water mark), and the relay queued at most
    // that mark (1 MiB) plus one page (500 frames, each with a few bytes of WebSocket header), against ~80 MB replayed.
    const frameBytes = reader.events.at(-1)!.bytes.length;
    const maxQueued = sink!.describe(0).peakBufferedBytes;
    expect(maxQueued).toBeGreaterThan(512 * 1024);
    expect(maxQueued).toBeLessThanOrEqual(1024 * 1024 + 500 * (frameBytes + 16));

    // Then live: the next relayed event follows the replay directly.
    const pds = world.hosts[0]!;
    const account = await pds.createAccount();
    await pds.createRecord(account, 'after the replay');
    await reader.waitFor((c) => c.events.some((e) => e.t === '#commit' && e.seq > head), 10_000, 'a live commit');
    const after = reader.events.filter((e) => e.seq > head).map((e) => e.seq);
    expect(after[0]).toBe(head + 1);
    for (let i = 1; i < after.length; i++) expect(after[i]).toBe(after[i - 1]! + 1);
    reader.close();
  });

  it('reads each page of the log once for several readers replaying the same stretch, and each gets every event once', async () => {
    const READERS = 5;
    const COUNT = 5_000;
    const start = await world.relay.relay.ctx.hub.refreshHead();
    const head = await prefill(COUNT, 500);
    const pages = (from: 'log' | 'shared') => metricValue(world.relay.metricsUrl, `relay_replay_pages_total{from="${from}"}`);
    const [log0, shared0] = [await pages('log'), await pages('shared')];
    const readers = await Promise.all(Array.from({ length: READERS }, () => TestConsumer.connect(world.relay.wsUrl, start)));
    for (const r of readers) await r.waitFor((c) => c.lastSeq >= head, 30_000, 'the replay');
    const want = Array.from({ length: COUNT }, (_, i) => start + 1 + i);
    for (const r of readers) expect(r.events.map((e) => e.seq)).toEqual(want);
    // Every page wholly below the head once between them (one more where the stretch starts mid-page), and the
    // head's page, still filling, once each: read apart, it would have been every page once per reader.
    const aligned = Math.floor(head / LOG_PAGE) - Math.floor(start / LOG_PAGE);
    const fromLog = (await pages('log')) - log0;
    expect(fromLog).toBeLessThanOrEqual(aligned + READERS);
    expect((await pages('shared')) - shared0).toBeGreaterThanOrEqual((READERS - 1) * (aligned - 1));
    for (const r of readers) r.close();
  });

  it('converts each shared page to Jetstream messages once for several subscribers replaying it', async () => {
    const READERS = 3;
    const COUNT = 5_000;
    await prefill(COUNT, 200);
    // The pre-filled frames are commits without ops: each conversion of one is counted as a loss.
    const losses = () => metricValue(world.relay.metricsUrl, 'relay_jetstream_conversion_losses_total{reason="undecodable"}');
    const shared0 = await metricValue(world.relay.metricsUrl, 'relay_replay_pages_total{from="shared"}');
    const losses0 = await losses();
    // cursor=1: from the oldest event kept, through both pre-filled stretches.
    const subscribers = await Promise.all(Array.from({ length: READERS }, () => JetstreamClient.connect(world.relay.wsUrl, 'cursor=1')));
    const pds = world.hosts[0]!;
    const account = await pds.createAccount();
    await pds.createRecord(account, 'after the Jetstream replay');
    for (const s of subscribers) await s.waitFor((c) => c.raw.some((r) => r.json.includes('after the Jetstream replay')), 30_000, 'replay, then live');
    const logged = EVENTS + 5_000 + COUNT;
    const converted = (await losses()) - losses0;
    // Once each (the head's page, read apart, once per subscriber): apart, every page once per subscriber.
    expect(converted).toBeGreaterThanOrEqual(logged);
    expect(converted).toBeLessThanOrEqual(logged + READERS * LOG_PAGE);
    expect((await metricValue(world.relay.metricsUrl, 'relay_replay_pages_total{from="shared"}')) - shared0).toBeGreaterThan(0);
    for (const s of subscribers) s.close();
  });
});
