// Public keys as atproto encodes them: multikey (multicodec prefix + 33-byte compressed point, base58btc with 'z'),
// did:key, and the legacy verification-method types that carry the raw key.
import { ECDH } from 'node:crypto';
import { base58btc } from 'multiformats/bases/base58';
import { loadNativeSecp256k1 } from './signature.ts';
import { ReasonError } from '../core/reason-error.ts';

export type Curve = 'k256' | 'p256';

export interface PublicKey {
  curve: Curve;
  /** 33-byte compressed point: how atproto encodes keys. */
  compressed: Uint8Array;
  /** 65-byte uncompressed point: libsecp256k1 parses it without the square root a compressed one costs. */
  uncompressed: Uint8Array;
}

export class KeyError extends ReasonError {}

const PREFIX: Record<Curve, readonly [number, number]> = { k256: [0xe7, 0x01], p256: [0x80, 0x24] };
const LEGACY_TYPES: Record<string, Curve> = {
  EcdsaSecp256k1VerificationKey2019: 'k256',
  EcdsaSecp256r1VerificationKey2019: 'p256',
};

function decodeBase58(multibase: string): Uint8Array {
  if (!multibase.startsWith('z')) throw new KeyError('bad_key', 'key is not base58btc multibase');
  try {
    return base58btc.decode(multibase);
  } catch (err) {
    throw new KeyError('bad_key', `invalid base58btc: ${(err as Error).message}`);
  }
}

const OPENSSL_CURVE: Record<Curve, string> = { k256: 'secp256k1', p256: 'prime256v1' };
const native = loadNativeSecp256k1();

/**
 * Validates a point (33 or 65 bytes) on the curve, once per key, in both encodings. Every first-seen account costs
 * one, on the main thread: a compressed point's square root took @noble/curves ~200 µs (a fifth of the main thread
 * in a burst of new accounts), OpenSSL ~60 µs, libsecp256k1 a few (docs/perf-journal.md).
 */
function toPublicKey(curve: Curve, raw: Uint8Array): PublicKey {
  // 0x02/0x03 compressed, 0x04 uncompressed; libsecp256k1 and OpenSSL would also take the hybrid 0x06/0x07.
  const form = raw.length === 33 ? raw[0] === 0x02 || raw[0] === 0x03 : raw[0] === 0x04;
  if (!form) throw new KeyError('bad_key', `not a valid ${curve} public key`);
  const uncompressed = curve === 'k256' && native ? native.uncompress(raw) : opensslConvert(curve, raw, 'uncompressed');
  if (!uncompressed) throw new KeyError('bad_key', `not a valid ${curve} public key`);
  const compressed = raw.length === 33 ? raw : opensslConvert(curve, uncompressed, 'compressed')!;
  return { curve, compressed: new Uint8Array(compressed), uncompressed: new Uint8Array(uncompressed) };
}

function opensslConvert(curve: Curve, raw: Uint8Array, form: 'compressed' | 'uncompressed'): Uint8Array | null {
  try {
    return ECDH.convertKey(raw, OPENSSL_CURVE[curve], undefined, undefined, form) as Buffer;
  } catch {
    return null;
  }
}

export function parseMultikey(multibase: string): PublicKey {
  const bytes = decodeBase58(multibase);
  for (const curve of ['k256', 'p256'] as const) {
    const [a, b] = PREFIX[curve];
    if (bytes[0] === a && bytes[1] === b) {
      const raw = bytes.subarray(2);
      if (raw.length !== 33) throw new KeyError('bad_key', `multikey ${curve} point must be 33 bytes`);
      return toPublicKey(curve, raw);
    }
  }
  throw new KeyError('unsupported_key', 'multikey is neither secp256k1 nor P-256');
}

export function parseDidKey(didKey: string): PublicKey {
  if (!didKey.startsWith('did:key:')) throw new KeyError('bad_key', 'not a did:key');
  return parseMultikey(didKey.slice('did:key:'.length));
}

export function parseLegacyVerificationKey(type: string, publicKeyMultibase: string): PublicKey {
  const curve = LEGACY_TYPES[type];
  if (!curve) throw new KeyError('unsupported_key', `unsupported verification method type ${type}`);
  const raw = decodeBase58(publicKeyMultibase);
  if (raw.length !== 33 && raw.length !== 65) throw new KeyError('bad_key', 'legacy key must be 33 or 65 bytes');
  return toPublicKey(curve, raw);
}

export function formatMultikey(key: Pick<PublicKey, 'curve' | 'compressed'>): string {
  return base58btc.encode(Uint8Array.from([...PREFIX[key.curve], ...key.compressed]));
}

export function formatDidKey(key: Pick<PublicKey, 'curve' | 'compressed'>): string {
  return `did:key:${formatMultikey(key)}`;
}
