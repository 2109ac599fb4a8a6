// com.atproto.sync.listReposByCollection over real sockets and PostgreSQL, through a fake PDS with real repos: the
// repo sets per collection follow every commit (a repo leaves a collection with its last record, not before),
// inactive accounts drop out and come back, paging visits each repo once while repos are added, and bad input gets
// XRPC errors. A delete whose proof does not settle it is asked of the PDS. The same through @atproto/api.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AtpAgent } from '@atproto/api';
import { BytesWrapper } from '@atcute/cbor';
import { startWorld, type World } from '../helpers/world.ts';
import { FakePds, type FakeAccount } from '../../dev-env/fake-pds.ts';
import { adminPost, crawlAndConnect, metricValue, type TestRelay } from '../helpers/relay.ts';
import { eventually } from '../helpers/consumer.ts';
import { readCar, writeCar } from '../../src/protocol/car.ts';
import { cidEquals } from '../../src/protocol/cid.ts';
import { collectionsOf } from '../../src/storage/collections.ts';

const POST = 'app.bsky.feed.post';
const LIKE = 'app.bsky.feed.like';
const FOLLOW = 'app.bsky.graph.follow';

let world: World;
let pds: FakePds;
let relay: TestRelay;
let rkeyCounter = 0;
const rkey = () => `r${rkeyCounter++}`;

async function list(params: string): Promise<{ status: number; body: { repos?: Array<{ did: string }>; cursor?: string; error?: string; message?: string } }> {
  const res = await fetch(`${relay.url}/xrpc/com.atproto.sync.listReposByCollection?${params}`);
  return { status: res.status, body: (await res.json()) as never };
}

