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
import { createFastVerifier, createNobleVerifier, createNodeCryptoVerifier } from '../../../src/protocol/signature.ts';

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

describe('signature fixtures', () => {
  for (const make of [createFastVerifier, createNodeCryptoVerifier, createNobleVerifier]) {
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

  it('rejects junk with a typed error', () => {
    for (const bad of ['did:key:zzzz', 'did:key:abc', 'did:web:example.com', 'did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK']) {
      expect(() => parseDidKey(bad), bad).toThrow(KeyError);
    }
  });
});
