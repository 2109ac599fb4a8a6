// The sync query endpoints, answered from what the relay has accepted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorld, type World } from '../helpers/world.ts';
import type { FakePds, FakeAccount } from '../fixture/fake-pds.ts';
import { cidToString } from '../../src/protocol/cid.ts';
import type { TestRelay } from '../helpers/relay.ts';
import { TestConsumer } from '../helpers/consumer.ts';

let world: World;
let pds: FakePds;
let relay: TestRelay;
let alice: FakeAccount;
let bob: FakeAccount;

async function get(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${relay.url}/xrpc/${path}`, { redirect: 'manual' });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : { location: res.headers.get('location') } };
}

beforeAll(async () => {
  world = await startWorld();
  ({ relay } = world);
  pds = world.hosts[0]!;
  const consumer = await TestConsumer.connect(relay.wsUrl);
  alice = await pds.createAccount();
  bob = await pds.createAccount({ curve: 'p256' });
  await pds.createRecord(alice, 'hi');
  await pds.createRecord(bob, 'hello');
  await consumer.waitFor((c) => c.events.filter((e) => e.t === '#commit').length === 2, 10_000, 'commits');
  consumer.close();
});

afterAll(async () => {
  await world?.close();
});

describe('sync endpoints', () => {
  it('listRepos pages through accounts with their head and rev', async () => {
    const all = await get('com.atproto.sync.listRepos');
    expect(all.status).toBe(200);
    expect(all.body.repos).toEqual([
      { did: alice.did, head: cidToString(alice.repo.head!), rev: alice.repo.rev, active: true },
      { did: bob.did, head: cidToString(bob.repo.head!), rev: bob.repo.rev, active: true },
    ]);
    expect(all.body.cursor).toBeUndefined();
    const page1 = await get('com.atproto.sync.listRepos?limit=1');
    expect((page1.body.repos as unknown[]).length).toBe(1);
    const page2 = await get(`com.atproto.sync.listRepos?limit=1&cursor=${String(page1.body.cursor)}`);
    expect((page2.body.repos as Array<{ did: string }>)[0]!.did).toBe(bob.did);
    expect((await get('com.atproto.sync.listRepos?limit=0')).status).toBe(400);
    expect((await get('com.atproto.sync.listRepos?limit=1001')).status).toBe(400);
  });

  it('getRepoStatus, getLatestCommit and getRepo follow the account status', async () => {
    expect((await get(`com.atproto.sync.getRepoStatus?did=${alice.did}`)).body).toEqual({ did: alice.did, active: true, rev: alice.repo.rev });
    expect((await get(`com.atproto.sync.getLatestCommit?did=${alice.did}`)).body).toEqual({
      cid: cidToString(alice.repo.head!),
      rev: alice.repo.rev,
    });
    const redirect = await get(`com.atproto.sync.getRepo?did=${alice.did}`);
    expect(redirect.status).toBe(302);
    expect(redirect.body.location).toBe(`${pds.url}/xrpc/com.atproto.sync.getRepo?did=${encodeURIComponent(alice.did)}`);

    const consumer = await TestConsumer.connect(relay.wsUrl);
    pds.setAccountStatus(bob, false, 'deactivated');
    await consumer.waitFor((c) => c.events.some((e) => e.t === '#account'), 10_000, '#account');
    consumer.close();
    expect((await get(`com.atproto.sync.getRepoStatus?did=${bob.did}`)).body).toEqual({ did: bob.did, active: false, status: 'deactivated' });
    const latest = await get(`com.atproto.sync.getLatestCommit?did=${bob.did}`);
    expect(latest).toMatchObject({ status: 403, body: { error: 'RepoDeactivated' } });
    expect((await get(`com.atproto.sync.getRepo?did=${bob.did}`)).body.error).toBe('RepoDeactivated');
  });

  it('reports unknown and malformed DIDs', async () => {
    expect((await get('com.atproto.sync.getRepoStatus?did=did:plc:unknownunknownunknown')).body.error).toBe('RepoNotFound');
    const bad = await get('com.atproto.sync.getRepoStatus?did=not-a-did');
    expect(bad).toMatchObject({ status: 400, body: { error: 'InvalidRequest' } });
    expect((await get('com.atproto.sync.getRepoStatus')).body.error).toBe('InvalidRequest');
  });

  it('listHosts and getHostStatus describe crawled hosts', async () => {
    const list = await get('com.atproto.sync.listHosts');
    expect(list.body.hosts).toEqual([{ hostname: pds.hostname, seq: pds.seq, accountCount: 2, status: 'active' }]);
    expect((await get(`com.atproto.sync.getHostStatus?hostname=${pds.hostname}`)).body).toEqual({
      hostname: pds.hostname,
      seq: pds.seq,
      accountCount: 2,
      status: 'active',
    });
    expect((await get('com.atproto.sync.getHostStatus?hostname=nowhere.example.com')).body.error).toBe('HostNotFound');
  });
});
