// Pre-framed fan-out: the bytes a WireBatch writes must parse as the same messages, in order, with ws's own
// client-side frame parser, at every payload-length encoding (7-bit, 16-bit and 64-bit lengths).
import { describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { indexAfter, OPCODE_BINARY, WireBatch, WS_BINARY, wsFrames } from '../../../src/firehose/wire-batch.ts';
import { EventLayout, layOut } from '../../../src/storage/events.ts';
import type { CommittedEvent } from '../../../src/core/events.ts';

// ws's own frame parser (the one every ws client runs); its typings do not export it.
interface FrameReceiver {
  on(event: 'message', cb: (data: Buffer, isBinary: boolean) => void): void;
  on(event: 'error', cb: (err: Error) => void): void;
  write(chunk: Buffer): void;
}
const Receiver = (createRequire(import.meta.url)('ws') as { Receiver: new (opts: object) => FrameReceiver }).Receiver;

const SIZES = [0, 1, 125, 126, 127, 65_535, 65_536, 70_000];

function batch(firstSeq: number): CommittedEvent[] {
  return SIZES.map((n, i) => ({
    seq: firstSeq + i,
    did: 'did:plc:x',
    kind: 'commit',
    frame: Uint8Array.from({ length: n }, (_, k) => (k * 31 + i) & 0xff),
    timeUs: firstSeq + i,
  }));
}

function parse(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  const receiver = new Receiver({ isServer: false, maxPayload: 0 });
  receiver.on('message', (data: Buffer, isBinary: boolean) => {
    expect(isBinary).toBe(true);
    out.push(Buffer.from(data));
  });
  receiver.on('error', (err: Error) => {
    throw err;
  });
  // Fed in uneven pieces, as a socket would deliver them.
  for (let at = 0; at < bytes.length; at += 4093) receiver.write(bytes.subarray(at, at + 4093));
  return out;
}

describe('WireBatch', () => {
  it('frames every event so a WebSocket client reads back the same payloads in order', () => {
    const events = batch(10);
    const wire = new WireBatch(layOut(events, WS_BINARY));
    const messages = parse(wire.bytes);
    expect(messages).toHaveLength(events.length);
    messages.forEach((m, i) => expect(Buffer.compare(m, Buffer.from(events[i]!.frame))).toBe(0));
    expect(wire.offsets[events.length]).toBe(wire.bytes.length);
  });

  it('takes events laid out as frames as they lie: the bytes of WebSocket messages, each frame a view of them', () => {
    const events = batch(10);
    const wire = new WireBatch(layOut(events, WS_BINARY));
    const framed = wsFrames(events.map((e) => e.frame), OPCODE_BINARY);
    expect(Buffer.compare(wire.bytes, framed.bytes)).toBe(0);
    expect([...wire.offsets]).toEqual([...framed.offsets]);
    wire.events.forEach((e, i) => {
      const { frame, ...rest } = events[i]!;
      expect(e).toMatchObject(rest);
      expect(Buffer.compare(Buffer.from(e.frame), Buffer.from(frame))).toBe(0);
      expect(e.frame.buffer).toBe(wire.bytes.buffer);
    });
  });

  it('lays the same bytes out from a size hint far too short (the buffer grows as frames come)', () => {
    const events = batch(10);
    const out = new EventLayout(WS_BINARY, 0);
    for (const e of events) out.add(e.seq, e.did, e.kind, e.timeUs, e.frame, 0, e.frame.length);
    const grown = out.done();
    const framed = wsFrames(events.map((e) => e.frame), OPCODE_BINARY);
    expect(Buffer.compare(grown.bytes, framed.bytes)).toBe(0);
    grown.events.forEach((e, i) => expect(Buffer.compare(Buffer.from(e.frame), Buffer.from(events[i]!.frame))).toBe(0));
  });

  it('slices at frame boundaries, so a consumer can start part-way through a batch', () => {
    const events = batch(10);
    const wire = new WireBatch(layOut(events, WS_BINARY));
    expect(wire.indexAfter(9)).toBe(0);
    expect(wire.indexAfter(12)).toBe(3);
    expect(wire.indexAfter(100)).toBe(events.length);
    const tail = parse(wire.bytes.subarray(wire.offsets[3]!));
    expect(tail.map((m) => m.length)).toEqual(SIZES.slice(3));
  });

  it('finds the first item after a seq in items that share seqs (one event, many Jetstream messages)', () => {
    const items = [1, 1, 2, 4, 4, 4, 7].map((seq) => ({ seq }));
    expect([0, 1, 2, 3, 4, 5, 6, 7].map((s) => indexAfter(items, s))).toEqual([0, 2, 3, 3, 6, 6, 6, 7]);
    expect(indexAfter([], 5)).toBe(0);
  });
});
