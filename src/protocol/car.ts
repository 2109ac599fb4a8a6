// CAR v1 slices: every block's CID is checked against its bytes before anything trusts it.
import { fromUint8Array } from '@atcute/car';
import { encode } from '@atcute/cbor';
import { CidLinkWrapper } from '@atcute/cid';
import { cidMatches } from './cid.ts';

export class CarError extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'CarError';
  }
}

/** Blocks by CID. Keys are the CID bytes as a latin1 string: cheap to build, exact to compare. */
export class BlockMap {
  private readonly map = new Map<string, Uint8Array>();

  static key(cid: Uint8Array): string {
    return Buffer.from(cid.buffer, cid.byteOffset, cid.byteLength).toString('latin1');
  }

  get(cid: Uint8Array): Uint8Array | undefined {
    return this.map.get(BlockMap.key(cid));
  }

  has(cid: Uint8Array): boolean {
    return this.map.has(BlockMap.key(cid));
  }

  set(cid: Uint8Array, bytes: Uint8Array): void {
    this.map.set(BlockMap.key(cid), bytes);
  }

  get size(): number {
    return this.map.size;
  }

  *entries(): IterableIterator<{ cid: Uint8Array; bytes: Uint8Array }> {
    for (const [k, bytes] of this.map) yield { cid: new Uint8Array(Buffer.from(k, 'latin1')), bytes };
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
    const reader = fromUint8Array(bytes);
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
