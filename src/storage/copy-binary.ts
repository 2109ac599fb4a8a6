// PostgreSQL's binary COPY format, read as it arrives: the signature, flags and header extension, then each tuple as
// a field count and length-prefixed fields (-1: null), up to the trailer. A tuple is handed over as places in the
// input (where each field starts, how long it is), not as a view per field: a page of the log is 500 tuples of five
// fields, and a Buffer object per field was most of what reading one allocated (docs/perf-journal.md, session 15).
// https://www.postgresql.org/docs/current/sql-copy.html ("Binary Format").

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
const HEADER = 19;

export class CopyFormatError extends Error {}

/** One tuple's fields as places in the input; the same object (and arrays) for every tuple: read what is kept. */
export interface CopyTuple {
  count: number;
  /** Where field i starts in the input. */
  starts: Int32Array;
  /** Field i's length in bytes, -1 for SQL NULL. */
  lengths: Int32Array;
}

/**
 * Reads a binary COPY stream pushed in pieces split anywhere (PostgreSQL sends one CopyData message a row, the
 * header with the first), calling `each` with every whole tuple and the input it lies in, which is only valid
 * during the call (the driver reuses its buffer): copy out what is kept. Only a tuple split across pieces is copied.
 */
export class BinaryCopyReader {
  private carry: Buffer | null = null;
  private headerRead = false;
  private ended = false;
  private readonly tuple: CopyTuple = { count: 0, starts: new Int32Array(8), lengths: new Int32Array(8) };
  private readonly each: (input: Buffer, tuple: CopyTuple) => void;

  constructor(each: (input: Buffer, tuple: CopyTuple) => void) {
    this.each = each;
  }

  push(piece: Buffer): void {
    const b = this.carry ? Buffer.concat([this.carry, piece]) : piece;
    this.carry = null;
    let at = 0;
    if (!this.headerRead) {
      if (b.length >= SIGNATURE.length && !b.subarray(0, SIGNATURE.length).equals(SIGNATURE)) throw new CopyFormatError('not a binary COPY stream');
      if (b.length < HEADER || b.length < HEADER + b.readUInt32BE(15)) return this.keep(b, 0);
      at = HEADER + b.readUInt32BE(15);
      this.headerRead = true;
    }
    while (at < b.length) {
      if (this.ended) throw new CopyFormatError('data after the binary COPY trailer');
      const end = this.scan(b, at);
      if (end < 0) return this.keep(b, at);
      if (this.tuple.count === -1) this.ended = true;
      else this.each(b, this.tuple);
      at = end;
    }
  }

  /** The stream is over: it must have ended with its trailer, whole. */
  end(): void {
    if (!this.ended) throw new CopyFormatError(this.carry ? 'binary COPY tuple cut short' : 'binary COPY stream ends without its trailer');
  }

  /**
   * Where the tuple at `at` ends, its places in `this.tuple` (count -1: the trailer); -1 when it is not all in `b`
   * yet.
   */
  private scan(b: Buffer, at: number): number {
    if (at + 2 > b.length) return -1;
    const n = b.readInt16BE(at);
    at += 2;
    const t = this.tuple;
    if (n === -1) {
      t.count = -1;
      return at;
    }
    if (n < 0) throw new CopyFormatError(`binary COPY tuple with ${n} fields`);
    if (n > t.starts.length) {
      t.starts = new Int32Array(n);
      t.lengths = new Int32Array(n);
    }
    t.count = n;
    for (let i = 0; i < n; i++) {
      if (at + 4 > b.length) return -1;
      const len = b.readInt32BE(at);
      at += 4;
      if (len < -1) throw new CopyFormatError(`binary COPY field of length ${len}`);
      t.starts[i] = at;
      t.lengths[i] = len;
      if (len > 0) at += len;
      if (at > b.length) return -1;
    }
    return at;
  }

  private keep(b: Buffer, from: number): void {
    // A copy: the piece's memory is the driver's, reused once this call returns.
    this.carry = Buffer.from(b.subarray(from));
  }
}

/** A bigint field (8 bytes, big-endian) at `at` as a number: seqs and times stay far below 2^53. */
export function int8At(b: Buffer, at: number): number {
  return b.readInt32BE(at) * 2 ** 32 + b.readUInt32BE(at + 4);
}
