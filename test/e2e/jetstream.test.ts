// The Jetstream-compatible /subscribe: both npm clients receive exactly what their filters select, with records equal
// to what the upstream wrote (decoded here by @ipld/dag-cbor and turned into JSON by @atproto/common-web, not by
// the relay's code); zstd frames decode with the standard dictionary to the same JSON; time cursors replay exactly
// the later messages, then live; options_update, maxMessageSizeBytes, requireHello, takedowns and every bad input.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as dagCbor from '@ipld/dag-cbor';
import { CID } from 'multiformats/cid';
import { ipldToJson } from '@atproto/common-web';
import { BytesWrapper, CidLinkWrapper } from '@atcute/cbor';
import { JetstreamSubscription } from '@atcute/jetstream';
import { Jetstream } from '@skyware/jetstream';
import WebSocket from 'ws';
import { startWorld, type World } from '../helpers/world.ts';
import type { FakeAccount, FakePds } from '../../dev-env/fake-pds.ts';
import { encodeRecord, type RecordOp } from '../../dev-env/repo.ts';
import { adminPost, metricValue, TEST_ADMIN_PASSWORD, type TestRelay } from '../helpers/relay.ts';
import { adminApi } from '../../src/services/contract.ts';
import { relayAdmin } from '../../dev-env/relay-client.ts';
import { eventually } from '../helpers/consumer.ts';
import { JetstreamClient, refusedUpgrade, type JetstreamEvent } from '../helpers/jetstream.ts';

let world: World;
let pds: FakePds;
let relay: TestRelay;

beforeAll(async () => {
  world = await startWorld();
  ({ relay } = world);
  pds = world.hosts[0]!;
});

afterAll(async () => {
  await world?.close();
});

/** What a Jetstream commit message must say of an op we wrote. */
interface Expected {
  did: string;
  operation: string;
  collection: string;
  rkey: string;
  record?: unknown;
  cid?: string;
}

const written: Expected[] = [];

async function write(account: FakeAccount, ops: RecordOp[]): Promise<void> {
  await pds.writeRecords(account, ops);
  for (const op of ops) {
    const e: Expected = { did: account.did, operation: op.action, collection: op.collection, rkey: op.rkey };
    if (op.action !== 'delete') {
      const block = encodeRecord(op.collection, op.record);
      e.record = ipldToJson(dagCbor.decode(block.bytes) as never);
      e.cid = CID.decode(block.cid).toString();
    }
    written.push(e);
  }
}

function asExpected(e: JetstreamEvent): Expected {
  const c = e.commit!;
  const out: Expected = { did: e.did, operation: c.operation, collection: c.collection, rkey: c.rkey };
  if (c.record !== undefined) out.record = c.record;
  if (c.cid !== undefined) out.cid = c.cid;
  return out;
}

const blobCid = encodeRecord('x.y.z', { n: 1 }).cid;
let alice: FakeAccount;
let bob: FakeAccount;
let carol: FakeAccount;
let rkey = 0;
const key = () => `3k${String(rkey++).padStart(11, 'a')}`;

async function writeMixed(): Promise<void> {
  await write(alice, [{ action: 'create', collection: 'app.bsky.feed.post', rkey: key(), record: { text: 'hello', createdAt: new Date().toISOString() } }]);
  // One commit, three ops: three messages with the same rev.
  await write(bob, [
    { action: 'create', collection: 'app.bsky.feed.like', rkey: key(), record: { subject: { uri: 'at://x/y/z', cid: CID.decode(blobCid).toString() }, createdAt: new Date().toISOString() } },
    { action: 'create', collection: 'app.bsky.graph.follow', rkey: key(), record: { subject: alice.did, createdAt: new Date().toISOString() } },
    // Links, bytes and a blob: the atproto JSON data model.
    {
      action: 'create',
      collection: 'com.example.thing',
      rkey: 'self',
      record: { link: new CidLinkWrapper(blobCid), bytes: new BytesWrapper(new Uint8Array([0, 1, 2, 250])), blob: { $type: 'blob', ref: new CidLinkWrapper(blobCid), mimeType: 'image/png', size: 1234 } },
    },
  ]);
  await write(carol, [{ action: 'create', collection: 'app.bsky.feed.post', rkey: 'p1', record: { text: 'carol', createdAt: new Date().toISOString() } }]);
  await write(bob, [{ action: 'update', collection: 'com.example.thing', rkey: 'self', record: { text: 'updated' } }]);
  await write(carol, [{ action: 'delete', collection: 'app.bsky.feed.post', rkey: 'p1' }]);
}

