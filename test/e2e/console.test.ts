// The operator console and the public status page, driven end to end in headless Chromium (Debian's package) against
// a real relay, PostgreSQL and a fake PDS: log in, approve a pending host, watch it connect and its rejections show,
// change its limits in place, ban it. Screenshots go to .tmp/screenshots (git-ignored) for a human to look at.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import type { RejectionReason } from '../../src/core/rejections.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakePlc } from '../../dev-env/fake-plc.ts';
import { FakePds, type FakeAccount } from '../../dev-env/fake-pds.ts';
import { TestConsumer } from '../helpers/consumer.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { adminPost, requestCrawl, startTestRelay, TEST_ADMIN_PASSWORD, type TestRelay } from '../helpers/relay.ts';
import { hosts as hostsTable } from '../../src/storage/schema.ts';
import { relayAdmin } from '../../dev-env/relay-client.ts';
import { adminApi } from '../../src/services/contract.ts';

const SHOTS = new URL('../../.tmp/screenshots/', import.meta.url).pathname;
const TIMEOUT = 20_000;

let plc: FakePlc;
let pds: FakePds;
let relay: TestRelay;
let browser: BrowserContext;
let page: Page;
let profile: string;
let alice: FakeAccount;
/** A PDS whose WebSocket upgrades are refused: admitted, never connected. */
let halfUp: FakePds | undefined;
/** A PDS with more accounts than its account limit. */
let crowded: FakePds | undefined;

async function adminGet<T>(path: string): Promise<T> {
  const res = await fetch(`${relay.url}${path}`, { headers: { authorization: `Bearer ${TEST_ADMIN_PASSWORD}` } });
  return (await res.json()) as T;
}

type HostView = { id: number; hostname: string; status: string; tier: string; eventsLastHour: number; limits: { perHour: number; perDay: number; accountLimit: number; custom: boolean } };
const hostView = async (hostname: string) =>
  (await adminGet<{ hosts: HostView[] }>('/admin/hosts')).hosts.find((h) => h.hostname === hostname);

const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

