// Reading PostgreSQL's binary COPY format: fields as places in the input, nulls, the header extension, and streams cut short.
import { describe, expect, it } from 'vitest';
import { BinaryCopyReader, CopyFormatError, int8At } from '../../../src/storage/copy-binary.ts';

/** Every tuple's fields as copies (null for SQL NULL), the stream pushed in pieces of `piece` bytes. */
function readAll(stream: Buffer, piece = stream.length): Array<Array<Buffer | null>> {
  const rows: Array<Array<Buffer | null>> = [];
  const reader = new BinaryCopyReader((b, t) => {
    rows.push(Array.from({ length: t.count }, (_, i) => (t.lengths[i] === -1 ? null : Buffer.from(b.subarray(t.starts[i]!, t.starts[i]! + t.lengths[i]!)))));
  });
  for (let at = 0; at < stream.length; at += piece) {
    // Each piece in memory of its own, overwritten once pushed, as the driver reuses its buffer.
    const copy = Buffer.from(stream.subarray(at, at + piece));
    reader.push(copy);
    copy.fill(0xee);
  }
  reader.end();
  return rows;
}
const int8 = (f: Buffer) => int8At(f, 0);

function copyStream(rows: Array<Array<Buffer | null>>, extension = Buffer.alloc(0)): Buffer {
  const parts: Buffer[] = [Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), u32(0), u32(extension.length), extension];
  for (const row of rows) {
    const n = Buffer.alloc(2);
    n.writeInt16BE(row.length);
    parts.push(n);
    for (const f of row) {
      const len = Buffer.alloc(4);
      len.writeInt32BE(f === null ? -1 : f.length);
      parts.push(len, ...(f ? [f] : []));
    }
  }
  const trailer = Buffer.alloc(2);
  trailer.writeInt16BE(-1);
  return Buffer.concat([...parts, trailer]);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

function i64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(BigInt(n));
  return b;
}

describe('binary COPY', () => {
  it('reads tuples with bigints, text, bytes and nulls', () => {
    const frame = Buffer.from([0xa2, 0x61, 0x74, 0x00, 0xff]);
    const stream = copyStream([
      [i64(1), Buffer.from('did:plc:a'), frame, null],
      [i64(2 ** 40 + 7), Buffer.from('did:plc:ü'), Buffer.alloc(0), i64(1_733_000_000_123_456)],
    ], Buffer.from('ext'));
    const rows = readAll(stream);
    expect(rows).toHaveLength(2);
    expect(int8(rows[0]![0]!)).toBe(1);
    expect(rows[0]![2]).toEqual(frame);
    expect(rows[0]![3]).toBeNull();
    expect(int8(rows[1]![0]!)).toBe(2 ** 40 + 7);
    expect(rows[1]![1]!.toString('utf8')).toBe('did:plc:ü');
    expect(rows[1]![2]!.length).toBe(0);
    expect(int8(rows[1]![3]!)).toBe(1_733_000_000_123_456);
    expect(readAll(copyStream([]))).toEqual([]);
    // More fields than the first tuple had: the places grow with the tuple.
    expect(readAll(copyStream([[i64(1)], Array.from({ length: 12 }, (_, i) => i64(i))]))[1]!.map((f) => int8(f!))).toEqual([...Array(12).keys()]);
  });

  it('reads the same tuples whatever the pieces the stream arrives in', () => {
    const rows = [
      [i64(1), Buffer.from('did:plc:a'), Buffer.alloc(3000, 7), null],
      [],
      [i64(3), Buffer.from(''), Buffer.from([1, 2, 3]), i64(9)],
    ];
    const stream = copyStream(rows, Buffer.from('extension'));
    const whole = readAll(stream);
    expect(whole).toEqual(rows);
    for (const piece of [1, 2, 3, 7, 19, 100, 1000]) expect(readAll(stream, piece)).toEqual(rows);
  });

  it('refuses what is not a whole binary COPY stream', () => {
    const whole = copyStream([[i64(1), Buffer.from('x')]]);
    expect(() => readAll(Buffer.from('1\tdid\n'))).toThrow(CopyFormatError);
    for (const cut of [whole.length - 1, whole.length - 3, 21, 25, 5]) expect(() => readAll(whole.subarray(0, cut))).toThrow(CopyFormatError);
    expect(() => readAll(Buffer.concat([whole, Buffer.from([0, 1])]))).toThrow(CopyFormatError);
  });
});
