// An operator's disconnect, reconnect and remove reach the host wherever it is crawled: relay process A crawls a
// fake PDS, the admin calls go to process B (same database), and the PDS's own count of open subscriptions shows what
// happened on the wire.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakePlc } from '../../dev-env/fake-plc.ts';
import { FakePds, type FakeAccount } from '../../dev-env/fake-pds.ts';
import { relayAdmin } from '../../dev-env/relay-client.ts';
import { adminApi } from '../../src/services/contract.ts';
import { setHostStatus } from '../../src/storage/hosts.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { startTestRelay, TEST_ADMIN_PASSWORD, type TestRelay } from '../helpers/relay.ts';
import { eventually } from '../helpers/consumer.ts';

let plc: FakePlc;
let pds: FakePds;
let a: TestRelay;
let b: TestRelay;
let alice: FakeAccount;

const subscribers = () => pds.subscriberStats().count;
const adminB = () => relayAdmin(b.url, TEST_ADMIN_PASSWORD);
const hostRow = async () => (await relayAdmin(a.url, TEST_ADMIN_PASSWORD)(adminApi.listHosts, {})).hosts.find((h) => h.hostname === pds.hostname);

beforeAll(async () => {
  plc = await FakePlc.start();
  pds = await FakePds.start({ plc });
  alice = await pds.createAccount();
  const databaseUrl = await createTestDatabase();
  // A redials a lost host only after 20 s: a reconnect that comes sooner is the operator's.
  a = await startTestRelay({ databaseUrl, plcUrl: plc.url }, { reconnectBaseMs: 20_000 });
  await relayAdmin(a.url, TEST_ADMIN_PASSWORD)(adminApi.addHost, { body: { hostname: pds.hostname } });
  await eventually(() => subscribers() === 1, 20_000, 'A to subscribe');
  await pds.createRecord(alice, 'hello');
  await eventually(async () => (await hostRow())?.cursor != null, 20_000, 'the first event to be committed');
  b = await startTestRelay({ databaseUrl, plcUrl: plc.url });
}, 60_000);

afterAll(async () => {
  await b?.stop();
  await a?.stop();
  await pds?.stop();
  await plc?.close();
});

describe('operator host controls across processes', () => {
  it('disconnect drops the connection and it stays down; reconnect redials at once, backoff or not', async () => {
    const host = (await hostRow())!;
    expect(a.relay.ctx.crawler.isConnected(host.id)).toBe(true);
    expect(b.relay.ctx.crawler.isConnected(host.id)).toBe(false);

    expect(await adminB()(adminApi.disconnectHost, { params: { hostname: pds.hostname } })).toEqual({ hostname: pds.hostname, status: 'disconnected' });
    await eventually(() => subscribers() === 0, 10_000, 'the connection to close');
    // Several scans of both processes later it is still down, and neither crawls it.
    await new Promise((r) => setTimeout(r, 1500));
    expect(subscribers()).toBe(0);
    expect((await hostRow())?.status).toBe('disconnected');
    // A status change of the crawl that was failing as the operator disconnected it lands after: it is not taken.
    await setHostStatus(a.relay.ctx.database.db, host.id, 'offline', { failedAttempts: 3, error: 'connect ECONNREFUSED' });
    expect((await hostRow())?.status).toBe('disconnected');
    const again = await fetch(`${b.url}/admin/hosts/${encodeURIComponent(pds.hostname)}/disconnect`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_ADMIN_PASSWORD}` },
    });
    expect(again.status).toBe(400);
    expect(await again.json()).toEqual({ error: 'InvalidRequest', message: `${pds.hostname} is disconnected, not crawled` });

    expect(await adminB()(adminApi.reconnectHost, { params: { hostname: pds.hostname } })).toEqual({ hostname: pds.hostname, status: 'connecting' });
    await eventually(() => subscribers() === 1, 10_000, 'the host to be dialled again');
    await eventually(async () => (await hostRow())?.status === 'active', 10_000, 'active');

    // The connection is lost and the next dial fails: the crawl waits out a 20 s backoff. Reconnect skips it.
    pds.refuseUpgrades(502);
    pds.dropSubscriptions();
    await eventually(async () => ((await hostRow())?.failedAttempts ?? 0) >= 1, 10_000, 'a failed redial');
    pds.refuseUpgrades(null);
    const asked = Date.now();
    await adminB()(adminApi.reconnectHost, { params: { hostname: pds.hostname } });
    // Its own redial would come 10 to 20 s after the failure.
    // The process that crawled it drops its crawl and either process may claim the host afresh.
    await eventually(() => a.relay.ctx.crawler.isConnected(host.id) || b.relay.ctx.crawler.isConnected(host.id), 8000, 'the redial');
    expect(Date.now() - asked).toBeLessThan(5000);
    expect((await hostRow())?.failedAttempts).toBe(0);
  }, 60_000);

  it('remove forgets the host (its account stays); it can be added again, from its live head', async () => {
    expect(await adminB()(adminApi.removeHost, { params: { hostname: pds.hostname } })).toEqual({ hostname: pds.hostname, status: 'removed' });
    await eventually(() => subscribers() === 0, 10_000, 'the connection to close');
    expect(await hostRow()).toBeUndefined();
    const listed = (await (await fetch(`${b.url}/xrpc/com.atproto.sync.listHosts`)).json()) as { hosts: Array<{ hostname: string }> };
    expect(listed.hosts.map((h) => h.hostname)).not.toContain(pds.hostname);
    const status = await fetch(`${b.url}/xrpc/com.atproto.sync.getHostStatus?hostname=${encodeURIComponent(pds.hostname)}`);
    expect(status.status).toBe(404);
    const repo = await fetch(`${b.url}/xrpc/com.atproto.sync.getRepoStatus?did=${encodeURIComponent(alice.did)}`);
    expect(repo.status).toBe(200);
    const gone = await fetch(`${b.url}/admin/hosts/${encodeURIComponent(pds.hostname)}`, { method: 'DELETE', headers: { authorization: `Bearer ${TEST_ADMIN_PASSWORD}` } });
    expect(gone.status).toBe(404);

    expect(await adminB()(adminApi.addHost, { body: { hostname: pds.hostname } })).toEqual({ hostname: pds.hostname, status: 'connecting' });
    const readded = await hostRow();
    expect(readded).toMatchObject({ status: 'connecting', cursor: null, lastError: null, failedAttempts: 0 });
    await eventually(() => subscribers() === 1, 20_000, 'the host to be crawled again');
  }, 60_000);
});
