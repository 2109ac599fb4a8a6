// The batches the hub keeps for readers a little behind live: a reader is served from them only when they cover
// everything after its place, and they are let go past their byte budget or their age (the replay window).
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { FanoutHub } from '../../../src/firehose/hub.ts';
import { createMetrics } from '../../../src/metrics.ts';
import { WS_BINARY } from '../../../src/firehose/wire-batch.ts';
import { layOut } from '../../../src/storage/events.ts';
import type { Database } from '../../../src/storage/db.ts';

const events = (from: number, to: number, size = 100) =>
  layOut(
    Array.from({ length: to - from + 1 }, (_, i) => ({ seq: from + i, did: 'did:plc:a', kind: 'commit' as const, frame: new Uint8Array(size), timeUs: 0 })),
    WS_BINARY,
  );

function hub(recentBytes: number, recentMaxAgeMs = 60_000) {
  let now = 0;
  const h = new FanoutHub({ database: {} as Database, log: pino({ level: 'silent' }), metrics: createMetrics(), recentBytes, recentMaxAgeMs, now: () => now });
  return { h, advance: (ms: number) => (now += ms) };
}

const seqsOf = (h: FanoutHub, after: number) => h.recentAfter(after)?.events.map((e) => e.seq) ?? null;

describe('FanoutHub recent batches', () => {
  it('serves the batch holding the first event after a place the kept batches cover', () => {
    const { h } = hub(10_000);
    h.publish(events(1, 3));
    h.publish(events(4, 6));
    expect(seqsOf(h, 0)).toEqual([1, 2, 3]);
    expect(seqsOf(h, 2)).toEqual([1, 2, 3]);
    expect(seqsOf(h, 3)).toEqual([4, 5, 6]);
    expect(seqsOf(h, 5)).toEqual([4, 5, 6]);
    expect(seqsOf(h, 6)).toBeNull();
  });

  it('lets the oldest batches go past the byte budget, and then serves no place before what it kept', () => {
    const { h } = hub(500);
    h.publish(events(1, 3)); // 300 bytes
    h.publish(events(4, 6)); // 600 in all: the first batch goes
    expect(seqsOf(h, 0)).toBeNull();
    expect(seqsOf(h, 2)).toBeNull();
    expect(seqsOf(h, 3)).toEqual([4, 5, 6]);
  });

  it('lets batches older than the replay window go', () => {
    const { h, advance } = hub(1_000_000, 1000);
    h.publish(events(1, 3));
    advance(600);
    h.publish(events(4, 6));
    advance(600);
    expect(seqsOf(h, 0)).toBeNull();
    expect(seqsOf(h, 3)).toEqual([4, 5, 6]);
    advance(600);
    expect(seqsOf(h, 3)).toBeNull();
  });

  it('keeps nothing with a budget of 0', () => {
    const { h } = hub(0);
    h.publish(events(1, 3));
    expect(seqsOf(h, 0)).toBeNull();
  });
});
