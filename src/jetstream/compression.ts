// zstd with Jetstream's standard dictionary (dictionary/legacy_subscribe.zdict, ID 1612007021, MIT/Apache-2.0 as its
// licence files say): every compressed message is one complete zstd frame that decodes on its own with it.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { constants, zstdCompressSync } from 'node:zlib';

export const DICTIONARY_PATH = new URL('./dictionary/legacy_subscribe.zdict', import.meta.url);
export const DICTIONARY_ID = 1612007021;
const LEVEL = 3;

export interface Compressor {
  /** 'libzstd (system)' or 'node:zlib', for the startup log and the bench. */
  readonly name: string;
  compress(bytes: Uint8Array): Uint8Array;
}

const require = createRequire(import.meta.url);

/**
 * The relay's binding to the system libzstd (native/zstd.c), which digests the dictionary once; else Node's zlib,
 * which takes the dictionary as bytes and digests it for every message, ~20 times slower.
 */
export function loadCompressor(dictionary: Uint8Array = readFileSync(DICTIONARY_PATH)): Compressor {
  return systemCompressor(dictionary) ?? zlibCompressor(dictionary);
}

export function systemCompressor(dictionary: Uint8Array): Compressor | null {
  let addon: { compressor(dict: Uint8Array, level: number): unknown; compress(c: unknown, bytes: Uint8Array): Uint8Array };
  try {
    addon = require('../../native/build/zstd.node');
  } catch {
    return null;
  }
  const handle = addon.compressor(dictionary, LEVEL);
  return { name: 'libzstd (system)', compress: (bytes) => addon.compress(handle, bytes) };
}

export function zlibCompressor(dictionary: Uint8Array): Compressor {
  const opts = { dictionary, params: { [constants.ZSTD_c_compressionLevel]: LEVEL } };
  return { name: 'node:zlib', compress: (bytes) => zstdCompressSync(bytes, opts) };
}
