// CAR v1 slices: every block's CID is checked against its bytes before anything trusts it.
import { fromUint8Array } from '@atcute/car';
import { encode } from '@atcute/cbor';
import { CidLinkWrapper } from '@atcute/cid';
import { cidEquals, cidMatches } from './cid.ts';

export class CarError extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'CarError';
  }
}

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

export function readCar(bytes: Uint8Array, opts: { maxBlocks?: number } = {}): Car {
  const maxBlocks = opts.maxBlocks ?? 10_000;
  const blocks = new BlockMap();
  let roots: Uint8Array[];
  try {
    // Blocks are views of the input; as plain Uint8Arrays (not Buffers) their many small views cost far less.
    const reader = fromUint8Array(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    roots = reader.roots.map((r) => {
      if (!(r instanceof CidLinkWrapper)) throw new Error('root is not a CID');
      return r.bytes;
    });
    for (const entry of reader) {
      if (blocks.size >= maxBlocks) throw new CarError('too_many_blocks', `more than ${maxBlocks} blocks`);
      if (!cidMatches(entry.cid.bytes, entry.bytes)) {
        throw new CarError('bad_cid', 'a block does not hash to its CID');
      }
      blocks.set(entry.cid.bytes, entry.bytes);
    }
  } catch (err) {
    if (err instanceof CarError) throw err;
    throw new CarError('bad_car', `invalid CAR: ${(err as Error).message}`);
  }
  if (roots.length === 0) throw new CarError('bad_car', 'CAR has no root');
  return { roots, blocks };
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