beforeAll(async () => {
  // Installs Debian's chromium when absent (root), as scripts/test.sh does on a fresh machine.
  const executablePath = execFileSync('bash', [new URL('../../scripts/chromium.sh', import.meta.url).pathname], { encoding: 'utf8' }).trim();
  mkdirSync(SHOTS, { recursive: true });
  plc = await FakePlc.start();
  pds = await FakePds.start({ plc });
  relay = await startTestRelay({ databaseUrl: await createTestDatabase(), plcUrl: plc.url, crawlPolicy: 'allowlist' });
  profile = mkdtempSync(join(tmpdir(), 'relay-console-chromium-'));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    viewport: { width: 1440, height: 900 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  page = browser.pages()[0] ?? (await browser.newPage());
  page.setDefaultTimeout(TIMEOUT);
  page.on('dialog', (d) => void d.accept());
  page.on('pageerror', (e) => console.error('pageerror', e));
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await relay?.stop();
  await pds?.close();
  await halfUp?.close();
  await crowded?.close();
  await plc?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

describe('operator console (/admin/)', () => {
  it('serves the page publicly with a strict CSP, and its data only with the password', async () => {
    const pageRes = await fetch(`${relay.url}/admin/`);
    expect(pageRes.status).toBe(200);
    expect(pageRes.headers.get('content-security-policy')).toContain("script-src 'self'");
    const wrong = await fetch(`${relay.url}/admin/stats`, { headers: { authorization: 'Bearer wrong' } });
    expect(wrong.status).toBe(401);
    // A Bearer client gets no Basic challenge (browsers would open their own dialog); a bare request still does.
    expect(wrong.headers.get('www-authenticate')).toBeNull();
    expect((await fetch(`${relay.url}/admin/stats`)).headers.get('www-authenticate')).toContain('Basic');
    const ok = await adminGet<{ headSeq: number; received: number }>('/admin/stats');
    expect(ok).toMatchObject({ headSeq: 0, received: 0 });
  });

  it('refuses a wrong password and logs in with the right one', async () => {
    await page.goto(`${relay.url}/admin`);
    expect(page.url()).toBe(`${relay.url}/admin/`);
    await page.fill('#password', 'not-the-password');
    await page.click('#login-form button[type=submit]');
    await expect.poll(() => page.textContent('#login-error'), { timeout: TIMEOUT }).toContain('Wrong password');
    expect(await page.isVisible('#app')).toBe(false);
    await shot('01-login-refused');

    await page.fill('#password', TEST_ADMIN_PASSWORD);
    await page.click('#login-form button[type=submit]');
    await page.waitForSelector('#app', { state: 'visible' });
    await page.waitForSelector('#summary:has-text("head seq")');
    expect(await page.isVisible('#login-panel')).toBe(false);
  });

  it('shows a pending crawl request, approves it, and the host appears connected with its events', async () => {
    expect((await requestCrawl(relay.url, pds.hostname)).status).toBe(200);
    const request = page.locator(`#requests tr[data-host="${pds.hostname}"]`);
    await request.waitFor();
    await shot('02-pending-request');
    await request.getByRole('button', { name: 'Approve' }).click();

    const row = page.locator(`#hosts tr[data-host="${pds.hostname}"]`);
    await row.waitFor();
    await expect.poll(() => row.locator('.conn').textContent(), { timeout: TIMEOUT }).toBe('connected');
    await expect.poll(() => row.locator('.badge').textContent(), { timeout: TIMEOUT }).toBe('active');
    expect(await page.locator(`#requests tr[data-host="${pds.hostname}"]`).count()).toBe(0);

    // A firehose consumer for the consumers table; traffic for the charts and the quota columns, and one rejected
    // commit for the rejection column.
    const consumer = await TestConsumer.connect(relay.wsUrl);
    alice = await pds.createAccount();
    for (let i = 0; i < 20; i++) await pds.createRecord(alice, `post ${i}`);
    await pds.createRecord(alice, 'no prevData', {
      tamper: (b) => {
        delete b.prevData;
      },
    });
    await expect.poll(() => row.locator('.reasons').textContent(), { timeout: TIMEOUT }).toContain('missing_prev_data');
    await expect.poll(() => row.locator('td').nth(3).textContent(), { timeout: TIMEOUT }).toBe('1');
    // The cursor column follows the host's upstream seq.
    await expect.poll(async () => Number(await row.locator('td').nth(2).textContent()), { timeout: TIMEOUT }).toBeGreaterThan(20);
    // The host's events of the last hour, in its row.
    await expect.poll(async () => Number(await row.locator('td').nth(5).textContent()), { timeout: TIMEOUT }).toBeGreaterThan(20);
    const consumerRow = page.locator('#consumers tbody tr');
    await expect.poll(() => consumerRow.count(), { timeout: TIMEOUT }).toBe(1);
    // Stream, address, filters, connected, state, sent seq, lag.
    await expect.poll(() => consumerRow.locator('td').nth(0).textContent(), { timeout: TIMEOUT }).toBe('firehose');
    await expect.poll(() => consumerRow.locator('td').nth(4).textContent(), { timeout: TIMEOUT }).toBe('live');
    await expect.poll(() => consumerRow.locator('td').nth(6).textContent(), { timeout: TIMEOUT }).toBe('0');
    await expect.poll(() => page.textContent('#summary'), { timeout: TIMEOUT }).toContain('1 consumer');
    // The collection index: the collection alice posted to, with its one repo.
    const posts = page.locator('#collections tr[data-collection="app.bsky.feed.post"]');
    await expect.poll(() => posts.locator('td').nth(1).textContent(), { timeout: TIMEOUT }).toBe('1');
    await expect.poll(() => page.textContent('#collections-summary'), { timeout: TIMEOUT }).toMatch(/entries, .* counted/);
    await shot('03-host-connected');
    consumer.close();
    await expect.poll(() => consumerRow.count(), { timeout: TIMEOUT }).toBe(0);
  });

  it('draws the rate charts from the relay’s history at first render, on a time axis, and a host’s own chart', async () => {
    // A fresh login: nothing polled before, the charts come from GET /admin/rates alone.
    await page.goto(`${relay.url}/admin/`);
    await page.waitForSelector('#app', { state: 'visible' });
    const lineOf = async (svg: string, series: string) => {
      const points = (await page.locator(`${svg} polyline[data-series="${series}"]`).getAttribute('points')) ?? '';
      return points.split(' ').map((p) => p.split(',').map(Number) as [number, number]);
    };
    const baseline = async (svg: string) => Number(await page.locator(`${svg} line`).first().getAttribute('y1'));
    // Drawn from the first answer, within a second of login (the rates poll comes every 5 s).
    await page.waitForSelector('#chart-ingest polyline[data-series="accepted"]', { timeout: 1000 });
    for (const [svg, series] of [['#chart-ingest', 'accepted'], ['#chart-ingest', 'rejected'], ['#chart-broadcast', 'accepted']] as const) {
      const line = await lineOf(svg, series);
      expect(line, `${svg} ${series}`).toHaveLength(60);
      // Events came within the hour: some minute stands above the zero line.
      const zero = await baseline(svg);
      expect(line.some(([, y]) => y < zero - 1), `${svg} ${series}`).toBe(true);
      // x rises left to right, one point a minute.
      for (let i = 1; i < line.length; i++) expect(line[i]![0]).toBeGreaterThan(line[i - 1]![0]);
    }
    // A labelled time axis: clock times ten minutes apart over the hour.
    const ticks = await page.locator('#chart-ingest text.axis').evaluateAll((t) => t.map((x) => ({ label: x.textContent, at: Number(x.getAttribute('data-at')) })));
    expect(ticks.length).toBeGreaterThanOrEqual(4);
    for (const t of ticks) expect(t.label).toMatch(/^\d{2}:\d{2}$/);
    for (let i = 1; i < ticks.length; i++) expect(ticks[i]!.at - ticks[i - 1]!.at).toBe(600_000);
    expect(await page.textContent('#now-ingest')).toMatch(/\/s accepted, .*\/s rejected/);

    // 24 hours: the axis is relabelled every four hours.
    await page.click('button.rate-window[data-window="24h"]');
    await expect.poll(async () => (await lineOf('#chart-ingest', 'accepted')).length, { timeout: TIMEOUT }).toBe(1440);
    const dayTicks = await page.locator('#chart-ingest text.axis').evaluateAll((t) => t.map((x) => Number(x.getAttribute('data-at'))));
    expect(dayTicks.length).toBeGreaterThanOrEqual(4);
    for (let i = 1; i < dayTicks.length; i++) expect(dayTicks[i]! - dayTicks[i - 1]!).toBe(4 * 3_600_000);
    await page.click('button.rate-window[data-window="1h"]');

    // The host's detail: its own chart, its events and its rejection over the hour.
    await page.locator(`#hosts tr[data-host="${pds.hostname}"] button.host-open`).click();
    await page.waitForSelector('#host-detail', { state: 'visible' });
    expect(await page.textContent('#host-detail-name')).toBe(pds.hostname);
    await expect.poll(() => page.locator('#chart-host polyline[data-series="accepted"]').count(), { timeout: TIMEOUT }).toBe(1);
    const hostLine = await lineOf('#chart-host', 'rejected');
    const rejectedZero = await baseline('#chart-host');
    expect(hostLine.some(([, y]) => y < rejectedZero - 1)).toBe(true);
    expect(await page.locator('#chart-host text.axis').count()).toBeGreaterThanOrEqual(4);
    const hostTotal = Number((await page.textContent('#host-detail-now'))!.match(/^([\d,]+) events/)![1]!.replace(/,/g, ''));
    expect(hostTotal).toBe((await hostView(pds.hostname))!.eventsLastHour);
    await shot('03b-rates');
    await page.click('#host-detail-close');
    expect(await page.isHidden('#host-detail')).toBe(true);
  });

  it('renders untrusted rejection text as text', async () => {
    const host = await hostView(pds.hostname);
    // Not a reason the relay gives: the page must escape whatever text it is shown.
    const reason = '<img src=x id=injected>' as RejectionReason;
    relay.relay.ctx.rejections.record(host!.id, { reason, did: alice.did, detail: '<script>alert(1)</script>' });
    const row = page.locator(`#hosts tr[data-host="${pds.hostname}"]`);
    await expect.poll(() => row.locator('.reasons').textContent(), { timeout: TIMEOUT }).toContain('<img src=x id=injected>');
    expect(await page.locator('#injected').count()).toBe(0);
    // The account and detail of each rejection are in the row, opened by a click and kept open across polls.
    await row.locator('.rejection-details summary').click();
    await expect.poll(() => row.locator('.rejection-details ul').textContent(), { timeout: TIMEOUT }).toContain(`${alice.did}: <script>alert(1)</script>`);
    await page.waitForTimeout(3500);
    expect(await row.locator('.rejection-details').getAttribute('open')).not.toBeNull();
    expect(await row.locator('.rejection-details ul').isVisible()).toBe(true);
  });

  it('changes a host limit in place, kept across polls while typing', async () => {
    const row = page.locator(`#hosts tr[data-host="${pds.hostname}"]`);
    await row.getByRole('button', { name: 'Edit' }).click();
    await row.locator('input[name=perHour]').fill('5000');
    // Two polls pass while the editor is open: the typed value survives.
    await page.waitForTimeout(6500);
    expect(await row.locator('input[name=perHour]').inputValue()).toBe('5000');
    await row.locator('input[name=perDay]').fill('60000');
    await row.locator('input[name=accountLimit]').fill('250');
    await shot('04-editing-limits');
    await row.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => row.locator('td').nth(8).textContent(), { timeout: TIMEOUT }).toContain('5,000 / 60,000');
    await expect.poll(() => page.textContent('#flash'), { timeout: TIMEOUT }).toContain('limits set');
    const host = await hostView(pds.hostname);
    expect(host!.limits).toEqual({ perHour: 5000, perDay: 60000, accountLimit: 250, custom: true });
    expect(await row.locator('td').nth(8).textContent()).toContain('250 accounts');
    // The quota column shows the new limit once the host's next reservation sees it.
    await expect.poll(() => row.locator('td').nth(6).textContent(), { timeout: TIMEOUT }).toBeTruthy();
  });

  it('changes a host trust tier', async () => {
    const row = page.locator(`#hosts tr[data-host="${pds.hostname}"]`);
    const before = (await hostView(pds.hostname))!.tier;
    const after = before === 'new' ? 'trusted' : 'new';
    await row.getByRole('button', { name: before === 'new' ? 'Trust' : 'Untrust' }).click();
    await expect.poll(() => row.locator('[data-tier]').textContent(), { timeout: TIMEOUT }).toBe(`tier: ${after}`);
    expect((await hostView(pds.hostname))!.tier).toBe(after);
  });

  it('bans the host: it is disconnected and shown banned, and unban brings it back', async () => {
    const row = page.locator(`#hosts tr[data-host="${pds.hostname}"]`);
    await row.getByRole('button', { name: 'Ban' }).click();
    await expect.poll(() => row.locator('.badge').textContent(), { timeout: TIMEOUT }).toBe('banned');
    await expect.poll(() => row.locator('.conn').textContent(), { timeout: TIMEOUT }).toBe('not connected');
    const host = await hostView(pds.hostname);
    expect(host!.status).toBe('banned');
    expect(relay.relay.ctx.crawler.isConnected(host!.id)).toBe(false);
    await shot('05-host-banned');

    await row.getByRole('button', { name: 'Unban' }).click();
    await expect.poll(() => row.locator('.conn').textContent(), { timeout: TIMEOUT }).toBe('connected');
  });

  it('bans and unbans a domain', async () => {
    await page.fill('#ban-domain-name', 'spam.example.net');
    await page.click('#ban-domain button[type=submit]');
    const row = page.locator('#domains tr[data-domain="spam.example.net"]');
    await row.waitFor();
    expect((await adminGet<{ domains: string[] }>('/admin/domain-bans')).domains).toEqual(['spam.example.net']);
    await shot('06-domain-banned');
    await row.getByRole('button', { name: 'Unban' }).click();
    await row.waitFor({ state: 'detached' });
    expect((await adminGet<{ domains: string[] }>('/admin/domain-bans')).domains).toEqual([]);
  });

  it('lists taken-down accounts with a Restore button, and throttled ones with why', async () => {
    // An account taken down through the API appears with its handle and host; Restore lifts the takedown.
    await relayAdmin(relay.url, TEST_ADMIN_PASSWORD)(adminApi.takedownAccount, { params: { did: alice.did } });
    const down = page.locator(`#takendown tr[data-did="${alice.did}"]`);
    await down.waitFor();
    expect(await down.locator('td').nth(1).textContent()).toBe(alice.handle);
    expect(await down.locator('td').nth(2).textContent()).toBe(pds.hostname);
    expect(await down.locator('td').nth(3).textContent()).toMatch(/s ago$/);

    // A host allowed one account sends two: the second is throttled.
    crowded = await FakePds.start({ plc });
    expect((await adminPost(relay.url, '/admin/hosts', { hostname: crowded.hostname })).status).toBe(200);
    expect((await adminPost(relay.url, `/admin/hosts/${encodeURIComponent(crowded.hostname)}/limits`, { accountLimit: 1 })).status).toBe(200);
    await expect.poll(async () => (await hostView(crowded!.hostname))?.status, { timeout: TIMEOUT }).toBe('active');
    const accounts = [await crowded.createAccount(), await crowded.createAccount()];
    for (const a of accounts) await crowded.createRecord(a, 'hello');
    const held = page.locator('#throttled tbody tr');
    await expect.poll(() => held.count(), { timeout: TIMEOUT }).toBe(1);
    expect(accounts.map((a) => a.did)).toContain(await held.getAttribute('data-did'));
    expect(await held.locator('td').nth(2).textContent()).toBe(crowded.hostname);
    expect(await held.locator('td').nth(3).textContent()).toBe('host account limit');
    expect(await page.textContent('#throttled-summary')).toContain('1 account');
    await shot('06a-accounts');

    await down.getByRole('button', { name: 'Restore' }).click();
    await down.waitFor({ state: 'detached' });
    expect(await page.isVisible('#takendown-empty')).toBe(true);
    const status = await (await fetch(`${relay.url}/xrpc/com.atproto.sync.getRepoStatus?did=${alice.did}`)).json();
    expect(status).toMatchObject({ active: true });
  });

  it('shows a host that never connected as connecting, with the cause of its last failed dial', async () => {
    halfUp = await FakePds.start({ plc });
    halfUp.refuseUpgrades(502);
    expect((await requestCrawl(relay.url, halfUp.hostname)).status).toBe(200);
    await page.locator(`#requests tr[data-host="${halfUp.hostname}"]`).getByRole('button', { name: 'Approve' }).click();
    const row = page.locator(`#hosts tr[data-host="${halfUp.hostname}"]`);
    await expect.poll(() => row.locator('.last-error').textContent().catch(() => ''), { timeout: TIMEOUT }).toContain('HTTP: Unexpected server response: 502');
    expect(await row.locator('.badge').textContent()).toBe('connecting');
    expect(await row.locator('.conn').textContent()).toContain('never connected');
    await shot('06b-host-never-connected');
  });

  it('logs out and forgets the password', async () => {
    await page.click('#logout');
    await page.waitForSelector('#login-panel', { state: 'visible' });
    await page.reload();
    await page.waitForSelector('#login-panel', { state: 'visible' });
    expect(await page.isVisible('#app')).toBe(false);
  });
});

describe('public status page (/status)', () => {
  it('shows a crawled host with its quota usage and recent rejections', async () => {
    await page.goto(`${relay.url}/status`);
    await page.fill('#hostname', pds.hostname);
    await page.click('#lookup button');
    await page.waitForSelector('#result', { state: 'visible' });
    await expect.poll(() => page.textContent('#r-summary'), { timeout: TIMEOUT }).toContain('active');
    expect(await page.textContent('#r-facts')).toContain('5,000 per hour, 60,000 per day');
    expect(await page.textContent('#r-usage')).toMatch(/This hour: [\d,]+ of 5,000 events/);
    expect(await page.textContent('#r-rejections')).toContain('missing_prev_data');
    expect(await page.locator('#injected').count()).toBe(0);
    expect(await page.isVisible('#crawl')).toBe(false);
    // The looked-up hostname is in the address, so the page can be shared.
    expect(new URL(page.url()).searchParams.get('hostname')).toBe(pds.hostname);
    await shot('07-status-known');
  });

  it('tells a host that never connected that it is not subscribed, and why', async () => {
    await page.goto(`${relay.url}/status?hostname=${encodeURIComponent(halfUp!.hostname)}`);
    await expect.poll(() => page.textContent('#r-summary'), { timeout: TIMEOUT }).toContain('not subscribed to this host yet');
    expect(await page.textContent('#r-summary')).not.toContain('relays its events');
    expect(await page.textContent('#r-facts')).toContain('Last connectedneverLast connection errorHTTP: Unexpected server response: 502');
    await shot('07b-status-never-connected');
  });

  it('tells an unknown host it is not crawled and lets it request a crawl', async () => {
    const other = await FakePds.start({ plc });
    try {
      await page.goto(`${relay.url}/status?hostname=${encodeURIComponent(other.hostname)}`);
      await expect.poll(() => page.textContent('#r-summary'), { timeout: TIMEOUT }).toContain('does not crawl this host');
      await page.click('#crawl-button');
      await expect.poll(() => page.textContent('#crawl-result'), { timeout: TIMEOUT }).toContain('Crawl requested');
      await shot('08-status-crawl-requested');
      const { requests } = await adminGet<{ requests: Array<{ hostname: string }> }>('/admin/crawl-requests');
      expect(requests.map((r) => r.hostname)).toContain(other.hostname);

      await page.fill('#hostname', 'not a hostname!');
      await page.click('#lookup button');
      await expect.poll(() => page.textContent('#error'), { timeout: TIMEOUT }).not.toBe('');
      expect(await page.isVisible('#result')).toBe(false);
    } finally {
      await other.close();
    }
  });
});

describe('console with 2,000 hosts', () => {
  // A fan-out process on its own database: it lists the hosts and dials none of them.
  let big: TestRelay;
  const name = (i: number) => `pds${String(i).padStart(4, '0')}.example.com`;
  const shownHosts = () => page.locator('#hosts tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-host')));

  beforeAll(async () => {
    big = await startTestRelay({ databaseUrl: await createTestDatabase(), role: 'fanout' });
    await big.relay.ctx.database.db.insert(hostsTable).values(
      Array.from({ length: 2000 }, (_, i) => ({ hostname: name(i), status: i % 2 ? 'banned' : 'offline', failedAttempts: i % 10 })),
    );
  }, 120_000);
  afterAll(async () => {
    await page.unrouteAll();
    await big?.stop();
  });

  it('shows one page of 50, sorts by a header, pages, and filters on the relay', async () => {
    await page.goto(`${big.url}/admin/`);
    await page.fill('#password', TEST_ADMIN_PASSWORD);
    await page.click('#login-form button[type=submit]');
    await expect.poll(() => page.textContent('#hosts-page'), { timeout: TIMEOUT }).toBe('1-50 of 2,000');
    expect(await shownHosts()).toEqual(Array.from({ length: 50 }, (_, i) => name(i)));

    await page.click('button.sort[data-sort="hostname"]');
    await expect.poll(async () => (await shownHosts())[0], { timeout: TIMEOUT }).toBe(name(1999));
    await page.click('#hosts-next');
    await expect.poll(() => page.textContent('#hosts-page'), { timeout: TIMEOUT }).toBe('51-100 of 2,000');
    expect((await shownHosts())[0]).toBe(name(1949));

    // Counts and times sort largest first at the first click.
    await page.click('button.sort[data-sort="errors"]');
    await expect.poll(async () => (await shownHosts())[0], { timeout: TIMEOUT }).toBe(name(1999));
    expect(await page.locator('#hosts tbody tr .conn').first().textContent()).toContain('9 failures');

    await page.selectOption('#host-status', 'banned');
    await page.fill('#host-filter', 'pds19');
    await expect.poll(() => page.textContent('#hosts-page'), { timeout: TIMEOUT }).toBe('1-50 of 50');
    const shown = await shownHosts();
    expect(shown.every((h) => h!.startsWith('pds19'))).toBe(true);
    expect(await page.locator('#hosts tbody .badge').evaluateAll((b) => [...new Set(b.map((x) => x.textContent))])).toEqual(['banned']);
    expect(await page.isDisabled('#hosts-next')).toBe(true);
    await shot('09-console-2000-hosts');
  });

  it('shows why an action failed next to what the operator clicked', async () => {
    await page.fill('#add-hostname', 'not a hostname!');
    await page.click('#add-host button[type=submit]');
    await expect.poll(() => page.textContent('#add-host-error'), { timeout: TIMEOUT }).toContain('not a hostname! added failed: InvalidRequest');
    const row = page.locator(`#hosts tr[data-host="${name(1901)}"]`);
    await page.route(`${big.url}/admin/hosts/*/unban`, (route) => route.fulfill({ status: 500, contentType: 'application/json', body: '{"error":"InternalServerError","message":"boom"}' }));
    await row.getByRole('button', { name: 'Unban' }).click();
    await expect.poll(() => row.locator('.action-error').textContent(), { timeout: TIMEOUT }).toBe(`${name(1901)} unbanned failed: InternalServerError: boom`);
    await page.unrouteAll();
  });

  it('says the relay is unreachable, and since when, instead of showing old data silently', async () => {
    expect(await page.isVisible('#stale')).toBe(false);
    await page.route(`${big.url}/admin/**`, (route) => route.abort('connectionrefused'));
    await expect.poll(() => page.textContent('#stale'), { timeout: TIMEOUT }).toMatch(/^Relay unreachable — data from \d\d:\d\d:\d\d$/);
    expect(await page.getAttribute('#app', 'class')).toContain('is-stale');
    await shot('10-console-stale');
    await page.unrouteAll();
    await expect.poll(() => page.isVisible('#stale'), { timeout: TIMEOUT }).toBe(false);
  });
});
