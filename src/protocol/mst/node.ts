// MST node codec. On the wire a node is {e: [{k, p, t, v}], l}: keys are prefix-compressed against the previous
// key in the same node, and `l` and every `t` are always present (null when there is no subtree).
import { BytesWrapper, CidLinkWrapper, decode } from '@atcute/cbor';
import { cborHeadLength, writeCborHead } from '../cbor-head.ts';
import { keyLayer, sha256Impl } from '../sha256.ts';
import { ReasonError } from '../../core/reason-error.ts';

/** Keys are held as latin1 strings of their UTF-8 bytes, so JS string order is byte order. */
export type MstKey = string;

export interface DecodedEntry {
  key: MstKey;
  value: Uint8Array;
  right: Uint8Array | null;
  /**
   * Set by the canonical decoder: the block the entry was read from and where its bytes lie there, [at, end),
   * written after the key `prev` ('' for a node's first). encodeNode copies those bytes while the entry follows the
   * same key again, as most entries of a node a commit changes do; a changed entry is a new object without them.
   */
  src?: Uint8Array;
  at?: number;
  end?: number;
  prev?: MstKey;
}

export interface DecodedNode {
  left: Uint8Array | null;
  entries: DecodedEntry[];
}

/** A node as read: with the layer (keyHeight) of every entry's key, MIXED_LAYERS when they differ, 0 with no entries. */
export interface ReadNode extends DecodedNode {
  layer: number;
}

export const MIXED_LAYERS = -1;

export class MstError extends ReasonError {}

/** A node or record block needed for the operation is not available (a missing proof, for a commit slice). */
export class MissingBlockError extends MstError {
  readonly cid: Uint8Array;
  constructor(cid: Uint8Array) {
    super('missing_block', 'an MST block needed for the operation is missing');
    this.cid = cid;
  }
}

export const MAX_ENTRIES_PER_NODE = 1024;
const MAX_KEY_BYTES = 1024;

export function keyToBytes(key: MstKey): Uint8Array {
  return Buffer.from(key, 'latin1');
}

export function keyFromString(s: string): MstKey {
  // Record paths are ASCII (their syntax allows nothing else), and then the key is the string itself.
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return Buffer.from(s, 'utf8').toString('latin1');
  return s;
}

/** Layer of a key: leading zero bits of sha256(key), halved (about 4 children per node). */
export function keyHeight(key: MstKey | Uint8Array): number {
  return keyLayer(typeof key === 'string' ? keyToBytes(key) : key);
}

/** A node's layer so far, with its next key on `height` (`first`: the node's first key). Once mixed, it stays so. */
function withKeyOn(layer: number, height: number, first: boolean): number {
  return first || height === layer ? height : MIXED_LAYERS;
}

function link(v: unknown, what: string): Uint8Array | null {
  if (v === null) return null;
  if (v instanceof CidLinkWrapper) return v.bytes;
  throw new MstError('bad_node', `${what} is neither a link nor null`);
}

/** An entry as it is on the wire: the key is `suffix` after the first `p` bytes of the previous key. */
interface WireEntry {
  p: number;
  suffix: MstKey;
  t: Uint8Array | null;
  v: Uint8Array | null;
}

export function decodeNode(bytes: Uint8Array): ReadNode {
  const fast = readCanonicalNode(bytes);
  if (fast) return fast;
  const wire = readAnyNode(bytes);
  if (wire.entries.length > MAX_ENTRIES_PER_NODE) throw new MstError('bad_node', 'MST node has too many entries');
  const entries: DecodedEntry[] = [];
  let prev = '';
  let layer = 0;
  for (const e of wire.entries) {
    if (e.p > prev.length) throw new MstError('bad_node', 'MST entry prefix length is invalid');
    const key = e.p === 0 ? e.suffix : prev.slice(0, e.p) + e.suffix;
    if (key.length === 0 || key.length > MAX_KEY_BYTES) throw new MstError('bad_node', 'MST key length is invalid');
    if (entries.length > 0 && key <= prev) throw new MstError('bad_node', 'MST keys are not sorted');
    if (e.v === null) throw new MstError('bad_node', 'MST entry value is null');
    layer = withKeyOn(layer, keyHeight(key), entries.length === 0);
    entries.push({ key, value: e.v, right: e.t });
    prev = key;
  }
  return { left: wire.left, entries, layer };
}

/** Any DRISL encoding of a node, through the generic decoder. */
function readAnyNode(bytes: Uint8Array): { left: Uint8Array | null; entries: WireEntry[] } {
  let raw: unknown;
  try {
    raw = decode(bytes);
  } catch (err) {
    throw new MstError('bad_node', `MST node is not valid DRISL: ${(err as Error).message}`);
  }
  const n = raw as { l?: unknown; e?: unknown };
  if (typeof n !== 'object' || n === null || !('l' in n) || !Array.isArray(n.e)) {
    throw new MstError('bad_node', 'MST node must have l and e');
  }
  if (n.e.length > MAX_ENTRIES_PER_NODE) throw new MstError('bad_node', 'MST node has too many entries');
  const entries = (n.e as Array<Record<string, unknown>>).map((e): WireEntry => {
    if (typeof e !== 'object' || e === null || !('t' in e)) throw new MstError('bad_node', 'MST entry must have t');
    const p = e.p;
    if (typeof p !== 'number' || !Number.isInteger(p) || p < 0) throw new MstError('bad_node', 'MST entry prefix length is invalid');
    if (!(e.k instanceof BytesWrapper)) throw new MstError('bad_node', 'MST entry key suffix is not bytes');
    return { p, suffix: Buffer.from(e.k.buf).toString('latin1'), t: link(e.t, 'entry subtree'), v: link(e.v, 'entry value') };
  });
  return { left: link(n.l, 'left subtree'), entries };
}

