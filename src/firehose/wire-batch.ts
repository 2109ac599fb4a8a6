// A run of committed events framed for the wire once, for every consumer: server-to-client WebSocket frames are
// unmasked, so the bytes are the same for every reader. One socket write per consumer per batch replaces one
// ws.send per consumer per event, which bounded fan-out to ~1,000 events/s per consumer for 100 readers on one
// core (docs/perf-journal.md, fanout).
import type { CommittedEvent } from '../core/events.ts';
import type { FrameLayout, LaidOutEvents } from '../storage/events.ts';

export class WireBatch {
  readonly events: readonly CommittedEvent[];
  /** All events as binary WebSocket frames, back to back. */
  readonly bytes: Buffer;
  /** Where event i's WebSocket frame starts in `bytes`; offsets[events.length] is the total length. */
  readonly offsets: Uint32Array;

  /** Events laid out as binary WebSocket frames already (`WS_BINARY`: the sequencer's batches, the log's reads). */
  constructor(laid: LaidOutEvents) {
    this.events = laid.events;
    this.bytes = laid.bytes;
    this.offsets = laid.offsets;
  }

  /** Index of the first event with a seq above `seq` (events.length when there is none). */
  indexAfter(seq: number): number {
    return indexAfter(this.events, seq);
  }

  /** The seq of the first event above `seq` (undefined when there is none). */
  seqAfter(seq: number): number | undefined {
    return this.events[this.indexAfter(seq)]?.seq;
  }
}

/**
 * Index of the first item with a seq above `seq` in items in seq order (items.length when there is none): a reader
 * may join a shared page of the log anywhere in it.
 */
export function indexAfter(items: readonly { seq: number }[], seq: number): number {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (items[mid]!.seq <= seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export const OPCODE_TEXT = 0x1;
export const OPCODE_BINARY = 0x2;

/** The length of an unmasked frame header for a payload of this size. */
export function headerLength(payload: number): number {
  return payload < 126 ? 2 : payload < 65536 ? 4 : 10;
}

/** FIN + opcode, no mask (server to client); RFC 6455 section 5.2. */
function writeHeader(out: Buffer, at: number, payload: number, opcode: number): number {
  out[at] = 0x80 | opcode;
  if (payload < 126) {
    out[at + 1] = payload;
    return at + 2;
  }
  if (payload < 65536) {
    out[at + 1] = 126;
    out.writeUInt16BE(payload, at + 2);
    return at + 4;
  }
  out[at + 1] = 127;
  out.writeBigUInt64BE(BigInt(payload), at + 2);
  return at + 10;
}

/** How a read of the log lays its events out so that they are binary WebSocket messages as they lie. */
export const WS_BINARY: FrameLayout = {
  headerLength,
  writeHeader: (out, at, payload) => void writeHeader(out, at, payload, OPCODE_BINARY),
};

/** Payloads as unmasked WebSocket messages back to back, and where each starts (offsets[n] is the total length). */
export function wsFrames(payloads: readonly Uint8Array[], opcode: number): { bytes: Buffer; offsets: Uint32Array } {
  const offsets = new Uint32Array(payloads.length + 1);
  let total = 0;
  for (let i = 0; i < payloads.length; i++) {
    offsets[i] = total;
    const n = payloads[i]!.length;
    total += headerLength(n) + n;
  }
  offsets[payloads.length] = total;
  const bytes = Buffer.allocUnsafe(total);
  let at = 0;
  for (const p of payloads) {
    at = writeHeader(bytes, at, p.length, opcode);
    bytes.set(p, at);
    at += p.length;
  }
  return { bytes, offsets };
}
