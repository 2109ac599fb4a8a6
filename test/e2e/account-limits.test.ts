// Account-level limits through the real path: the host account limit (at its default of 10) and the per-account
// points budget. A throttled account is announced with the relay's own #account, its repo events are withheld, and
// on release (a deleted account frees a slot, an operator raises the limit, the budget window passes) it is announced
// active again and its current commit re-announced as #sync.
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.ts';
import { TestClock } from '../../dev-env/clock.ts';
import { startWorld, type World } from '../helpers/world.ts';
import { adminPost, metricValue } from '../helpers/relay.ts';
import { TestConsumer, eventually } from '../helpers/consumer.ts';
import type { FakeAccount } from '../../dev-env/fake-pds.ts';
import { TEST_ADMIN_PASSWORD } from '../helpers/relay.ts';
import { relayAdmin } from '../../dev-env/relay-client.ts';
import { runRelayCli } from '../../dev-env/process.ts';
import { adminApi } from '../../src/services/contract.ts';

const DEFAULTS = loadConfig({});
let world: World | undefined;
let consumer: TestConsumer | undefined;
afterEach(async () => {
  consumer?.close();
  await world?.close();
  world = consumer = undefined;
});

const of = (c: TestConsumer, did: string) => c.events.filter((e) => (e.t === '#commit' ? e.body.repo : e.body.did) === did);
const kinds = (c: TestConsumer, did: string) => of(c, did).map((e) => (e.t === '#account' ? `#account:${String(e.body.active)}:${String(e.body.status ?? '')}` : e.t));

async function repoStatus(did: string): Promise<Record<string, unknown>> {
  return (await (await fetch(`${world!.relay.url}/xrpc/com.atproto.sync.getRepoStatus?did=${did}`)).json()) as Record<string, unknown>;
}

/** The #sync re-announcement carries exactly the account's current signed commit. */
function expectResync(c: TestConsumer, account: FakeAccount): void {
  const sync = of(c, account.did).filter((e) => e.t === '#sync').at(-1)!;
  expect(sync.body.rev).toBe(account.repo.rev);
  expect(new Uint8Array((sync.body.blocks as { buf: Uint8Array }).buf)).toEqual(new Uint8Array(account.repo.commitOnlyCar()));
}

