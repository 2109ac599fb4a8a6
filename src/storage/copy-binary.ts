// PostgreSQL's binary COPY format, read: the signature, flags and header extension, then each tuple as a field count
// and length-prefixed fields (-1: null), up to the trailer. Field bytes are views of the input, not copies.
// https://www.postgresql.org/docs/current/sql-copy.html ("Binary Format").

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

export class CopyFormatError extends Error {}

/** Every tuple's fields (null for SQL NULL), in order. */
export function readBinaryCopy(b: Buffer): Array<Array<Buffer | null>> {
  if (b.length < 19 || !b.subarray(0, 11).equals(SIGNATURE)) throw new CopyFormatError('not a binary COPY stream');
  let at = 15 + 4 + b.readUInt32BE(15);
  const rows: Array<Array<Buffer | null>> = [];
  for (;;) {
    if (at + 2 > b.length) throw new CopyFormatError('binary COPY stream ends without its trailer');
    const n = b.readInt16BE(at);
    at += 2;
    if (n === -1) return rows;
    const row = new Array<Buffer | null>(n);
    for (let i = 0; i < n; i++) {
      if (at + 4 > b.length) throw new CopyFormatError('binary COPY tuple cut short');
      const len = b.readInt32BE(at);
      at += 4;
      if (len === -1) {
        row[i] = null;
        continue;
      }
      if (at + len > b.length) throw new CopyFormatError('binary COPY field cut short');
      row[i] = b.subarray(at, at + len);
      at += len;
    }
    rows.push(row);
  }
}

/** A bigint field (8 bytes, big-endian) as a number: seqs and times stay far below 2^53. */
export function int8(f: Buffer): number {
  return f.readInt32BE(0) * 2 ** 32 + f.readUInt32BE(4);
}
