// A run of committed events as Jetstream messages, converted once and shared by every subscriber: the text frames
// and the compressed frames are each built on first use, back to back, so an unfiltered subscriber takes the whole
// run in one write and a filtered one writes the runs it selects, without copying.
import type { CommittedEvent } from '../core/events.ts';
import { headerLength, indexAfter, OPCODE_BINARY, OPCODE_TEXT, wsFrames } from '../firehose/wire-batch.ts';
import type { Compressor } from './compression.ts';
import { jetstreamMessages, type ConversionLoss, type JetstreamMessage } from './message.ts';

export interface Framed {
  bytes: Buffer;
  offsets: Uint32Array;
}

export class JetstreamBatch {
  readonly messages: JetstreamMessage[];
  /** The seq of the last event of the run (which may have given no message: a #sync). */
  readonly lastSeq: number;
  private text: Framed | null = null;
  private zstd: Framed | null = null;
  private readonly compressed: Array<Uint8Array | undefined> = [];
  private readonly compressor: Compressor;
  private readonly shared: boolean;

  /**
   * `shared`: many subscribers read it (live), so each encoding is framed whole once; a replay page read for one
   * subscriber frames (and compresses) only the messages it selects.
   */
  constructor(events: readonly CommittedEvent[], opts: { compressor: Compressor; shared: boolean; lost?: (why: ConversionLoss) => void }) {
    this.compressor = opts.compressor;
    this.shared = opts.shared;
    this.lastSeq = events.at(-1)?.seq ?? 0;
    this.messages = [];
    for (const ev of events) for (const m of jetstreamMessages(ev, opts.lost)) this.messages.push(m);
  }

  /** Messages from..to (exclusive) as WebSocket frames: text JSON, or binary zstd frames with the standard dictionary. */
  frames(compressed: boolean, from: number, to: number): Uint8Array {
    if (this.shared) {
      const { bytes, offsets } = this.framed(compressed);
      return bytes.subarray(offsets[from]!, offsets[to]!);
    }
    const payloads: Uint8Array[] = [];
    for (let i = from; i < to; i++) payloads.push(this.payload(i, compressed));
    return wsFrames(payloads, compressed ? OPCODE_BINARY : OPCODE_TEXT).bytes;
  }

  /** The size of message i's WebSocket frame. */
  frameBytes(i: number, compressed: boolean): number {
    if (this.shared) {
      const { offsets } = this.framed(compressed);
      return offsets[i + 1]! - offsets[i]!;
    }
    const n = this.payload(i, compressed).length;
    return headerLength(n) + n;
  }

  private framed(compressed: boolean): Framed {
    const all = () => this.messages.map((_, i) => this.payload(i, compressed));
    if (!compressed) return (this.text ??= wsFrames(all(), OPCODE_TEXT));
    return (this.zstd ??= wsFrames(all(), OPCODE_BINARY));
  }

  private payload(i: number, compressed: boolean): Uint8Array {
    const m = this.messages[i]!;
    if (!compressed) return m.json;
    return (this.compressed[i] ??= this.compressor.compress(m.json));
  }

  /** Index of the first message after relay seq `seq`. */
  indexAfter(seq: number): number {
    return indexAfter(this.messages, seq);
  }
}
