// CIDs stay as raw bytes (36 bytes for blessed dag-cbor/raw sha-256 CIDs) until someone needs a string.
import * as CID from '@atcute/cid';
import { digestScratch } from './sha256.ts';

export const CODEC_DCBOR = 0x71;
export const CODEC_RAW = 0x55;
export const SHA256_CODE = 0x12;

export type CidBytes = Uint8Array;

// A verification hashes every block it sees: each digest lands in one scratch and is copied into a small array (a
// 32- or 36-byte copy as a loop costs less than any call that would make the array).
export function sha256(data: Uint8Array): Uint8Array {
  const digest = digestScratch(data);
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = digest[i]!;
  return out;
}

/** CID (v1, sha-256) of a block with the given codec. */
export function cidForBlock(data: Uint8Array, codec: 0x71 | 0x55 = CODEC_DCBOR): CidBytes {
  const digest = digestScratch(data);
  const out = new Uint8Array(36);
  out[0] = 0x01;
  out[1] = codec;
  out[2] = SHA256_CODE;
  out[3] = 0x20;
  for (let i = 0; i < 32; i++) out[i + 4] = digest[i]!;
  return out;
}

/** A blessed CID: v1, dag-cbor or raw, sha-256 with a 32-byte digest. */
export function isBlessedCid(cid: CidBytes, codec?: 0x71 | 0x55): boolean {
  return (
    cid.length === 36 &&
    cid[0] === 0x01 &&
    (codec === undefined ? cid[1] === CODEC_DCBOR || cid[1] === CODEC_RAW : cid[1] === codec) &&
    cid[2] === SHA256_CODE &&
    cid[3] === 0x20
  );
}

/** Whether `data` hashes to `cid` (any sha-256 CIDv1). */
export function cidMatches(cid: CidBytes, data: Uint8Array): boolean {
  if (cid.length !== 36 || cid[0] !== 0x01 || cid[2] !== SHA256_CODE || cid[3] !== 0x20) return false;
  const digest = digestScratch(data);
  for (let i = 0; i < 32; i++) if (digest[i] !== cid[i + 4]) return false;
  return true;
}

export function cidEquals(a: CidBytes, b: CidBytes): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function cidToString(cid: CidBytes): string {
  return CID.toString(CID.decode(cid));
}

export function cidFromString(s: string): CidBytes {
  return CID.fromString(s).bytes;
}
