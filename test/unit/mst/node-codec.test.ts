// The MST node codec writes and reads canonical DRISL directly: it must agree byte for byte with the generic
// encoder, and read every node the generic decoder reads (non-canonical layouts take the generic path).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { BytesWrapper, CidLinkWrapper, encode } from '@atcute/cbor';
import { cidForBlock, CODEC_RAW } from '../../../src/protocol/cid.ts';
import { commonPrefixLength, decodeNode, encodeNode, keyHeight, MIXED_LAYERS, MstError } from '../../../src/protocol/mst/index.ts';
import type { DecodedNode } from '../../../src/protocol/mst/node.ts';

const cid = (seed: number, codec: 0x71 | 0x55 = 0x71) => cidForBlock(Uint8Array.of(seed & 0xff, seed >> 8), codec);

/** The node as the generic encoder sees it. */
function genericObject(node: DecodedNode, extra: Record<string, unknown> = {}) {
  let prev = '';
  const e = node.entries.map((entry) => {
    const p = commonPrefixLength(prev, entry.key);
    prev = entry.key;
    return {
      k: new BytesWrapper(Buffer.from(entry.key.slice(p), 'latin1')),
      p,
      t: entry.right ? new CidLinkWrapper(entry.right) : null,
      v: new CidLinkWrapper(entry.value),
    };
  });
  return { e, l: node.left ? new CidLinkWrapper(node.left) : null, ...extra };
}

const nodeArb = fc
  .record({
    keys: fc.uniqueArray(fc.string({ minLength: 1, maxLength: 300, unit: fc.constantFrom('a', 'b', '/', '3', 'é', '\u00ff', 'z') }), { maxLength: 40 }),
    seeds: fc.array(fc.integer({ min: 0, max: 65535 }), { minLength: 42, maxLength: 42 }),
    rights: fc.array(fc.boolean(), { minLength: 41, maxLength: 41 }),
    left: fc.boolean(),
  })
  .map(({ keys, seeds, rights, left }): DecodedNode => ({
    left: left ? cid(seeds[41]!) : null,
    entries: keys
      .map((k) => Buffer.from(k, 'utf8').toString('latin1'))
      .sort()
      .map((key, i) => ({ key, value: cid(seeds[i]!), right: rights[i] ? cid(seeds[i]! + 1) : null })),
  }));

/** The node as decoding reads it: with the layer its keys are all on, MIXED_LAYERS when they are not. */
function read(node: DecodedNode): DecodedNode & { layer: number } {
  const layers = new Set(node.entries.map((e) => keyHeight(e.key)));
  return { ...plain(node), layer: layers.size === 0 ? 0 : layers.size === 1 ? [...layers][0]! : MIXED_LAYERS };
}

/** Without where decoding found each entry's bytes. */
function plain<T extends DecodedNode>(node: T): T {
  return { ...node, entries: node.entries.map(({ key, value, right }) => ({ key, value, right })) };
}

