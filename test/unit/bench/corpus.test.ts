// The realistic bench corpus: repo sizes follow the requested log-uniform range, commits follow the op mix with
// records of the Bluesky app's shapes, and every frame passes the relay's own structure and commit checks
// (signature and MST inversion to prevData), whether an account has its own repo or forks a shared one. The bulk
// import builds exactly the tree that inserting the records one by one does.
import { rmSync } from 'node:fs';
import { BytesWrapper, CidLinkWrapper, decode } from '@atcute/cbor';
import { describe, expect, it } from 'vitest';
import { readCar } from '../../../src/protocol/car.ts';
import { cidToString } from '../../../src/protocol/cid.ts';
import { parseMultikey } from '../../../src/protocol/did-key.ts';
import { decodeFrame, encodeMessageFrame } from '../../../src/protocol/frame.ts';
import { createFastVerifier } from '../../../src/protocol/signature.ts';
import { tidFromParts } from '../../../src/protocol/tid.ts';
import { checkCommitJob } from '../../../src/verify/commit-check.ts';
import { checkStructure } from '../../../src/verify/structure.ts';
import { generateKeypair, multikey } from '../../../dev-env/keys.ts';
import { commitMessageBody, encodeRecord, Repo } from '../../../dev-env/repo.ts';
import { cachedAccounts } from '../../../bench/lib/corpus-cache.ts';
import { corpusFromFlags, fastTid, generateAccounts, Rng, sizeStats, type AccountHistory, type CorpusSpec } from '../../../bench/lib/corpus.ts';

const signatures = createFastVerifier();

/** Runs a commit body through the relay's checks as the verifier does; returns the rejection reason, if any. */
function relayCheck(h: Pick<AccountHistory, 'did' | 'multikey'>, body: Record<string, unknown>, seq: number): string | null {
  const frame = decodeFrame(encodeMessageFrame('#commit', { ...body, seq, time: new Date().toISOString() }));
  if (frame.op !== 1) return 'not a message';
  const s = checkStructure({ t: frame.t, seq, did: h.did, body: frame.body, received: frame.received, frameBytes: 0 });
  if (!s.ok) return s.reason;
  const r = checkCommitJob({ ...s.job!, key: parseMultikey(h.multikey), ...(s.proof ? { proof: s.proof } : {}) }, signatures);
  if (!r.ok) return r.reason;
  if (r.signature !== true) return 'bad signature';
  return r.proof === null ? null : r.proof === undefined ? 'proof not checked' : r.proof === 'no_prev_data' ? 'no prevData' : r.proof.reason;
}

/** Records each create op wrote, read from the commit's CAR slice. */
function createdRecords(body: Record<string, unknown>): Array<{ collection: string; record: Record<string, unknown> }> {
  const car = readCar((body.blocks as BytesWrapper).buf);
  return (body.ops as Array<{ action: string; path: string; cid: CidLinkWrapper | null }>)
    .filter((op) => op.action === 'create')
    .map((op) => ({ collection: op.path.split('/')[0]!, record: decode(car.blocks.get(op.cid!.bytes)!) as Record<string, unknown> }));
}

describe('corpus building blocks', () => {
  it('fastTid encodes as the protocol TID does', () => {
    const rng = new Rng(7);
    for (let i = 0; i < 2000; i++) {
      const micros = Math.floor(Date.now() * 1000 - rng.next() * 3e13);
      const clock = rng.int(1024);
      expect(fastTid(micros, clock)).toBe(tidFromParts(micros, clock));
    }
  });

  it('parses --records as a range or a single size', () => {
    expect(corpusFromFlags(new Map()).records).toEqual({ min: 100, max: 50_000 });
    expect(corpusFromFlags(new Map([['records', '20-35']])).records).toEqual({ min: 20, max: 35 });
    expect(corpusFromFlags(new Map([['records', '5000']])).records).toEqual({ min: 5000, max: 5000 });
    expect(() => corpusFromFlags(new Map([['records', '50-20']]))).toThrow(/1 <= MIN <= MAX/);
  });

  it('imports records into the same tree as creating them one by one, and commits on top of it verify', () => {
    const rng = new Rng(3);
    const records = Array.from({ length: 3000 }, (_, i) => ({
      path: `app.bsky.feed.${rng.chance(0.5) ? 'like' : 'post'}/${fastTid(1.7e15 + i * 7919 + rng.int(5000), 9)}`,
      ...encodeRecord('app.bsky.feed.like', { subject: { uri: `at://did:plc:x/app.bsky.feed.post/${i}`, cid: 'bafy' }, createdAt: '2025-01-01T00:00:00.000Z' }),
    }));
    const key = generateKeypair('k256');
    const bulk = new Repo('did:plc:bulk', key);
    bulk.importRecords('3laaaaaaaaaa2', records);
    const slow = new Repo('did:plc:slow', key);
    for (let i = 0; i < records.length; i += 500) {
      slow.commit(fastTid(1.8e15 + i, 1), records.slice(i, i + 500).map((r) => ({ action: 'create' as const, collection: r.path.split('/')[0]!, rkey: r.path.split('/')[1]!, record: decode(r.bytes) as object })));
    }
    expect(cidToString(bulk.dataCid)).toBe(cidToString(slow.dataCid));
    expect(bulk.fullCar().length).toBeGreaterThan(records.length * 36);
    // A commit on the imported tree carries the proof a verifier needs.
    const [path] = records[1234]!.path.split('/');
    const c = bulk.commit('3lbbbbbbbbbb2', [
      { action: 'delete', collection: path!, rkey: records[1234]!.path.split('/')[1]! },
      { action: 'create', collection: 'app.bsky.feed.like', rkey: '3lbbbbbbbbbb2', record: {} },
    ]);
    expect(c.prevData && cidToString(c.prevData)).toBe(cidToString(slow.dataCid));
    expect(relayCheck({ did: 'did:plc:bulk', multikey: multikey(key) }, commitMessageBody('did:plc:bulk', c), 1)).toBeNull();
  });
});

