// First-seen accounts on the real path (relay process, sockets, PostgreSQL): an account whose DID document the
// directory is slow to give holds up no other account of its host; a SIGKILL while it waits relays nothing twice
// and loses nothing (the host cursor is a watermark below the waiting event, with the seqs committed above it
// skipped on resume); a directory that answers 429 delays first-seen accounts without dropping their events. The
// host's window is 8 events: the slow account's waiting events (13) are more than that, and must not count in it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakePlc } from '../../dev-env/fake-plc.ts';
import { FakePds, randomPlcDid } from '../../dev-env/fake-pds.ts';
import { expectStrictlyIncreasing, perDid } from '../../dev-env/compare.ts';
import { freePort, KillableRelay, relayTestEnv } from '../../dev-env/process.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { TestConsumer, eventually } from '../helpers/consumer.ts';
import { metricValue, requestCrawl } from '../helpers/relay.ts';

const ADMIN = 'first-seen-test';
let plc: FakePlc;
let pds: FakePds;
let env: Record<string, string>;
let base: string;
let metricsUrl: string;
let wsBase: string;
let relay: KillableRelay | null = null;

async function connected(): Promise<boolean> {
  const res = await fetch(`${base}/admin/hosts`, { headers: { authorization: `Bearer ${ADMIN}` } });
  const { hosts } = (await res.json()) as { hosts: Array<{ connected: boolean }> };
  return hosts[0]?.connected === true;
}

beforeAll(async () => {
  plc = await FakePlc.start();
  pds = await FakePds.start({ plc });
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const metricsPort = await freePort();
  metricsUrl = `http://127.0.0.1:${metricsPort}`;
  wsBase = `ws://127.0.0.1:${port}`;
  env = relayTestEnv(
    { port, metricsPort, databaseUrl: await createTestDatabase(), plcUrl: plc.url },
    {
      RELAY_ADMIN_PASSWORD: ADMIN,
      RELAY_HOST_MAX_PENDING: '8',
      ...(process.env.TEST_REDIS_URL ? { REDIS_URL: process.env.TEST_REDIS_URL, RELAY_REDIS_PREFIX: `first-seen-${process.pid}:` } : {}),
    },
  );
  relay = new KillableRelay(env, base);
  await relay.start();
  expect((await requestCrawl(base, pds.hostname)).status).toBe(200);
  await eventually(connected, 20_000, 'relay to connect');
});

afterAll(async () => {
  await relay?.kill();
  await pds?.close();
  await plc?.close();
});

describe('first-seen accounts', () => {
  it('an account waiting for its DID document holds up no other, and a SIGKILL meanwhile relays nothing twice', async () => {
    let consumer = await TestConsumer.connect(wsBase);
    const received: TestConsumer['events'] = [];
    const of = (did: string) => [...received, ...consumer.events].filter((e) => e.body.repo === did || e.body.did === did);
    // Its #identity and #account events need no document; its commits do.
    const commitsOf = (did: string) => of(did).filter((e) => e.t === '#commit');

    // The slow account publishes first: its events are upstream of everyone else's.
    const slowDid = randomPlcDid();
    plc.stall(slowDid);
    const slow = await pds.createAccount({ did: slowDid });
    // More events than the host's window: only their account waits for them.
    for (let i = 0; i < 10; i++) await pds.createRecord(slow, `slow ${i}`);
    const others = [await pds.createAccount(), await pds.createAccount({ curve: 'p256' })];
    for (let i = 0; i < 4; i++) for (const a of others) await pds.createRecord(a, `other ${i}`);
    const upstreamOf = (did: string) => pds.events.filter((e) => e.body.repo === did || e.body.did === did).length;

    await eventually(() => others.every((a) => of(a.did).length === upstreamOf(a.did)), 20_000, 'the other accounts, every event');
    expect(commitsOf(slowDid)).toHaveLength(0);
    await eventually(() => plc.stalledRequests(slowDid) > 0, 10_000, 'the relay to ask for the slow document');

    // Killed while the slow account's events wait below the others' committed ones.
    await relay?.kill();
    await eventually(() => consumer.closed, 10_000, 'consumer to see the close');
    received.push(...consumer.events);
    await relay!.start();
    await eventually(connected, 20_000, 'relay to reconnect');
    consumer = await TestConsumer.connect(wsBase, received.at(-1)?.seq ?? 0);
    for (const a of others) await pds.createRecord(a, 'after the restart');
    await eventually(() => others.every((a) => of(a.did).length === upstreamOf(a.did)), 20_000, 'the others after the restart');
    expect(commitsOf(slowDid)).toHaveLength(0);

    plc.unstall(slowDid);
    await eventually(() => of(slowDid).length === upstreamOf(slowDid), 30_000, 'the slow account once its document comes');
    await new Promise((r) => setTimeout(r, 300));
    received.push(...consumer.events);
    consumer.close();

    expectStrictlyIncreasing(received.map((e) => e.seq));
    // Per account, exactly what the PDS published, in its order: nothing lost, nothing twice.
    expect(perDid(received)).toEqual(perDid(pds.events));
  });

  it('a directory answering 429 delays first-seen accounts and drops none of their events', async () => {
    const consumer = await TestConsumer.connect(wsBase);
    const before = plc.rateLimitedCount;
    plc.configure({ maxPerSecond: 2 });
    try {
      const accounts = await Promise.all(Array.from({ length: 8 }, () => pds.createAccount()));
      for (const a of accounts) await pds.createRecord(a, 'first post');
      const commitsOf = (did: string) => consumer.events.filter((e) => e.t === '#commit' && e.body.repo === did);
      await eventually(() => accounts.every((a) => commitsOf(a.did).length === 1), 30_000, 'every first-seen account');
      expect(plc.rateLimitedCount).toBeGreaterThan(before);
      // Paused for the directory's Retry-After rather than hammering it: the 429s stay few.
      expect(plc.rateLimitedCount - before).toBeLessThan(40);
      expect(await metricValue(metricsUrl, 'relay_identity_waiting_events')).toBe(0);
    } finally {
      plc.configure({ maxPerSecond: 0 });
      consumer.close();
    }
  });
});
