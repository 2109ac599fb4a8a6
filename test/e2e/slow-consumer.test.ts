// A firehose consumer that stops reading is not dropped while it can catch up: past the byte cap it goes back to
// reading the log (or the latest batches the hub keeps) at its own pace, holding no more than the cap, and once it
// reads again it gets every event once, in order, and rejoins live, while ten others keep receiving everything. It
// gets ConsumerTooSlow when it stays slower than the floor rate, or when its place falls out of the replay window.
import { describe, expect, it } from 'vitest';
import type { Socket } from 'node:net';
import { startWorld, type World } from '../helpers/world.ts';
import type { FakeAccount, FakePds } from '../../dev-env/fake-pds.ts';
import { metricValue } from '../helpers/relay.ts';
import { TestConsumer, eventually } from '../helpers/consumer.ts';
import { oldestRetainedSeq } from '../../src/storage/events.ts';

const CAP = 8 * 1024 * 1024;

const socketOf = (c: TestConsumer) => (c.ws as unknown as { _socket: Socket })._socket;
const commits = (c: TestConsumer) => c.events.filter((e) => e.t === '#commit').length;
const seqs = (c: TestConsumer) => c.events.map((e) => e.seq);

/** Publishes ~`size`-byte commits until `done`, each reaching the readers before the next is made. */
async function floodUntil(p: FakePds, readers: TestConsumer[], done: () => Promise<boolean>, size: number): Promise<FakeAccount> {
  const account = await p.createAccount();
  const text = 'x'.repeat(size);
  let sent = 0;
  const base = readers.map(commits);
  while (!(await done())) {
    if (sent === 400) throw new Error('flooded 400 commits and the condition never held');
    await p.createRecord(account, `${sent++} ${text}`);
    // The readers keep up by construction (they share this busy process with the publisher): only the stalled
    // reader's queue can grow.
    for (const [i, c] of readers.entries()) await c.waitFor((x) => x.closed || commits(x) === base[i]! + sent, 30_000, `commit ${sent}`);
  }
  return account;
}

/** A reader stops reading, is sent back behind live, and once it reads again has every event once, in order. */
async function catchesUpOnce(world: World, fromRecent: boolean): Promise<void> {
  const { relay } = world;
  const pds = world.hosts[0]!;
  const slow = await TestConsumer.connect(relay.wsUrl);
  await eventually(() => relay.relay.ctx.firehose.consumers.size === 1, 5_000, 'reader registered');
  const [sink] = relay.relay.ctx.firehose.consumers;
  socketOf(slow).pause();
  const others = await Promise.all(Array.from({ length: 10 }, () => TestConsumer.connect(relay.wsUrl)));
  const catchUps = () => metricValue(relay.metricsUrl, 'relay_consumer_catch_ups_total{reason="too_slow"}');
  // ~500 KB records: the loopback socket buffers (up to tens of MB) fill first, then the relay's cap.
  const account = await floodUntil(pds, others, async () => (await catchUps()) > 0, 500_000);
  expect(sink!.describe(0).state).toBe('catching up');
  // More commits while it reads nothing: they are in the log, not queued for it.
  const had = commits(others[0]!);
  for (let i = 0; i < 10; i++) await pds.createRecord(account, `more ${i} ${'x'.repeat(500_000)}`);
  await others[0]!.waitFor((c) => commits(c) === had + 10, 10_000, 'more');
  // What it holds stays within the cap plus one frame, live or reading the log.
  expect(sink!.describe(0).peakBufferedBytes).toBeLessThanOrEqual(CAP + 510_000);
  expect(sink!.describe(0).state).toBe('catching up');

  socketOf(slow).resume();
  await slow.waitFor((c) => c.lastSeq === others[0]!.lastSeq, 60_000, 'the slow reader catching up');
  await eventually(() => sink!.describe(0).state === 'live', 10_000, 'rejoined live');
  await pds.createRecord(account, 'after');
  await others[0]!.waitFor((c) => c.lastSeq === slow.lastSeq + 1, 10_000, 'one more');
  await slow.waitFor((c) => c.lastSeq === others[0]!.lastSeq, 10_000, 'live again');
  // Every event once, in order, as the readers that kept up got them; never dropped.
  expect(seqs(slow)).toEqual(seqs(others[0]!));
  expect(slow.events.map((e) => Buffer.from(e.bytes).toString('base64'))).toEqual(others[0]!.events.map((e) => Buffer.from(e.bytes).toString('base64')));
  expect(slow.closed).toBe(false);
  expect(await metricValue(relay.metricsUrl, 'relay_consumers_dropped_total{reason="too_slow"}')).toBe(0);
  const fromLog = await metricValue(relay.metricsUrl, 'relay_replay_events_total');
  const fromMemory = await metricValue(relay.metricsUrl, 'relay_consumer_recent_events_total');
  if (fromRecent) expect([fromMemory > 0, fromLog]).toEqual([true, 0]);
  else expect([fromMemory, fromLog > 0]).toEqual([0, true]);
  for (const c of [slow, ...others]) c.close();
}

