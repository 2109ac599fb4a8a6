// Event-stream framing: each binary WebSocket message is a CBOR header object followed by a CBOR body object.
import { decodeFirst, encode } from '@atcute/cbor';

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
export class FrameError extends Error {
  readonly reason: string;
  constructor(
    reason: string,
    message: string,
  ) {
    super(message);
    this.reason = reason;
    this.name = 'FrameError';
  }
}

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
 * The message frame for `t` with `body` and the top-level seq `seq`. Given the bytes `body` was decoded from, they
 * are passed on byte for byte except for the seq: `blocks` and the rest are not encoded again (~1 µs here, against
 * ~18 µs to encode a typical #commit, inside the sequencer's transaction). Without them (a body the relay built or
 * changed) the body is encoded.
 */
export function encodeWithSeq(t: string, body: Record<string, unknown>, seq: number, received?: Uint8Array | null): Uint8Array {
  return (received && reframeWithSeq(t, received, seq)) ?? encodeMessageFrame(t, { ...body, seq });
}

const headers = new Map<string, Uint8Array>();

/** `body` with its top-level seq spliced; null when it has no unsigned integer seq there or a form not walked here. */
function reframeWithSeq(t: string, body: Uint8Array, seq: number): Uint8Array | null {
  const at = findSeq(body);
  if (at === null) return null;
  let header = headers.get(t);
  if (!header) {
    header = encode({ t, op: 1 });
    if (headers.size < 16) headers.set(t, header);
  }
  const value = encode(seq);
  const size = header.length + at.start + value.length + (body.length - at.end);
  const slab = Buffer.allocUnsafe(size);
  const out = new Uint8Array(slab.buffer, slab.byteOffset, size);
  out.set(header, 0);
  let pos = header.length;
  out.set(body.subarray(0, at.start), pos);
  pos += at.start;
  out.set(value, pos);
  pos += value.length;
  out.set(body.subarray(at.end), pos);
  return out;
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
