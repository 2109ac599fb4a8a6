// CAR v1 slices: every block's CID is checked against its bytes before anything trusts it.
import { decode, encode } from '@atcute/cbor';
import { CidLinkWrapper } from '@atcute/cid';
import { cidEquals, cidMatches, CODEC_DCBOR, CODEC_RAW, SHA256_CODE } from './cid.ts';
import { ReasonError } from '../core/reason-error.ts';

export class CarError extends ReasonError {}

interface Slot {
  cid: Uint8Array;
  bytes: Uint8Array;
  next: Slot | null;
}

/**
 * Blocks by CID. The map key is a number made of the CID's last 45 bits (digest bits, uniformly spread), with
 * exact comparison on hit: a string key per lookup cost several times more, and a verification looks blocks up
 * dozens of times per commit. Colliding on 45 bits of sha-256 on purpose is far too costly to be a threat.
 */
export class BlockMap {
  private readonly map = new Map<number, Slot>();
  private count = 0;

  private static key(cid: Uint8Array): number {
    const n = cid.length;
    // Not a CID anyone hashes to; the exact comparison still tells them apart.
    if (n < 6) return -n;
    return cid[n - 1]! + cid[n - 2]! * 0x100 + cid[n - 3]! * 0x10000 + cid[n - 4]! * 0x1000000 + cid[n - 5]! * 0x100000000 + (cid[n - 6]! & 0x1f) * 0x10000000000;
  }

  private find(cid: Uint8Array): Slot | null {
    let slot = this.map.get(BlockMap.key(cid)) ?? null;
    while (slot !== null && !cidEquals(slot.cid, cid)) slot = slot.next;
    return slot;
  }

  get(cid: Uint8Array): Uint8Array | undefined {
    return this.find(cid)?.bytes;
  }

  has(cid: Uint8Array): boolean {
    return this.find(cid) !== null;
  }

  set(cid: Uint8Array, bytes: Uint8Array): void {
    const existing = this.find(cid);
    if (existing) {
      existing.bytes = bytes;
      return;
    }
    const key = BlockMap.key(cid);
    this.map.set(key, { cid, bytes, next: this.map.get(key) ?? null });
    this.count++;
  }

  get size(): number {
    return this.count;
  }

  *entries(): IterableIterator<{ cid: Uint8Array; bytes: Uint8Array }> {
    for (const first of this.map.values()) {
      for (let slot: Slot | null = first; slot !== null; slot = slot.next) yield { cid: slot.cid, bytes: slot.bytes };
    }
  }
}

export interface Car {
  roots: Uint8Array[];
  blocks: BlockMap;
}

/**
 * Reads a CAR v1 slice whose blocks all have blessed 36-byte CIDs (CIDv1, dag-cbor or raw, sha-256), as atproto
 * requires; every block is hashed against its CID. Read straight from the bytes: a generic reader's per-block
 * iterator and CID objects cost about as much as the hashing. `verified`: the slice was checked when it came in (it
 * is read back from the log), so its blocks are not hashed again.
 */
export function readCar(bytes: Uint8Array, opts: { maxBlocks?: number; verified?: boolean } = {}): Car {
  const maxBlocks = opts.maxBlocks ?? 10_000;
  // Blocks are views of the input; as plain Uint8Arrays (not Buffers) their many small views cost far less.
  const b = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const [headerLength, headerStart] = readVarint(b, 0);
  if (headerLength === 0) throw new CarError('bad_car', 'invalid CAR: empty header');
  const headerEnd = headerStart + headerLength;
  if (headerEnd > b.length) throw new CarError('bad_car', 'invalid CAR: header runs past the end');
  let header: unknown;
  try {
    header = decode(b.subarray(headerStart, headerEnd));
  } catch (err) {
    throw new CarError('bad_car', `invalid CAR: header is not DRISL: ${(err as Error).message}`);
  }
  const { version, roots } = (header ?? {}) as { version?: unknown; roots?: unknown };
  if (version !== 1 || !Array.isArray(roots) || !roots.every((r) => r instanceof CidLinkWrapper)) {
    throw new CarError('bad_car', 'invalid CAR: not a CAR v1 header');
  }
  if (roots.length === 0) throw new CarError('bad_car', 'CAR has no root');
  const blocks = new BlockMap();
  let pos = headerEnd;
  while (pos < b.length) {
    if (blocks.size >= maxBlocks) throw new CarError('too_many_blocks', `more than ${maxBlocks} blocks`);
    const [length, start] = readVarint(b, pos);
    const end = start + length;
    if (length < CID_BYTES) throw new CarError('bad_car', `invalid CAR: block of ${length} bytes`);
    if (end > b.length) throw new CarError('bad_car', 'invalid CAR: block runs past the end');
    const cid = b.subarray(start, start + CID_BYTES);
    if (cid[0] !== 0x01 || (cid[1] !== CODEC_DCBOR && cid[1] !== CODEC_RAW) || cid[2] !== SHA256_CODE || cid[3] !== 0x20) {
      throw new CarError('bad_car', 'invalid CAR: a block CID is not CIDv1 dag-cbor/raw sha-256');
    }
    const data = b.subarray(start + CID_BYTES, end);
    if (!opts.verified && !cidMatches(cid, data)) throw new CarError('bad_cid', 'a block does not hash to its CID');
    blocks.set(cid, data);
    pos = end;
  }
  return { roots: (roots as CidLinkWrapper[]).map((r) => r.bytes), blocks };
}

const CID_BYTES = 36;

/** An unsigned LEB128 varint at `pos` (at most 8 bytes, as CAR lengths need): its value and the position after it. */
function readVarint(b: Uint8Array, pos: number): [number, number] {
  let value = 0;
  for (let i = 0; i < 8; i++) {
    if (pos + i >= b.length) throw new CarError('bad_car', 'invalid CAR: truncated length');
    const byte = b[pos + i]!;
    value += (byte & 0x7f) * 2 ** (7 * i);
    if (byte < 0x80) return [value, pos + i + 1];
  }
  throw new CarError('bad_car', 'invalid CAR: length too long');
}

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

export function writeCar(roots: Uint8Array[], blocks: Iterable<{ cid: Uint8Array; bytes: Uint8Array }>): Uint8Array {
  const header = encode({ version: 1, roots: roots.map((r) => new CidLinkWrapper(r)) });
  const parts: Uint8Array[] = [Uint8Array.from(varint(header.length)), header];
  for (const { cid, bytes } of blocks) {
    parts.push(Uint8Array.from(varint(cid.length + bytes.length)), cid, bytes);
  }
  return Buffer.concat(parts);
}
