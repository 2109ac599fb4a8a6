// The shipped dictionary is Jetstream's standard one, and both compressors make frames that decode with it alone.
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { zstdDecompressSync } from 'node:zlib';
import { DICTIONARY_ID, DICTIONARY_PATH, loadCompressor, systemCompressor, zlibCompressor } from '../../../src/jetstream/compression.ts';

const dictionary = readFileSync(DICTIONARY_PATH);

describe('Jetstream compression', () => {
  it('ships the standard dictionary', () => {
    // sha-256 of legacy_subscribe.zdict as published with Jetstream (commit in dictionary/SOURCE_COMMIT).
    expect(createHash('sha256').update(dictionary).digest('hex')).toBe('b8d77b46933aceecbdd5275a01241efc985c970c78162b8150cf67a26522f70c');
    expect(dictionary.readUInt32LE(0)).toBe(0xec30a437);
    expect(dictionary.readUInt32LE(4)).toBe(DICTIONARY_ID);
  });

  it('makes one self-contained frame per message, naming the dictionary, with either compressor', () => {
    // `npm test` builds the system binding (scripts/build-native.sh --install): both paths must be here.
    const system = systemCompressor(dictionary);
    expect(system, 'native/build/zstd.node is missing: run bash scripts/build-native.sh --install').not.toBeNull();
    expect(loadCompressor().name).toBe('libzstd (system)');
    const json = Buffer.from(JSON.stringify({ did: 'did:plc:abc', time_us: 1, kind: 'commit', commit: { rev: '3l3qo2vutsw2b', operation: 'create', collection: 'app.bsky.feed.post', rkey: '3l3qo2vuowo2b', record: { $type: 'app.bsky.feed.post', text: 'hi', createdAt: '2024-09-09T19:46:02.102Z' }, cid: 'bafyreidwaivazkwu67xztlmuobx35hs2lnfh3kolmgfmucldvhd3sgzcqi' } }));
    for (const c of [system!, zlibCompressor(dictionary)]) {
      const frame = Buffer.from(c.compress(json));
      expect(frame.readUInt32LE(0)).toBe(0xfd2fb528);
      expect(zstdDecompressSync(frame, { dictionary }).equals(json)).toBe(true);
      expect(() => zstdDecompressSync(frame)).toThrow();
      expect(frame.length).toBeLessThan(json.length * 0.6);
    }
    // Empty and large inputs too.
    for (const input of [Buffer.alloc(0), Buffer.alloc(3_000_000, 'abc')]) {
      expect(zstdDecompressSync(Buffer.from(system!.compress(input)), { dictionary }).equals(input)).toBe(true);
    }
  });
});
