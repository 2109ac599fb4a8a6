// Signature and key encodings against the official interop vectors, for every verifier implementation.
import { describe, expect, it } from 'vitest';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { p256 } from '@noble/curves/nist.js';
import { base58btc } from 'multiformats/bases/base58';
import { interopJson } from '../../helpers/interop.ts';
import {
  formatDidKey,
  formatMultikey,
  parseDidKey,
  parseLegacyVerificationKey,
  parseMultikey,
  KeyError,
} from '../../../src/protocol/did-key.ts';
import {
  createFastVerifier,
  createNobleVerifier,
  createNodeCryptoVerifier,
  loadPrebuiltSecp256k1,
  loadSystemSecp256k1,
  type NativeSecp256k1,
} from '../../../src/protocol/signature.ts';

const interop = (path: string) => interopJson<unknown>(path);

interface SigFixture {
  comment: string;
  messageBase64: string;
  algorithm: 'ES256' | 'ES256K';
  didDocSuite: string;
  publicKeyDid: string;
  publicKeyMultibase: string;
  signatureBase64: string;
  validSignature: boolean;
  tags: string[];
}

const b64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));
const sigFixtures = interop('crypto/signature-fixtures.json') as SigFixture[];

// `npm test` builds the system binding (scripts/build-native.sh --install); both libsecp256k1 paths must be here.
const system = loadSystemSecp256k1();
const prebuilt = loadPrebuiltSecp256k1();
const bound = (native: NativeSecp256k1 | null, what: string): NativeSecp256k1 => {
  if (!native) throw new Error(`${what} is not available: run bash scripts/build-native.sh --install`);
  return native;
};

describe('signature fixtures', () => {
  const makers = [
    () => createFastVerifier(bound(system, 'the system libsecp256k1 binding')),
    () => createFastVerifier(bound(prebuilt, 'the secp256k1 npm prebuild')),
    createNodeCryptoVerifier,
    createNobleVerifier,
  ];
  for (const make of makers) {
    const verifier = make();
    describe(verifier.name, () => {
      for (const f of sigFixtures) {
        it(`${f.comment} -> ${f.validSignature ? 'valid' : 'invalid'}`, () => {
          const key = parseDidKey(f.publicKeyDid);
          expect(key.curve).toBe(f.algorithm === 'ES256K' ? 'k256' : 'p256');
          expect(verifier.verify(key, b64(f.messageBase64), b64(f.signatureBase64))).toBe(f.validSignature);
        });
      }
    });
  }

  it('prefers the system libsecp256k1 binding', () => {
    expect(createFastVerifier().name).toBe('libsecp256k1 (system)+node:crypto');
  });

  it('signs with both libsecp256k1 bindings alike (deterministic nonces, low-S) and each verifies the other', () => {
    const [a, b] = [bound(system, 'system binding'), bound(prebuilt, 'npm prebuild')];
    const privateKey = secp256k1.utils.randomSecretKey();
    const pub = secp256k1.getPublicKey(privateKey, false);
    for (let i = 0; i < 20; i++) {
      const msg = secp256k1.utils.randomSecretKey();
      const sig = a.ecdsaSign(msg, privateKey);
      expect(Buffer.from(sig)).toEqual(Buffer.from(b.ecdsaSign(msg, privateKey)));
      expect(a.ecdsaVerify(sig, msg, pub) && b.ecdsaVerify(sig, msg, pub)).toBe(true);
      sig[5]! ^= 1;
      expect(a.ecdsaVerify(sig, msg, pub) || b.ecdsaVerify(sig, msg, pub)).toBe(false);
    }
  });

  it('uncompresses keys alike in both libsecp256k1 bindings, and refuses points off the curve', () => {
    const system = loadSystemSecp256k1()!;
    const prebuilt = loadPrebuiltSecp256k1()!;
    const pub = secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true);
    const expected = Buffer.from(secp256k1.Point.fromBytes(pub).toBytes(false));
    expect(Buffer.from(system.uncompress(pub)!)).toEqual(expected);
    expect(Buffer.from(prebuilt.uncompress(pub)!)).toEqual(expected);
    const off = new Uint8Array(33).fill(0xff);
    off[0] = 0x02;
    expect(system.uncompress(off)).toBeNull();
    expect(prebuilt.uncompress(off)).toBeNull();
  });

  it('the system binding rejects malformed arguments without crashing', () => {
    const a = bound(system, 'system binding');
    const pub = secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true);
    expect(a.ecdsaVerify(new Uint8Array(63), new Uint8Array(32), pub)).toBe(false);
    expect(a.ecdsaVerify(new Uint8Array(64), new Uint8Array(31), pub)).toBe(false);
    expect(a.ecdsaVerify(new Uint8Array(64), new Uint8Array(32), new Uint8Array(33))).toBe(false);
    expect(() => a.ecdsaVerify('x' as unknown as Uint8Array, new Uint8Array(32), pub)).toThrow(TypeError);
    expect(() => a.ecdsaSign(new Uint8Array(32), new Uint8Array(32))).toThrow(/signing failed/);
  });

  it('covers high-S and DER cases', () => {
    const tags = sigFixtures.flatMap((f) => f.tags);
    expect(tags).toContain('high-s');
    expect(tags).toContain('der-encoded');
  });

  it('parses the legacy publicKeyMultibase form of each fixture key to the same key', () => {
    for (const f of sigFixtures) {
      const fromDid = parseDidKey(f.publicKeyDid);
      const legacy = parseLegacyVerificationKey(f.didDocSuite, f.publicKeyMultibase);
      expect(Buffer.from(legacy.compressed)).toEqual(Buffer.from(fromDid.compressed));
    }
  });
});

