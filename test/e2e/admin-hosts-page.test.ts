// The admin hosts list for a relay with thousands of hosts: sorted, filtered and paged in SQL, through real HTTP and
// PostgreSQL. The relay is a fan-out process, so none of the 2,000 hosts is dialled.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { createTestDatabase } from '../helpers/db.ts';
import { startTestRelay, TEST_ADMIN_PASSWORD, type TestRelay } from '../helpers/relay.ts';
import { runRelayCli } from '../../dev-env/process.ts';
import { accounts, hostEventCounts, hosts } from '../../src/storage/schema.ts';
import type { HostsPage } from '../../src/services/contract.ts';
import { recordCrawlRequest } from '../../src/storage/hosts.ts';

const N = 2000;
let relay: TestRelay;
const name = (i: number) => `pds${String(i).padStart(4, '0')}.example.com`;

async function page(query: string): Promise<{ status: number; body: HostsPage & { error?: string; message?: string } }> {
  const res = await fetch(`${relay.url}/admin/hosts?${query}`, { headers: { authorization: `Bearer ${TEST_ADMIN_PASSWORD}` } });
  return { status: res.status, body: (await res.json()) as HostsPage & { error?: string; message?: string } };
}

beforeAll(async () => {
  relay = await startTestRelay({ databaseUrl: await createTestDatabase(), role: 'fanout' });
  const { db } = relay.relay.ctx.database;
  const statuses = ['banned', 'offline', 'idle', 'active'] as const;
  const rows = Array.from({ length: N }, (_, i) => ({
    hostname: name(i),
    status: statuses[i % 4]!,
    failedAttempts: i % 7,
    lastEventAt: i % 3 === 0 ? null : new Date(Date.UTC(2026, 0, 1) + i * 1000),
  }));
  const inserted = await db.insert(hosts).values(rows).returning({ id: hosts.id, hostname: hosts.hostname });
  const id = new Map(inserted.map((h) => [h.hostname, h.id]));
  // Host 5 holds three accounts, host 9 two, host 11 one. Ties go by hostname, in the same direction as the sort.
  const held = [[5, 3], [9, 2], [11, 1]] as const;
  await db.insert(accounts).values(
    held.flatMap(([i, n]) =>
      Array.from({ length: n }, (_, k) => ({ did: `did:plc:h${i}a${k}`, hostId: id.get(name(i))!, throttled: k < 2 ? 'host_account_limit' : null })),
    ),
  );
  // Every fifth host sent i events in each of three minutes of the last hour; host 1 sent many two hours ago (not
  // in the last hour).
  const minute = (ago: number) => new Date(Math.floor((Date.now() - ago) / 60_000) * 60_000);
  const counts = Array.from({ length: N / 5 }, (_, k) => k * 5).flatMap((i) =>
    [0, 10, 50].map((m) => ({ hostId: id.get(name(i))!, minute: minute(m * 60_000), accepted: i, rejected: 1 })),
  );
  counts.push({ hostId: id.get(name(1))!, minute: minute(2 * 3_600_000), accepted: 1_000_000, rejected: 0 });
  await db.insert(hostEventCounts).values(counts);
  await db.execute(sql`ANALYZE host_event_counts`);
}, 120_000);

afterAll(async () => {
  await relay?.stop();
});

