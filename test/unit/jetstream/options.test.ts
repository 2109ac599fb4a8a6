// The v1 rules for what a subscriber asks: query parameters, options_update, and which messages a filter selects.
import { describe, expect, it } from 'vitest';
import { describeFilters, parseClientMessage, parseSubscribe, wants, type Filters } from '../../../src/jetstream/options.ts';
import type { JetstreamMessage } from '../../../src/jetstream/message.ts';

const q = (s: string) => new URLSearchParams(s);
const ok = (s: string, encoding?: string) => {
  const r = parseSubscribe(q(s), encoding);
  if (!r.ok) throw new Error(r.message);
  return r.value;
};
const msg = (did: string, collection: string | null, size = 10): JetstreamMessage => ({ seq: 1, timeUs: 1, did, collection, json: Buffer.alloc(size) });

describe('subscribe query', () => {
  it('reads collections, prefixes, DIDs, the cursor, compression and hello', () => {
    const r = ok('wantedCollections=app.bsky.feed.post&wantedCollections=app.bsky.graph.*&wantedCollections=app.bsky.feed.post&wantedDids=did:plc:abc&cursor=1725911162329308&compress=true&requireHello=true');
    expect([...r.filters.collections]).toEqual(['app.bsky.feed.post']);
    expect(r.filters.prefixes).toEqual(['app.bsky.graph.']);
    expect([...r.filters.dids]).toEqual(['did:plc:abc']);
    expect(r).toMatchObject({ cursor: 1725911162329308, compress: true, requireHello: true });
    expect(ok('')).toMatchObject({ cursor: null, compress: false, requireHello: false, filters: { maxMessageBytes: 0 } });
    expect(ok('', 'zstd').compress).toBe(true);
    expect(ok('', ' ZSTD ').compress).toBe(true);
    expect(ok('', 'gzip').compress).toBe(false);
    expect(ok('cursor=').cursor).toBeNull();
  });

  it('treats zero, negative, empty or unparsable sizes as no cap', () => {
    for (const v of ['0', '-5', '', 'abc']) expect(ok(`maxMessageSizeBytes=${v}`).filters.maxMessageBytes).toBe(0);
    expect(ok('maxMessageSizeBytes=4096').filters.maxMessageBytes).toBe(4096);
  });

  it('refuses bad collections, too many of them, bad DIDs, too many DIDs and bad cursors', () => {
    const bad = (s: string) => {
      const r = parseSubscribe(q(s), undefined);
      return r.ok ? null : r.message;
    };
    expect(bad('wantedCollections=post')).toMatch(/invalid collection/);
    expect(bad('wantedCollections=app.bsky.*.x')).toMatch(/invalid collection/);
    expect(bad('wantedCollections=.*')).toMatch(/invalid collection prefix/);
    expect(bad('wantedCollections=*')).toMatch(/invalid collection/);
    expect(bad(Array.from({ length: 101 }, (_, i) => `wantedCollections=a.b.c${i}`).join('&'))).toMatch(/at most 100/);
    // Duplicates count once.
    expect(bad(Array.from({ length: 150 }, (_, i) => `wantedCollections=a.b.c${i % 100}`).join('&'))).toBeNull();
    expect(bad('wantedDids=bob')).toMatch(/invalid DID/);
    expect(bad(Array.from({ length: 10_001 }, (_, i) => `wantedDids=did:plc:${i}`).join('&'))).toMatch(/at most 10000/);
    expect(bad('cursor=-1')).toMatch(/cursor/);
    expect(bad('cursor=12345678901234567')).toMatch(/cursor/);
  });
});

describe('options_update', () => {
  it('replaces the filters; empty arrays turn them off; other types are ignored', () => {
    const r = parseClientMessage(JSON.stringify({ type: 'options_update', payload: { wantedCollections: ['app.bsky.*'], wantedDids: [], maxMessageSizeBytes: 100 } }));
    expect(r.ok && r.value).toMatchObject({ prefixes: ['app.bsky.'], maxMessageBytes: 100 });
    expect(r.ok && r.value!.dids.size).toBe(0);
    expect(parseClientMessage(JSON.stringify({ type: 'hello' }))).toEqual({ ok: true, value: null });
    const empty = parseClientMessage(JSON.stringify({ type: 'options_update', payload: {} }));
    expect(empty.ok && describeFilters(empty.value!)).toBe('all');
  });

  it('refuses what it cannot read', () => {
    for (const [text, why] of [
      ['{', /not JSON/],
      ['[1]', /not a JSON object/],
      [JSON.stringify({ type: 'options_update' }), /no payload/],
      [JSON.stringify({ type: 'options_update', payload: { wantedDids: 'did:plc:a' } }), /must be an array/],
      [JSON.stringify({ type: 'options_update', payload: { wantedCollections: [1] } }), /strings/],
      [JSON.stringify({ type: 'options_update', payload: { wantedDids: ['x'] } }), /invalid DID/],
    ] as const) {
      const r = parseClientMessage(text);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.message).toMatch(why);
    }
  });
});

describe('filters', () => {
  const f = (over: Partial<Filters>): Filters => ({ collections: new Set(), prefixes: [], dids: new Set(), maxMessageBytes: 0, ...over });

  it('select by DID for every kind, by collection for commits only, and by size', () => {
    const byCollection = f({ collections: new Set(['app.bsky.feed.post']), prefixes: ['app.bsky.graph.'] });
    expect(wants(byCollection, msg('did:plc:a', 'app.bsky.feed.post'))).toBe(true);
    expect(wants(byCollection, msg('did:plc:a', 'app.bsky.graph.follow'))).toBe(true);
    expect(wants(byCollection, msg('did:plc:a', 'app.bsky.feed.like'))).toBe(false);
    // Identity and account messages pass collection filters.
    expect(wants(byCollection, msg('did:plc:a', null))).toBe(true);
    const byDid = f({ dids: new Set(['did:plc:a']) });
    expect(wants(byDid, msg('did:plc:a', 'x.y.z'))).toBe(true);
    expect(wants(byDid, msg('did:plc:b', null))).toBe(false);
    const small = f({ maxMessageBytes: 10 });
    expect(wants(small, msg('did:plc:a', null, 10))).toBe(true);
    expect(wants(small, msg('did:plc:a', null, 11))).toBe(false);
    expect(wants(f({}), msg('did:plc:z', 'any.thing.at'))).toBe(true);
  });
});
