// The relay process is killed with SIGKILL mid-stream and restarted, several times. A consumer that resumes from
// its last seq must see every upstream event exactly once, in order.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakePlc } from '../../dev-env/fake-plc.ts';
import { FakePds } from '../../dev-env/fake-pds.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { TestConsumer, eventually } from '../helpers/consumer.ts';
import { expectStrictlyIncreasing, perDid } from '../../dev-env/compare.ts';
import { freePort, KillableRelay, relayTestEnv } from '../../dev-env/process.ts';
import { requestCrawl } from '../helpers/relay.ts';

let plc: FakePlc;
let pds: FakePds;
let env: Record<string, string>;
let base: string;
let wsBase: string;
let relay: KillableRelay | null = null;

beforeAll(async () => {
  plc = await FakePlc.start();
  pds = await FakePds.start({ plc });
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  wsBase = `ws://127.0.0.1:${port}`;
  env = relayTestEnv(
    { port, databaseUrl: await createTestDatabase(), plcUrl: plc.url },
    {
      RELAY_ADMIN_PASSWORD: 'crash-test',
      ...(process.env.TEST_REDIS_URL ? { REDIS_URL: process.env.TEST_REDIS_URL, RELAY_REDIS_PREFIX: `crash-${process.pid}:` } : {}),
    },
  );
  relay = new KillableRelay(env, base);
  await relay.start();
});

afterAll(async () => {
  await relay?.kill();
  await pds?.close();
  await plc?.close();
});

describe('crash safety', () => {
  it('loses and duplicates nothing across repeated SIGKILLs', async () => {
    expect((await requestCrawl(base, pds.hostname)).status).toBe(200);
    // The host is crawled from its live head: wait for the subscription before publishing.
    await eventually(async () => {
      const res = await fetch(`${base}/admin/hosts`, { headers: { authorization: 'Bearer crash-test' } });
      const { hosts } = (await res.json()) as { hosts: Array<{ connected: boolean }> };
      return hosts[0]?.connected === true;
    }, 20_000, 'relay to connect');
    let consumer = await TestConsumer.connect(wsBase);
    const accounts = [await pds.createAccount(), await pds.createAccount({ curve: 'p256' }), await pds.createAccount()];

    let writing = true;
    let written = 0;
    const writer = (async () => {
      while (writing) {
        await pds.createRecord(accounts[written % accounts.length]!, `post ${written}`);
        written++;
        if (written % 5 === 0) await new Promise((r) => setTimeout(r, 2));
      }
    })();

    const received: TestConsumer['events'] = [];
    const KILLS = 4;
    for (let k = 0; k < KILLS; k++) {
      // Let some events flow, then kill at a random moment.
      await consumer.waitFor((c) => c.events.length >= 20, 30_000, `events before kill ${k}`);
      await new Promise((r) => setTimeout(r, 50 + Math.floor(Math.random() * 300)));
      await relay?.kill();
      await eventually(() => consumer.closed, 10_000, 'consumer to see the close');
      received.push(...consumer.events);
      await relay!.start();
      consumer = await TestConsumer.connect(wsBase, received.at(-1)?.seq ?? 0);
    }
    writing = false;
    await writer;
    const expected = pds.events;
    const total = () => received.length + consumer.events.length;
    // Every commit written after the relay connected must arrive.
    await eventually(() => total() >= expected.length, 60_000, 'all events after the last restart');
    await new Promise((r) => setTimeout(r, 300));
    received.push(...consumer.events);
    consumer.close();

    expect(written).toBeGreaterThan(50);
    expectStrictlyIncreasing(received.map((e) => e.seq));
    expect(perDid(received)).toEqual(perDid(expected));
  });
});
