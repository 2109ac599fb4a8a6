// The default host event quotas (1,500 per hour, 10,000 per day) are each hit, in real UTC hours and days: the
// relay's clock starts just inside a window and is moved to its end rather than waited for. The host is throttled,
// not read until the window resets, then resumed from its cursor with every event relayed exactly once. And two
// relay processes sharing one Redis (and one clock) enforce one quota between them.
import { afterEach, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../../src/config/config.ts';
import { FakePlc } from '../../dev-env/fake-plc.ts';
import { FakePds } from '../../dev-env/fake-pds.ts';
import { startWorld, type World } from '../helpers/world.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { adminPost, crawlAndConnect, startTestRelay, type TestRelay } from '../helpers/relay.ts';
import { TestConsumer, eventually } from '../helpers/consumer.ts';
import { perDid } from '../../dev-env/compare.ts';
import { TestClock } from '../../dev-env/clock.ts';

const DEFAULTS = loadConfig({});
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function hostStatus(relayUrl: string, hostname: string): Promise<string> {
  const res = await fetch(`${relayUrl}/xrpc/com.atproto.sync.getHostStatus?hostname=${hostname}`);
  return ((await res.json()) as { status: string }).status;
}

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** Publishes `n` cheap events (#identity) at once, then checks the quota held at `limit` until the window reset. */
async function hitLimit(world: World, clock: TestClock, windowMs: number, limit: number, n: number): Promise<void> {
  const pds = world.hosts[0]!;
  const { relay } = world;
  const consumer = await TestConsumer.connect(relay.wsUrl);
  cleanups.push(async () => consumer.close());
  const account = await pds.createAccount(); // 3 events
  for (let i = 3; i < n; i++) pds.emitEvent('#identity', { did: account.did, handle: account.handle, time: new Date().toISOString() });
  await eventually(async () => (await hostStatus(relay.url, pds.hostname)) === 'throttled', 30_000, 'throttled');
  // Exactly the limit got through in the window, and nothing more until the reset, which is the window's end.
  await consumer.waitFor((c) => c.events.length >= limit, 30_000, 'the window’s events');
  await new Promise((r) => setTimeout(r, 300));
  expect(consumer.events.length).toBe(limit);
  const view = (await (await fetch(`${relay.url}/api/host-status?hostname=${pds.hostname}`)).json()) as { throttledUntil: string };
  expect(Date.parse(view.throttledUntil)).toBe(Math.ceil(clock.now() / windowMs) * windowMs);
  // After the reset the rest arrives from the cursor, each event exactly once.
  clock.advancePastWindow(windowMs);
  await consumer.waitFor((c) => c.events.length === n, 30_000, 'the rest after the reset');
  expect(perDid(consumer.events)).toEqual(perDid(pds.events));
  await eventually(async () => (await hostStatus(relay.url, pds.hostname)) === 'active', 10_000, 'active again');
}

describe('default host event quotas', () => {
  it('throttles at 1,500 events per hour and resumes after the hour', async () => {
    expect(DEFAULTS.hostEventsPerHour).toBe(1500);
    const clock = TestClock.inWindow(DAY_MS);
    const world = await startWorld({
      config: { hostEventsPerHour: DEFAULTS.hostEventsPerHour, hostEventsPerDay: DEFAULTS.hostEventsPerDay },
      overrides: { clock },
    });
    cleanups.push(() => world.close());
    await hitLimit(world, clock, HOUR_MS, 1500, 1600);
  }, 120_000);

  it('throttles at 10,000 events per day and resumes after the day', async () => {
    expect(DEFAULTS.hostEventsPerDay).toBe(10_000);
    const clock = TestClock.inWindow(DAY_MS);
    const world = await startWorld({
      config: { hostEventsPerHour: 1_000_000, hostEventsPerDay: DEFAULTS.hostEventsPerDay },
      overrides: { clock },
    });
    cleanups.push(() => world.close());
    await hitLimit(world, clock, DAY_MS, 10_000, 10_200);
  }, 240_000);
});

describe('two relay processes on one Redis', () => {
  it('enforce one host quota between them', async () => {
    const plc = await FakePlc.start();
    const pds = await FakePds.start({ plc });
    cleanups.push(async () => {
      await pds.close();
      await plc.close();
    });
    const databaseUrl = await createTestDatabase();
    // Same database and the same Redis key space: the two are one relay, run as two processes.
    const shared = { databaseUrl, plcUrl: plc.url, redisPrefix: `shared-${randomBytes(4).toString('hex')}:` };
    const clock = TestClock.inWindow(HOUR_MS);
    const overrides = { clock };
    const one: TestRelay = await startTestRelay(shared, overrides);
    cleanups.push(() => one.stop());
    await crawlAndConnect(one, pds.hostname);
    expect((await adminPost(one.url, `/admin/hosts/${encodeURIComponent(pds.hostname)}/limits`, { perHour: 20 })).status).toBe(200);
    const two: TestRelay = await startTestRelay(shared, overrides);
    cleanups.push(() => two.stop());
    await eventually(() => one.relay.ctx.crawler.hostIds.length === 1, 10_000, 'one crawls the host');

    const account = await pds.createAccount(); // 3 events
    for (let i = 0; i < 9; i++) await pds.createRecord(account, `on one ${i}`); // 12 in all
    const first = await TestConsumer.connect(one.wsUrl);
    const all = await TestConsumer.connect(two.wsUrl, 0);
    cleanups.push(async () => {
      first.close();
      all.close();
    });
    await all.waitFor((c) => c.events.length === 12, 10_000, 'the first 12 through one');

    // One stops; two takes the host over from its cursor and may only admit what is left of the shared quota.
    await one.stop();
    await eventually(() => two.relay.ctx.crawler.isConnected(two.relay.ctx.crawler.hostIds[0] ?? -1), 15_000, 'two takes over');
    for (let i = 0; i < 15; i++) await pds.createRecord(account, `on two ${i}`); // 27 in all
    await eventually(async () => (await hostStatus(two.url, pds.hostname)) === 'throttled', 20_000, 'throttled on two');
    await new Promise((r) => setTimeout(r, 300));
    expect(all.events.length).toBe(20);
    // The next window brings the rest, exactly once.
    clock.advancePastWindow(HOUR_MS);
    await all.waitFor((c) => c.events.length === 27, 20_000, 'the rest after the reset');
    expect(perDid(all.events)).toEqual(perDid(pds.events));
  }, 180_000);
});