describe('MST node codec', () => {
  it('encodes exactly like the generic DRISL encoder and decodes back (property)', () => {
    fc.assert(
      fc.property(nodeArb, (node) => {
        const bytes = encodeNode(node);
        expect(Buffer.from(bytes).equals(Buffer.from(encode(genericObject(node))))).toBe(true);
        expect(plain(decodeNode(bytes))).toEqual(read(node));
        // The generic decoder reads the same layer as the fast path.
        expect(plain(decodeNode(encode(genericObject(node, { x: 1 }))))).toEqual(read(node));
      }),
      { numRuns: 200 },
    );
  });

  it('writes a changed node the same whether its unchanged entries are copied as read or written afresh (property)', () => {
    const change = fc.record({ node: nodeArb, drop: fc.nat(), add: fc.string({ minLength: 1, maxLength: 40, unit: fc.constantFrom('a', 'b', '/', 'z') }), relink: fc.nat(), seed: fc.nat(65535) });
    fc.assert(
      fc.property(change, ({ node, drop, add, relink, seed }) => {
        const read = decodeNode(encodeNode(node));
        expect(read.entries.every((e) => e.src !== undefined)).toBe(true);
        // A commit's kinds of change: an entry gone, one added, one whose subtree changed (a new object each).
        const entries = read.entries.slice();
        if (entries.length > 0) entries.splice(drop % entries.length, 1);
        if (!entries.some((e) => e.key === add)) entries.push({ key: add, value: cid(seed), right: null });
        entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
        const r = relink % entries.length;
        entries[r] = { key: entries[r]!.key, value: entries[r]!.value, right: cid(seed + 1) };
        const changed: DecodedNode = { left: read.left, entries };
        const fresh = encodeNode(plain(changed));
        expect(Buffer.from(encodeNode(changed)).equals(Buffer.from(fresh))).toBe(true);
        expect(Buffer.from(fresh).equals(Buffer.from(encode(genericObject(changed))))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('writes afresh an entry read with less than the whole shared prefix', () => {
    const node: DecodedNode = { left: null, entries: [{ key: 'app/a1', value: cid(1), right: null }, { key: 'app/a2', value: cid(2), right: null }] };
    const o = genericObject(node);
    // Valid DRISL, but the second key shares 5 bytes with the first and says 0.
    o.e[1] = { ...o.e[1]!, p: 0, k: new BytesWrapper(Buffer.from('app/a2')) };
    const loose = encode(o);
    const read = decodeNode(loose);
    expect(plain(read)).toEqual({ ...node, layer: read.layer });
    expect(read.entries[1]!.src).toBeUndefined();
    expect(Buffer.from(encodeNode(read)).equals(Buffer.from(encodeNode(node)))).toBe(true);
    expect(Buffer.from(encodeNode(read)).equals(Buffer.from(loose))).toBe(false);
  });

  it('reads nodes outside the canonical fast path like the generic decoder', () => {
    const node: DecodedNode = { left: null, entries: [{ key: 'app.bsky/a', value: cid(1, CODEC_RAW), right: cid(2) }] };
    expect(decodeNode(encode(genericObject(node)))).toEqual(read(node));
    // An unknown extra field is ignored by both.
    const plain: DecodedNode = { left: cid(3), entries: [{ key: 'k', value: cid(4), right: null }] };
    expect(decodeNode(encode(genericObject(plain, { x: 1 })))).toEqual(read(plain));
  });

  it('reads the layer of keys that share one, and marks a node whose keys do not', () => {
    const keys = Array.from({ length: 400 }, (_, i) => `app.bsky.feed.like/${String(i).padStart(4, '0')}`);
    const at = (h: number) => keys.filter((k) => keyHeight(k) === h);
    const entries = (ks: string[]) => ks.map((key, i) => ({ key, value: cid(i), right: null }));
    expect(decodeNode(encodeNode({ left: null, entries: entries(at(1).slice(0, 3)) })).layer).toBe(1);
    expect(decodeNode(encodeNode({ left: null, entries: entries(at(0).slice(0, 5)) })).layer).toBe(0);
    expect(decodeNode(encodeNode({ left: null, entries: entries([at(0)[0]!, at(1)[0]!].sort()) })).layer).toBe(MIXED_LAYERS);
    expect(decodeNode(encodeNode({ left: cid(9), entries: [] })).layer).toBe(0);
  });

  it('rejects malformed nodes on either path', () => {
    const bad = (bytes: Uint8Array) => expect(() => decodeNode(bytes)).toThrow(MstError);
    const good = encodeNode({ left: null, entries: [{ key: 'b', value: cid(1), right: null }, { key: 'c', value: cid(2), right: null }] });
    bad(good.subarray(0, good.length - 1));
    bad(Uint8Array.from([...good, 0]));
    // Keys out of order.
    bad(encode(genericObject({ left: null, entries: [{ key: 'c', value: cid(1), right: null }, { key: 'b', value: cid(2), right: null }] })));
    // A prefix longer than the previous key.
    const o = genericObject({ left: null, entries: [{ key: 'b', value: cid(1), right: null }] });
    o.e[0]!.p = 3;
    bad(encode(o));
  });
});