describe('host account limit', () => {
  it('throttles accounts past the default limit, frees a slot on deletion, and releases on a raised limit', async () => {
    expect(DEFAULTS.hostAccountLimit).toBe(10);
    world = await startWorld({ config: { hostAccountLimit: DEFAULTS.hostAccountLimit } });
    const pds = world.hosts[0]!;
    const relayUrl = world.relay.url;
    const metricsUrl = world.relay.metricsUrl;
    consumer = await TestConsumer.connect(world.relay.wsUrl);
    const accounts: FakeAccount[] = [];
    for (let i = 0; i < 11; i++) {
      const a = await pds.createAccount();
      await pds.createRecord(a, `post ${i}`);
      accounts.push(a);
    }
    await consumer.waitFor(
      (c) => accounts.every((a) => of(c, a.did).length >= 2) && accounts.filter((a) => of(c, a.did).length === 4).length === 10,
      15_000,
      'all accounts',
    );
    // Ten accounts flow; the one left over is announced throttled and its repo events are withheld. Slots go in the
    // order accounts' first events are verified, and first-seen accounts are resolved concurrently: any may be it.
    const throttled = accounts.filter((a) => kinds(consumer!, a.did).includes('#account:false:throttled'));
    expect(throttled).toHaveLength(1);
    const eleventh = throttled[0]!;
    const flowing = accounts.filter((a) => a !== eleventh);
    for (const a of flowing) expect(kinds(consumer, a.did)).toEqual(['#identity', '#account:true:', '#sync', '#commit']);
    expect(kinds(consumer, eleventh.did)).toEqual(['#identity', '#account:false:throttled']);
    expect(await repoStatus(eleventh.did)).toMatchObject({ active: false, status: 'throttled' });
    expect(await metricValue(metricsUrl, 'relay_accounts_throttled_total{reason="host_account_limit"}')).toBe(1);
    expect(await metricValue(metricsUrl, 'relay_events_withheld_total{reason="host_account_limit"}')).toBe(2);
    // The operator's list of throttled accounts names it, by host too (the CLI reads every page).
    const throttledList = (await relayAdmin(relayUrl, TEST_ADMIN_PASSWORD)(adminApi.listAccounts, { query: { status: 'throttled' } })).accounts;
    expect(throttledList).toEqual([{ did: eleventh.did, handle: eleventh.handle, hostname: pds.hostname, takenDownAt: null, throttle: { reason: 'host_account_limit', until: null } }]);
    const listed = await runRelayCli(['accounts', 'list', '--throttled', '--host', pds.hostname], { RELAY_ADMIN_PASSWORD: TEST_ADMIN_PASSWORD, RELAY_PORT: String(world.relay.port) });
    expect(listed.code, listed.output).toBe(0);
    expect(listed.output).toMatch(new RegExp(`${eleventh.did}\\s+\\S+\\s+\\S+\\s+host_account_limit`));
    // A PDS admin sees the limit.
    const view = (await (await fetch(`${relayUrl}/api/host-status?hostname=${pds.hostname}`)).json()) as { limits: Record<string, number> };
    expect(view.limits.accountLimit).toBe(10);

    // The throttled account keeps writing (withheld, but verified and tracked); then one account is deleted.
    await pds.createRecord(eleventh, 'while throttled');
    pds.setAccountStatus(flowing[2]!, false, 'deleted');
    await consumer.waitFor((c) => kinds(c, eleventh.did).includes('#account:true:'), 15_000, 'release into the freed slot');
    expect(kinds(consumer, eleventh.did)).toEqual(['#identity', '#account:false:throttled', '#account:true:', '#sync']);
    expectResync(consumer, eleventh);
    expect(await repoStatus(eleventh.did)).toMatchObject({ active: true, rev: eleventh.repo.rev });
    await pds.createRecord(eleventh, 'after the release');
    await consumer.waitFor((c) => of(c, eleventh.did).at(-1)!.t === '#commit', 10_000, 'live again');

    // Full again: a twelfth account is throttled; raising the limit releases it.
    const twelfth = await pds.createAccount();
    await pds.createRecord(twelfth, 'one too many');
    await consumer.waitFor((c) => kinds(c, twelfth.did).includes('#account:false:throttled'), 10_000, 'twelfth throttled');
    await eventually(async () => (await metricValue(metricsUrl, 'relay_events_withheld_total{reason="host_account_limit"}')) === 5, 10_000, 'withheld');
    const raised = await adminPost(relayUrl, `/admin/hosts/${encodeURIComponent(pds.hostname)}/limits`, { accountLimit: 11 });
    expect(raised.status).toBe(200);
    await consumer.waitFor((c) => kinds(c, twelfth.did).includes('#account:true:'), 15_000, 'release on the raised limit');
    expect(kinds(consumer, twelfth.did)).toEqual(['#identity', '#account:false:throttled', '#account:true:', '#sync']);
    expectResync(consumer, twelfth);
    expect(await metricValue(metricsUrl, 'relay_accounts_released_total{reason="host_account_limit"}')).toBe(2);
  });
});

