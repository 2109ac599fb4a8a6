// The MST against the official interop vectors: key heights, prefix lengths, and every commit-proof fixture
// (build, apply, and invert with exactly the proof blocks the fixture lists).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { interopJson, interopText } from '../../helpers/interop.ts';
import { BlockMap } from '../../../src/protocol/car.ts';
import { cidForBlock, cidFromString, cidToString } from '../../../src/protocol/cid.ts';
import { commonPrefixLength, encodeNode, invertOps, keyFromString, keyHeight, MissingBlockError, Mst, MstError } from '../../../src/protocol/mst/index.ts';

const interop = interopJson;

/** A block source over a BlockMap that also records what was read. */
function recording(blocks: BlockMap) {
  const read = new Set<string>();
  return {
    read,
    get(cid: Uint8Array) {
      read.add(cidToString(cid));
      return blocks.get(cid);
    },
  };
}

function buildTree(keys: string[], value: Uint8Array): { tree: Mst; blocks: BlockMap } {
  const tree = Mst.empty();
  for (const k of keys) tree.set(keyFromString(k), value);
  tree.rootCid();
  const blocks = new BlockMap();
  for (const { cid, bytes } of tree.newBlocks.values()) blocks.set(cid, bytes);
  return { tree, blocks };
}

describe('key heights and prefixes', () => {
  it('matches mst/key_heights.json', () => {
    for (const { key, height } of interop<Array<{ key: string; height: number }>>('mst/key_heights.json')) {
      expect(keyHeight(keyFromString(key)), key).toBe(height);
    }
  });

  it('hashes the UTF-8 bytes of a key that is not ASCII, not its latin1 form encoded again', () => {
    // Layer 2 from sha256 of the UTF-8 bytes; encoding the latin1 form to UTF-8 a second time would give layer 0.
    expect(keyHeight(keyFromString('app.bsky.feed.post/é2'))).toBe(2);
    expect(keyHeight(Buffer.from('app.bsky.feed.post/é2', 'utf8'))).toBe(2);
  });

  it('matches mst/common_prefix.json', () => {
    for (const { left, right, len } of interop<Array<{ left: string; right: string; len: number }>>('mst/common_prefix.json')) {
      expect(commonPrefixLength(keyFromString(left), keyFromString(right)), `${left}|${right}`).toBe(len);
    }
  });
});

interface ProofFixture {
  comment: string;
  leafValue: string;
  keys: string[];
  adds: string[];
  dels: string[];
  rootBeforeCommit: string;
  rootAfterCommit: string;
  blocksInProof: string[];
}

describe('commit-proof fixtures', () => {
  const fixtures = interop<ProofFixture[]>('firehose/commit-proof-fixtures.json');
  it('has fixtures', () => expect(fixtures.length).toBeGreaterThanOrEqual(6));

  for (const f of fixtures) {
    it(f.comment, () => {
      const leaf = cidFromString(f.leafValue);
      const { tree, blocks: beforeBlocks } = buildTree(f.keys, leaf);
      expect(cidToString(tree.rootCid())).toBe(f.rootBeforeCommit);

      for (const k of f.adds) tree.set(keyFromString(k), leaf);
      for (const k of f.dels) expect(tree.delete(keyFromString(k))).not.toBeNull();
      const after = tree.rootCid();
      expect(cidToString(after)).toBe(f.rootAfterCommit);

      const all = new BlockMap();
      for (const { cid, bytes } of beforeBlocks.entries()) all.set(cid, bytes);
      for (const { cid, bytes } of tree.newBlocks.values()) all.set(cid, bytes);
      const proof = new BlockMap();
      for (const c of f.blocksInProof) {
        const bytes = all.get(cidFromString(c));
        expect(bytes, `proof block ${c}`).toBeDefined();
        proof.set(cidFromString(c), bytes!);
      }
      const ops = [
        ...f.adds.map((path) => ({ action: 'create', path, cid: leaf })),
        ...f.dels.map((path) => ({ action: 'delete', path, cid: null, prev: leaf })),
      ];
      // The listed blocks suffice, and inversion reads nothing beyond them.
      const rec = recording(proof);
      expect(cidToString(invertOps({ blocks: rec, newRoot: after, ops }))).toBe(f.rootBeforeCommit);
      for (const c of rec.read) expect(f.blocksInProof).toContain(c);
      // Without the blocks it reads, inversion fails as a missing proof.
      for (const c of rec.read) {
        const without = new BlockMap();
        for (const { cid, bytes } of proof.entries()) if (cidToString(cid) !== c) without.set(cid, bytes);
        expect(() => invertOps({ blocks: without, newRoot: after, ops }), `without ${c}`).toThrow(MissingBlockError);
      }
    });
  }
});

