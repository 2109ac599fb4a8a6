// A Merkle Search Tree over a block source, loaded lazily and changed copy-on-write. A subtree whose block is not
// in the source is a stub: operations that never touch it work, and one that needs it throws MissingBlockError.
// That is what lets a verifier run a commit's operations on the partial tree a CAR slice carries.
import { cidForBlock } from '../cid.ts';
import {
  decodeNode,
  encodeNode,
  keyHeight,
  MissingBlockError,
  MIXED_LAYERS,
  MstError,
  type DecodedNode,
  type MstKey,
  type ReadNode,
} from './node.ts';

export interface BlockSource {
  get(cid: Uint8Array): Uint8Array | undefined;
}

/** An entry as read keeps where its bytes lie (DecodedEntry); one made by a change is a new object without them. */
interface Entry {
  key: MstKey;
  value: Uint8Array;
  right: Sub;
  src?: Uint8Array;
  at?: number;
  end?: number;
  prev?: MstKey;
}

interface Node {
  layer: number;
  left: Sub;
  entries: Entry[];
  /** Set on nodes loaded unchanged from the source. */
  cid?: Uint8Array;
}

/** A subtree not loaded yet; once opened, its node is kept here (nodes are never changed in place). */
interface Stub {
  stub: Uint8Array;
  layer: number;
  opened?: Node;
}

type Sub = Node | Stub | null;

const isStub = (s: Sub): s is Stub => s !== null && 'stub' in s;

export class Mst {
  /** Blocks of nodes created by changes, by CID; filled by rootCid() (unless loaded with recordBlocks: false). */
  readonly newBlocks = new Map<string, { cid: Uint8Array; bytes: Uint8Array }>();

  private readonly source: BlockSource;
  private root: Sub;
  private readonly recordBlocks: boolean;
  private constructor(
    source: BlockSource,
    root: Sub,
    recordBlocks: boolean,
  ) {
    this.source = source;
    this.root = root;
    this.recordBlocks = recordBlocks;
  }

  static empty(source: BlockSource = { get: () => undefined }): Mst {
    return new Mst(source, null, true);
  }

  /**
   * Opens the tree whose root node is `rootCid`. The root block itself must be available. `recordBlocks: false`
   * leaves newBlocks empty, for callers that only want the root CID (verification).
   */
  static load(source: BlockSource, rootCid: Uint8Array, opts: { recordBlocks?: boolean } = {}): Mst {
    const tree = new Mst(source, null, opts.recordBlocks ?? true);
    const bytes = source.get(rootCid);
    if (!bytes) throw new MissingBlockError(rootCid);
    const decoded = decodeNode(bytes);
    if (decoded.layer === MIXED_LAYERS) throw new MstError('bad_node', 'MST key is on the wrong layer');
    tree.root = tree.materialize(decoded, decoded.layer, rootCid);
    if (tree.root.entries.length === 0 && tree.root.left !== null) {
      throw new MstError('bad_node', 'MST root is an empty node pointing down');
    }
    return tree;
  }

  get(key: MstKey): Uint8Array | null {
    let sub = this.root;
    while (sub !== null) {
      const node = this.open(sub);
      const i = lowerBound(node.entries, key);
      const e = node.entries[i];
      if (e && e.key === key) return e.value;
      sub = childAt(node, i);
    }
    return null;
  }

  /** Inserts or replaces; returns the previous value. */
  set(key: MstKey, value: Uint8Array): Uint8Array | null {
    const height = keyHeight(key);
    let previous: Uint8Array | null = null;
    const rootLayer = this.root === null ? -1 : this.layerOf(this.root);
    if (height > rootLayer) {
      // The key belongs above the current root: split everything around it and lift.
      const [l, r] = this.split(this.root, key);
      this.root = {
        layer: height,
        left: wrapTo(l, height - 1),
        entries: [{ key, value, right: wrapTo(r, height - 1) }],
      };
    } else {
      this.root = this.insertInto(this.open(this.root!), key, value, height, (prev) => (previous = prev));
    }
    return previous;
  }

  /** Removes a key; returns the removed value, or null if it was absent. */
  delete(key: MstKey): Uint8Array | null {
    if (this.root === null) return null;
    let removed: Uint8Array | null = null;
    this.root = this.deleteFrom(this.open(this.root), key, (v) => (removed = v));
    // The root may not be an empty node that only points down.
    while (this.root !== null) {
      const node = this.open(this.root);
      if (node.entries.length > 0) break;
      this.root = node.left;
    }
    return removed;
  }

