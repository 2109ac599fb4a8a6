// The sync query endpoints, answered from what the relay has accepted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorld, type World } from '../helpers/world.ts';
import type { FakePds, FakeAccount } from '../../dev-env/fake-pds.ts';
import { cidToString } from '../../src/protocol/cid.ts';
import type { TestRelay } from '../helpers/relay.ts';
import { TestConsumer } from '../helpers/consumer.ts';
import { admitHost } from '../../src/storage/hosts.ts';

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
    // In the order the relay first recorded them (first-seen accounts are resolved concurrently: either may be first).
    const repos = all.body.repos as Array<{ did: string }>;
    expect([...repos].sort((a, b) => a.did.localeCompare(b.did))).toEqual(
      [
        { did: alice.did, head: cidToString(alice.repo.head!), rev: alice.repo.rev, active: true },
        { did: bob.did, head: cidToString(bob.repo.head!), rev: bob.repo.rev, active: true },
      ].sort((a, b) => a.did.localeCompare(b.did)),
    );
    expect(all.body.cursor).toBeUndefined();
    const page1 = await get('com.atproto.sync.listRepos?limit=1');
    expect((page1.body.repos as unknown[]).length).toBe(1);
    const page2 = await get(`com.atproto.sync.listRepos?limit=1&cursor=${String(page1.body.cursor)}`);
    expect((page1.body.repos as Array<{ did: string }>)[0]!.did).toBe(repos[0]!.did);
    expect((page2.body.repos as Array<{ did: string }>)[0]!.did).toBe(repos[1]!.did);
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

  it('pagination is stable while accounts and hosts are added', async () => {
    let step = 0;
    /** One round of writes, finished (accepted by the relay) before the next page is asked for. */
    async function write(): Promise<void> {
      const i = step++;
      const account = await pds.createAccount();
      await pds.createRecord(account, `concurrent ${i}`);
      // Existing accounts change too: a new commit must not move an account in the listing.
      await pds.createRecord(alice, `alice again ${i}`);
      // A host row as admission writes it (these names answer nothing, so the admission checks would refuse them).
      await admitHost(relay.relay.ctx.database.db, `localhost:${10 + i}`);
      for (let tries = 0; (await get(`com.atproto.sync.getRepoStatus?did=${account.did}`)).status !== 200; tries++) {
        if (tries > 200) throw new Error(`${account.did} never reached the relay`);
        await new Promise((r) => setTimeout(r, 25));
      }
    }
    /** Pages through a list one entry at a time with writes in between; returns every key seen. */
    async function pageAll(nsid: string, field: 'repos' | 'hosts', key: 'did' | 'hostname'): Promise<string[]> {
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await get(`${nsid}?limit=1${cursor ? `&cursor=${cursor}` : ''}`);
        expect(page.status).toBe(200);
        seen.push(...(page.body[field] as Array<Record<string, string>>).map((r) => r[key]!));
        cursor = page.body.cursor as string | undefined;
        if (cursor && step < 6) await write();
      } while (cursor);
      return seen;
    }
    const reposBefore = ((await get('com.atproto.sync.listRepos?limit=1000')).body.repos as Array<{ did: string }>).map((r) => r.did);
    const hostsBefore = ((await get('com.atproto.sync.listHosts?limit=1000')).body.hosts as Array<{ hostname: string }>).map((h) => h.hostname);
    const repos = await pageAll('com.atproto.sync.listRepos', 'repos', 'did');
    const hosts = await pageAll('com.atproto.sync.listHosts', 'hosts', 'hostname');
    expect(step).toBeGreaterThan(1);
    for (const [seen, before] of [[repos, reposBefore], [hosts, hostsBefore]] as const) {
      // Nothing listed twice, everything that existed before paging began listed, and what was added meanwhile too
      // (it sorts after the pages already read).
      expect(new Set(seen).size).toBe(seen.length);
      for (const k of before) expect(seen).toContain(k);
      expect(seen.length).toBeGreaterThan(before.length);
    }
  });
});
