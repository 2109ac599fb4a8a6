// Rates with history, through a fake PDS, real sockets, PostgreSQL and Redis: the events a host sends are counted per
// minute by the batch that commits them, served by GET /admin/rates (relay-wide and per host) by any relay process
// sharing the database, listed as events in the last hour (and sorted by it), and exported per host to Prometheus
// unless RELAY_METRICS_HOST_LABEL turns those series off.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakePlc } from '../../dev-env/fake-plc.ts';
import { FakePds } from '../../dev-env/fake-pds.ts';
import { relayAdmin } from '../../dev-env/relay-client.ts';
import { runRelayCli } from '../../dev-env/process.ts';
import { adminApi, type RatesView } from '../../src/services/contract.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { crawlAndConnect, metricValue, startTestRelay, TEST_ADMIN_PASSWORD, type TestRelay } from '../helpers/relay.ts';
import { eventually } from '../helpers/consumer.ts';

let plc: FakePlc;
let pds: FakePds;
let quiet: FakePds;
let relay: TestRelay;
/** A second process on the same database and Redis, crawling nothing, with the per-host series off. */
let fanout: TestRelay;
const COMMITS = 6;
/** Events of the host the relay logged (its commits, and the account's first #identity, #account, ...), as counted. */
let accepted = 0;

const admin = (r: TestRelay) => relayAdmin(r.url, TEST_ADMIN_PASSWORD);
const total = (v: RatesView) => v.points.reduce((n, p) => ({ accepted: n.accepted + p.accepted, rejected: n.rejected + p.rejected }), { accepted: 0, rejected: 0 });

async function get(r: TestRelay, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${r.url}${path}`, { headers: { authorization: `Bearer ${TEST_ADMIN_PASSWORD}` } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  plc = await FakePlc.start();
  pds = await FakePds.start({ plc });
  quiet = await FakePds.start({ plc });
  const databaseUrl = await createTestDatabase();
  relay = await startTestRelay({ databaseUrl, plcUrl: plc.url });
  fanout = await startTestRelay({ databaseUrl, plcUrl: plc.url, role: 'fanout', metricsHostLabel: false });
  await crawlAndConnect(relay, pds.hostname);
  await crawlAndConnect(relay, quiet.hostname);
  const alice = await pds.createAccount();
  for (let i = 0; i < COMMITS; i++) await pds.createRecord(alice, `post ${i}`);
  // Refused: a host is held to Sync 1.1 after its first valid Sync 1.1 commit (the test relay's ratchet).
  await pds.createRecord(alice, 'no prevData', { tamper: (b) => void delete b.prevData });
  await eventually(async () => total(await admin(relay)(adminApi.rates, { query: { host: pds.hostname } })).rejected === 1, 20_000, 'the rejection counted');
  for (const type of ['commit', 'sync', 'identity', 'account']) accepted += await metricValue(relay.metricsUrl, `relay_events_accepted_total{type="${type}"}`);
  expect(accepted).toBeGreaterThan(COMMITS);
}, 120_000);

afterAll(async () => {
  await fanout?.stop();
  await relay?.stop();
  await pds?.close();
  await quiet?.close();
  await plc?.close();
});

describe('GET /admin/rates', () => {
  it('serves a point per minute of the window, the host’s events in it, from any process', async () => {
    for (const r of [relay, fanout]) {
      const hour = await admin(r)(adminApi.rates, { query: { host: pds.hostname } });
      expect(hour).toMatchObject({ window: '1h', host: pds.hostname, stepSeconds: 60 });
      expect(hour.points).toHaveLength(60);
      for (let i = 1; i < hour.points.length; i++) expect(hour.points[i]!.at - hour.points[i - 1]!.at).toBe(60_000);
      expect(hour.points.at(-1)!.at).toBeLessThanOrEqual(Date.now());
      expect(hour.points.at(-1)!.at).toBeGreaterThan(Date.now() - 120_000);
      expect(total(hour)).toEqual({ accepted, rejected: 1 });
      // Relay-wide: this host's and the quiet host's (none).
      const all = await admin(r)(adminApi.rates, { query: { window: '24h' } });
      expect(all.host).toBeNull();
      expect(all.points).toHaveLength(1440);
      expect(total(all)).toEqual({ accepted, rejected: 1 });
      expect(total(await admin(r)(adminApi.rates, { query: { window: '6h', host: quiet.hostname } }))).toEqual({ accepted: 0, rejected: 0 });
    }
  });

  it('refuses an unknown host or window with an XRPC error', async () => {
    const unknown = await get(relay, '/admin/rates?host=nowhere.example.com');
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatchObject({ error: 'HostNotFound' });
    for (const q of ['window=2h', 'host=not%20a%20host!', 'window=']) {
      const bad = await get(relay, `/admin/rates?${q}`);
      expect(bad.status, q).toBe(400);
      expect(bad.body.error, q).toBeTruthy();
      expect(bad.body.message, q).toBeTruthy();
    }
    expect((await fetch(`${relay.url}/admin/rates`)).status).toBe(401);
  });
});

describe('events in the last hour', () => {
  it('lists each host’s, sorts by them, and shows them in `relay hosts list`', async () => {
    const page = await admin(fanout)(adminApi.listHosts, { query: { sort: 'events', order: 'desc' } });
    expect(page.hosts.map((h) => [h.hostname, h.eventsLastHour])).toEqual([[pds.hostname, accepted], [quiet.hostname, 0]]);
    const asc = await admin(relay)(adminApi.listHosts, { query: { sort: 'events', order: 'asc' } });
    expect(asc.hosts.map((h) => h.hostname)).toEqual([quiet.hostname, pds.hostname]);
    const { code, output } = await runRelayCli(['hosts', 'list', '--url', relay.url], { RELAY_ADMIN_PASSWORD: TEST_ADMIN_PASSWORD });
    expect(code, output).toBe(0);
    expect(output).toContain('eventsLastHour');
    expect(output.split('\n').find((l) => l.includes(pds.hostname))).toMatch(new RegExp(`\\b${accepted}\\b`));
  });
});

describe('per-host metrics', () => {
  it('counts events per host and type, rejections per host and reason, unless turned off', async () => {
    const events = (type: string) => metricValue(relay.metricsUrl, `relay_host_events_total{host="${pds.hostname}",type="${type}"}`);
    expect(await events('commit')).toBe(COMMITS);
    expect(await events('identity')).toBe(1);
    expect(await metricValue(relay.metricsUrl, `relay_host_rejections_total{host="${pds.hostname}",reason="missing_prev_data"}`)).toBe(1);
    // The process with RELAY_METRICS_HOST_LABEL off exports no per-host series.
    const text = await (await fetch(`${fanout.metricsUrl}/metrics`)).text();
    expect(text).toContain('# TYPE relay_host_events_total counter');
    expect(text).not.toMatch(/^relay_host_(events|rejections)_total\{/m);
  });
});
