// Frames, CAR slices and commits: round trips, tampering, and hostile bytes that must only ever produce the
// decoders' own typed errors.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as dagCbor from '@ipld/dag-cbor';
import { BytesWrapper, CidLinkWrapper, decode, encode } from '@atcute/cbor';
import { interopJson } from '../../helpers/interop.ts';
import { BlockMap, CarError, readCar, writeCar } from '../../../src/protocol/car.ts';
import { cidForBlock, cidToString } from '../../../src/protocol/cid.ts';
import { CommitError, decodeCommit, encodeCommit } from '../../../src/protocol/commit.ts';
import {
  decodeFrame,
  encodeErrorFrame,
  encodeMessageFrame,
  encodeWithSeq,
  FrameError,
  MAX_FRAME_BYTES,
  type MessageFrame,
} from '../../../src/protocol/frame.ts';

const block = (n: number) => encode({ n, text: `record ${n}` });
/** A CAR of 10,001 different blocks (more than readCar takes by default). */
const tooManyBlocks = () => {
  const blocks = Array.from({ length: 10_001 }, (_, n) => ({ cid: cidForBlock(block(n)), bytes: block(n) }));
  return writeCar([blocks[0]!.cid], blocks);
};

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

  it('reads blocks behind multi-byte lengths, and refuses malformed slices with CarError reasons', () => {
    const big = encode({ text: 'x'.repeat(70_000) }); // a 3-byte varint length
    const blocks = [{ cid: cidForBlock(big), bytes: big }, { cid: cidForBlock(block(1)), bytes: block(1) }];
    const car = readCar(writeCar([blocks[0]!.cid], blocks));
    expect(Buffer.from(car.blocks.get(blocks[0]!.cid)!)).toEqual(Buffer.from(big));
    expect(car.blocks.get(blocks[1]!.cid)).toBeInstanceOf(Uint8Array);
    const good = writeCar([blocks[1]!.cid], [blocks[1]!]);
    const reason = (bytes: Uint8Array) => {
      try {
        readCar(bytes);
        return 'accepted';
      } catch (err) {
        expect(err).toBeInstanceOf(CarError);
        return (err as CarError).reason;
      }
    };
    expect(reason(good.subarray(0, good.length - 1))).toBe('bad_car'); // truncated block
    const v0 = Uint8Array.from(good);
    v0[v0.length - blocks[1]!.bytes.length - 36] = 0x00; // CID version byte
    expect(reason(v0)).toBe('bad_car');
    const notV1 = Buffer.concat([Uint8Array.from([encode({ version: 2, roots: [] }).length]), encode({ version: 2, roots: [] })]);
    expect(reason(notV1)).toBe('bad_car');
    expect(reason(Uint8Array.from([0x80]))).toBe('bad_car'); // truncated header length
    expect(reason(tooManyBlocks())).toBe('too_many_blocks');
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
    expect(f).toEqual({ op: 1, t: '#identity', body: { seq: 3, did: 'did:plc:x', time: 't' }, received: expect.any(Uint8Array) });
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

  describe('reframing under the relay seq', () => {
    const cid = (n: number) => new CidLinkWrapper(cidForBlock(block(n)));
    const commitBody = (seq: number) => ({
      ops: [{ action: 'create', path: 'app.bsky.feed.post/3kabc', cid: cid(1) }],
      rev: '3kabcdefghij2',
      seq,
      repo: 'did:plc:abc',
      time: '2026-11-23T12:00:00.000Z',
      since: null,
      blocks: new BytesWrapper(new Uint8Array(300).map((_, i) => i * 31)),
      commit: cid(2),
      rebase: false,
      tooBig: false,
      prevData: cid(3),
    });
    const received = (bytes: Uint8Array) => decodeFrame(bytes) as MessageFrame;
    // Head widths of CBOR unsigned integers: 0, 1, 2, 4 and 8 bytes of argument.
    const seqs = [1, 23, 24, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, 2 ** 40];

    it('gives the same bytes as encoding the body again, whatever the widths of the old and new seq', () => {
      for (const upstream of seqs) {
        const frame = received(encodeMessageFrame('#commit', commitBody(upstream)));
        for (const seq of seqs) {
          const out = encodeWithSeq('#commit', frame.body, seq, frame.received);
          expect(Buffer.from(out)).toEqual(Buffer.from(encodeMessageFrame('#commit', { ...frame.body, seq })));
          expect(received(out).body.seq).toBe(seq);
        }
      }
    });

    it('passes the received bytes through rather than encoding the decoded body', () => {
      const frame = received(encodeMessageFrame('#identity', { seq: 7, did: 'did:plc:abc', time: 't' }));
      // Bodies are never changed in place; one that is shows which bytes went out: the ones received.
      (frame.body as { did: string }).did = 'did:plc:changed';
      expect(received(encodeWithSeq('#identity', frame.body, 70_000, frame.received)).body).toEqual({ seq: 70_000, did: 'did:plc:abc', time: 't' });
    });

    it('encodes afresh a body given without its bytes (rebuilt), or whose seq is not an unsigned integer', () => {
      const frame = received(encodeMessageFrame('#account', { seq: 5, did: 'did:plc:abc', active: true, time: 't' }));
      const rebuilt = { ...frame.body, active: false, status: 'takendown' };
      expect(received(encodeWithSeq('#account', rebuilt, 9, null)).body).toEqual({ seq: 9, did: 'did:plc:abc', active: false, status: 'takendown', time: 't' });
      for (const odd of [-1, 'seven', 1.5]) {
        const f = received(encodeMessageFrame('#identity', { seq: odd, did: 'did:plc:abc' }));
        expect(received(encodeWithSeq('#identity', f.body, 12, f.received)).body).toEqual({ seq: 12, did: 'did:plc:abc' });
      }
      const noSeq = received(encodeMessageFrame('#identity', { did: 'did:plc:abc' }));
      expect(received(encodeWithSeq('#identity', noSeq.body, 3, noSeq.received)).body).toEqual({ did: 'did:plc:abc', seq: 3 });
    });
  });
});