// The fast path. Nodes written by atproto implementations are canonical DRISL with exactly the fields {e, l} and
// {k, p, t, v}, in that order, and blessed 36-byte CIDs; reading that layout straight from the bytes costs a fraction
// of the generic decoder. Anything else, valid or not (returns null), goes through the generic decoder, which gives
// the reason a node is refused; so both accept the same nodes.

/**
 * The node's keys as read, end to end (key i ends at keyEnds[i]): each is the previous one's first p bytes and its
 * suffix, and their layers are checked in one call at the end (sha256.ts commonLayer), where hashing key by key was
 * two thirds of a commit check's hash calls. Grown for a node whose keys do not fit (at most 1,024 keys of 1 KB).
 */
let nodeKeys = Buffer.allocUnsafeSlow(16 * 1024);
let keyEnds = new Uint32Array(new ArrayBuffer(4 * 64));

function readCanonicalNode(b: Uint8Array): ReadNode | null {
  // {"e": [
  if (b.length < 6 || b[0] !== 0xa2 || b[1] !== 0x61 || b[2] !== 0x65) return null;
  let pos = 3;
  const head = b[pos++]!;
  if (head >> 5 !== 4) return null;
  let n = head & 0x1f;
  if (n === 24) {
    n = b[pos++]!;
    if (n < 24) return null;
  } else if (n === 25) {
    n = (b[pos]! << 8) | b[pos + 1]!;
    pos += 2;
    if (n < 256 || n > MAX_ENTRIES_PER_NODE) return null;
  } else if (n > 24) return null;
  const entries: DecodedEntry[] = new Array(n);
  if (keyEnds.length < n) keyEnds = new Uint32Array(new ArrayBuffer(4 * n));
  let prev = '';
  let prevAt = 0;
  let at = 0;
  for (let i = 0; i < n; i++) {
    const entryAt = pos;
    // {"k": bytes
    if (b[pos] !== 0xa4 || b[pos + 1] !== 0x61 || b[pos + 2] !== 0x6b) return null;
    pos += 3;
    const kh = b[pos++]!;
    if (kh >> 5 !== 2) return null;
    let klen = kh & 0x1f;
    if (klen === 24) {
      klen = b[pos++]!;
      if (klen < 24) return null;
    } else if (klen === 25) {
      klen = (b[pos]! << 8) | b[pos + 1]!;
      pos += 2;
      if (klen < 256) return null;
    } else if (klen > 24) return null;
    if (pos + klen > b.length) return null;
    const suffixAt = pos;
    pos += klen;
    // "p": uint
    if (b[pos] !== 0x61 || b[pos + 1] !== 0x70) return null;
    pos += 2;
    const ph = b[pos++]!;
    let p: number;
    if (ph < 24) p = ph;
    else if (ph === 24) {
      p = b[pos++]!;
      if (p < 24) return null;
    } else if (ph === 25) {
      p = (b[pos]! << 8) | b[pos + 1]!;
      pos += 2;
      if (p < 256) return null;
    } else return null;
    const length = p + klen;
    if (p > prev.length || length === 0 || length > MAX_KEY_BYTES) return null;
    if (at + length > nodeKeys.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(nodeKeys.length * 2, at + length));
      nodeKeys.copy(grown, 0, 0, at);
      nodeKeys = grown;
    }
    for (let j = 0; j < p; j++) nodeKeys[at + j] = nodeKeys[prevAt + j]!;
    for (let j = 0; j < klen; j++) nodeKeys[at + p + j] = b[suffixAt + j]!;
    const key = nodeKeys.toString('latin1', at, at + length);
    if (i > 0 && key <= prev) return null;
    // The bytes can be copied only if they are what encodeNode would write: p the whole shared prefix (valid DRISL
    // may share less; such an entry is written afresh).
    const copyable = p === prev.length || nodeKeys[at + p] !== nodeKeys[prevAt + p];
    prevAt = at;
    at += length;
    keyEnds[i] = at;
    // "t": link or null, "v": link
    if (b[pos] !== 0x61 || b[pos + 1] !== 0x74) return null;
    pos += 2;
    const t = readLinkOrNull(b, pos);
    if (t === undefined) return null;
    pos += t === null ? 1 : LINK_BYTES;
    if (b[pos] !== 0x61 || b[pos + 1] !== 0x76) return null;
    pos += 2;
    const v = readLinkOrNull(b, pos);
    if (!v) return null;
    pos += LINK_BYTES;
    entries[i] = copyable ? { key, value: v, right: t, src: b, at: entryAt, end: pos, prev } : { key, value: v, right: t };
    prev = key;
  }
  // "l": link or null }
  if (b[pos] !== 0x61 || b[pos + 1] !== 0x6c) return null;
  pos += 2;
  const left = readLinkOrNull(b, pos);
  if (left === undefined) return null;
  pos += left === null ? 1 : LINK_BYTES;
  // commonLayer answers -1, MIXED_LAYERS, when the keys differ.
  return pos === b.length ? { left, entries, layer: sha256Impl.commonLayer(nodeKeys, keyEnds, n) } : null;
}

