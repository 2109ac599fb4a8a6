// requestCrawl, the operator's add and approve, and the crawler cannot be turned against us or others: the host's
// address is checked at admission and again on every dial (DNS rebinding), relays are not crawled (relay loops) on
// any path that adds a host, and the relay's own outbound requests (crawl probes, DID resolution) are rate-limited.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakePlc } from '../../dev-env/fake-plc.ts';
import { createDidResolver } from '../../src/identity/resolver.ts';
import { normalizeHostname } from '../../src/core/hostname.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { adminPost, metricValue, requestCrawl, startTestRelay, TEST_ADMIN_PASSWORD, type TestRelay } from '../helpers/relay.ts';
import { eventually } from '../helpers/consumer.ts';
import { freePort, runRelayCli } from '../../dev-env/process.ts';
import { admitHost } from '../../src/storage/hosts.ts';
import { relayAdmin } from '../../dev-env/relay-client.ts';
import { adminApi } from '../../src/services/contract.ts';
import { FakePds } from '../../dev-env/fake-pds.ts';

let relay: TestRelay;
const lookups: string[] = [];
// No DNS here, and no traffic may leave loopback: every name resolves to a non-public address.
const rebound: Record<string, string[]> = { 'rebind.example.com': ['10.0.0.7'], 'loop.example.com': ['127.0.0.1'] };

beforeAll(async () => {
  relay = await startTestRelay(
    { databaseUrl: await createTestDatabase(), crawlProbesPerMinute: 3 },
    {
      lookup: async (h) => {
        lookups.push(h);
        return rebound[h] ?? [];
      },
    },
  );
});

afterAll(async () => {
  await relay?.stop();
});

async function hostView(hostname: string) {
  const res = await fetch(`${relay.url}/admin/hosts`, { headers: { authorization: `Bearer ${TEST_ADMIN_PASSWORD}` } });
  const { hosts } = (await res.json()) as { hosts: Array<{ hostname: string; status: string; connected: boolean; lastError: string | null; recentRejections: Array<{ reason: string; detail?: string }> }> };
  return hosts.find((h) => h.hostname === hostname);
}

