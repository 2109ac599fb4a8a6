// The other limits on a firehose consumer, each with the byte cap out of the way: the cap on queued frames (past it,
// back to the log), the write deadline (queued bytes that stop moving), and the idle timeout (a peer that answers no
// ping). Consumers that keep reading are never cut.
import { afterEach, describe, expect, it } from 'vitest';
import type { Socket } from 'node:net';
import type { RelayConfig } from '../../src/config/config.ts';
import { startWorld, type World } from '../helpers/world.ts';
import { metricValue } from '../helpers/relay.ts';
import { TestConsumer, eventually, stalledConsumer } from '../helpers/consumer.ts';

const NO_CAP: Partial<RelayConfig> = {
  consumerMaxBufferBytes: 2 ** 40,
  consumerMaxBufferFrames: 1_000_000,
  consumerWriteTimeoutMs: 3_600_000,
  consumerIdleTimeoutMs: 3_600_000,
};

let world: World | undefined;
let stalled: Socket | undefined;
afterEach(async () => {
  stalled?.destroy();
  await world?.close();
  world = stalled = undefined;
});

const dropped = (reason: string) => metricValue(world!.relay.metricsUrl, `relay_consumers_dropped_total{reason="${reason}"}`);
const caughtUp = (reason: string) => metricValue(world!.relay.metricsUrl, `relay_consumer_catch_ups_total{reason="${reason}"}`);

/** Publishes large commits until `happened` says so for the stalled socket; a reading consumer gets every one. */
async function floodUntil(happened: () => Promise<number>, what: string, released = true): Promise<void> {
  const { relay } = world!;
  const pds = world!.hosts[0]!;
  stalled = await stalledConsumer(relay.port);
  const reader = await TestConsumer.connect(relay.wsUrl);
  const account = await pds.createAccount();
  // ~500 KB records: a few dozen fill the loopback socket buffers, after which frames queue in the relay.
  const text = 'x'.repeat(500_000);
  let sent = 0;
  while ((await happened()) === 0) {
    if (sent === 200) throw new Error(`the stalled consumer was not ${what}`);
    await pds.createRecord(account, `${sent++} ${text}`);
  }
  await reader.waitFor((c) => c.events.filter((e) => e.t === '#commit').length === sent, 30_000, 'all commits');
  if (released) await eventually(() => relay.relay.ctx.firehose.consumers.size === 1, 10_000, 'stalled socket released');
  expect(reader.closed).toBe(false);
  reader.close();
}

describe('consumer limits', () => {
  it('sends a consumer with too many frames queued back to the log', async () => {
    world = await startWorld({ config: { ...NO_CAP, consumerMaxBufferFrames: 10 } });
    await floodUntil(() => caughtUp('too_slow_frames'), 'sent back to the log', false);
    expect(await caughtUp('too_slow')).toBe(0);
    // The stalled socket is still connected, reading the log (the reader that kept up has closed).
    expect([...world.relay.relay.ctx.firehose.consumers].map((c) => c.describe(0).state)).toEqual(['catching up']);
  });

  it('cuts off a consumer whose queued bytes stop moving for the write timeout', async () => {
    world = await startWorld({ config: { ...NO_CAP, consumerWriteTimeoutMs: 2000 } });
    await floodUntil(() => dropped('write_timeout'), 'dropped for write_timeout');
    expect(await caughtUp('too_slow_frames')).toBe(0);
  });

  it('drops a consumer that answers no ping for the idle timeout, and keeps one that does', async () => {
    world = await startWorld({ config: { ...NO_CAP, consumerIdleTimeoutMs: 1000 } });
    const { relay } = world;
    stalled = await stalledConsumer(relay.port);
    const quiet = await TestConsumer.connect(relay.wsUrl);
    await eventually(async () => (await dropped('idle_timeout')) === 1, 15_000, 'the silent socket to be dropped');
    expect(relay.relay.ctx.firehose.consumers.size).toBe(1);
    // The ws client answers pings by itself: several idle periods later, with nothing published, it is still there.
    await new Promise((r) => setTimeout(r, 3000));
    expect(quiet.closed).toBe(false);
    expect(await dropped('idle_timeout')).toBe(1);
    quiet.close();
  });
});
