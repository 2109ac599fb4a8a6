// MST node codec. On the wire a node is {e: [{k, p, t, v}], l}: keys are prefix-compressed against the previous
// key in the same node, and `l` and every `t` are always present (null when there is no subtree).
import { BytesWrapper, CidLinkWrapper, decode, encode } from '@atcute/cbor';
import { sha256 } from '../cid.ts';

/** Keys are held as latin1 strings of their UTF-8 bytes, so JS string order is byte order. */
export type MstKey = string;

export interface DecodedEntry {
  key: MstKey;
  value: Uint8Array;
  right: Uint8Array | null;
}

export interface DecodedNode {
  left: Uint8Array | null;
  entries: DecodedEntry[];
}

export class MstError extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'MstError';
  }
}

/** A node or record block needed for the operation is not available (a missing proof, for a commit slice). */
export class MissingBlockError extends MstError {
  constructor(readonly cid: Uint8Array) {
    super('missing_block', 'an MST block needed for the operation is missing');
  }
}

export const MAX_ENTRIES_PER_NODE = 1024;
const MAX_KEY_BYTES = 1024;

export function keyToBytes(key: MstKey): Uint8Array {
  return Buffer.from(key, 'latin1');
}

export function keyFromString(s: string): MstKey {
  return Buffer.from(s, 'utf8').toString('latin1');
}

/**
 * Key layers seen recently. Verifying a commit re-reads the nodes near the root of the same repo again and again, and
 * each layer costs a sha256; the cache is cleared when it grows past its bound.
 */
const heightCache = new Map<MstKey, number>();
const HEIGHT_CACHE_MAX = 200_000;

/** Layer of a key: leading zero bits of sha256(key), halved (about 4 children per node). */
export function keyHeight(key: MstKey | Uint8Array): number {
  if (typeof key !== 'string') return computeHeight(key);
  let h = heightCache.get(key);
  if (h === undefined) {
    h = computeHeight(keyToBytes(key));
    if (heightCache.size >= HEIGHT_CACHE_MAX) heightCache.clear();
    heightCache.set(key, h);
  }
  return h;
}

function computeHeight(bytes: Uint8Array): number {
  const digest = sha256(bytes);
  let zeros = 0;
  for (const byte of digest) {
    if (byte === 0) {
      zeros += 8;
      continue;
    }
    zeros += Math.clz32(byte) - 24;
    break;
  }
  return zeros >> 1;
}

function link(v: unknown, what: string): Uint8Array | null {
  if (v === null) return null;
  if (v instanceof CidLinkWrapper) return v.bytes;
  throw new MstError('bad_node', `${what} is neither a link nor null`);
}

export function decodeNode(bytes: Uint8Array): DecodedNode {
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
  const entries: DecodedEntry[] = [];
  let prev = '';
  for (const e of n.e as Array<Record<string, unknown>>) {
    if (typeof e !== 'object' || e === null || !('t' in e)) throw new MstError('bad_node', 'MST entry must have t');
    const p = e.p;
    if (typeof p !== 'number' || !Number.isInteger(p) || p < 0 || p > prev.length) {
      throw new MstError('bad_node', 'MST entry prefix length is invalid');
    }
    if (!(e.k instanceof BytesWrapper)) throw new MstError('bad_node', 'MST entry key suffix is not bytes');
    const key = prev.slice(0, p) + Buffer.from(e.k.buf).toString('latin1');
    if (key.length === 0 || key.length > MAX_KEY_BYTES) throw new MstError('bad_node', 'MST key length is invalid');
    if (entries.length > 0 && key <= prev) throw new MstError('bad_node', 'MST keys are not sorted');
    const value = link(e.v, 'entry value');
    if (value === null) throw new MstError('bad_node', 'MST entry value is null');
    entries.push({ key, value, right: link(e.t, 'entry subtree') });
    prev = key;
  }
  return { left: link(n.l, 'left subtree'), entries };
}

/** Number of leading bytes two keys share. */
export function commonPrefixLength(a: MstKey, b: MstKey): number {
  const max = Math.min(a.length, b.length);
  let p = 0;
  while (p < max && a.charCodeAt(p) === b.charCodeAt(p)) p++;
  return p;
}

export function encodeNode(node: DecodedNode): Uint8Array {
  let prev = '';
  const e = node.entries.map((entry) => {
    const p = commonPrefixLength(prev, entry.key);
    prev = entry.key;
    return {
      k: new BytesWrapper(keyToBytes(entry.key.slice(p))),
      p,
      t: entry.right ? new CidLinkWrapper(entry.right) : null,
      v: new CidLinkWrapper(entry.value),
    };
  });
  return encode({ e, l: node.left ? new CidLinkWrapper(node.left) : null });
}