describe('tree', () => {
  const value = cidForBlock(new Uint8Array([1]));
  const keys = interopText('mst/example_keys.txt').split('\n').filter((l) => l.trim() !== '').slice(0, 300);

  it('is deterministic whatever the insertion order, and after insert-then-delete', () => {
    const a = buildTree(keys, value).tree.rootCid();
    const b = buildTree([...keys].reverse(), value).tree.rootCid();
    expect(cidToString(b)).toBe(cidToString(a));
    const extra = buildTree([...keys, 'zzz/extra1', 'aaa/extra2'], value).tree;
    extra.delete(keyFromString('zzz/extra1'));
    extra.delete(keyFromString('aaa/extra2'));
    expect(cidToString(extra.rootCid())).toBe(cidToString(a));
    const empty = buildTree(keys, value).tree;
    for (const k of keys) empty.delete(keyFromString(k));
    expect(cidToString(empty.rootCid())).toBe(cidToString(Mst.empty().rootCid()));
  });

  it('lists entries in key order and reloads from its blocks', () => {
    const { tree, blocks } = buildTree(keys, value);
    for (const { cid, bytes } of tree.newBlocks.values()) blocks.set(cid, bytes);
    const reloaded = Mst.load(blocks, tree.rootCid());
    expect([...reloaded.entries()].map((e) => e.key)).toEqual([...keys].sort());
  });

  it('refuses a node whose keys are not all on its layer, each time it is read', () => {
    const sorted = [...keys].sort();
    const low = sorted.find((k) => keyHeight(keyFromString(k)) === 0)!;
    const high = sorted.find((k) => k > low && keyHeight(keyFromString(k)) > 0)!;
    const node = encodeNode({ left: null, entries: [{ key: keyFromString(low), value, right: null }, { key: keyFromString(high), value, right: null }] });
    const blocks = new BlockMap();
    const cid = cidForBlock(node);
    blocks.set(cid, node);
    for (let i = 0; i < 2; i++) {
      expect(() => Mst.load(blocks, cid)).toThrow(/wrong layer/);
    }
  });

  it('rejects inconsistent ops', () => {
    const { tree, blocks } = buildTree(['a/1', 'b/2'], value);
    const root = tree.rootCid();
    expect(() => invertOps({ blocks, newRoot: root, ops: [{ action: 'create', path: 'a/1', cid: null }] })).toThrow(MstError);
    expect(() =>
      invertOps({ blocks, newRoot: root, ops: [{ action: 'create', path: 'a/1', cid: value }, { action: 'create', path: 'a/1', cid: value }] }),
    ).toThrow(/duplicate/);
    const reason = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        return (err as MstError).reason;
      }
      return 'no error';
    };
    expect(reason(() => invertOps({ blocks, newRoot: root, ops: [{ action: 'create', path: 'c/3', cid: value }] }))).toBe('forward_mismatch');
    expect(reason(() => invertOps({ blocks, newRoot: root, ops: [{ action: 'delete', path: 'a/1', cid: null, prev: value }] }))).toBe(
      'forward_mismatch',
    );
    expect(reason(() => invertOps({ blocks, newRoot: root, ops: [{ action: 'move', path: 'a/1', cid: value }] }))).toBe('bad_ops');
  });

  it('inverts random op sets back to the previous root (property)', () => {
    const keyArb = fc.stringMatching(/^[a-z]{1,3}\/[a-z0-9]{1,6}$/);
    fc.assert(
      fc.property(fc.uniqueArray(keyArb, { minLength: 0, maxLength: 60 }), fc.uniqueArray(keyArb, { minLength: 1, maxLength: 8 }), (base, touched) => {
        const v1 = cidForBlock(new Uint8Array([1]));
        const v2 = cidForBlock(new Uint8Array([2]));
        const before = buildTree(base, v1);
        const prevRoot = before.tree.rootCid();
        const baseSet = new Set(base);
        const ops = touched.map((path, i) =>
          baseSet.has(path)
            ? i % 2 === 0
              ? { action: 'update', path, cid: v2, prev: v1 }
              : { action: 'delete', path, cid: null, prev: v1 }
            : { action: 'create', path, cid: v2 },
        );
        const tree = before.tree;
        for (const op of ops) {
          if (op.action === 'delete') tree.delete(keyFromString(op.path));
          else tree.set(keyFromString(op.path), v2);
        }
        const newRoot = tree.rootCid();
        // Same key set built fresh gives the same root.
        const finalKeys = new Map(base.map((k) => [k, v1]));
        for (const op of ops) op.action === 'delete' ? finalKeys.delete(op.path) : finalKeys.set(op.path, v2);
        const fresh = Mst.empty();
        for (const [k, v] of finalKeys) fresh.set(keyFromString(k), v);
        expect(cidToString(fresh.rootCid())).toBe(cidToString(newRoot));
        // Inversion over all blocks returns the previous root.
        const all = new BlockMap();
        for (const { cid, bytes } of before.blocks.entries()) all.set(cid, bytes);
        for (const { cid, bytes } of tree.newBlocks.values()) all.set(cid, bytes);
        expect(cidToString(invertOps({ blocks: all, newRoot, ops }))).toBe(cidToString(prevRoot));
      }),
      { numRuns: 150 },
    );
  });
});
