// Public keys as atproto encodes them: multikey (multicodec prefix + 33-byte compressed point, base58btc with 'z'),
// did:key, and the legacy verification-method types that carry the raw key.
import { base58btc } from 'multiformats/bases/base58';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { p256 } from '@noble/curves/nist.js';

export type Curve = 'k256' | 'p256';

export interface PublicKey {
  curve: Curve;
  /** 33-byte compressed point: how atproto encodes keys. */
  compressed: Uint8Array;
  /** 65-byte uncompressed point: libsecp256k1 parses it without the square root a compressed one costs. */
  uncompressed: Uint8Array;
}

export class KeyError extends Error {
  readonly reason: string;
  constructor(
    reason: string,
    message: string,
  ) {
    super(message);
    this.reason = reason;
    this.name = 'KeyError';
  }
}

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

/** Validates a point (33 or 65 bytes) on the curve, once per key, in both encodings. */
function toPublicKey(curve: Curve, raw: Uint8Array): PublicKey {
  try {
    const point = (curve === 'k256' ? secp256k1 : p256).Point.fromBytes(raw);
    return { curve, compressed: point.toBytes(true), uncompressed: point.toBytes(false) };
  } catch {
    throw new KeyError('bad_key', `not a valid ${curve} public key`);
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
