// An operator takedown withholds an account's repo events, live and on replay, and announces it with #account;
// restoring it brings them back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorld, type World } from '../helpers/world.ts';
import { randomPlcDid, type FakePds } from '../../dev-env/fake-pds.ts';
import { metricValue, TEST_ADMIN_PASSWORD, type TestRelay } from '../helpers/relay.ts';
import { TestConsumer, eventually } from '../helpers/consumer.ts';
import { runRelayCli } from '../../dev-env/process.ts';
import { relayAdmin } from '../../dev-env/relay-client.ts';
import { adminApi } from '../../src/services/contract.ts';

let world: World;
let pds: FakePds;
let relay: TestRelay;

const cli = (args: string[]) => runRelayCli(args, { RELAY_ADMIN_PASSWORD: TEST_ADMIN_PASSWORD, RELAY_PORT: String(relay.port) });
const commitsOf = (c: TestConsumer, did: string) => c.events.filter((e) => e.t === '#commit' && e.body.repo === did).length;

/** The DNS TXT records of handles (there is no DNS here); no handle is served over HTTPS. */
const txt = new Map<string, string>();

beforeAll(async () => {
  world = await startWorld({ overrides: { handleSources: { txt: async (h) => txt.get(h) ?? null, wellKnown: async () => null } } });
  ({ relay } = world);
  pds = world.hosts[0]!;
});

afterAll(async () => {
  await world?.close();
});