describe('slow consumers', () => {
  // From the log (the hub keeps no batches), and from the batches the hub keeps (they hold the whole flood).
  it.each([
    { from: 'the log', fanoutRecentBytes: 0 },
    { from: 'the batches kept in memory', fanoutRecentBytes: 256 * 1024 * 1024 },
  ])('sends a consumer that stops reading back to $from, within the cap, then live again with every event once', async ({ fanoutRecentBytes }) => {
    const world = await startWorld({ config: { consumerMaxBufferBytes: CAP, fanoutRecentBytes } });
    try {
      await catchesUpOnce(world, fanoutRecentBytes > 0);
    } finally {
      await world.close();
    }
  });

  it('drops a reader behind live that stays slower than the floor rate, with ConsumerTooSlow', async () => {
    const w = await startWorld({ config: { consumerMaxBufferBytes: 1 << 20, consumerMinRate: 1_000_000, consumerMinRatePeriodMs: 1000 } });
    try {
      const slow = await TestConsumer.connect(w.relay.wsUrl);
      const reader = await TestConsumer.connect(w.relay.wsUrl);
      socketOf(slow).pause();
      await floodUntil(w.hosts[0]!, [reader], async () => (await metricValue(w.relay.metricsUrl, 'relay_consumer_catch_ups_total{reason="too_slow"}')) > 0, 100_000);
      await eventually(async () => (await metricValue(w.relay.metricsUrl, 'relay_consumers_dropped_total{reason="below_min_rate"}')) === 1, 15_000, 'dropped below the floor');
      socketOf(slow).resume();
      await slow.waitFor((c) => c.closed, 10_000, 'closed');
      const last = slow.frames.at(-1)!.frame;
      expect(last).toMatchObject({ op: -1, error: 'ConsumerTooSlow' });
      // The reader that keeps up is live, and live readers are never held to the floor.
      expect(reader.closed).toBe(false);
      reader.close();
    } finally {
      await w.close();
    }
  });

  it('drops a reader whose place falls out of the replay window, after a gapless prefix', async () => {
    const w = await startWorld({ config: { consumerMaxBufferBytes: 1 << 20, replayWindowMs: 1500 }, overrides: { retentionIntervalMs: 100 } });
    try {
      const slow = await TestConsumer.connect(w.relay.wsUrl);
      const reader = await TestConsumer.connect(w.relay.wsUrl);
      await eventually(() => w.relay.relay.ctx.firehose.consumers.size === 2, 5_000, 'readers registered');
      const sink = [...w.relay.relay.ctx.firehose.consumers][0]! as unknown as { sentSeq: number };
      socketOf(slow).pause();
      await floodUntil(w.hosts[0]!, [reader], async () => (await metricValue(w.relay.metricsUrl, 'relay_consumer_catch_ups_total{reason="too_slow"}')) > 0, 100_000);
      const { db } = w.relay.relay.ctx.database;
      // Reading the log, it may hold a page and the next one it read ahead, past its sentSeq: pruned must mean past
      // those too, or it would rightly send them and find the log gapless after them. They were read just after the
      // switch, so up to the head of a moment later.
      await new Promise((r) => setTimeout(r, 300));
      const inHand = Math.max(w.relay.relay.ctx.hub.lastSeq, sink.sentSeq);
      const account = await w.hosts[0]!.createAccount();
      await eventually(async () => {
        await w.hosts[0]!.createRecord(account, 'small');
        return ((await oldestRetainedSeq(db)) ?? 0) > inHand + 1;
      }, 30_000, 'its place pruned');
      socketOf(slow).resume();
      await slow.waitFor((c) => c.closed, 20_000, 'closed');
      expect(slow.frames.at(-1)!.frame).toMatchObject({ op: -1, error: 'ConsumerTooSlow' });
      expect(await metricValue(w.relay.metricsUrl, 'relay_consumers_dropped_total{reason="out_of_window"}')).toBe(1);
      expect(seqs(slow)).toEqual(seqs(reader).slice(0, slow.events.length));
      reader.close();
    } finally {
      await w.close();
    }
  });
});
