// The relay's SHA-256 binding and node:crypto give the same digests and MST layers, and refuse the same bad
// arguments; `npm test` builds the binding, so it must be the one in use here.
import { describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { nodeCryptoSha256, sha256Impl, systemSha256, type Sha256 } from '../../../src/protocol/sha256.ts';

const system = systemSha256();
const both = (): Sha256[] => [system!, nodeCryptoSha256];

function expectedLayer(key: Uint8Array): number {
  const d = createHash('sha256').update(key).digest();
  let zeros = 0;
  for (const byte of d) {
    if (byte !== 0) return (zeros + Math.clz32(byte) - 24) >> 1;
    zeros += 8;
  }
  return zeros >> 1;
}

/** Keys of the form `app.bsky.feed.like/<n>` on the wanted layer, found by counting up. */
function keysOnLayer(layer: number, count: number, from = 0): Buffer[] {
  const out: Buffer[] = [];
  for (let i = from; out.length < count; i++) {
    const key = Buffer.from(`app.bsky.feed.like/3k${i.toString(36).padStart(11, '2')}`);
    if (expectedLayer(key) === layer) out.push(key);
  }
  return out;
}

function laidEndToEnd(keys: Uint8Array[]): { keys: Uint8Array; ends: Uint32Array } {
  const all = Buffer.concat(keys);
  const ends = new Uint32Array(keys.length);
  let at = 0;
  keys.forEach((k, i) => (ends[i] = at += k.length));
  return { keys: all, ends };
}

describe('sha256', () => {
  it('uses the binding npm test built', () => {
    expect(system, 'native/build/sha256.node is missing: run bash scripts/build-native.sh').not.toBeNull();
    expect(sha256Impl.name).toBe(system!.name);
  });

  it('writes the digest of any input at the offset given, with either implementation', () => {
    const inputs = [Buffer.alloc(0), ...[1, 31, 55, 56, 63, 64, 65, 300, 1500, 70_000].map((n) => randomBytes(n))];
    for (const impl of both()) {
      for (const data of inputs) {
        const out = new Uint8Array(new ArrayBuffer(40)).fill(7);
        impl.digestInto(data, out, 4);
        expect(Buffer.from(out.subarray(4, 36)).equals(createHash('sha256').update(data).digest()), `${impl.name}, ${data.length} bytes`).toBe(true);
        expect([...out.subarray(0, 4), ...out.subarray(36)]).toEqual([7, 7, 7, 7, 7, 7, 7, 7]);
        // A view into a larger buffer hashes only its own bytes.
        const wide = Buffer.concat([Buffer.from('xx'), data, Buffer.from('yy')]);
        impl.digestInto(wide.subarray(2, 2 + data.length), out, 0);
        expect(Buffer.from(out.subarray(0, 32)).equals(createHash('sha256').update(data).digest())).toBe(true);
      }
      expect(() => impl.digestInto(Buffer.from('a'), new Uint8Array(new ArrayBuffer(40)), 9)).toThrow(RangeError);
      expect(() => impl.digestInto(Buffer.from('a'), new Uint8Array(new ArrayBuffer(31)), 0)).toThrow(RangeError);
    }
    expect(() => system!.digestInto('abc' as unknown as Uint8Array, new Uint8Array(32), 0)).toThrow(TypeError);
  });

  it('reads the layer a node\'s keys share, or that they do not', () => {
    const layer0 = keysOnLayer(0, 6);
    const layer1 = keysOnLayer(1, 3);
    const layer2 = keysOnLayer(2, 2);
    for (const impl of both()) {
      for (const [keys, want] of [
        [layer0, 0],
        [layer1, 1],
        [layer2, 2],
        [[layer2[0]!], 2],
        [[...layer1, layer0[0]!], -1],
        [[layer0[0]!, ...layer1], -1],
        [[], 0],
      ] as const) {
        const { keys: flat, ends } = laidEndToEnd([...keys]);
        expect(impl.commonLayer(flat, ends, keys.length), `${impl.name}: ${keys.length} keys`).toBe(want);
      }
      // Only the first n keys count.
      const { keys: flat, ends } = laidEndToEnd([...layer1, layer0[0]!]);
      expect(impl.commonLayer(flat, ends, layer1.length)).toBe(1);
      // A key of no bytes is sha256 of nothing: layer 0.
      expect(impl.commonLayer(new Uint8Array(0), new Uint32Array([0]), 1)).toBe(expectedLayer(new Uint8Array(0)));
      expect(() => impl.commonLayer(flat, ends, ends.length + 1)).toThrow(RangeError);
      expect(() => impl.commonLayer(flat, new Uint32Array([flat.length + 1]), 1)).toThrow(RangeError);
      expect(() => impl.commonLayer(flat, new Uint32Array([5, 3]), 2)).toThrow(RangeError);
    }
    expect(() => system!.commonLayer(Buffer.from('abc'), new Uint16Array([3]) as unknown as Uint32Array, 1)).toThrow(TypeError);
  });
});