  /**
   * The keys either side of an absent key, as far as the blocks at hand show: the closest seen on the way down to
   * where the key would go, and whether that way was complete (then they are its true neighbours; otherwise the true
   * ones lie in a subtree whose block is absent, between those seen). A commit's CAR slice carries this path for
   * each key it deletes.
   */
  neighbours(key: MstKey): { before: MstKey | null; after: MstKey | null; complete: boolean } {
    let before: MstKey | null = null;
    let after: MstKey | null = null;
    let sub = this.root;
    while (sub !== null) {
      if (isStub(sub) && !sub.opened && this.source.get(sub.stub) === undefined) return { before, after, complete: false };
      const node = this.open(sub);
      const i = lowerBound(node.entries, key);
      if (i > 0) before = node.entries[i - 1]!.key;
      const e = node.entries[i];
      if (e) {
        if (e.key === key) throw new MstError('bad_ops', `${key} is in the tree`);
        after = e.key;
      }
      sub = childAt(node, i);
    }
    return { before, after, complete: true };
  }

  /** Root CID; encodes changed nodes (recorded in newBlocks). */
  rootCid(): Uint8Array {
    if (this.root === null) return this.store({ left: null, entries: [] });
    return this.cidOf(this.root);
  }

  /** All entries in key order (loads the whole tree). */
  *entries(): IterableIterator<{ key: MstKey; value: Uint8Array }> {
    yield* this.walk(this.root);
  }

  /** CIDs of every node, root first (loads the whole tree). */
  *nodeCids(): IterableIterator<Uint8Array> {
    const stack: Sub[] = [this.root];
    while (stack.length > 0) {
      const sub = stack.pop()!;
      if (sub === null) continue;
      yield this.cidOf(sub);
      const node = this.open(sub);
      stack.push(node.left, ...node.entries.map((e) => e.right));
    }
  }

  private *walk(sub: Sub): IterableIterator<{ key: MstKey; value: Uint8Array }> {
    if (sub === null) return;
    const node = this.open(sub);
    yield* this.walk(node.left);
    for (const e of node.entries) {
      yield { key: e.key, value: e.value };
      yield* this.walk(e.right);
    }
  }

  // --- internals ----------------------------------------------------------------------------------------

  private materialize(decoded: ReadNode, layer: number, cid: Uint8Array): Node {
    if (layer < 0) throw new MstError('bad_node', 'MST is deeper than its keys allow');
    if (decoded.entries.length > 0 && decoded.layer !== layer) throw new MstError('bad_node', 'MST key is on the wrong layer');
    // The decoded node is this call's alone (decodeNode builds it afresh): its entries become the tree's in place,
    // one object an entry instead of two (the entry objects were a tenth of a verify worker's allocations).
    for (const e of decoded.entries) {
      const right = e.right;
      (e as unknown as Entry).right = right === null ? null : { stub: right, layer: layer - 1 };
    }
    const entries = decoded.entries as unknown as Entry[];
    return { layer, cid, left: decoded.left === null ? null : { stub: decoded.left, layer: layer - 1 }, entries };
  }

  private open(sub: Node | Stub): Node {
    if (!isStub(sub)) return sub;
    // A verification walks the same path several times (each op's forward check, then its inverse).
    if (sub.opened) return sub.opened;
    const bytes = this.source.get(sub.stub);
    if (!bytes) throw new MissingBlockError(sub.stub);
    const node = this.materialize(decodeNode(bytes), sub.layer, sub.stub);
    if (node.entries.length === 0 && node.left === null) throw new MstError('bad_node', 'empty MST node below the root');
    sub.opened = node;
    return node;
  }

  private layerOf(sub: Node | Stub): number {
    return sub.layer;
  }

  private insertInto(node: Node, key: MstKey, value: Uint8Array, height: number, onPrev: (v: Uint8Array) => void): Node {
    const i = lowerBound(node.entries, key);
    const existing = node.entries[i];
    if (height === node.layer) {
      if (existing && existing.key === key) {
        onPrev(existing.value);
        return replaceEntry(node, i, { key: existing.key, value, right: existing.right });
      }
      const [l, r] = this.split(childAt(node, i), key);
      const entries = node.entries.slice();
      entries.splice(i, 0, { key, value, right: r });
      const out: Node = { layer: node.layer, left: node.left, entries };
      return setChild(out, i, l);
    }
    const child = childAt(node, i);
    const target: Node = child === null ? { layer: node.layer - 1, left: null, entries: [] } : this.open(child);
    return setChild(node, i, this.insertInto(target, key, value, height, onPrev));
  }