describe('Jetstream /subscribe', () => {
  it('gives both npm clients exactly what their filters select, records as the upstream wrote them', async () => {
    const plain = await JetstreamClient.connect(relay.wsUrl);
    alice = await pds.createAccount({ handle: 'alice.test' });
    bob = await pds.createAccount({ handle: 'bob.test' });
    carol = await pds.createAccount({ handle: 'carol.test' });
    // Each new account's #identity and #account (its #sync is not sent on v1).
    await plain.waitFor((c) => c.events.length === 6, 10_000, 'new accounts');
    // (Accounts are verified concurrently: their events interleave in any order.)
    expect(plain.events.map((e) => e.kind).sort()).toEqual(['account', 'account', 'account', 'identity', 'identity', 'identity']);
    plain.events.length = 0;

    // @atcute/jetstream connects with requireHello and a cursor of now, then sends its filters.
    const atcute: JetstreamEvent[] = [];
    const sub = new JetstreamSubscription({ url: relay.wsUrl, wantedCollections: ['app.bsky.feed.*'] });
    const iterator = sub[Symbol.asyncIterator]();
    void (async () => {
      for (let r = await iterator.next(); !r.done; r = await iterator.next()) atcute.push(r.value as unknown as JetstreamEvent);
    })();
    const skyware: JetstreamEvent[] = [];
    const sky = new Jetstream({ endpoint: `${relay.wsUrl}/subscribe`, wantedDids: [bob.did], wantedCollections: ['com.example.thing'], ws: WebSocket });
    sky.on('commit', (e) => skyware.push(e as unknown as JetstreamEvent));
    sky.on('identity', (e) => skyware.push(e as unknown as JetstreamEvent));
    sky.on('account', (e) => skyware.push(e as unknown as JetstreamEvent));
    const skyOpen = new Promise<void>((r) => sky.once('open', () => r()));
    sky.start();
    await skyOpen;
    // Both are connected and filtering before anything is written.
    await eventually(() => relay.relay.ctx.firehose.consumers.size === 3, 10_000, 'subscribers connected');
    await new Promise((r) => setTimeout(r, 300));

    await writeMixed();
    // A status change and a handle change pass collection filters (consumers purge accounts by them).
    pds.setAccountStatus(bob, false, 'deactivated');
    pds.setAccountStatus(bob, true);
    pds.emitEvent('#identity', { did: bob.did, handle: 'bobby.test', time: new Date().toISOString() });

    const total = written.length + 3;
    await plain.waitFor((c) => c.events.length === total, 15_000, 'unfiltered subscriber');
    expect(plain.commits().map(asExpected)).toEqual(written);
    const byKind = (evs: JetstreamEvent[]) => evs.map((e) => `${e.kind}:${e.did === bob.did ? 'bob' : e.did}`);
    expect(byKind(plain.events.filter((e) => e.kind !== 'commit'))).toEqual(['account:bob', 'account:bob', 'identity:bob']);
    expect(plain.events.find((e) => e.kind === 'identity')!.identity).toMatchObject({ did: bob.did, handle: 'bobby.test' });
    expect(plain.events.find((e) => e.kind === 'account')!.account).toMatchObject({ did: bob.did, active: false, status: 'deactivated' });
    // time_us: strictly increasing and unique; the ops of one commit share its rev, each has its own time.
    const times = plain.events.map((e) => e.time_us);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(new Set(times).size).toBe(times.length);
    const bobOps = plain.commits().filter((e) => e.did === bob.did).slice(0, 3);
    expect(new Set(bobOps.map((e) => e.commit!.rev)).size).toBe(1);
    // Identity and account messages carry the relay's seq, as the firehose has it.
    const seqs = plain.events.filter((e) => e.kind !== 'commit').map((e) => (e.identity ?? e.account)!.seq as number);
    expect(seqs.every((s) => Number.isSafeInteger(s) && s > 0)).toBe(true);

    const wantFeed = written.filter((w) => w.collection.startsWith('app.bsky.feed.'));
    await eventually(() => atcute.filter((e) => e.kind === 'commit').length === wantFeed.length && atcute.length === wantFeed.length + 3, 15_000, '@atcute/jetstream');
    expect(atcute.filter((e) => e.kind === 'commit').map(asExpected)).toEqual(wantFeed);
    const wantSky = written.filter((w) => w.did === bob.did && w.collection === 'com.example.thing');
    await eventually(() => skyware.length === wantSky.length + 3, 15_000, '@skyware/jetstream');
    expect(skyware.filter((e) => e.kind === 'commit').map(asExpected)).toEqual(wantSky);
    expect(skyware.filter((e) => e.kind !== 'commit').map((e) => e.did)).toEqual([bob.did, bob.did, bob.did]);
    // The data model: links, bytes and blobs as the atproto JSON.
    expect(wantSky[0]!.record).toMatchObject({ link: { $link: CID.decode(blobCid).toString() }, bytes: { $bytes: 'AAEC+g' }, blob: { $type: 'blob', ref: { $link: CID.decode(blobCid).toString() } } });

    sky.close();
    // Ends the subscription (its socket closes); the pending next() is left unresolved by the client.
    await iterator.return?.();
    plain.close();
    expect(await metricValue(relay.metricsUrl, 'relay_jetstream_events_sent_total')).toBeGreaterThanOrEqual(total + wantFeed.length + wantSky.length);
  });

  it('sends zstd frames that decode with the standard dictionary to the same JSON, and smaller', async () => {
    const plain = await JetstreamClient.connect(relay.wsUrl);
    const byQuery = await JetstreamClient.connect(relay.wsUrl, 'compress=true');
    const byHeader = await JetstreamClient.connect(relay.wsUrl, '', { 'Socket-Encoding': 'zstd' });
    await write(alice, [{ action: 'create', collection: 'app.bsky.feed.post', rkey: key(), record: { text: 'compressed '.repeat(20), createdAt: new Date().toISOString() } }]);
    for (const c of [plain, byQuery, byHeader]) await c.waitFor((x) => x.events.length === 1, 10_000, 'the post');
    expect(plain.raw[0]!.binary).toBe(false);
    for (const c of [byQuery, byHeader]) {
      expect(c.raw[0]!.binary).toBe(true);
      expect(c.raw[0]!.json).toBe(plain.raw[0]!.json);
      // A zstd frame naming the standard dictionary (frame header: magic, descriptor, dictionary ID).
      expect(c.raw[0]!.bytes.readUInt32LE(0)).toBe(0xfd2fb528);
      expect(c.raw[0]!.bytes.length).toBeLessThan(plain.raw[0]!.bytes.length / 2);
    }
    for (const c of [plain, byQuery, byHeader]) c.close();
  });

  it('replays exactly the messages after a time cursor, then live, with no gap or duplicate', async () => {
    const live = await JetstreamClient.connect(relay.wsUrl);
    await write(carol, [
      { action: 'create', collection: 'app.bsky.feed.post', rkey: key(), record: { text: 'a1', createdAt: new Date().toISOString() } },
      { action: 'create', collection: 'app.bsky.feed.post', rkey: key(), record: { text: 'a2', createdAt: new Date().toISOString() } },
    ]);
    await write(alice, [{ action: 'create', collection: 'app.bsky.feed.post', rkey: key(), record: { text: 'b', createdAt: new Date().toISOString() } }]);
    await live.waitFor((c) => c.events.length === 3, 10_000, 'live');

    // A cursor inside a commit: the rest of its ops, then what follows.
    const mid = await JetstreamClient.connect(relay.wsUrl, `cursor=${live.events[0]!.time_us}`);
    await mid.waitFor((c) => c.events.length === 2, 10_000, 'replay from inside the commit');
    expect(mid.raw.map((r) => r.json)).toEqual(live.raw.slice(1).map((r) => r.json));
    // The oldest cursor starts at the oldest kept message: everything the relay sent, in the same order.
    const all = await JetstreamClient.connect(relay.wsUrl, 'cursor=1');
    await all.waitFor((c) => c.events.at(-1)?.time_us === live.events.at(-1)!.time_us, 10_000, 'full replay');
    expect(all.raw.slice(-3).map((r) => r.json)).toEqual(live.raw.map((r) => r.json));
    expect(all.commits().length).toBeGreaterThanOrEqual(written.length);
    const times = all.events.map((e) => e.time_us);
    expect(new Set(times).size).toBe(times.length);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    // A cursor in the future is the live tail.
    const future = await JetstreamClient.connect(relay.wsUrl, `cursor=${(Date.now() + 3_600_000) * 1000}`);

    // Then live, once each.
    await write(carol, [{ action: 'create', collection: 'app.bsky.feed.post', rkey: key(), record: { text: 'c', createdAt: new Date().toISOString() } }]);
    for (const c of [live, mid, all, future]) await c.waitFor((x) => x.raw.at(-1)?.json.includes('"text":"c"') === true, 10_000, 'live after replay');
    expect(mid.raw.map((r) => r.json)).toEqual(live.raw.slice(1).map((r) => r.json));
    expect(all.raw.slice(-4).map((r) => r.json)).toEqual(live.raw.map((r) => r.json));
    expect(future.events).toHaveLength(1);
    for (const c of [live, mid, all, future]) c.close();
  });

  it('replaces filters with options_update, skips only messages over maxMessageSizeBytes, and waits for hello', async () => {
    const c = await JetstreamClient.connect(relay.wsUrl, 'wantedCollections=app.bsky.feed.post');
    const small = await JetstreamClient.connect(relay.wsUrl, 'maxMessageSizeBytes=1000');
    const hello = await JetstreamClient.connect(relay.wsUrl, 'requireHello=true');
    const post = (text: string) => write(alice, [{ action: 'create', collection: 'app.bsky.feed.post', rkey: key(), record: { text, createdAt: new Date().toISOString() } }]);
    const like = () => write(alice, [{ action: 'create', collection: 'app.bsky.feed.like', rkey: key(), record: { subject: { uri: 'at://a/b/c', cid: CID.decode(blobCid).toString() }, createdAt: new Date().toISOString() } }]);
    // Operators see each subscriber with what it asked for (relay consumers, the console).
    const { consumers } = await relayAdmin(relay.url, TEST_ADMIN_PASSWORD)(adminApi.listConsumers, {});
    expect(consumers.filter((v) => v.kind === 'jetstream').map((v) => [v.filters, v.state])).toEqual([
      ['collections: app.bsky.feed.post', 'live'],
      ['max 1000 B', 'live'],
      ['all', 'hello'],
    ]);
    await like();
    await post('first');
    await c.waitFor((x) => x.events.length === 1, 10_000, 'the post');
    expect(c.events[0]!.commit!.collection).toBe('app.bsky.feed.post');

    c.send({ type: 'options_update', payload: { wantedCollections: ['app.bsky.feed.like'] } });
    // A message of another type is ignored.
    c.send({ type: 'something_else', payload: {} });
    await new Promise((r) => setTimeout(r, 300));
    await post('second');
    await like();
    await c.waitFor((x) => x.events.length === 2, 10_000, 'the like');
    expect(c.events[1]!.commit!.collection).toBe('app.bsky.feed.like');
    c.send({ type: 'options_update', payload: { wantedCollections: [] } });
    await new Promise((r) => setTimeout(r, 300));
    await post('third');
    await c.waitFor((x) => x.events.length === 3, 10_000, 'everything again');
    expect(c.closed).toBeNull();

    // The size cap: a large post is left out, the small ones are not.
    await post('x'.repeat(2000));
    await post('small');
    await small.waitFor((x) => x.raw.some((r) => r.json.includes('"text":"small"')), 10_000, 'small post');
    expect(small.raw.every((r) => r.bytes.length <= 1000)).toBe(true);
    expect(small.raw.filter((r) => r.json.includes('"text":"third"'))).toHaveLength(1);
    expect(small.raw.some((r) => r.json.includes('xxxxxxxx'))).toBe(false);

    // requireHello: nothing until the first options_update, then from there.
    expect(hello.events).toHaveLength(0);
    hello.send({ type: 'options_update', payload: { wantedDids: [alice.did] } });
    await new Promise((r) => setTimeout(r, 300));
    await post('after hello');
    await hello.waitFor((x) => x.events.length === 1, 10_000, 'after hello');
    expect(hello.raw[0]!.json).toContain('after hello');

    // A bad update closes the connection with a reason.
    c.send({ type: 'options_update', payload: { wantedDids: ['not a did'] } });
    await c.waitFor((x) => x.closed !== null, 10_000, 'closed');
    expect(c.closed!.code).toBe(1008);
    expect(c.closed!.reason).toContain('invalid DID');
    hello.send('not json');
    await hello.waitFor((x) => x.closed !== null, 10_000, 'closed');
    expect(hello.closed).toMatchObject({ code: 1008, reason: 'invalid message: message is not JSON' });
    small.close();
  });

  it('refuses bad parameters with an XRPC error before the upgrade', async () => {
    const bad = async (query: string, message: RegExp) => {
      const res = await refusedUpgrade(relay.wsUrl, query);
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ error: 'InvalidRequest' });
      expect((res.body as { message: string }).message).toMatch(message);
    };
    await bad('wantedCollections=not_an_nsid', /invalid collection/);
    await bad('wantedCollections=app.bsky.*.post', /invalid collection/);
    await bad(Array.from({ length: 101 }, (_, i) => `wantedCollections=com.example.c${i}`).join('&'), /at most 100/);
    await bad('wantedDids=alice', /invalid DID/);
    await bad('cursor=yesterday', /cursor/);
    // 100 collections and prefixes are fine.
    const ok = await JetstreamClient.connect(relay.wsUrl, [...Array.from({ length: 99 }, (_, i) => `wantedCollections=com.example.c${i}`), 'wantedCollections=app.bsky.*'].join('&'));
    ok.close();
  });

  it('withholds a taken-down account live and on replay, as the firehose does', async () => {
    const live = await JetstreamClient.connect(relay.wsUrl);
    const res = await adminPost(relay.url, `/admin/accounts/${carol.did}/takedown`, {});
    expect(res.status).toBe(200);
    await live.waitFor((c) => c.events.some((e) => e.kind === 'account' && e.did === carol.did), 10_000, 'takedown announced');
    expect(live.events.at(-1)!.account).toMatchObject({ active: false, status: 'takendown' });
    await write(carol, [{ action: 'create', collection: 'app.bsky.feed.post', rkey: key(), record: { text: 'hidden', createdAt: new Date().toISOString() } }]);
    await write(alice, [{ action: 'create', collection: 'app.bsky.feed.post', rkey: key(), record: { text: 'shown', createdAt: new Date().toISOString() } }]);
    await live.waitFor((c) => c.raw.some((r) => r.json.includes('"text":"shown"')), 10_000, 'other account');
    const replay = await JetstreamClient.connect(relay.wsUrl, 'cursor=1');
    await replay.waitFor((c) => c.raw.some((r) => r.json.includes('"text":"shown"')), 10_000, 'replay');
    for (const c of [live, replay]) {
      expect(c.commits().filter((e) => e.did === carol.did)).toHaveLength(0);
    }
    expect(replay.events.some((e) => e.kind === 'account' && e.did === carol.did && e.account!.status === 'takendown')).toBe(true);
    live.close();
    replay.close();
  });
});
