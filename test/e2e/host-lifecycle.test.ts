// Trust tiers and the idle status, through the running relay: a hostname matching a trusted pattern gets the trusted
// limits, a new host that stays clear of its quotas is promoted after the configured period (recorded and shown), and
// a connected host that goes quiet is shown idle, then active again on its next event.
import { afterEach, describe, expect, it } from 'vitest';
import type { RelayConfig } from '../../src/config/config.ts';
import { matchesPattern } from '../../src/quota/trust.ts';
import { FakePlc } from '../../dev-env/fake-plc.ts';
import { FakePds } from '../../dev-env/fake-pds.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { TEST_ADMIN_PASSWORD, crawlAndConnect, metricValue, startTestRelay, type TestRelay } from '../helpers/relay.ts';
import { TestConsumer, eventually } from '../helpers/consumer.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface AdminHost {
  hostname: string;
  status: string;
  tier: string;
  promotedAt: string | null;
  limits: { perHour: number; perDay: number; accountLimit: number };
}

async function adminHost(relay: TestRelay, hostname: string): Promise<AdminHost> {
  const res = await fetch(`${relay.url}/admin/hosts`, { headers: { authorization: `Bearer ${TEST_ADMIN_PASSWORD}` } });
  return ((await res.json()) as { hosts: AdminHost[] }).hosts.find((h) => h.hostname === hostname)!;
}

/** Fake hosts first (their names are their ports), then a relay configured with them in mind, crawling them. */
async function setup(n: number, config: (hosts: FakePds[]) => Partial<RelayConfig>): Promise<{ relay: TestRelay; hosts: FakePds[] }> {
  const plc = await FakePlc.start();
  const hosts: FakePds[] = [];
  for (let i = 0; i < n; i++) hosts.push(await FakePds.start({ plc }));
  const relay = await startTestRelay({
    databaseUrl: await createTestDatabase(),
    plcUrl: plc.url,
    hostEventsPerHour: 1500,
    hostEventsPerDay: 10_000,
    hostAccountLimit: 10,
    ...config(hosts),
  });
  cleanups.push(async () => {
    await relay.stop();
    for (const h of hosts) await h.close();
    await plc.close();
  });
  for (const h of hosts) await crawlAndConnect(relay, h.hostname);
  return { relay, hosts };
}

const TRUSTED = { trustedEventsPerHour: 7_000_000, trustedEventsPerDay: 70_000_000, trustedAccountLimit: 700_000 };

describe('host trust and lifecycle', () => {
  it('matches trusted hostname patterns', () => {
    expect(matchesPattern('pds-1.host.bsky.network', '*.host.bsky.network')).toBe(true);
    expect(matchesPattern('host.bsky.network', '*.host.bsky.network')).toBe(false);
    expect(matchesPattern('evilhost.bsky.network', '*.host.bsky.network')).toBe(false);
    expect(matchesPattern('pds.example.com', 'PDS.example.com')).toBe(true);
  });

  it('gives hosts matching a trusted pattern the trusted limits, others the defaults', async () => {
    const { relay, hosts } = await setup(2, (h) => ({ ...TRUSTED, trustedHosts: `*.host.example, ${h[0]!.hostname}` }));
    const trusted = await adminHost(relay, hosts[0]!.hostname);
    expect(trusted).toMatchObject({ tier: 'trusted', limits: { perHour: 7_000_000, perDay: 70_000_000, accountLimit: 700_000 } });
    const plain = await adminHost(relay, hosts[1]!.hostname);
    expect(plain).toMatchObject({ tier: 'new', limits: { perHour: 1500, perDay: 10_000, accountLimit: 10 } });
    // A PDS admin sees the same.
    const view = (await (await fetch(`${relay.url}/api/host-status?hostname=${hosts[0]!.hostname}`)).json()) as Record<string, unknown>;
    expect(view).toMatchObject({ tier: 'trusted', limits: { accountLimit: 700_000 } });
  });

  it('promotes a new host after a clean period, and records it', async () => {
    const { relay, hosts } = await setup(1, () => ({ ...TRUSTED, promoteAfterMs: 1500 }));
    const hostname = hosts[0]!.hostname;
    expect((await adminHost(relay, hostname)).tier).toBe('new');
    await eventually(async () => (await adminHost(relay, hostname)).tier === 'trusted', 15_000, 'promotion');
    const promoted = await adminHost(relay, hostname);
    expect(promoted.limits).toMatchObject({ perHour: 7_000_000, perDay: 70_000_000, accountLimit: 700_000 });
    expect(Date.parse(promoted.promotedAt!)).toBeGreaterThan(Date.now() - 60_000);
    expect(await metricValue(relay.metricsUrl, 'relay_hosts_promoted_total')).toBe(1);
  });

  it('shows a quiet host as idle, and active again on its next event', async () => {
    const { relay, hosts } = await setup(1, () => ({ hostIdleAfterMs: 1500 }));
    const pds = hosts[0]!;
    const consumer = await TestConsumer.connect(relay.wsUrl);
    cleanups.push(async () => consumer.close());
    await eventually(async () => (await adminHost(relay, pds.hostname)).status === 'idle', 15_000, 'idle');
    // Still crawled while idle: its next event is relayed and brings it back to active.
    const account = await pds.createAccount();
    await consumer.waitFor((c) => c.events.some((e) => e.body.did === account.did), 10_000, 'event from the idle host');
    await eventually(async () => (await adminHost(relay, pds.hostname)).status === 'active', 15_000, 'active again');
  });
});