describe('crawl abuse', () => {
  it('refuses non-public addresses when an operator adds a host, and again at every dial (DNS rebinding)', async () => {
    for (const name of Object.keys(rebound)) {
      const res = await adminPost(relay.url, '/admin/hosts', { hostname: name });
      expect(res.status, name).toBe(400);
      expect(await res.json()).toMatchObject({ error: 'HostNotFound', message: expect.stringContaining(rebound[name]![0]!) });
    }
    // Admitted while its name pointed somewhere public (written as admission writes it), private by the time we dial.
    for (const name of Object.keys(rebound)) await admitHost(relay.relay.ctx.database.db, name);
    const refused = 'relay_upstream_dials_refused_total{reason="address_not_public"}';
    await eventually(async () => (await metricValue(relay.metricsUrl, refused)) >= 2, 20_000, 'refused dials');
    for (const name of Object.keys(rebound)) await eventually(async () => (await hostView(name))?.lastError != null, 20_000, `${name}'s error`);
    for (const name of Object.keys(rebound)) {
      expect(lookups).toContain(name);
      const view = await hostView(name);
      expect(view?.connected).toBe(false);
      expect(view?.status).toBe('connecting');
      expect(view?.lastError).toBe(`address policy: ${name} resolves to ${rebound[name]![0]}, which is not a public address`);
      expect(view?.recentRejections.some((r) => r.reason === 'address_not_public' && r.detail?.includes(rebound[name]![0]!))).toBe(true);
    }
    console.log(`[chaos] dials refused for non-public addresses: ${await metricValue(relay.metricsUrl, refused)}`);
  });

  it('accepts only the default ports: a hostname with a port is refused unless it is a development host', () => {
    for (const h of ['pds.example.com:8080', 'pds.example.com:22', 'pds.example.com:6379', 'pds.example.com:443']) {
      expect(normalizeHostname(h, { allowInsecure: false }).ok, h).toBe(false);
      expect(normalizeHostname(h, { allowInsecure: true }).ok, h).toBe(false);
    }
    expect(normalizeHostname('localhost:2583', { allowInsecure: false }).ok).toBe(false);
    expect(normalizeHostname('localhost:2583', { allowInsecure: true }).ok).toBe(true);
  });

  it('refuses to crawl a relay, including itself (relay loop), on every path that adds a host', async () => {
    // `relay` admits crawl requests at once (open), `other` queues them for an operator (allowlist, the default).
    const other = await startTestRelay({ databaseUrl: await createTestDatabase(), crawlPolicy: 'allowlist' });
    const cli = (r: TestRelay, args: string[]) => runRelayCli(args, { RELAY_ADMIN_PASSWORD: TEST_ADMIN_PASSWORD, RELAY_PORT: String(r.port) });
    try {
      const targets = [`localhost:${other.port}`, `localhost:${relay.port}`];
      for (const r of [relay, other]) {
        for (const target of targets) {
          const crawl = await requestCrawl(r.url, target);
          expect(crawl.status, target).toBe(400);
          expect(await crawl.json()).toMatchObject({ error: 'HostIsRelay', message: expect.stringContaining('relay loop') });
          const add = await adminPost(r.url, '/admin/hosts', { hostname: target });
          expect(add.status, target).toBe(400);
          expect(await add.json()).toMatchObject({ error: 'HostIsRelay' });
        }
      }
      // The CLI's add and approve (the console's Approve posts the same request as add).
      for (const [sub, target] of [['add', `localhost:${other.port}`], ['approve', `localhost:${relay.port}`]] as const) {
        const res = await cli(relay, ['hosts', sub, target]);
        expect(res.code, res.output).toBe(1);
        expect(res.output).toContain('HostIsRelay');
      }
      for (const r of [relay, other]) {
        const admin = relayAdmin(r.url, TEST_ADMIN_PASSWORD);
        const known = (await admin(adminApi.listHosts, {})).hosts.map((h) => h.hostname);
        for (const target of targets) expect(known).not.toContain(target);
        expect((await admin(adminApi.listCrawlRequests, {})).requests).toEqual([]);
      }
    } finally {
      await other.stop();
    }
  });

  it('re-checks hosts admitted without the check: finds a relay among them and disconnects it, a real PDS passes', async () => {
    const other = await startTestRelay({ databaseUrl: await createTestDatabase(), crawlPolicy: 'allowlist' });
    const plc = await FakePlc.start();
    const pds = await FakePds.start({ plc });
    const cli = (args: string[]) => runRelayCli(args, { RELAY_ADMIN_PASSWORD: TEST_ADMIN_PASSWORD, RELAY_PORT: String(relay.port) });
    try {
      const loop = `localhost:${other.port}`;
      // Admitted as hosts were before the admission check existed: written straight to storage.
      for (const h of [loop, pds.hostname]) await admitHost(relay.relay.ctx.database.db, h);
      const admin = relayAdmin(relay.url, TEST_ADMIN_PASSWORD);

      // Named hosts: the relay fails, the PDS passes; nothing is disconnected without asking.
      const named = await admin(adminApi.recheckHosts, { body: { hostnames: [pds.hostname, loop] } });
      expect(named.results).toEqual([
        { hostname: pds.hostname, ok: true, disconnected: false },
        { hostname: loop, ok: false, error: 'HostIsRelay', message: expect.stringContaining('relay loop'), disconnected: false },
      ]);
      await expect(admin(adminApi.recheckHosts, { body: { hostnames: ['unknown.example.com'] } })).rejects.toThrow('HostNotFound');
      const empty = await adminPost(relay.url, '/admin/hosts/recheck', { hostnames: [] });
      expect(empty.status).toBe(400);
      expect(await empty.json()).toMatchObject({ error: 'InvalidRequest' });

      // Every crawled host, through the CLI: each failure with its reason (the rebinding hosts above fail too).
      const report = await cli(['hosts', 'recheck']);
      expect(report.code, report.output).toBe(1);
      expect(report.output).toContain(`${loop}: HostIsRelay:`);
      expect(report.output).toContain('rebind.example.com: HostNotFound: rebind.example.com resolves to 10.0.0.7');
      expect(report.output).not.toContain(`${pds.hostname}:`);
      expect(report.output).toMatch(/4 of 4 hosts checked, 3 failed \(run again with --disconnect/);
      expect((await hostView(loop))?.status).not.toBe('disconnected');

      const fixed = await cli(['hosts', 'recheck', '--disconnect', '--rate', '50']);
      expect(fixed.code, fixed.output).toBe(0);
      expect(fixed.output).toContain(`${loop}: HostIsRelay:`);
      expect(fixed.output).toContain('(disconnected)');
      expect(fixed.output).toContain('4 of 4 hosts checked, 3 failed, 3 disconnected');
      for (const h of [loop, 'rebind.example.com', 'loop.example.com']) expect((await hostView(h))?.status, h).toBe('disconnected');
      await eventually(async () => (await hostView(loop))?.connected === false, 10_000, 'the relay host dropped');
      expect((await hostView(pds.hostname))?.status).not.toBe('disconnected');
      // A disconnected host is no longer crawled, so no longer re-checked; named, it is said so.
      expect((await cli(['hosts', 'recheck'])).output).toContain('1 of 1 hosts checked, 0 failed');
      const named2 = await cli(['hosts', 'recheck', loop, pds.hostname]);
      expect(named2.code).toBe(1);
      expect(named2.output).toContain(`${loop}: InvalidRequest: ${loop} is disconnected, not crawled`);
      expect(named2.output).toContain('2 of 2 hosts checked, 1 failed');
    } finally {
      await pds.close();
      await plc.close();
      await other.stop();
    }
  });

  it('rate-limits outbound crawl probes across all callers', async () => {
    // The budget (3 per minute) was partly spent above; unknown hosts keep probing until it runs out.
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await requestCrawl(relay.url, `localhost:${await freePort()}`);
      statuses.push(res.status);
      if (res.status === 429) {
        expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
        expect(await res.json()).toMatchObject({ error: 'RateLimitExceeded' });
        break;
      }
      expect(await res.json()).toMatchObject({ error: 'HostNotFound' });
    }
    expect(statuses.at(-1)).toBe(429);
    console.log(`[chaos] crawl probe answers until the budget ran out: ${statuses.join(', ')}`);
  });

  it('rate-limits outbound DID resolution', async () => {
    const plc = await FakePlc.start();
    try {
      const resolver = createDidResolver({ plcUrl: plc.url, maxPerSecond: 5 });
      const at: number[] = [];
      const started = performance.now();
      await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          resolver.resolve(`did:plc:${String(i).padStart(24, 'a')}`).catch(() => at.push(performance.now() - started)),
        ),
      );
      expect(plc.requestCount).toBe(12);
      // A burst of 5, then 5 per second: the last 7 cannot all go out in less than 1.4 s (slowness only adds).
      at.sort((a, b) => a - b);
      expect(at[11]! - at[0]!).toBeGreaterThanOrEqual(1300);
      console.log(`[chaos] 12 DID resolutions at 5/s took ${Math.round(at[11]!)} ms`);
    } finally {
      await plc.close();
    }
  });
});
