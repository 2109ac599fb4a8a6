// Frames, CAR slices and commits: round trips, tampering, and hostile bytes that must only ever produce the
// decoders' own typed errors.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as dagCbor from '@ipld/dag-cbor';
import { decode, encode } from '@atcute/cbor';
import { interopJson } from '../../helpers/interop.ts';
import { BlockMap, CarError, readCar, writeCar } from '../../../src/protocol/car.ts';
import { cidForBlock, cidToString } from '../../../src/protocol/cid.ts';
import { CommitError, decodeCommit, encodeCommit } from '../../../src/protocol/commit.ts';
import { decodeFrame, encodeErrorFrame, encodeMessageFrame, FrameError, MAX_FRAME_BYTES } from '../../../src/protocol/frame.ts';

const block = (n: number) => encode({ n, text: `record ${n}` });

describe('CAR', () => {
  it('round-trips and checks every block CID', () => {
    const blocks = [0, 1, 2].map((n) => ({ cid: cidForBlock(block(n)), bytes: block(n) }));
    const car = readCar(writeCar([blocks[0]!.cid], blocks));
    expect(car.roots.map(cidToString)).toEqual([cidToString(blocks[0]!.cid)]);
    expect(car.blocks.size).toBe(3);
    const tampered = writeCar([blocks[0]!.cid], [{ cid: blocks[1]!.cid, bytes: block(99) }]);
    expect(() => readCar(tampered)).toThrow(expect.objectContaining({ reason: 'bad_cid' }));
  });

  it('rejects a CAR without roots', () => {
    expect(() => readCar(writeCar([], []))).toThrow(CarError);
  });

  it('keys blocks by CID bytes', () => {
    const m = new BlockMap();
    const cid = cidForBlock(block(1));
    m.set(cid, block(1));
    expect(m.has(Uint8Array.from(cid))).toBe(true);
    expect([...m.entries()][0]!.cid).toEqual(cid);
  });

  it('only ever throws CarError on arbitrary bytes (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try {
          readCar(bytes);
        } catch (err) {
          expect(err).toBeInstanceOf(CarError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('frames', () => {
  it('round-trips message and error frames', () => {
    const f = decodeFrame(encodeMessageFrame('#identity', { seq: 3, did: 'did:plc:x', time: 't' }));
    expect(f).toEqual({ op: 1, t: '#identity', body: { seq: 3, did: 'did:plc:x', time: 't' } });
    expect(decodeFrame(encodeErrorFrame('ConsumerTooSlow', 'slow'))).toEqual({ op: -1, error: 'ConsumerTooSlow', message: 'slow' });
  });

  it('skips unknown ops and refuses trailing data or oversize frames', () => {
    const unknown = Buffer.concat([encode({ op: 7 }), encode({})]);
    expect(decodeFrame(unknown)).toEqual({ op: 'unknown' });
    const trailing = Buffer.concat([encodeMessageFrame('#info', { name: 'x' }), Buffer.from([0])]);
    expect(() => decodeFrame(trailing)).toThrow(FrameError);
    expect(() => decodeFrame(new Uint8Array(MAX_FRAME_BYTES + 1))).toThrow(expect.objectContaining({ reason: 'frame_too_large' }));
  });

  it('only ever throws FrameError on arbitrary bytes, including over-deep nesting (property)', () => {
    const deep = new Uint8Array(100_000).fill(0x81); // arrays nested 100k deep
    expect(() => decodeFrame(deep)).toThrow(FrameError);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          decodeFrame(bytes);
        } catch (err) {
          expect(err).toBeInstanceOf(FrameError);
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('commits', () => {
  const commit = {
    did: 'did:plc:ewvi7nxzyoun6zhxrhs64oiz',
    version: 3 as const,
    data: cidForBlock(block(1)),
    rev: '3k2la7ohmoh2a',
    prev: null,
    sig: new Uint8Array(64).fill(7),
  };

  it('decodes what it encodes, byte-identical to @ipld/dag-cbor', () => {
    const bytes = encodeCommit(commit);
    expect(decodeCommit(bytes)).toEqual(commit);
    // An independent DAG-CBOR implementation reads the same value and re-encodes the same bytes.
    expect(Buffer.from(dagCbor.encode(dagCbor.decode(bytes)))).toEqual(Buffer.from(bytes));
  });

  it('rejects wrong versions and missing fields', () => {
    const bad = (v: Record<string, unknown>) => () => decodeCommit(encode(v));
    expect(bad({ ...commit, version: 2, data: { $link: cidToString(commit.data) }, sig: { $bytes: 'AA' } })).toThrow(CommitError);
    expect(() => decodeCommit(new Uint8Array([1, 2, 3]))).toThrow(CommitError);
  });
});

describe('data model fixtures', () => {
  it('encodes every JSON fixture to the expected DRISL bytes and CID, and decodes them back', () => {
    const fixtures = interopJson<Array<{ json: unknown; cbor_base64: string; cid: string }>>('data-model/data-model-fixtures.json');
    expect(fixtures.length).toBeGreaterThan(0);
    for (const f of fixtures) {
      const bytes = encode(f.json);
      expect(Buffer.from(bytes).toString('base64').replace(/=+$/, '')).toBe(f.cbor_base64.replace(/=+$/, ''));
      expect(cidToString(cidForBlock(bytes))).toBe(f.cid);
      expect(Buffer.from(encode(decode(bytes)))).toEqual(Buffer.from(bytes));
    }
  });
});