describe('per-account points budget', () => {
  it('withholds an account over its budget (create 3, update 2, delete 1) and releases it after the window', async () => {
    const HOUR_MS = 3_600_000;
    // The spending lands in one hour of the relay's clock; its end is moved to, not waited for.
    const clock = TestClock.inWindow(HOUR_MS);
    world = await startWorld({ config: { accountPointsPerHour: 10, accountPointsPerDay: 1000 }, overrides: { clock } });
    const pds = world.hosts[0]!;
    consumer = await TestConsumer.connect(world.relay.wsUrl);
    const other = await pds.createAccount();
    const account = await pds.createAccount();
    const rkeys = ['3kaaaaaaaaaa2', '3kaaaaaaaaab2', '3kaaaaaaaaac2'];
    const post = (rkey: string) => ({ collection: 'app.bsky.feed.post', rkey, record: { text: rkey, createdAt: new Date().toISOString() } });
    await pds.writeRecords(account, rkeys.map((r) => ({ action: 'create' as const, ...post(r) }))); // 9 points
    await pds.writeRecords(account, [{ action: 'delete', collection: 'app.bsky.feed.post', rkey: rkeys[0]! }]); // 10
    await pds.writeRecords(account, [{ action: 'update', ...post(rkeys[1]!) }]); // 12: over
    await pds.createRecord(account, 'also withheld');
    await pds.createRecord(other, 'others are not affected');
    await consumer.waitFor((c) => of(c, other.did).some((e) => e.t === '#commit'), 10_000, 'the other account');
    await consumer.waitFor((c) => kinds(c, account.did).includes('#account:false:throttled'), 10_000, 'throttle');
    expect(kinds(consumer, account.did)).toEqual(['#identity', '#account:true:', '#sync', '#commit', '#commit', '#account:false:throttled']);
    expect(await repoStatus(account.did)).toMatchObject({ active: false, status: 'throttled' });
    const admin = relayAdmin(world.relay.url, TEST_ADMIN_PASSWORD);
    const [held] = (await admin(adminApi.listAccounts, { query: { status: 'throttled' } })).accounts;
    expect(held).toMatchObject({ did: account.did, hostname: pds.hostname, throttle: { reason: 'account_budget' } });
    expect(Date.parse(held!.throttle!.until!)).toBeGreaterThan(clock.now());
    // After the window the sweep releases it with its current commit, without waiting for it to write.
    clock.advancePastWindow(HOUR_MS);
    await consumer.waitFor((c) => kinds(c, account.did).includes('#account:true:') && of(c, account.did).at(-1)!.t === '#sync', 10_000, 'release');
    expectResync(consumer, account);
    await pds.createRecord(account, 'a new window');
    await consumer.waitFor((c) => of(c, account.did).at(-1)!.t === '#commit', 10_000, 'writes flow again');
    expect((await admin(adminApi.listAccounts, { query: { status: 'throttled' } })).total).toBe(0);
    expect(await metricValue(world.relay.metricsUrl, 'relay_accounts_released_total{reason="account_budget"}')).toBe(1);
  });

  it('passes commits far from the budget without waiting for the counters, and throttles at the same commit', async () => {
    // 30 points an hour, each post 3: the first commit waits for the counters (nothing known of the account), later
    // ones pass while they leave a tenth of the limit and are counted behind; the eleventh is over, as it would be
    // were every commit waited for.
    world = await startWorld({ config: { accountPointsPerHour: 30, accountPointsPerDay: 1000 } });
    const pds = world.hosts[0]!;
    consumer = await TestConsumer.connect(world.relay.wsUrl);
    const account = await pds.createAccount();
    for (let i = 0; i < 11; i++) await pds.createRecord(account, `post ${i}`);
    await consumer.waitFor((c) => kinds(c, account.did).includes('#account:false:throttled'), 10_000, 'throttle');
    expect(kinds(consumer, account.did)).toEqual(['#identity', '#account:true:', '#sync', ...Array<string>(10).fill('#commit'), '#account:false:throttled']);
    const metrics = world.relay.metricsUrl;
    const here = await metricValue(metrics, 'relay_account_budget_takes_total{decided="here"}');
    const counters = await metricValue(metrics, 'relay_account_budget_takes_total{decided="counters"}');
    expect(here).toBeGreaterThan(0);
    expect(here + counters).toBe(11);
  });
});
