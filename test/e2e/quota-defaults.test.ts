// The default host event quotas (1,500 per hour, 10,000 per day) are each hit, with the windows shortened (windows
// keep their calendar alignment: they start at multiples of their length). The host is throttled, not read until the
// window resets, then resumed from its cursor with every event relayed exactly once. And two relay processes sharing
// one Redis enforce one quota between them.
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

const DEFAULTS = loadConfig({});
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function hostStatus(relayUrl: string, hostname: string): Promise<string> {
  const res = await fetch(`${relayUrl}/xrpc/com.atproto.sync.getHostStatus?hostname=${hostname}`);
  return ((await res.json()) as { status: string }).status;
}

/** Waits for the start of a window of `ms` (windows are aligned to multiples of their length). */
const windowStart = (ms: number) => new Promise((r) => setTimeout(r, ms - (Date.now() % ms) + 50));

/** Publishes `n` cheap events (#identity) at once, then checks the quota held at `limit` until the window reset. */
async function hitLimit(world: World, windowMs: number, limit: number, n: number): Promise<void> {
  const pds = world.hosts[0]!;
  const { relay } = world;
  const consumer = await TestConsumer.connect(relay.wsUrl);
  cleanups.push(async () => consumer.close());
  const account = await pds.createAccount(); // 3 events
  await windowStart(windowMs);
  const started = Date.now();
  for (let i = 3; i < n; i++) pds.emitEvent('#identity', { did: account.did, handle: account.handle, time: new Date().toISOString() });
  await eventually(async () => (await hostStatus(relay.url, pds.hostname)) === 'throttled', windowMs, 'throttled');
  // Exactly the limit got through in the window (the account's 3 events came in the window before), and nothing
  // more until the reset.
  await consumer.waitFor((c) => c.events.length >= 3 + limit, windowMs, 'the window’s events');
  expect(Date.now() - started).toBeLessThan(windowMs);
  await new Promise((r) => setTimeout(r, 300));
  expect(consumer.events.length).toBe(3 + limit);
  // After the reset the rest arrives from the cursor, each event exactly once.
  await consumer.waitFor((c) => c.events.length === n, 3 * windowMs, 'the rest after the reset');
  expect(perDid(consumer.events)).toEqual(perDid(pds.events));
  await eventually(async () => (await hostStatus(relay.url, pds.hostname)) === 'active', 10_000, 'active again');
}

describe('default host event quotas', () => {
  it('throttles at 1,500 events per hour and resumes after the hour', async () => {
    expect(DEFAULTS.hostEventsPerHour).toBe(1500);
    const hourMs = 12_000;
    const world = await startWorld({
      config: { hostEventsPerHour: DEFAULTS.hostEventsPerHour, hostEventsPerDay: DEFAULTS.hostEventsPerDay },
      overrides: { quotaWindows: { hourMs, dayMs: 3_600_000 } },
    });
    cleanups.push(() => world.close());
    await hitLimit(world, hourMs, 1500, 1600);
  }, 120_000);

  it('throttles at 10,000 events per day and resumes after the day', async () => {
    expect(DEFAULTS.hostEventsPerDay).toBe(10_000);
    const dayMs = 30_000;
    const world = await startWorld({
      config: { hostEventsPerHour: 1_000_000, hostEventsPerDay: DEFAULTS.hostEventsPerDay },
      overrides: { quotaWindows: { hourMs: 3_600_000, dayMs } },
    });
    cleanups.push(() => world.close());
    await hitLimit(world, dayMs, 10_000, 10_200);
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
    const hourMs = 20_000;
    const overrides = { quotaWindows: { hourMs, dayMs: 3_600_000 } };
    const one: TestRelay = await startTestRelay(shared, overrides);
    cleanups.push(() => one.stop());
    await crawlAndConnect(one, pds.hostname);
    expect((await adminPost(one.url, `/admin/hosts/${encodeURIComponent(pds.hostname)}/limits`, { perHour: 20 })).status).toBe(200);
    const two: TestRelay = await startTestRelay(shared, overrides);
    cleanups.push(() => two.stop());
    await eventually(() => one.relay.ctx.crawler.hostIds.length === 1, 10_000, 'one crawls the host');

    await windowStart(hourMs);
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
    await eventually(async () => (await hostStatus(two.url, pds.hostname)) === 'throttled', hourMs, 'throttled on two');
    await new Promise((r) => setTimeout(r, 300));
    expect(all.events.length).toBe(20);
    // The next window brings the rest, exactly once.
    await all.waitFor((c) => c.events.length === 27, 3 * hourMs, 'the rest after the reset');
    expect(perDid(all.events)).toEqual(perDid(pds.events));
  }, 180_000);
});