describe('generated accounts', () => {
  const spec: CorpusSpec = { records: { min: 10, max: 1000 }, seed: 11 };

  it('draws repo sizes log-uniformly from the range', () => {
    const histories = generateAccounts(spec, Array.from({ length: 400 }, () => ({ curve: 'k256' as const, commits: 0 })));
    const sizes = histories.map((h) => h.records);
    expect(Math.min(...sizes)).toBeGreaterThanOrEqual(10);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(1000);
    // Log-uniform: each decade holds about half, and the median sits near the geometric mean (100).
    const low = sizes.filter((n) => n < 100).length / sizes.length;
    expect(low).toBeGreaterThan(0.42);
    expect(low).toBeLessThan(0.58);
    const s = sizeStats(sizes);
    expect(s.p50).toBeGreaterThan(70);
    expect(s.p50).toBeLessThan(140);
    expect(new Set(histories.map((h) => h.did)).size).toBe(400);
    // The #sync announces the imported repo.
    const car = readCar((histories[0]!.sync.blocks as BytesWrapper).buf);
    expect(car.roots).toHaveLength(1);
  });

  it('makes commits in the network op mix, with records of the app shapes, each passing the relay checks', () => {
    const histories = generateAccounts({ records: { min: 200, max: 2000 }, seed: 5 }, Array.from({ length: 24 }, (_, i) => ({ curve: i % 4 === 0 ? ('p256' as const) : ('k256' as const), commits: 50 })));
    const ops = { create: 0, delete: 0, update: 0 };
    const created: Record<string, number> = {};
    let multi = 0;
    let commits = 0;
    let postsWithExtras = 0;
    for (const h of histories) {
      h.commits.forEach((body, i) => {
        expect(relayCheck(h, body, i + 1)).toBeNull();
        commits++;
        const list = body.ops as Array<{ action: keyof typeof ops }>;
        if (list.length > 1) multi++;
        for (const op of list) ops[op.action]++;
        for (const { collection, record } of createdRecords(body)) {
          created[collection] = (created[collection] ?? 0) + 1;
          expect(record.$type).toBe(collection);
          expect(typeof record.createdAt).toBe('string');
          if (collection === 'app.bsky.feed.like' || collection === 'app.bsky.feed.repost') {
            const subject = record.subject as { uri: string; cid: string };
            expect(subject.uri).toMatch(/^at:\/\/did:plc:[a-z2-7]{24}\/app\.bsky\.feed\.post\/[2-7a-z]{13}$/);
            expect(subject.cid).toMatch(/^bafyrei[a-z2-7]{52}$/);
          } else if (collection === 'app.bsky.graph.follow') {
            expect(record.subject).toMatch(/^did:plc:[a-z2-7]{24}$/);
          } else if (collection === 'app.bsky.feed.post') {
            expect(typeof record.text).toBe('string');
            expect((record.text as string).length).toBeLessThanOrEqual(300);
            if (record.facets || record.embed) postsWithExtras++;
          }
        }
      });
    }
    const total = ops.create + ops.delete + ops.update;
    expect(ops.delete / total).toBeGreaterThan(0.06);
    expect(ops.delete / total).toBeLessThan(0.14);
    const creates = Object.values(created).reduce((a, b) => a + b, 0);
    const share = (c: string) => (created[c] ?? 0) / creates;
    expect(share('app.bsky.feed.like')).toBeGreaterThan(0.4);
    expect(share('app.bsky.graph.follow')).toBeGreaterThan(0.12);
    expect(share('app.bsky.feed.post')).toBeGreaterThan(0.08);
    expect(share('app.bsky.feed.repost')).toBeGreaterThan(0.06);
    expect(share('app.bsky.feed.like')).toBeGreaterThan(share('app.bsky.feed.post'));
    expect(multi / commits).toBeGreaterThan(0.05);
    expect(multi / commits).toBeLessThan(0.2);
    expect(postsWithExtras).toBeGreaterThan(0);
  });

  it('lets accounts fork a few shared repos, each still its own signed chain', () => {
    const histories = generateAccounts(spec, Array.from({ length: 9 }, () => ({ curve: 'k256' as const, commits: 4 })), { distinctRepos: 2 });
    expect(new Set(histories.map((h) => h.did)).size).toBe(9);
    expect(new Set(histories.map((h) => h.records)).size).toBeLessThanOrEqual(2);
    for (const h of histories) h.commits.forEach((body, i) => expect(relayCheck(h, body, i + 1)).toBeNull());
  });

  it('caches a corpus and reads back the same frames', () => {
    const curves = ['k256', 'p256', 'k256'] as const;
    const o = { spec: { records: { min: 20, max: 60 }, seed: Date.now() % 1_000_000 }, distinctRepos: 0, cache: 'use' as const };
    const first = cachedAccounts([...curves], 3, o);
    try {
      expect(first.loaded.cached).toBe(false);
      const again = cachedAccounts([...curves], 3, o);
      expect(again.loaded.cached).toBe(true);
      expect(again.accounts.map((a) => a.did)).toEqual(first.accounts.map((a) => a.did));
      expect(again.accounts[2]!.frames.map((f) => Buffer.from(f).toString('hex'))).toEqual(first.accounts[2]!.frames.map((f) => Buffer.from(f).toString('hex')));
      expect(cachedAccounts([...curves], 3, { ...o, cache: 'off' }).loaded.file).toBeNull();
    } finally {
      rmSync(first.loaded.file!, { force: true });
    }
  });
});
