// A consumer that stops reading is cut off with ConsumerTooSlow once its queued bytes pass the cap, while others
// keep receiving everything.
import { connect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorld, type World } from '../helpers/world.ts';
import type { FakePds } from '../fixture/fake-pds.ts';
import { metricValue, type TestRelay } from '../helpers/relay.ts';
import { TestConsumer, eventually } from '../helpers/consumer.ts';

let world: World;
let pds: FakePds;
let relay: TestRelay;
const CAP = 8 * 1024 * 1024;

/** Opens a firehose WebSocket by hand and then never reads from it. */
function stalledConsumer(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(
        'GET /xrpc/com.atproto.sync.subscribeRepos HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
      socket.once('data', (d) => {
        if (!d.toString().startsWith('HTTP/1.1 101')) reject(new Error(d.toString()));
        socket.pause();
        resolve(socket);
      });
    });
    socket.on('error', () => {});
  });
}

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
    const others = await Promise.all(Array.from({ length: 10 }, () => TestConsumer.connect(relay.wsUrl)));
    const account = await pds.createAccount();
    // ~500 KB records: a few dozen fill the loopback socket buffers and then the relay's cap.
    const text = 'x'.repeat(500_000);
    const N = 80;
    for (let i = 0; i < N; i++) await pds.createRecord(account, `${i} ${text}`);
    await eventually(async () => (await dropped()) === 1, 30_000, 'the stalled consumer to be dropped');
    for (const c of others) await c.waitFor((x) => x.events.filter((e) => e.t === '#commit').length === N, 30_000, 'all commits');
    // Only the ten readers remain connected; the stalled one is gone and its queue released.
    await eventually(() => relay.relay.ctx.firehose.consumers.size === 10, 10_000, 'stalled socket released');
    expect(await dropped()).toBe(1);
    for (const c of others) expect(c.closed).toBe(false);
    for (const c of others) c.close();
    stalled.destroy();
  });
});