/** tag 42, bytes(37), 0x00, then a 36-byte CIDv1 dag-cbor sha-256. */
const LINK_BYTES = 2 + 2 + 1 + 36;

/** The link at `pos` (a view), null for CBOR null, undefined when it is anything else. */
function readLinkOrNull(b: Uint8Array, pos: number): Uint8Array | null | undefined {
  if (b[pos] === 0xf6) return null;
  if (pos + LINK_BYTES > b.length) return undefined;
  if (b[pos] !== 0xd8 || b[pos + 1] !== 0x2a || b[pos + 2] !== 0x58 || b[pos + 3] !== 37 || b[pos + 4] !== 0x00) return undefined;
  if (b[pos + 5] !== 0x01 || b[pos + 6] !== 0x71 || b[pos + 7] !== 0x12 || b[pos + 8] !== 0x20) return undefined;
  return b.subarray(pos + 5, pos + LINK_BYTES);
}

/** Number of leading bytes two keys share. */
export function commonPrefixLength(a: MstKey, b: MstKey): number {
  const max = Math.min(a.length, b.length);
  let p = 0;
  while (p < max && a.charCodeAt(p) === b.charCodeAt(p)) p++;
  return p;
}

/** Canonical DRISL of a node, written directly (the layout readCanonicalNode reads; CIDs may be any length). */
export function encodeNode(node: DecodedNode): Uint8Array {
  const entries = node.entries;
  let size = 3 + cborHeadLength(entries.length) + 2 + linkSize(node.left);
  let prev = '';
  // -1: the entry's bytes as read, copied.
  const prefixes: number[] = new Array(entries.length);
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    if (entry.src !== undefined && entry.prev === prev) {
      prefixes[i] = -1;
      size += entry.end! - entry.at!;
      prev = entry.key;
      continue;
    }
    const p = commonPrefixLength(prev, entry.key);
    const klen = entry.key.length - p;
    prefixes[i] = p;
    size += 3 + cborHeadLength(klen) + klen + 2 + cborHeadLength(p) + 2 + linkSize(entry.right) + 2 + linkSize(entry.value);
    prev = entry.key;
  }
  // From Node's shared slab: a typed array of more than 64 bytes with its own backing store costs ~0.7 µs to
  // allocate here, more than encoding the node.
  const slab = Buffer.allocUnsafe(size);
  const out = new Uint8Array(slab.buffer, slab.byteOffset, size);
  out[0] = 0xa2;
  out[1] = 0x61;
  out[2] = 0x65;
  let pos = writeCborHead(out, 3, 4, entries.length);
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    const p = prefixes[i]!;
    if (p === -1) {
      const src = entry.src!;
      for (let j = entry.at!, end = entry.end!; j < end; j++) out[pos++] = src[j]!;
      continue;
    }
    out[pos++] = 0xa4;
    out[pos++] = 0x61;
    out[pos++] = 0x6b;
    pos = writeCborHead(out, pos, 2, entry.key.length - p);
    for (let j = p; j < entry.key.length; j++) out[pos++] = entry.key.charCodeAt(j);
    out[pos++] = 0x61;
    out[pos++] = 0x70;
    pos = writeCborHead(out, pos, 0, p);
    out[pos++] = 0x61;
    out[pos++] = 0x74;
    pos = writeLink(out, pos, entry.right);
    out[pos++] = 0x61;
    out[pos++] = 0x76;
    pos = writeLink(out, pos, entry.value);
  }
  out[pos++] = 0x61;
  out[pos++] = 0x6c;
  writeLink(out, pos, node.left);
  return out;
}

/** A CID link (tag 42 over 0x00 + CID bytes) or null. */
function writeLink(out: Uint8Array, pos: number, cid: Uint8Array | null): number {
  if (cid === null) {
    out[pos] = 0xf6;
    return pos + 1;
  }
  out[pos] = 0xd8;
  out[pos + 1] = 0x2a;
  pos = writeCborHead(out, pos + 2, 2, cid.length + 1);
  out[pos] = 0;
  // A 36-byte copy costs less as a loop than through TypedArray#set's fixed overhead.
  for (let i = 0; i < cid.length; i++) out[pos + 1 + i] = cid[i]!;
  return pos + 1 + cid.length;
}

function linkSize(cid: Uint8Array | null): number {
  return cid === null ? 1 : 2 + cborHeadLength(cid.length + 1) + 1 + cid.length;
}