describe('GET /admin/hosts: sort, filter, pages', () => {
  it('is listed whole by the CLI, which reads the pages in turn', async () => {
    const { code, output } = await runRelayCli(['hosts', 'list', '--url', relay.url], { RELAY_ADMIN_PASSWORD: TEST_ADMIN_PASSWORD });
    expect(code, output).toBe(0);
    const listed = new Set(output.match(/pds\d{4}\.example\.com/g));
    expect(listed.size).toBe(N);
  });

  it('pages through every host by hostname, no page overlapping another', async () => {
    const seen: string[] = [];
    for (let offset = 0; offset < N; offset += 500) {
      const { status, body } = await page(`limit=500&offset=${offset}`);
      expect(status).toBe(200);
      expect(body.total).toBe(N);
      expect(body.hosts).toHaveLength(500);
      seen.push(...body.hosts.map((h) => h.hostname));
    }
    expect(seen).toEqual(Array.from({ length: N }, (_, i) => name(i)));
    const past = await page(`limit=50&offset=${N}`);
    expect(past.body).toMatchObject({ hosts: [], total: N, offset: N, limit: 50 });
  });

  it('sorts by hostname descending, accounts, errors and last event', async () => {
    expect((await page('sort=hostname&order=desc&limit=2')).body.hosts.map((h) => h.hostname)).toEqual([name(1999), name(1998)]);
    const byAccounts = (await page('sort=accounts&order=desc&limit=4')).body.hosts;
    expect(byAccounts.map((h) => [h.hostname, h.accountCount])).toEqual([[name(5), 3], [name(9), 2], [name(11), 1], [name(1999), 0]]);
    const byErrors = (await page('sort=errors&order=desc&limit=3')).body.hosts;
    expect(byErrors.map((h) => h.failedAttempts)).toEqual([6, 6, 6]);
    expect(byErrors.map((h) => h.hostname)).toEqual([name(1994), name(1987), name(1980)]);
    // Newest event first; hosts that never sent one come last in either order.
    const newest = (await page('sort=lastEvent&order=desc&limit=2')).body.hosts;
    expect(newest.map((h) => h.hostname)).toEqual([name(1999), name(1997)]);
    const oldest = (await page('sort=lastEvent&order=asc&limit=1')).body.hosts;
    expect(oldest[0]!.hostname).toBe(name(1));
    const last = (await page(`sort=lastEvent&order=asc&limit=1&offset=${N - 1}`)).body.hosts;
    expect(last[0]!.lastEventAt).toBeNull();
    const byStatus = (await page('sort=status&limit=1')).body.hosts;
    expect(byStatus[0]).toMatchObject({ hostname: name(3), status: 'active' });
  });

  it('sorts by events over the last hour, every host counted in SQL', async () => {
    const busiest = (await page('sort=events&order=desc&limit=3')).body.hosts;
    expect(busiest.map((h) => [h.hostname, h.eventsLastHour])).toEqual([[name(1995), 3 * 1995], [name(1990), 3 * 1990], [name(1985), 3 * 1985]]);
    // Quiet hosts first in ascending order, by hostname: host 0 sent none, host 1 none within the hour.
    const quiet = (await page('sort=events&order=asc&limit=2')).body.hosts;
    expect(quiet.map((h) => [h.hostname, h.eventsLastHour])).toEqual([[name(0), 0], [name(1), 0]]);
    const banned = (await page('sort=events&order=desc&status=banned&limit=1')).body.hosts;
    expect(banned.map((h) => [h.hostname, h.status, h.eventsLastHour])).toEqual([[name(1980), 'banned', 3 * 1980]]);
    // Every page of the sort holds each host once.
    const seen = new Set<string>();
    for (let offset = 0; offset < N; offset += 1000) for (const h of (await page(`sort=events&order=desc&limit=1000&offset=${offset}`)).body.hosts) seen.add(h.hostname);
    expect(seen.size).toBe(N);
  });

  it('filters by status and by a part of the hostname, together', async () => {
    const banned = await page('status=banned&limit=1000');
    expect(banned.body.total).toBe(N / 4);
    expect(new Set(banned.body.hosts.map((h) => h.status))).toEqual(new Set(['banned']));
    const named = await page('q=PDS19&limit=1000');
    expect(named.body.total).toBe(100);
    expect(named.body.hosts.every((h) => h.hostname.startsWith('pds19'))).toBe(true);
    const both = await page('q=pds19&status=idle');
    expect(both.body.hosts.map((h) => h.hostname)).toEqual(Array.from({ length: 25 }, (_, k) => name(1902 + 4 * k)));
    // A % or _ is a character to find, not a pattern.
    expect((await page('q=%25')).body.total).toBe(0);
  });

  it('refuses bad options with an XRPC error', async () => {
    for (const q of ['sort=cursor', 'order=up', 'status=gone', 'limit=0', 'limit=1001', 'offset=-1', 'limit=ten']) {
      const { status, body } = await page(q);
      expect(status, q).toBe(400);
      expect(body.error, q).toBeTruthy();
      expect(body.message, q).toBeTruthy();
    }
  });
});

describe('GET /api/host-status (the status page)', () => {
  const status = async (hostname: string) =>
    (await (await fetch(`${relay.url}/api/host-status?hostname=${encodeURIComponent(hostname)}`)).json()) as Record<string, unknown>;

  it('tells a host with a pending crawl request that it waits for the operator, not to ask', async () => {
    const unknown = await status('new.example.org');
    expect(unknown).toMatchObject({ known: false, pending: false });
    expect(unknown.message).toContain('requestCrawl');
    await recordCrawlRequest(relay.relay.ctx.database.db, 'new.example.org', null);
    const pending = await status('new.example.org');
    expect(pending).toMatchObject({ known: false, pending: true });
    expect(pending.message).toContain("waiting for the relay operator's approval");
    expect(pending.message).not.toContain('requestCrawl');
  });

  it('gives a known host its account limit and how many of its accounts are throttled', async () => {
    const held = await status(name(5));
    expect(held).toMatchObject({ known: true, accountCount: 3, throttledAccounts: 2 });
    expect((held.limits as { accountLimit: number }).accountLimit).toBeGreaterThan(0);
    expect(await status(name(11))).toMatchObject({ accountCount: 1, throttledAccounts: 1 });
    expect(await status(name(0))).toMatchObject({ accountCount: 0, throttledAccounts: 0 });
  });
});
