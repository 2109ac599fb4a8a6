// A Jetstream subscriber that stops reading is not dropped: past the byte cap it goes back to reading the log at its
// own pace, holding no more than the cap, and when it reads again it gets every message once, in order, and rejoins
// live. One whose place falls out of the replay window is closed. RELAY_JETSTREAM=false turns the stream off.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Socket } from 'node:net';
import { startWorld, type World } from '../helpers/world.ts';
import type { FakePds } from '../../dev-env/fake-pds.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { metricValue, startTestRelay, type TestRelay } from '../helpers/relay.ts';
import { TestConsumer, eventually } from '../helpers/consumer.ts';
import { JetstreamClient, refusedUpgrade } from '../helpers/jetstream.ts';
import { oldestRetainedSeq } from '../../src/storage/events.ts';

const CAP = 1 << 20;
let world: World;
let pds: FakePds;
let relay: TestRelay;

beforeAll(async () => {
  world = await startWorld({ config: { consumerMaxBufferBytes: CAP } });
  ({ relay } = world);
  pds = world.hosts[0]!;
});

afterAll(async () => {
  await world?.close();
});

const socketOf = (c: JetstreamClient) => (c.ws as unknown as { _socket: Socket })._socket;

describe('a slow Jetstream subscriber', () => {
  it('reads the log while it lags, within the cap, then rejoins live with nothing missing or repeated', async () => {
    const reference = await JetstreamClient.connect(relay.wsUrl);
    const slow = await JetstreamClient.connect(relay.wsUrl);
    await eventually(() => relay.relay.ctx.firehose.consumers.size === 2, 5_000, 'subscribers registered');
    // The server keeps connections in the order they came: the slow one is second.
    const sink = [...relay.relay.ctx.firehose.consumers][1]!;
    socketOf(slow).pause();
    const account = await pds.createAccount();
    await reference.waitFor((c) => c.events.length === 2, 10_000, 'account events');
    // ~100 KB posts: the loopback buffers fill first, then the relay's cap.
    const text = 'y'.repeat(100_000);
    let posts = 0;
    const catchUps = () => metricValue(relay.metricsUrl, 'relay_jetstream_catch_ups_total');
    while ((await catchUps()) === 0) {
      if (posts === 1000) throw new Error('the slow subscriber never went back to the log');
      await pds.createRecord(account, `${posts++} ${text}`);
      await reference.waitFor((c) => c.commits().length === posts, 10_000, `post ${posts}`);
    }
    // While it lags it reads the log, paced by its socket; more posts come meanwhile.
    for (let i = 0; i < 20; i++) await pds.createRecord(account, `${posts++} ${text}`);
    await reference.waitFor((c) => c.commits().length === posts, 10_000, 'the last posts');
    expect(sink.describe(0).state).toBe('replay');
    // Never more than the cap plus one message held for it, in either state.
    expect(sink.describe(0).peakBufferedBytes).toBeLessThanOrEqual(CAP + 101_000);

    socketOf(slow).resume();
    await slow.waitFor((c) => c.events.length === reference.events.length, 30_000, 'the slow subscriber catching up');
    expect(slow.raw.map((r) => r.json)).toEqual(reference.raw.map((r) => r.json));
    await eventually(() => sink.describe(0).state === 'live', 10_000, 'rejoined live');
    await pds.createRecord(account, 'after');
    await reference.waitFor((c) => c.raw.at(-1)?.json.includes('"text":"after"') === true, 10_000, 'reference');
    await slow.waitFor((c) => c.events.length === reference.events.length, 10_000, 'live again');
    expect(slow.raw.map((r) => r.json)).toEqual(reference.raw.map((r) => r.json));
    expect(slow.closed).toBeNull();
    expect(await metricValue(relay.metricsUrl, 'relay_jetstream_drops_total{reason="out_of_window"}')).toBe(0);
    reference.close();
    slow.close();
  });
});

describe('a Jetstream subscriber left behind by the replay window', () => {
  it('is closed with a reason once what it has still to read is pruned, after a gapless prefix', async () => {
    const w = await startWorld({ config: { consumerMaxBufferBytes: CAP, replayWindowMs: 1500 }, overrides: { retentionIntervalMs: 100 } });
    try {
      const [host] = w.hosts;
      const reference = await JetstreamClient.connect(w.relay.wsUrl);
      const slow = await JetstreamClient.connect(w.relay.wsUrl);
      await eventually(() => w.relay.relay.ctx.firehose.consumers.size === 2, 5_000, 'subscribers registered');
      const sink = [...w.relay.relay.ctx.firehose.consumers][1]! as unknown as { sentSeq: number };
      socketOf(slow).pause();
      const account = await host!.createAccount();
      const text = 'z'.repeat(100_000);
      let posts = 0;
      while ((await metricValue(w.relay.metricsUrl, 'relay_jetstream_catch_ups_total')) === 0) {
        if (posts === 1000) throw new Error('the slow subscriber never went back to the log');
        await host!.createRecord(account, `${posts++} ${text}`);
        await reference.waitFor((c) => c.commits().length === posts, 10_000, `post ${posts}`);
      }
      // Small posts until the log no longer holds where the subscriber stopped.
      const { db } = w.relay.relay.ctx.database;
      await eventually(async () => {
        await host!.createRecord(account, `${posts++}`);
        return ((await oldestRetainedSeq(db)) ?? 0) > sink.sentSeq + 1;
      }, 30_000, 'its place pruned');
      socketOf(slow).resume();
      await slow.waitFor((c) => c.closed !== null, 20_000, 'closed');
      expect(slow.closed).toEqual({ code: 1008, reason: 'fell behind the replay window; reconnect with your cursor' });
      expect(await metricValue(w.relay.metricsUrl, 'relay_jetstream_drops_total{reason="out_of_window"}')).toBe(1);
      // What it did get has no gap: the start of what the reference got.
      expect(slow.raw.length).toBeGreaterThan(0);
      expect(slow.raw.map((r) => r.json)).toEqual(reference.raw.slice(0, slow.raw.length).map((r) => r.json));
      reference.close();
    } finally {
      await w.close();
    }
  });
});

describe('stream limits', () => {
  it('counts Jetstream subscribers and firehose consumers against one per-client cap', async () => {
    const r = await startTestRelay({ databaseUrl: await createTestDatabase(), maxConsumersPerIp: 2 });
    try {
      const firehose = await TestConsumer.connect(r.wsUrl);
      const js = await JetstreamClient.connect(r.wsUrl);
      const res = await refusedUpgrade(r.wsUrl, '');
      expect(res.status).toBe(429);
      expect(res.body).toMatchObject({ error: 'RateLimitExceeded' });
      // A message over 10 MB closes the connection (1009: too big), as v1 says.
      js.send('x'.repeat(10_000_001));
      await js.waitFor((c) => c.closed !== null, 10_000, 'closed');
      expect(js.closed!.code).toBe(1009);
      firehose.close();
    } finally {
      await r.stop();
    }
  });
});

describe('RELAY_JETSTREAM=false', () => {
  it('serves no /subscribe', async () => {
    const off = await startTestRelay({ databaseUrl: await createTestDatabase(), jetstream: false });
    try {
      const res = await refusedUpgrade(off.wsUrl, '');
      expect(res).toEqual({ status: 404, body: { error: 'MethodNotImplemented', message: 'no stream at /subscribe' } });
    } finally {
      await off.stop();
    }
  });
});
