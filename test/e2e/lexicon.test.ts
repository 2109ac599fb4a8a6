// The relay's public interface checked against the official lexicons (the JSON schemas shipped in @atproto/api):
// every sync endpoint's output validates, every error the lexicon declares is returned in its case, and every
// firehose message validates against subscribeRepos' message union.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lexicons } from '@atproto/api';
import * as dagCbor from '@ipld/dag-cbor';
import { encode } from '@atcute/cbor';
import { startWorld, type World } from '../helpers/world.ts';
import type { FakeAccount, FakePds } from '../../dev-env/fake-pds.ts';
import { adminPost, requestCrawl, type TestRelay } from '../helpers/relay.ts';
import { TestConsumer } from '../helpers/consumer.ts';

let world: World;
let pds: FakePds;
let relay: TestRelay;
let consumer: TestConsumer;
const accounts: Record<'active' | 'takendown' | 'suspended' | 'deactivated' | 'deleted', FakeAccount> = {} as never;

async function get(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${relay.url}/xrpc/${path}`, { redirect: 'manual' });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

/** The error names a method's lexicon declares. */
function declaredErrors(nsid: string): string[] {
  const def = lexicons.getDefOrThrow(nsid) as { errors?: Array<{ name: string }> };
  return (def.errors ?? []).map((e) => e.name);
}

/** Calls a query and checks its output against the lexicon; returns the body. */
async function validQuery(nsid: string, params: string): Promise<Record<string, unknown>> {
  const res = await get(`${nsid}?${params}`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  lexicons.assertValidXrpcOutput(nsid, res.body);
  return res.body;
}

/** Calls a query that must fail with a lexicon-declared error. */
async function declaredError(nsid: string, params: string, error: string, status: number): Promise<void> {
  expect(declaredErrors(nsid)).toContain(error);
  const res = await get(`${nsid}?${params}`);
  expect(res).toMatchObject({ status, body: { error } });
  expect(typeof res.body.message).toBe('string');
}

beforeAll(async () => {
  world = await startWorld();
  ({ relay } = world);
  pds = world.hosts[0]!;
  consumer = await TestConsumer.connect(relay.wsUrl);
  for (const name of ['active', 'takendown', 'suspended', 'deactivated', 'deleted'] as const) {
    accounts[name] = await pds.createAccount({ curve: name === 'suspended' ? 'p256' : 'k256' });
    await pds.createRecord(accounts[name], `post by ${name}`);
  }
  // Every op action appears on the stream.
  const record = { collection: 'app.bsky.feed.post', rkey: '3kabcdefghij2' };
  await pds.writeRecords(accounts.active, [{ action: 'create', ...record, record: { text: 'v1', createdAt: new Date().toISOString() } }]);
  await pds.writeRecords(accounts.active, [{ action: 'update', ...record, record: { text: 'v2', createdAt: new Date().toISOString() } }]);
  await pds.writeRecords(accounts.active, [{ action: 'delete', ...record }]);
  pds.setAccountStatus(accounts.suspended, false, 'suspended');
  pds.setAccountStatus(accounts.deactivated, false, 'deactivated');
  pds.setAccountStatus(accounts.deleted, false, 'deleted');
  const inactive = (c: TestConsumer) => c.events.filter((e) => e.t === '#account' && e.body.active === false).length;
  await consumer.waitFor((c) => inactive(c) === 3, 10_000, 'status changes');
  expect((await adminPost(relay.url, `/admin/accounts/${accounts.takendown.did}/takedown`, {})).status).toBe(200);
  await consumer.waitFor((c) => inactive(c) === 4, 10_000, 'takedown');
});

afterAll(async () => {
  consumer?.close();
  await world?.close();
});

describe('lexicon conformance', () => {
  it('listRepos and listHosts output validates, on every page', async () => {
    let cursor: string | undefined;
    const dids: string[] = [];
    do {
      const body = await validQuery('com.atproto.sync.listRepos', `limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      dids.push(...(body.repos as Array<{ did: string }>).map((r) => r.did));
      cursor = body.cursor as string | undefined;
    } while (cursor);
    expect(dids.sort()).toEqual(Object.values(accounts).map((a) => a.did).sort());
    const hosts = await validQuery('com.atproto.sync.listHosts', 'limit=1');
    expect(hosts.hosts).toEqual([expect.objectContaining({ hostname: pds.hostname, status: 'active' })]);
  });

  it('listReposByCollection output validates on every page, lists only active repos, and refuses bad params', async () => {
    const nsid = 'com.atproto.sync.listReposByCollection';
    let cursor: string | undefined;
    const dids: string[] = [];
    do {
      const body = await validQuery(nsid, `collection=app.bsky.feed.post&limit=1${cursor ? `&cursor=${cursor}` : ''}`);
      dids.push(...(body.repos as Array<{ did: string }>).map((r) => r.did));
      cursor = body.cursor as string | undefined;
    } while (cursor);
    // Every account posted; only the active one may be listed.
    expect(dids).toEqual([accounts.active.did]);
    expect((await validQuery(nsid, 'collection=com.example.none')).repos).toEqual([]);
    lexicons.assertValidXrpcParams(nsid, { collection: 'app.bsky.feed.post', limit: 2000 });
    for (const params of ['collection=nope', 'collection=app.bsky.feed.post&limit=2001', 'collection=app.bsky.feed.post&limit=0']) {
      const res = await get(`${nsid}?${params}`);
      expect(res, params).toMatchObject({ status: 400, body: { error: 'InvalidRequest' } });
      // What the relay refuses, the lexicon refuses too.
      const q = Object.fromEntries(new URLSearchParams(params));
      expect(() => lexicons.assertValidXrpcParams(nsid, { ...q, ...(q.limit ? { limit: Number(q.limit) } : {}) }), params).toThrow();
    }
  });

  it('getRepoStatus validates for every status, and answers RepoNotFound', async () => {
    for (const [name, account] of Object.entries(accounts)) {
      const body = await validQuery('com.atproto.sync.getRepoStatus', `did=${account.did}`);
      expect(body.active).toBe(name === 'active');
      if (name !== 'active') expect(body.status).toBe(name);
    }
    await declaredError('com.atproto.sync.getRepoStatus', 'did=did:plc:aaaaaaaaaaaaaaaaaaaaaaaa', 'RepoNotFound', 404);
  });

  it('getLatestCommit and getRepo validate, and answer each declared error in its case', async () => {
    await validQuery('com.atproto.sync.getLatestCommit', `did=${accounts.active.did}`);
    const redirect = await get(`com.atproto.sync.getRepo?did=${accounts.active.did}`);
    expect(redirect.status).toBe(302);
    for (const nsid of ['com.atproto.sync.getLatestCommit', 'com.atproto.sync.getRepo']) {
      await declaredError(nsid, 'did=did:plc:aaaaaaaaaaaaaaaaaaaaaaaa', 'RepoNotFound', 404);
      await declaredError(nsid, `did=${accounts.takendown.did}`, 'RepoTakendown', 403);
      await declaredError(nsid, `did=${accounts.suspended.did}`, 'RepoSuspended', 403);
      await declaredError(nsid, `did=${accounts.deactivated.did}`, 'RepoDeactivated', 403);
      // A deleted account has no lexicon error of its own: there is nothing to serve.
      await declaredError(nsid, `did=${accounts.deleted.did}`, 'RepoNotFound', 404);
    }
  });

  it('getHostStatus validates and answers HostNotFound', async () => {
    const body = await validQuery('com.atproto.sync.getHostStatus', `hostname=${pds.hostname}`);
    expect(body.hostname).toBe(pds.hostname);
    await declaredError('com.atproto.sync.getHostStatus', 'hostname=nowhere.example.com', 'HostNotFound', 404);
  });

  it('requestCrawl input validates and a banned host gets HostBanned', async () => {
    lexicons.assertValidXrpcInput('com.atproto.sync.requestCrawl', { hostname: pds.hostname });
    expect((await adminPost(relay.url, `/admin/hosts/${encodeURIComponent(pds.hostname)}/ban`, {})).status).toBe(200);
    const res = await requestCrawl(relay.url, pds.hostname);
    expect(declaredErrors('com.atproto.sync.requestCrawl')).toContain('HostBanned');
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'HostBanned' });
    expect((await adminPost(relay.url, `/admin/hosts/${encodeURIComponent(pds.hostname)}/unban`, {})).status).toBe(200);
  });

  it('every firehose message validates against the subscribeRepos message union', async () => {
    const replay = await TestConsumer.connect(relay.wsUrl, 0);
    await replay.waitFor((c) => c.lastSeq === consumer.lastSeq, 10_000, 'replay of the window');
    replay.close();
    const kinds = new Set<string>();
    for (const { frame, bytes } of [...consumer.frames, ...replay.frames]) {
      if (frame.op !== 1) continue;
      // Re-read the body with the reference decoder so CIDs and bytes have the types the validator expects.
      const headerLength = encode({ t: frame.t, op: 1 }).length;
      const body = dagCbor.decode<Record<string, unknown>>(bytes.subarray(headerLength));
      lexicons.assertValidXrpcMessage('com.atproto.sync.subscribeRepos', {
        $type: `com.atproto.sync.subscribeRepos${frame.t}`,
        ...body,
      });
      kinds.add(frame.t);
    }
    expect([...kinds].sort()).toEqual(['#account', '#commit', '#identity', '#sync']);
    expect(declaredErrors('com.atproto.sync.subscribeRepos')).toEqual(['FutureCursor', 'ConsumerTooSlow']);
  });
});
