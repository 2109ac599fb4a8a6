// A consumer that stops reading is cut off with ConsumerTooSlow once its queued bytes pass the cap, while others
// keep receiving everything.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorld, type World } from '../helpers/world.ts';
import type { FakePds } from '../../dev-env/fake-pds.ts';
import { metricValue, type TestRelay } from '../helpers/relay.ts';
import { TestConsumer, eventually, stalledConsumer } from '../helpers/consumer.ts';

let world: World;
let pds: FakePds;
let relay: TestRelay;
const CAP = 8 * 1024 * 1024;

beforeAll(async () => {
  world = await startWorld({ config: { consumerMaxBufferBytes: CAP } });
  ({ relay } = world);
  pds = world.hosts[0]!;
});

afterAll(async () => {
  await world?.close();
});

const dropped = () => metricValue(relay.url, 'relay_consumers_dropped_total{reason="too_slow"}');

describe('slow consumers', () => {
  it('cuts off a consumer that stops reading while ten others keep up', async () => {
    const stalled = await stalledConsumer(relay.port);
    await eventually(() => relay.relay.ctx.firehose.consumers.size === 1, 5_000, 'stalled reader registered');
    const [stalledSink] = relay.relay.ctx.firehose.consumers;
    const others = await Promise.all(Array.from({ length: 10 }, () => TestConsumer.connect(relay.wsUrl)));
    const account = await pds.createAccount();
    // ~500 KB records: the loopback socket buffers (up to tens of MB) fill first, then the relay's cap.
    const text = 'x'.repeat(500_000);
    let sent = 0;
    const commits = (c: TestConsumer) => c.events.filter((e) => e.t === '#commit').length;
    while ((await dropped()) === 0) {
      if (sent === 200) throw new Error('the stalled consumer was not dropped');
      await pds.createRecord(account, `${sent++} ${text}`);
      // The ten readers keep up by construction (they share this busy process with the publisher): each commit
      // reaches them before the next is made, so only the stalled reader's queue can grow.
      for (const c of others) await c.waitFor((x) => x.closed || commits(x) === sent, 30_000, `commit ${sent}`);
    }
    // Memory held for the stalled reader stays within the cap plus one frame, however many commits the relay
    // batches together while it lags behind the publisher; it was dropped only once past the cap.
    const peak = stalledSink!.describe(0).peakBufferedBytes;
    expect(peak).toBeGreaterThan(CAP);
    expect(peak).toBeLessThanOrEqual(CAP + 510_000);
    for (const c of others) await c.waitFor((x) => commits(x) === sent, 30_000, 'all commits');
    // Only the ten readers remain connected; the stalled one is gone and its queue released.
    await eventually(() => relay.relay.ctx.firehose.consumers.size === 10, 10_000, 'stalled socket released');
    expect(await dropped()).toBe(1);
    for (const c of others) expect(c.closed).toBe(false);
    for (const c of others) c.close();
    stalled.destroy();
  });
});
