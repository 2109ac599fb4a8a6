// Event-stream framing: each binary WebSocket message is a CBOR header object followed by a CBOR body object.
import { decodeFirst, encode } from '@atcute/cbor';

export const MAX_FRAME_BYTES = 5_000_000;

export type FrameHeader = { op: 1; t: string } | { op: -1 };

export interface MessageFrame {
  op: 1;
  /** Message type including the leading '#', e.g. '#commit'. */
  t: string;
  body: Record<string, unknown>;
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
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
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
  try {
    const [h, rest] = decodeFirst(bytes);
    header = h;
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
    return { op: 1, t: header.t, body };
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