/** Every DID listed for the params, page by page. */
async function all(params: string, limit = 500): Promise<string[]> {
  const out: string[] = [];
  let cursor: string | undefined;
  do {
    const { status, body } = await list(`${params}&limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
    expect(status, JSON.stringify(body)).toBe(200);
    out.push(...body.repos!.map((r) => r.did));
    cursor = body.cursor;
  } while (cursor);
  return out;
}

const sorted = (dids: string[]) => [...dids].sort();

/** Waits until the relay has committed the account's newest commit, and every look-up it caused is answered. */
async function synced(...accounts: FakeAccount[]): Promise<void> {
  for (const a of accounts) {
    await eventually(async () => {
      const res = await fetch(`${relay.url}/xrpc/com.atproto.sync.getLatestCommit?did=${a.did}`);
      return res.ok && ((await res.json()) as { rev: string }).rev === a.repo.rev;
    }, 10_000, `${a.did} at ${a.repo.rev}`);
  }
  await relay.relay.ctx.lookups.idle();
}

async function write(account: FakeAccount, ops: Array<{ action: 'create' | 'delete'; collection: string; rkey: string }>): Promise<void> {
  await pds.writeRecords(account, ops.map((o) => (o.action === 'create' ? { ...o, record: { createdAt: new Date().toISOString() } } : o)));
}

let alice: FakeAccount;
let bob: FakeAccount;
let carol: FakeAccount;
const aliceLikes = [rkey(), rkey()];

beforeAll(async () => {
  // The host stays lenient (a commit with a stripped proof is let through, counted), and look-ups are not held back.
  world = await startWorld({ config: { syncRatchetCommits: 1_000_000, collectionLookupsPerMinute: 60_000 } });
  ({ relay } = world);
  pds = world.hosts[0]!;
  alice = await pds.createAccount();
  bob = await pds.createAccount();
  carol = await pds.createAccount();
  await write(alice, [
    { action: 'create', collection: POST, rkey: rkey() },
    { action: 'create', collection: LIKE, rkey: aliceLikes[0]! },
  ]);
  await write(alice, [{ action: 'create', collection: LIKE, rkey: aliceLikes[1]! }]);
  await write(bob, [{ action: 'create', collection: POST, rkey: rkey() }]);
  await write(carol, [{ action: 'create', collection: FOLLOW, rkey: rkey() }]);
  await synced(alice, bob, carol);
});

afterAll(async () => {
  await world?.close();
});

describe('listReposByCollection', () => {
  it('lists exactly the repos holding each collection, none for an unknown one', async () => {
    expect(sorted(await all(`collection=${POST}`))).toEqual(sorted([alice.did, bob.did]));
    expect(await all(`collection=${LIKE}`)).toEqual([alice.did]);
    expect(await all(`collection=${FOLLOW}`)).toEqual([carol.did]);
    expect(await list('collection=com.example.nothing.here')).toEqual({ status: 200, body: { repos: [] } });
  });

  it('repeated collections list a repo holding any of them once; none lists every active repo', async () => {
    expect(sorted(await all(`collection=${LIKE}&collection=${FOLLOW}`))).toEqual(sorted([alice.did, carol.did]));
    expect(sorted(await all(`collection=${POST}&collection=${LIKE}`, 1))).toEqual(sorted([alice.did, bob.did]));
    expect(sorted(await all(`collection=${POST}&collection=${POST}`))).toEqual(sorted([alice.did, bob.did]));
    const everyone = await all('');
    expect(sorted(everyone)).toEqual(sorted([...pds.accounts.keys()]));
  });

  it('drops a repo from a collection on its last delete, not on an earlier one', async () => {
    await write(alice, [{ action: 'delete', collection: LIKE, rkey: aliceLikes[0]! }]);
    await synced(alice);
    expect(await all(`collection=${LIKE}`)).toEqual([alice.did]);
    await write(alice, [{ action: 'delete', collection: LIKE, rkey: aliceLikes[1]! }]);
    await synced(alice);
    expect(await all(`collection=${LIKE}`)).toEqual([]);
    expect(sorted(await all(`collection=${POST}`))).toEqual(sorted([alice.did, bob.did]));
    // And back with a new first record.
    const again = rkey();
    await write(alice, [{ action: 'create', collection: LIKE, rkey: again }]);
    await synced(alice);
    expect(await all(`collection=${LIKE}`)).toEqual([alice.did]);
    await write(alice, [{ action: 'delete', collection: LIKE, rkey: again }]);
    await synced(alice);
    expect(await all(`collection=${LIKE}`)).toEqual([]);
  });

  it('asks the PDS when the commit does not show whether the last record went', async () => {
    const dave = await pds.createAccount();
    const keep = [rkey(), rkey()];
    await write(dave, keep.map((k) => ({ action: 'create' as const, collection: FOLLOW, rkey: k })));
    await synced(dave);
    expect(sorted(await all(`collection=${FOLLOW}`))).toEqual(sorted([carol.did, dave.did]));
    const asked = pds.requests.get('com.atproto.repo.describeRepo') ?? 0;
    const applied = await metricValue(relay.metricsUrl, 'relay_collection_lookups_total{outcome="applied"}');
    // Deletes of both follows, with the MST nodes left out of the slice: nothing shows what is left (the lenient host's
    // commit passes, counted as a warning).
    const strip = (body: Record<string, unknown>) => {
      const car = readCar((body.blocks as BytesWrapper).buf);
      const root = car.roots[0]!;
      const commitOnly = [...car.blocks.entries()].filter(({ cid }) => cidEquals(cid, root));
      body.blocks = new BytesWrapper(writeCar([root], commitOnly));
    };
    await pds.writeRecords(dave, keep.map((k) => ({ action: 'delete' as const, collection: FOLLOW, rkey: k })), { tamper: strip });
    await synced(dave);
    expect(pds.requests.get('com.atproto.repo.describeRepo') ?? 0).toBeGreaterThan(asked);
    expect(await metricValue(relay.metricsUrl, 'relay_collection_lookups_total{outcome="applied"}')).toBeGreaterThan(applied);
    expect(await all(`collection=${FOLLOW}`)).toEqual([carol.did]);
  });

  it('leaves out a taken-down or deactivated account, and lists it again once active', async () => {
    expect((await adminPost(relay.url, `/admin/accounts/${bob.did}/takedown`, {})).status).toBe(200);
    expect(await all(`collection=${POST}`)).toEqual([alice.did]);
    expect(await all('')).not.toContain(bob.did);
    expect((await adminPost(relay.url, `/admin/accounts/${bob.did}/restore`, {})).status).toBe(200);
    expect(sorted(await all(`collection=${POST}`))).toEqual(sorted([alice.did, bob.did]));

    pds.setAccountStatus(bob, false, 'deactivated');
    await eventually(async () => !(await all(`collection=${POST}`)).includes(bob.did), 10_000, 'deactivation');
    pds.setAccountStatus(bob, true);
    await eventually(async () => (await all(`collection=${POST}`)).includes(bob.did), 10_000, 'reactivation');
  });

  it('drops a deleted account from every collection', async () => {
    const erin = await pds.createAccount();
    await write(erin, [{ action: 'create', collection: POST, rkey: rkey() }, { action: 'create', collection: LIKE, rkey: rkey() }]);
    await synced(erin);
    expect(await all(`collection=${LIKE}`)).toContain(erin.did);
    pds.setAccountStatus(erin, false, 'deleted');
    await eventually(async () => !(await all(`collection=${POST}&collection=${LIKE}`)).includes(erin.did), 10_000, 'deletion');
    // Its entries are gone, not only hidden.
    expect(await collectionsOf(relay.relay.ctx.database.db, erin.did)).toEqual([]);
  });

  it('keeps a repo that moved to another host, described by the new host, and follows it there', async () => {
    const other = await FakePds.start({ plc: world.plc });
    try {
      await crawlAndConnect(relay, other.hostname);
      const frank = await pds.createAccount();
      const like = rkey();
      await write(frank, [{ action: 'create', collection: LIKE, rkey: like }, { action: 'create', collection: POST, rkey: rkey() }]);
      await synced(frank);
      const asked = other.requests.get('com.atproto.repo.describeRepo') ?? 0;
      pds.migrateAccount(frank, other);
      await eventually(async () => (other.requests.get('com.atproto.repo.describeRepo') ?? 0) > asked, 10_000, 'the new host asked');
      await synced(frank);
      expect(await all(`collection=${LIKE}`)).toContain(frank.did);
      // Its commits at the new host keep the index right.
      await other.writeRecords(frank, [{ action: 'delete', collection: LIKE, rkey: like }]);
      await synced(frank);
      expect(await all(`collection=${LIKE}`)).not.toContain(frank.did);
      expect(await all(`collection=${POST}`)).toContain(frank.did);
    } finally {
      await other.close();
    }
  });

  it('pages with limit=1 visit each repo once while new repos are added', async () => {
    const initial = sorted(await all(`collection=${POST}`));
    const seen: string[] = [];
    const added: string[] = [];
    let cursor: string | undefined;
    do {
      const { status, body } = await list(`collection=${POST}&limit=1${cursor ? `&cursor=${cursor}` : ''}`);
      expect(status).toBe(200);
      expect(body.repos!.length).toBeLessThanOrEqual(1);
      seen.push(...body.repos!.map((r) => r.did));
      cursor = body.cursor;
      if (added.length < 3) {
        const fresh = await pds.createAccount();
        await write(fresh, [{ action: 'create', collection: POST, rkey: rkey() }]);
        await synced(fresh);
        added.push(fresh.did);
      }
    } while (cursor);
    expect(new Set(seen).size).toBe(seen.length);
    for (const did of initial) expect(seen).toContain(did);
    // Repos added during the walk come after every earlier one, so the walk reaches them too.
    for (const did of added) expect(seen).toContain(did);
  });

  it('answers bad input with XRPC errors', async () => {
    for (const params of ['collection=not-an-nsid', 'collection=app.bsky', `collection=${POST}&limit=0`, `collection=${POST}&limit=2001`,
      `collection=${POST}&limit=ten`, `collection=${POST}&limit=1&limit=2`, `collection=${POST}&cursor=abc`, `collection=${POST}&cursor=-1`,
      Array.from({ length: 21 }, (_, i) => `collection=com.example.c${i}`).join('&')]) {
      const res = await list(params);
      expect(res.status, params).toBe(400);
      expect(res.body.error, params).toBe('InvalidRequest');
      expect(typeof res.body.message).toBe('string');
    }
    expect((await list(`collection=${POST}&limit=2000`)).status).toBe(200);
  });

  it('serves the official client', async () => {
    const agent = new AtpAgent({ service: relay.url });
    const dids: string[] = [];
    let cursor: string | undefined;
    do {
      const res = await agent.com.atproto.sync.listReposByCollection({ collection: POST, limit: 2, cursor });
      dids.push(...res.data.repos.map((r) => r.did));
      cursor = res.data.cursor;
    } while (cursor);
    expect(sorted(dids)).toEqual(sorted(await all(`collection=${POST}`)));
    expect(dids).toContain(alice.did);
  });

  it('shows the index size on /metrics', async () => {
    expect(await metricValue(relay.metricsUrl, 'relay_collection_index_entries')).toBeGreaterThan(5);
    expect(await metricValue(relay.metricsUrl, 'relay_collection_index_bytes')).toBeGreaterThan(0);
  });
});

describe('listReposByCollection and throttled accounts', () => {
  let w: World;
  afterAll(async () => {
    await w?.close();
  });

  it('leaves out an account throttled for lack of a slot, whose withheld commits still move the index, until released', async () => {
    w = await startWorld({ config: { hostAccountLimit: 1, collectionLookupsPerMinute: 60_000 } });
    const host = w.hosts[0]!;
    const url = `${w.relay.url}/xrpc/com.atproto.sync.listReposByCollection`;
    const listed = async (collection: string) => ((await (await fetch(`${url}?collection=${collection}`)).json()) as { repos: Array<{ did: string }> }).repos.map((r) => r.did);
    const first = await host.createAccount();
    await host.writeRecords(first, [{ action: 'create', collection: POST, rkey: 'a', record: {} }]);
    await eventually(async () => (await listed(POST)).includes(first.did), 10_000, 'first account listed');
    const second = await host.createAccount();
    await host.writeRecords(second, [{ action: 'create', collection: POST, rkey: 'a', record: {} }, { action: 'create', collection: LIKE, rkey: 'b', record: {} }]);
    // Withheld, but verified: its repo state (and with it the index) moves on.
    await eventually(async () => {
      const res = await fetch(`${w.relay.url}/xrpc/com.atproto.sync.getRepoStatus?did=${second.did}`);
      return ((await res.json()) as { status?: string }).status === 'throttled';
    }, 10_000, 'second account throttled');
    await eventually(async () => (await collectionsOf(w.relay.relay.ctx.database.db, second.did)).length === 2, 10_000, 'its entries written');
    expect(await listed(POST)).toEqual([first.did]);
    expect(await listed(LIKE)).toEqual([]);
    const raised = await adminPost(w.relay.url, `/admin/hosts/${encodeURIComponent(host.hostname)}/limits`, { accountLimit: 2 });
    expect(raised.status).toBe(200);
    await eventually(async () => (await listed(LIKE)).includes(second.did), 15_000, 'released account listed');
    expect((await listed(POST)).sort()).toEqual([first.did, second.did].sort());
  });
});
