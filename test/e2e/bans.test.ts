// Host and domain bans: a banned host's connection closes at once, its crawl requests are refused, and lifting
// the ban resumes crawling from the saved cursor.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakePlc } from '../../dev-env/fake-plc.ts';
import { FakePds } from '../../dev-env/fake-pds.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { crawlAndConnect, requestCrawl, startTestRelay, TEST_ADMIN_PASSWORD, type TestRelay } from '../helpers/relay.ts';
import { TestConsumer, eventually } from '../helpers/consumer.ts';
import { runRelayCli } from '../../dev-env/process.ts';
import { perDid } from '../../dev-env/compare.ts';
import { relayAdmin } from '../../dev-env/relay-client.ts';
import { adminApi } from '../../src/services/contract.ts';

let plc: FakePlc;
let pds: FakePds;
let relay: TestRelay;

const cli = (args: string[]) => runRelayCli(args, { RELAY_ADMIN_PASSWORD: TEST_ADMIN_PASSWORD, RELAY_PORT: String(relay.port) });
const hostId = async (hostname: string) => {
  const res = await fetch(`${relay.url}/admin/hosts`, { headers: { authorization: `Bearer ${TEST_ADMIN_PASSWORD}` } });
  return ((await res.json()) as { hosts: Array<{ id: number; hostname: string; status: string }> }).hosts.find((h) => h.hostname === hostname);
};

beforeAll(async () => {
  plc = await FakePlc.start();
  pds = await FakePds.start({ plc });
  relay = await startTestRelay({ databaseUrl: await createTestDatabase(), plcUrl: plc.url });
});

afterAll(async () => {
  await relay?.stop();
  await pds?.close();
  await plc?.close();
});

describe('bans', () => {
  it('bans a host (closing its connection, refusing its crawl requests) and resumes it from its cursor when lifted', async () => {
    await crawlAndConnect(relay, pds.hostname);
    const consumer = await TestConsumer.connect(relay.wsUrl);
    const account = await pds.createAccount();
    await pds.createRecord(account, 'before the ban');
    await consumer.waitFor((c) => c.events.length === 4, 10_000, 'events before the ban');

    const banned = await cli(['hosts', 'ban', pds.hostname]);
    expect(banned.output).toContain(`${pds.hostname}: banned`);
    const id = (await hostId(pds.hostname))!.id;
    await eventually(() => !relay.relay.ctx.crawler.isConnected(id), 10_000, 'connection closed');
    const refused = await requestCrawl(relay.url, pds.hostname);
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: 'HostBanned' });
    for (let i = 0; i < 3; i++) await pds.createRecord(account, `while banned ${i}`);
    await new Promise((r) => setTimeout(r, 500));
    expect(consumer.events).toHaveLength(4);

    expect((await cli(['hosts', 'unban', pds.hostname])).output).toContain(`${pds.hostname}: connecting`);
    await consumer.waitFor((c) => c.events.length === 7, 10_000, 'events published during the ban');
    expect(perDid(consumer.events)).toEqual(perDid(pds.events));
    consumer.close();
  });

  it('bans a domain and its subdomains', async () => {
    expect((await cli(['domains', 'ban', 'Bad.Example.com'])).output).toContain('bad.example.com: banned');
    for (const h of ['bad.example.com', 'pds.bad.example.com']) {
      const res = await requestCrawl(relay.url, h);
      expect(res.status, h).toBe(400);
      expect(await res.json()).toMatchObject({ error: 'HostBanned' });
    }
    expect((await cli(['domains', 'list'])).output).toContain('bad.example.com');
    expect((await cli(['domains', 'unban', 'bad.example.com'])).output).toContain('unbanned');
    expect((await cli(['domains', 'list'])).output).toContain('(no banned domains)');
  });

  it('bans hosts already crawled under a newly banned domain', async () => {
    const res = await fetch(`${relay.url}/admin/domain-bans`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_ADMIN_PASSWORD}`, 'content-type': 'application/json' },
      body: JSON.stringify({ domain: 'localhost' }),
    });
    expect(await res.json()).toEqual({ domain: 'localhost', bannedHosts: [pds.hostname] });
    expect((await hostId(pds.hostname))!.status).toBe('banned');
  });
});

describe('operators’ host changes', () => {
  it('reach every relay process at once, not at its next scan', async () => {
    const other = await FakePds.start({ plc });
    const databaseUrl = await createTestDatabase();
    // Scans ten minutes apart: only the change's notification can make a process act within seconds.
    const slow = { scanIntervalMs: 600_000 };
    const relays = [await startTestRelay({ databaseUrl, plcUrl: plc.url }, slow), await startTestRelay({ databaseUrl, plcUrl: plc.url }, slow)];
    try {
      // Admitted through the first process; whichever claims it crawls it.
      expect((await requestCrawl(relays[0]!.url, other.hostname)).status).toBe(200);
      const owner = () => relays.find((r) => r.relay.ctx.crawler.hostIds.length > 0);
      await eventually(() => (owner() ? owner()!.relay.ctx.crawler.isConnected(owner()!.relay.ctx.crawler.hostIds[0]!) : false), 10_000, 'a process crawls the new host');
      const crawling = owner()!;
      const id = crawling.relay.ctx.crawler.hostIds[0]!;
      // Changes go through the other process.
      const admin = relayAdmin(relays.find((r) => r !== crawling)!.url, TEST_ADMIN_PASSWORD);
      expect(await admin(adminApi.setHostLimits, { params: { hostname: other.hostname }, body: { perHour: 40 } })).toMatchObject({ limits: { perHour: 40 } });
      await eventually(() => crawling.relay.ctx.crawler.crawlOf(id)?.quota.chunk === 2, 3000, 'the new limit where the host is crawled');
      expect(await admin(adminApi.banHost, { params: { hostname: other.hostname } })).toEqual({ hostname: other.hostname, status: 'banned' });
      await eventually(() => crawling.relay.ctx.crawler.hostIds.length === 0, 3000, 'the ban where the host is crawled');
      expect(crawling.relay.ctx.crawler.isConnected(id)).toBe(false);
    } finally {
      for (const r of relays) await r.stop();
      await other.close();
    }
  });
});