describe('did:key', () => {
  for (const [file, curve, impl] of [
    ['crypto/w3c_didkey_K256.json', 'k256', secp256k1],
    ['crypto/w3c_didkey_P256.json', 'p256', p256],
  ] as const) {
    it(`derives and round-trips every ${curve} vector`, () => {
      const vectors = interop(file) as Array<{ privateKeyBytesHex?: string; privateKeyBytesBase58?: string; publicDidKey: string }>;
      expect(vectors.length).toBeGreaterThan(0);
      for (const v of vectors) {
        const key = parseDidKey(v.publicDidKey);
        expect(key.curve).toBe(curve);
        expect(formatDidKey(key)).toBe(v.publicDidKey);
        if (v.privateKeyBytesHex) {
          const pub = impl.getPublicKey(Buffer.from(v.privateKeyBytesHex, 'hex'), true);
          expect(Buffer.from(key.compressed)).toEqual(Buffer.from(pub));
        }
      }
    });
  }

  it('accepts uncompressed legacy keys and compresses them', () => {
    const priv = secp256k1.utils.randomSecretKey();
    const uncompressed = secp256k1.getPublicKey(priv, false);
    const key = parseLegacyVerificationKey('EcdsaSecp256k1VerificationKey2019', base58btc.encode(uncompressed));
    expect(Buffer.from(key.compressed)).toEqual(Buffer.from(secp256k1.getPublicKey(priv, true)));
    expect(parseMultikey(formatMultikey(key))).toEqual(key);
  });

  it('agrees with @noble/curves on which points lie on each curve, in both encodings, and refuses hybrid prefixes', () => {
    for (const [curve, impl, prefix] of [['k256', secp256k1, [0xe7, 0x01]], ['p256', p256, [0x80, 0x24]]] as const) {
      let invalid = 0;
      for (let i = 0; i < 200; i++) {
        const raw = new Uint8Array([2 + (i & 1), ...impl.utils.randomSecretKey()]);
        let expected: Uint8Array | null = null;
        try {
          expected = impl.Point.fromBytes(raw).toBytes(false);
        } catch {
          invalid++;
        }
        const multikey = base58btc.encode(new Uint8Array([...prefix, ...raw]));
        if (expected) expect(Buffer.from(parseMultikey(multikey).uncompressed), curve).toEqual(Buffer.from(expected));
        else expect(() => parseMultikey(multikey), curve).toThrow(KeyError);
      }
      // About half of all x coordinates are on neither curve: both branches ran.
      expect(invalid).toBeGreaterThan(50);
      const uncompressed = impl.getPublicKey(impl.utils.randomSecretKey(), false);
      const type = curve === 'k256' ? 'EcdsaSecp256k1VerificationKey2019' : 'EcdsaSecp256r1VerificationKey2019';
      expect(parseLegacyVerificationKey(type, base58btc.encode(uncompressed)).compressed[0]).toBeOneOf([2, 3]);
      const hybrid = new Uint8Array(uncompressed);
      hybrid[0] = 0x06 | (uncompressed[64]! & 1);
      expect(() => parseLegacyVerificationKey(type, base58btc.encode(hybrid))).toThrow(KeyError);
    }
  });

  it('rejects junk with a typed error', () => {
    for (const bad of ['did:key:zzzz', 'did:key:abc', 'did:web:example.com', 'did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK']) {
      expect(() => parseDidKey(bad), bad).toThrow(KeyError);
    }
  });
});
