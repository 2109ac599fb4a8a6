// Event-stream framing: each binary WebSocket message is a CBOR header object followed by a CBOR body object.
import { decodeFirst, encode } from '@atcute/cbor';
import { cborHeadLength, writeCborHead } from './cbor-head.ts';
import { ReasonError } from '../core/reason-error.ts';

export const MAX_FRAME_BYTES = 5_000_000;

export type FrameHeader = { op: 1; t: string } | { op: -1 };

export interface MessageFrame {
  op: 1;
  /** Message type including the leading '#', e.g. '#commit'. */
  t: string;
  body: Record<string, unknown>;
  /** The bytes `body` was decoded from (a view into the frame). */
  received: Uint8Array;
}

export interface ErrorFrame {
  op: -1;
  error: string;
  message?: string;
}

/** A frame with an op we do not know: the spec says to skip it. */
export interface UnknownFrame {
  op: 'unknown';
}

export type DecodedFrame = MessageFrame | ErrorFrame | UnknownFrame;

/** Broken framing or CBOR: the spec says the whole connection is dropped, not just the frame. */
export class FrameError extends ReasonError {}

function isPlainMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && (v as object).constructor === Object;
}

export function decodeFrame(bytes: Uint8Array): DecodedFrame {
  if (bytes.length > MAX_FRAME_BYTES) {
    throw new FrameError('frame_too_large', `frame of ${bytes.length} bytes exceeds ${MAX_FRAME_BYTES}`);
  }
  let header: unknown;
  let body: unknown;
  let received: Uint8Array;
  try {
    const [h, rest] = decodeFirst(bytes);
    header = h;
    received = rest;
    const [b, trailing] = decodeFirst(rest);
    body = b;
    if (trailing.length !== 0) throw new Error(`${trailing.length} trailing bytes after body`);
  } catch (err) {
    throw new FrameError('bad_cbor', `invalid frame CBOR: ${(err as Error).message}`);
  }
  if (!isPlainMap(header)) throw new FrameError('bad_header', 'frame header is not a map');
  if (!isPlainMap(body)) throw new FrameError('bad_body', 'frame body is not a map');
  const op = header.op;
  if (op === 1) {
    if (typeof header.t !== 'string') throw new FrameError('bad_header', 'message frame header has no string t');
    return { op: 1, t: header.t, body, received: received! };
  }
  if (op === -1) {
    if (typeof body.error !== 'string') throw new FrameError('bad_body', 'error frame body has no string error');
    return typeof body.message === 'string'
      ? { op: -1, error: body.error, message: body.message }
      : { op: -1, error: body.error };
  }
  return { op: 'unknown' };
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

export function encodeMessageFrame(t: string, body: Record<string, unknown>): Uint8Array {
  return concat(encode({ t, op: 1 }), encode(body));
}

export function encodeErrorFrame(error: string, message?: string): Uint8Array {
  return concat(encode({ op: -1 }), encode(message === undefined ? { error } : { error, message }));
}

/**
 * A message frame whose top-level seq is given when it is written (the sequencer's seq, known only inside its
 * transaction): its size under a seq, and its bytes written under it into a buffer the caller lays out.
 */
export interface FrameUnderSeq {
  size(seq: number): number;
  write(out: Uint8Array, at: number, seq: number): void;
}

/**
 * The message frame for `t` with `body` under a seq to come. Given the bytes `body` was decoded from, they are
 * passed on byte for byte except for the seq: `blocks` and the rest are not encoded again (~1 µs here, against
 * ~18 µs to encode a typical #commit, inside the sequencer's transaction), and go straight into the batch's buffer.
 * Without them (a body the relay built or changed), or with a seq in a form not walked here, the body is encoded.
 */
export function frameUnderSeq(t: string, body: Record<string, unknown>, received?: Uint8Array | null): FrameUnderSeq {
  const at = received ? findSeq(received) : null;
  return received && at ? new SplicedFrame(headerFor(t), received, at.start, at.end) : new EncodedFrame(t, body);
}

/** `frameUnderSeq` written under `seq` on its own. */
export function encodeWithSeq(t: string, body: Record<string, unknown>, seq: number, received?: Uint8Array | null): Uint8Array {
  const frame = frameUnderSeq(t, body, received);
  const out = new Uint8Array(frame.size(seq));
  frame.write(out, 0, seq);
  return out;
}

const headers = new Map<string, Uint8Array>();

function headerFor(t: string): Uint8Array {
  let header = headers.get(t);
  if (!header) {
    header = encode({ t, op: 1 });
    if (headers.size < 16) headers.set(t, header);
  }
  return header;
}

/** The received body with the seq's value (bytes `start` to `end`) replaced. */
class SplicedFrame implements FrameUnderSeq {
  private readonly header: Uint8Array;
  private readonly body: Uint8Array;
  private readonly start: number;
  private readonly end: number;
  constructor(header: Uint8Array, body: Uint8Array, start: number, end: number) {
    this.header = header;
    this.body = body;
    this.start = start;
    this.end = end;
  }

  size(seq: number): number {
    return this.header.length + this.start + cborHeadLength(seq) + (this.body.length - this.end);
  }

  write(out: Uint8Array, at: number, seq: number): void {
    const { header, body, start, end } = this;
    out.set(header, at);
    at += header.length;
    out.set(body.subarray(0, start), at);
    at = writeCborHead(out, at + start, 0, seq);
    out.set(body.subarray(end), at);
  }
}

/** A body encoded afresh under each seq asked for (the last one kept: size and write ask for the same). */
class EncodedFrame implements FrameUnderSeq {
  private readonly t: string;
  private readonly body: Record<string, unknown>;
  private last: { seq: number; bytes: Uint8Array } | null = null;
  constructor(t: string, body: Record<string, unknown>) {
    this.t = t;
    this.body = body;
  }

  size(seq: number): number {
    return this.under(seq).length;
  }

  write(out: Uint8Array, at: number, seq: number): void {
    out.set(this.under(seq), at);
  }

  private under(seq: number): Uint8Array {
    if (this.last?.seq !== seq) this.last = { seq, bytes: encodeMessageFrame(this.t, { ...this.body, seq }) };
    return this.last.bytes;
  }
}

/** Where the value of the top-level "seq" entry of a CBOR map lies; null when there is none or it is not a uint. */
function findSeq(b: Uint8Array): { start: number; end: number } | null {
  if (b.length === 0 || b[0]! >> 5 !== 5) return null;
  const head = readHead(b, 0);
  if (head === null) return null;
  let pos = head.next;
  for (let i = 0; i < head.arg; i++) {
    const keyStart = pos;
    pos = skipItem(b, pos, 0);
    if (pos < 0) return null;
    const valueStart = pos;
    pos = skipItem(b, pos, 0);
    if (pos < 0) return null;
    // "seq" as a text string: 0x63 's' 'e' 'q'.
    if (valueStart - keyStart === 4 && b[keyStart] === 0x63 && b[keyStart + 1] === 0x73 && b[keyStart + 2] === 0x65 && b[keyStart + 3] === 0x71) {
      return b[valueStart]! >> 5 === 0 ? { start: valueStart, end: pos } : null;
    }
  }
  return null;
}

/** The argument of the CBOR head at `pos` and where the item's content starts; null for indefinite lengths. */
function readHead(b: Uint8Array, pos: number): { arg: number; next: number } | null {
  const info = b[pos]! & 0x1f;
  if (info < 24) return { arg: info, next: pos + 1 };
  if (info === 24) return { arg: b[pos + 1]!, next: pos + 2 };
  if (info === 25) return { arg: (b[pos + 1]! << 8) | b[pos + 2]!, next: pos + 3 };
  if (info === 26) return { arg: ((b[pos + 1]! << 24) >>> 0) + ((b[pos + 2]! << 16) | (b[pos + 3]! << 8) | b[pos + 4]!), next: pos + 5 };
  if (info === 27) {
    let n = 0;
    for (let i = 1; i <= 8; i++) n = n * 256 + b[pos + i]!;
    return { arg: n, next: pos + 9 };
  }
  return null;
}

/** The position after the CBOR item at `pos`; -1 when it runs past the end or is a form not walked here. */
function skipItem(b: Uint8Array, pos: number, depth: number): number {
  if (pos >= b.length || depth > 64) return -1;
  const major = b[pos]! >> 5;
  const head = readHead(b, pos);
  if (head === null) return -1;
  let next = head.next;
  switch (major) {
    case 2:
    case 3:
      next += head.arg;
      break;
    case 4:
    case 5: {
      const items = major === 5 ? head.arg * 2 : head.arg;
      for (let i = 0; i < items && next >= 0; i++) next = skipItem(b, next, depth + 1);
      break;
    }
    case 6:
      next = skipItem(b, next, depth + 1);
      break;
    default: // 0, 1 (integers) and 7 (simple values and floats): the head is the whole item.
  }
  return next > b.length ? -1 : next;
}
