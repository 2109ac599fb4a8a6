// ECDSA verification of atproto signatures: 64-byte compact r||s over sha256(message), low-S required on both
// curves. Three implementations behind one interface, fastest first (measured in bench/verify.ts):
//   secp256k1: libsecp256k1, the system library (~50 µs) or the npm prebuild (~63 µs) > node:crypto/OpenSSL
//              (~380 µs) > @noble/curves (~1,800 µs)
//   P-256:     node:crypto with a cached KeyObject (~80 µs) > @noble/curves (~2,800 µs)
import { createPublicKey, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { p256 } from '@noble/curves/nist.js';
import { digestScratch } from './sha256.ts';
import type { Curve, PublicKey } from './did-key.ts';

export interface SignatureVerifier {
  readonly name: string;
  verify(key: PublicKey, message: Uint8Array, sig: Uint8Array): boolean;
}

const HALF_N: Record<Curve, Buffer> = {
  k256: Buffer.from('7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0', 'hex'),
  p256: Buffer.from('7fffffff800000007fffffffffffffffde737d56d38bcf4279dce5617e3192a8', 'hex'),
};

/** SubjectPublicKeyInfo up to an uncompressed (65-byte) point. */
const SPKI_PREFIX: Record<Curve, Buffer> = {
  k256: Buffer.from('3056301006072a8648ce3d020106052b8104000a034200', 'hex'),
  p256: Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex'),
};

/** OpenSSL accepts high-S signatures; atproto does not. */
function isLowS(curve: Curve, sig: Uint8Array): boolean {
  return Buffer.compare(Buffer.from(sig.buffer, sig.byteOffset + 32, 32), HALF_N[curve]) <= 0;
}

/**
 * A KeyObject costs a share of a verification to build (~22 µs from a compressed point, whose square root OpenSSL
 * takes, ~12 from the uncompressed one the key was parsed into, against ~35 µs for a P-256 check): keep recent ones.
 */
class KeyObjectCache {
  private readonly map = new Map<string, KeyObject>();

  private readonly max: number;
  constructor(max = 50_000) {
    this.max = max;
  }

  get(key: PublicKey): KeyObject {
    const id = `${key.curve}:${Buffer.from(key.compressed).toString('latin1')}`;
    let obj = this.map.get(id);
    if (obj) {
      this.map.delete(id);
    } else {
      obj = createPublicKey({ key: Buffer.concat([SPKI_PREFIX[key.curve], key.uncompressed]), format: 'der', type: 'spki' });
      if (this.map.size >= this.max) this.map.delete(this.map.keys().next().value as string);
    }
    this.map.set(id, obj);
    return obj;
  }
}

function wellFormed(sig: Uint8Array): boolean {
  return sig.length === 64;
}

export function createNodeCryptoVerifier(): SignatureVerifier {
  const cache = new KeyObjectCache();
  return {
    name: 'node:crypto',
    verify(key, message, sig) {
      if (!wellFormed(sig) || !isLowS(key.curve, sig)) return false;
      try {
        return nodeVerify('sha256', message, { key: cache.get(key), dsaEncoding: 'ieee-p1363' }, sig);
      } catch {
        return false;
      }
    },
  };
}

export function createNobleVerifier(): SignatureVerifier {
  return {
    name: 'noble',
    verify(key, message, sig) {
      if (!wellFormed(sig)) return false;
      try {
        const impl = key.curve === 'k256' ? secp256k1 : p256;
        return impl.verify(sig, message, key.compressed, { prehash: true, lowS: true, format: 'compact' });
      } catch {
        return false;
      }
    },
  };
}

/** A libsecp256k1 binding, as far as it is used: the relay verifies and parses keys, the test fixture signs. */
export interface NativeSecp256k1 {
  readonly name: string;
  ecdsaVerify(sig: Uint8Array, msg32: Uint8Array, pubkey: Uint8Array): boolean;
  ecdsaSign(msg32: Uint8Array, privateKey: Uint8Array): Uint8Array;
  /** The 65-byte point of a 33- or 65-byte key; null when it is not on the curve. */
  uncompress(pubkey: Uint8Array): Uint8Array | null;
}

const require = createRequire(import.meta.url);

/** The relay's own binding to the system libsecp256k1 (native/secp256k1.c, built by scripts/build-native.sh). */
export function loadSystemSecp256k1(): NativeSecp256k1 | null {
  let addon: {
    verify(sig: Uint8Array, msg: Uint8Array, pub: Uint8Array): boolean;
    sign(msg: Uint8Array, key: Uint8Array): Uint8Array;
    uncompress?(pub: Uint8Array): Uint8Array | null;
  };
  try {
    addon = require('../../native/build/secp256k1.node');
  } catch {
    return null;
  }
  // An addon built before uncompress existed is rebuilt on the next npm install; until then, the prebuild serves.
  if (!addon.uncompress) return null;
  return { name: 'libsecp256k1 (system)', ecdsaVerify: addon.verify, ecdsaSign: addon.sign, uncompress: addon.uncompress };
}

/** The prebuilt addon of the `secp256k1` npm package: a 2019 libsecp256k1, slower, but present wherever npm is. */
export function loadPrebuiltSecp256k1(): NativeSecp256k1 | null {
  let addon: {
    ecdsaVerify(sig: Uint8Array, msg: Uint8Array, pub: Uint8Array): boolean;
    ecdsaSign(msg: Uint8Array, key: Uint8Array): { signature: Uint8Array };
    publicKeyConvert(pub: Uint8Array, compressed: boolean): Uint8Array;
  };
  try {
    addon = require('secp256k1/bindings.js');
  } catch {
    return null;
  }
  return {
    name: 'libsecp256k1 (npm prebuild)',
    ecdsaVerify: (sig, msg, pub) => addon.ecdsaVerify(sig, msg, pub),
    ecdsaSign: (msg, key) => addon.ecdsaSign(msg, key).signature,
    uncompress: (pub) => {
      try {
        return addon.publicKeyConvert(pub, false);
      } catch {
        return null;
      }
    },
  };
}

/** The fastest libsecp256k1 binding on this machine, or null (then secp256k1 falls back to node:crypto). */
export function loadNativeSecp256k1(): NativeSecp256k1 | null {
  return loadSystemSecp256k1() ?? loadPrebuiltSecp256k1();
}

/** The fastest correct path available on this machine. */
export function createFastVerifier(native: NativeSecp256k1 | null = loadNativeSecp256k1()): SignatureVerifier {
  const node = createNodeCryptoVerifier();
  if (!native) return { ...node, name: 'node:crypto (no native secp256k1)' };
  return {
    name: `${native.name}+node:crypto`,
    verify(key, message, sig) {
      if (key.curve === 'p256') return node.verify(key, message, sig);
      if (!wellFormed(sig)) return false;
      try {
        // libsecp256k1 rejects high-S signatures itself.
        // Uncompressed: libsecp256k1 parses the key on every call, and a compressed one costs a square root there
        // (~8 µs, a tenth of the verification). The digest stays in its off-heap scratch: a fresh 32-byte array
        // lives on the V8 heap, and the binding's first look at it moves it out (~0.6 µs).
        return native.ecdsaVerify(sig, digestScratch(message), key.uncompressed);
      } catch {
        return false;
      }
    },
  };
}