  private deleteFrom(node: Node, key: MstKey, onRemoved: (v: Uint8Array) => void): Sub {
    const i = lowerBound(node.entries, key);
    const e = node.entries[i];
    if (e && e.key === key) {
      onRemoved(e.value);
      const merged = this.merge(childAt(node, i), e.right);
      const entries = node.entries.slice();
      entries.splice(i, 1);
      return prune(setChild({ layer: node.layer, left: node.left, entries }, i, merged));
    }
    const child = childAt(node, i);
    if (child === null) return node;
    const updated = this.deleteFrom(this.open(child), key, onRemoved);
    return prune(setChild(node, i, updated));
  }

  /** Splits a subtree around an absent key into the parts before and after it, at the same layer. */
  private split(sub: Sub, key: MstKey): [Sub, Sub] {
    if (sub === null) return [null, null];
    const node = this.open(sub);
    const i = lowerBound(node.entries, key);
    const [cl, cr] = this.split(childAt(node, i), key);
    const left = setChild({ layer: node.layer, left: node.left, entries: node.entries.slice(0, i) }, i, cl);
    const right: Node = { layer: node.layer, left: cr, entries: node.entries.slice(i) };
    return [prune(left), prune(right)];
  }

  /** Joins two adjacent subtrees of the same layer (every key of `a` sorts before every key of `b`). */
  private merge(a: Sub, b: Sub): Sub {
    if (a === null) return b;
    if (b === null) return a;
    const na = this.open(a);
    const nb = this.open(b);
    const mid = this.merge(childAt(na, na.entries.length), nb.left);
    const joined = setChild({ layer: na.layer, left: na.left, entries: na.entries.slice() }, na.entries.length, mid);
    return { layer: na.layer, left: joined.left, entries: [...joined.entries, ...nb.entries] };
  }

  private cidOf(sub: Node | Stub): Uint8Array {
    if (isStub(sub)) return sub.stub;
    if (sub.cid) return sub.cid;
    const entries: DecodedNode['entries'] = new Array(sub.entries.length);
    for (let i = 0; i < entries.length; i++) {
      const e = sub.entries[i]!;
      const right = e.right === null ? null : this.cidOf(e.right);
      entries[i] = e.src === undefined ? { key: e.key, value: e.value, right } : { key: e.key, value: e.value, right, src: e.src, at: e.at!, end: e.end!, prev: e.prev! };
    }
    const cid = this.store({ left: sub.left === null ? null : this.cidOf(sub.left), entries });
    sub.cid = cid;
    return cid;
  }

  private store(node: DecodedNode): Uint8Array {
    const bytes = encodeNode(node);
    const cid = cidForBlock(bytes);
    if (this.recordBlocks) this.newBlocks.set(Buffer.from(cid).toString('latin1'), { cid, bytes });
    return cid;
  }
}

function lowerBound(entries: Entry[], key: MstKey): number {
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (entries[mid]!.key < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The subtree at gap i: before entry i (i = 0 is `left`). */
function childAt(node: Node, i: number): Sub {
  return i === 0 ? node.left : node.entries[i - 1]!.right;
}

/** A copy of `node` with the subtree at gap i replaced. */
function setChild(node: Node, i: number, child: Sub): Node {
  if (i === 0) return { layer: node.layer, left: child, entries: node.entries };
  const entries = node.entries.slice();
  const e = entries[i - 1]!;
  entries[i - 1] = { key: e.key, value: e.value, right: child };
  return { layer: node.layer, left: node.left, entries };
}

function replaceEntry(node: Node, i: number, entry: Entry): Node {
  const entries = node.entries.slice();
  entries[i] = entry;
  return { layer: node.layer, left: node.left, entries };
}

/** Empty nodes with nothing below vanish; empty nodes leading to entries stay (layers are never skipped). */
function prune(sub: Sub): Sub {
  if (sub === null || isStub(sub)) return sub;
  return sub.entries.length === 0 && sub.left === null ? null : sub;
}

/** Raises a subtree to `layer` through empty intermediate nodes. */
function wrapTo(sub: Sub, layer: number): Sub {
  if (sub === null) return null;
  let out: Node | Stub = sub;
  while (out.layer < layer) out = { layer: out.layer + 1, left: out, entries: [] };
  return out;
}

