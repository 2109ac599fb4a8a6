// SHA-256 on the verify path: block CIDs and MST key layers. The relay's binding (native/sha256.c, built by
// scripts/build-native.sh against the OpenSSL inside Node) where it was built, else node:crypto; both give the same
// answers (test/unit/protocol/sha256.test.ts).
import { hash } from 'node:crypto';
import { createRequire } from 'node:module';

export interface Sha256 {
  readonly name: string;
  /** sha256(data) into out[at .. at + 32). */
  digestInto(data: Uint8Array, out: Uint8Array, at: number): void;
  /**
   * The MST layer (leading zero bits of sha256(key), halved) the first n keys share, laid end to end in `keys`
   * (key i ends at ends[i]); -1 when they differ, 0 for none.
   */
  commonLayer(keys: Uint8Array, ends: Uint32Array, n: number): number;
}

/** Leading zero bits of a digest, halved: the MST layer of the key it hashes. */
function layerOfDigest(digest: Uint8Array): number {
  let zeros = 0;
  for (let i = 0; i < 32; i++) {
    const byte = digest[i]!;
    if (byte !== 0) return (zeros + Math.clz32(byte) - 24) >> 1;
    zeros += 8;
  }
  return zeros >> 1;
}

export const nodeCryptoSha256: Sha256 = {
  name: 'node:crypto',
  digestInto(data, out, at) {
    if (at + 32 > out.length) throw new RangeError('the digest does not fit at that offset');
    // As a latin1 string: node:crypto returns that at well under half the cost of a Buffer.
    const digest = hash('sha256', data, 'binary');
    for (let i = 0; i < 32; i++) out[at + i] = digest.charCodeAt(i);
  },
  commonLayer(keys, ends, n) {
    if (n > ends.length) throw new RangeError('n is more than ends holds');
    let layer = 0;
    let start = 0;
    for (let i = 0; i < n; i++) {
      const end = ends[i]!;
      if (end < start || end > keys.length) throw new RangeError("a key's end is outside keys or before the previous one");
      const height = layerOfDigest(hash('sha256', keys.subarray(start, end), 'buffer'));
      start = end;
      if (i === 0) layer = height;
      else if (height !== layer) return -1;
    }
    return layer;
  },
};

const require = createRequire(import.meta.url);

/** The relay's binding, or null where it was not built (no C compiler, or Node's headers missing). */
export function systemSha256(): Sha256 | null {
  let addon: Omit<Sha256, 'name'>;
  try {
    addon = require('../../native/build/sha256.node');
  } catch {
    return null;
  }
  return { name: 'OpenSSL in Node (native/sha256.c)', digestInto: addon.digestInto, commonLayer: addon.commonLayer };
}

/** What the verify path uses: chosen once, as a hash function is a pure function of its input whichever runs it. */
export const sha256Impl: Sha256 = systemSha256() ?? nodeCryptoSha256;

// Off the V8 heap (a typed array this small would live on it, and the binding would have to move it out first).
const scratch = new Uint8Array(new ArrayBuffer(32));

/** The digest in a scratch array the next call overwrites: copy what you keep. */
export function digestScratch(data: Uint8Array): Uint8Array {
  sha256Impl.digestInto(data, scratch, 0);
  return scratch;
}

/** The MST layer of one key. */
export function keyLayer(key: Uint8Array): number {
  return layerOfDigest(digestScratch(key));
}