describe('account takedown', () => {
  it('withholds the account live and on replay, announces it, and restores it', async () => {
    const live = await TestConsumer.connect(relay.wsUrl);
    const target = await pds.createAccount();
    const other = await pds.createAccount();
    for (let i = 0; i < 3; i++) {
      await pds.createRecord(target, `t${i}`);
      await pds.createRecord(other, `o${i}`);
    }
    await live.waitFor((c) => c.events.length === 12, 10_000, 'first events');

    const down = await cli(['accounts', 'takedown', target.did]);
    expect(down.output).toContain(`${target.did}: inactive (takendown)`);
    await live.waitFor((c) => c.events.length === 13, 10_000, 'takedown announcement');
    expect(live.events.at(-1)).toMatchObject({ t: '#account', body: { did: target.did, active: false, status: 'takendown' } });
    const status = await (await fetch(`${relay.url}/xrpc/com.atproto.sync.getRepoStatus?did=${target.did}`)).json();
    expect(status).toEqual({ did: target.did, active: false, status: 'takendown' });

    // New commits of the account are dropped; others flow.
    const before = await metricValue(relay.metricsUrl, 'relay_events_rejected_total{reason="account_inactive"}');
    await pds.createRecord(target, 'while down');
    await pds.createRecord(other, 'other while down');
    await live.waitFor((c) => commitsOf(c, other.did) === 4, 10_000, 'other account');
    await eventually(async () => (await metricValue(relay.metricsUrl, 'relay_events_rejected_total{reason="account_inactive"}')) === before + 1, 10_000, 'drop counted');
    expect(commitsOf(live, target.did)).toBe(3);

    // Replay leaves out the account's earlier commits too, but keeps its #account events.
    const replay = await TestConsumer.connect(relay.wsUrl, 0);
    await replay.waitFor((c) => c.lastSeq === live.lastSeq, 10_000, 'replay');
    expect(commitsOf(replay, target.did)).toBe(0);
    expect(commitsOf(replay, other.did)).toBe(4);
    expect(replay.events.some((e) => e.t === '#account' && e.body.status === 'takendown')).toBe(true);
    replay.close();

    // Restore: announced, replay serves the old commits again, new commits flow.
    expect((await cli(['accounts', 'restore', target.did])).output).toContain(`${target.did}: active`);
    await live.waitFor((c) => c.events.some((e) => e.t === '#account' && e.body.did === target.did && e.body.active === true && e.seq > 13), 10_000, 'restore announcement');
    await pds.createRecord(target, 'after restore');
    await live.waitFor((c) => commitsOf(c, target.did) === 4, 10_000, 'commit after restore');
    const again = await TestConsumer.connect(relay.wsUrl, 0);
    await again.waitFor((c) => c.lastSeq === live.lastSeq, 10_000, 'replay after restore');
    expect(commitsOf(again, target.did)).toBe(4);
    again.close();
    live.close();

    expect((await cli(['accounts', 'takedown', 'did:plc:'])).output).toContain('InvalidRequest: did:plc: is not a valid DID');
  });

  it('takes down a DID the relay has never seen: its events are withheld from the first, until restored', async () => {
    const did = randomPlcDid();
    const unknownRestore = await cli(['accounts', 'restore', did]);
    expect(unknownRestore.code).toBe(1);
    expect(unknownRestore.output).toContain(`RepoNotFound: ${did} is not known to this relay`);
    const down = await cli(['accounts', 'takedown', did]);
    expect(down.code, down.output).toBe(0);
    expect(down.output).toContain(`${did}: inactive (takendown)`);

    const live = await TestConsumer.connect(relay.wsUrl);
    const target = await pds.createAccount({ did });
    const marker = await pds.createAccount();
    await pds.createRecord(target, 'first');
    await pds.createRecord(marker, 'after');
    await live.waitFor((c) => commitsOf(c, marker.did) === 1, 10_000, 'the marker commit');
    expect(commitsOf(live, did)).toBe(0);
    const status = await (await fetch(`${relay.url}/xrpc/com.atproto.sync.getRepoStatus?did=${did}`)).json();
    expect(status).toEqual({ did, active: false, status: 'takendown' });

    const up = await cli(['accounts', 'restore', did]);
    expect(up.output).toContain(`${did}: active`);
    await pds.createRecord(target, 'restored');
    await live.waitFor((c) => commitsOf(c, did) === 1, 10_000, 'the commit after restore');
    live.close();
  });

  it('takes down and restores an account by handle, checked both ways', async () => {
    const account = await pds.createAccount();
    txt.set(account.handle, account.did);
    const down = await cli(['accounts', 'takedown', account.handle.toUpperCase()]);
    expect(down.code, down.output).toBe(0);
    expect(down.output).toContain(`${account.did}: inactive (takendown)`);
    const status = await (await fetch(`${relay.url}/xrpc/com.atproto.sync.getRepoStatus?did=${account.did}`)).json();
    expect(status).toMatchObject({ active: false, status: 'takendown' });

    // A handle whose record names the account, but which the account's DID document does not claim, is refused.
    txt.set('impostor.test', account.did);
    const impostor = await cli(['accounts', 'takedown', 'impostor.test']);
    expect(impostor.code).toBe(1);
    expect(impostor.output).toContain(`HandleMismatch: impostor.test names ${account.did}, but its DID document claims ${account.handle}`);
    const nobody = await cli(['accounts', 'takedown', 'nobody.test']);
    expect(nobody.output).toContain('HandleNotFound: nobody.test names no DID');
    const garbage = await cli(['accounts', 'takedown', 'not a handle']);
    expect(garbage.output).toContain('InvalidRequest: not a handle is neither a DID nor a handle');

    const up = await cli(['accounts', 'restore', account.handle]);
    expect(up.output).toContain(`${account.did}: active`);
  });

  it('lists the accounts taken down, with handle, host and since when, filtered and paged, and restored ones leave it', async () => {
    const admin = relayAdmin(relay.url, TEST_ADMIN_PASSWORD);
    const known = await pds.createAccount();
    await pds.createRecord(known, 'seen before its takedown');
    await eventually(async () => ((await (await fetch(`${relay.url}/xrpc/com.atproto.sync.getRepoStatus?did=${known.did}`)).json()) as { rev?: string }).rev === known.repo.rev, 10_000, 'relayed');
    const unseen = randomPlcDid();
    const before = Date.now();
    for (const did of [known.did, unseen]) expect((await cli(['accounts', 'takedown', did])).code).toBe(0);
    // A second takedown keeps the time of the first.
    const first = (await admin(adminApi.listAccounts, { query: { status: 'takendown' } })).accounts.find((a) => a.did === known.did)!;
    await cli(['accounts', 'takedown', known.did]);

    const all = await admin(adminApi.listAccounts, { query: { status: 'takendown' } });
    expect(all.total).toBe(2);
    expect(all.accounts.map((a) => a.did)).toEqual([known.did, unseen].sort());
    const row = all.accounts.find((a) => a.did === known.did)!;
    expect(row).toMatchObject({ handle: known.handle, hostname: pds.hostname, throttle: null, takenDownAt: first.takenDownAt });
    expect(Date.parse(row.takenDownAt!)).toBeGreaterThanOrEqual(before - 1000);
    expect(all.accounts.find((a) => a.did === unseen)).toMatchObject({ handle: null, hostname: null });

    // By host, by a part of the handle, one page at a time.
    expect((await admin(adminApi.listAccounts, { query: { status: 'takendown', host: pds.hostname } })).accounts.map((a) => a.did)).toEqual([known.did]);
    expect((await admin(adminApi.listAccounts, { query: { status: 'takendown', q: known.handle.split('.')[0]!.toUpperCase() } })).accounts.map((a) => a.did)).toEqual([known.did]);
    const page2 = await admin(adminApi.listAccounts, { query: { status: 'takendown', offset: 1, limit: 1 } });
    expect(page2).toMatchObject({ total: 2, offset: 1, limit: 1 });
    expect(page2.accounts.map((a) => a.did)).toEqual([[known.did, unseen].sort()[1]]);
    expect(await admin(adminApi.listAccounts, { query: { status: 'takendown', offset: 5 } })).toMatchObject({ accounts: [], total: 2 });
    await expect(admin(adminApi.listAccounts, { query: { status: 'takendown', host: 'nowhere.example.com' } })).rejects.toThrow('HostNotFound');
    const bad = await fetch(`${relay.url}/admin/accounts?status=gone`, { headers: { authorization: `Bearer ${TEST_ADMIN_PASSWORD}` } });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: 'InvalidRequest' });

    // The CLI reads every page.
    const listed = await cli(['accounts', 'list', '--taken-down']);
    expect(listed.code, listed.output).toBe(0);
    expect(listed.output).toMatch(new RegExp(`${known.did}\\s+${known.handle.replace(/\./g, '\\.')}\\s+${pds.hostname.replace(/\./g, '\\.')}\\s+${row.takenDownAt}`));
    expect(listed.output).toContain(unseen);
    const byHost = await cli(['accounts', 'list', '--host', pds.hostname, '--json']);
    expect((JSON.parse(byHost.output) as { accounts: Array<{ did: string }> }).accounts.map((a) => a.did)).toEqual([known.did]);
    expect((await cli(['accounts', 'list', '--throttled'])).output).toContain('(no throttled accounts)');

    for (const did of [known.did, unseen]) await cli(['accounts', 'restore', did]);
    expect((await cli(['accounts', 'list'])).output).toContain('(no accounts taken down)');
  });
});
