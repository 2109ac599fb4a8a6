// Pages of the log shared between readers behind live: aligned on seq so readers at nearby places ask for the same
// page, read once (in flight or kept), kept within a byte budget and an age, dropped whole on an account change; the
// head's page, still filling, is each reader's own.
import { describe, expect, it } from 'vitest';
import { LOG_PAGE, LogPages } from '../../../src/firehose/log-pages.ts';
import { createMetrics } from '../../../src/metrics.ts';
import { WS_BINARY } from '../../../src/firehose/wire-batch.ts';
import { layOut, type LaidOutEvents } from '../../../src/storage/events.ts';
import type { CommittedEvent } from '../../../src/core/events.ts';

const FRAME = 10;

/** A log of `head` events (seqs 1..head, none withheld) that counts its reads and can hold or fail them. */
function log(head: number) {
  const reads: [number, number][] = [];
  const hints: number[] = [];
  let gate: Promise<void> | null = null;
  let failNext = false;
  const read = async (after: number, upTo: number, limit: number, hint: number): Promise<LaidOutEvents> => {
    reads.push([after, upTo]);
    hints.push(hint);
    if (gate) await gate;
    if (failNext) {
      failNext = false;
      throw new Error('read failed');
    }
    const out: CommittedEvent[] = [];
    for (let s = after + 1; s <= Math.min(upTo, head) && out.length < limit; s++) {
      out.push({ seq: s, did: 'did:plc:a', kind: 'commit', frame: new Uint8Array(FRAME), timeUs: 0 });
    }
    return layOut(out, WS_BINARY);
  };
  return {
    read,
    reads,
    hints,
    hold() {
      let release!: () => void;
      gate = new Promise((r) => (release = r));
      return () => {
        gate = null;
        release();
      };
    },
    failNext: () => (failNext = true),
  };
}

function pages(budgetBytes: number, maxAgeMs = 10_000) {
  let now = 0;
  const metrics = createMetrics();
  const l = log(10 * LOG_PAGE);
  const p = new LogPages({ read: l.read, metrics, budgetBytes, maxAgeMs, now: () => now });
  const count = async (from: 'log' | 'shared') => (await metrics.replayPages.get()).values.find((v) => v.labels.from === from)?.value ?? 0;
  const kept = async () => (await metrics.replayPageBytes.get()).values[0]?.value ?? 0;
  return { p, l, count, kept, advance: (ms: number) => (now += ms) };
}

const seqs = (page: { wire: { events: readonly CommittedEvent[] } }) => page.wire.events.map((e) => e.seq);
const PAGE_BYTES = LOG_PAGE * FRAME;

describe('LogPages', () => {
  it('reads the aligned page a place falls in once for every reader in it', async () => {
    const { p, l, count } = pages(10 * PAGE_BYTES);
    const a = await p.read(0, 5000);
    const b = await p.read(123, 5000);
    const c = await p.read(LOG_PAGE - 1, 5000);
    expect(l.reads).toEqual([[0, LOG_PAGE]]);
    for (const page of [a, b, c]) {
      expect(page.upTo).toBe(LOG_PAGE);
      expect(seqs(page)).toEqual(Array.from({ length: LOG_PAGE }, (_, i) => i + 1));
    }
    // The same framed batch: each reader skips what it has had.
    expect(b.wire).toBe(a.wire);
    expect(b.wire.indexAfter(123)).toBe(123);
    // A place at a page's end starts the next page.
    expect((await p.read(LOG_PAGE, 5000)).upTo).toBe(2 * LOG_PAGE);
    expect(l.reads).toEqual([[0, LOG_PAGE], [LOG_PAGE, 2 * LOG_PAGE]]);
    // The second read's buffer is sized from the first page (each frame with its 2-byte header), with room to spare.
    expect(l.hints[0]).toBe(0);
    expect(l.hints[1]).toBeGreaterThanOrEqual(LOG_PAGE * (FRAME + 2));
    expect(l.hints[1]).toBeLessThan(LOG_PAGE * (FRAME + 2) * 1.5);
    expect(await count('log')).toBe(2);
    expect(await count('shared')).toBe(2);
  });

  it('shares a read in flight, even with nothing kept', async () => {
    const { p, l, count, kept } = pages(0);
    const release = l.hold();
    const both = Promise.all([p.read(10, 5000), p.read(20, 5000)]);
    release();
    const [a, b] = await both;
    expect(a.wire).toBe(b.wire);
    expect(l.reads).toHaveLength(1);
    expect(await count('shared')).toBe(1);
    // Budget 0: once read it is let go.
    expect(await kept()).toBe(0);
    await p.read(30, 5000);
    expect(l.reads).toHaveLength(2);
  });

  it('reads the head page, still filling, from the reader place for it alone', async () => {
    const { p, l } = pages(10 * PAGE_BYTES);
    const a = await p.read(1200, 1300);
    expect(a.upTo).toBe(1300);
    expect(seqs(a)).toEqual(Array.from({ length: 100 }, (_, i) => 1201 + i));
    await p.read(1200, 1300);
    expect(l.reads).toEqual([[1200, 1300], [1200, 1300]]);
    // Once the head has passed the page's end it is shared like any other.
    await p.read(1200, 1500);
    await p.read(1250, 1600);
    expect(l.reads.slice(2)).toEqual([[1000, 1500]]);
  });

  it('lets the least recently used pages go past the byte budget', async () => {
    const { p, l, kept } = pages(2 * PAGE_BYTES);
    await p.read(0, 5000);
    await p.read(LOG_PAGE, 5000);
    await p.read(0, 5000); // page 0 is now the most recently used
    await p.read(2 * LOG_PAGE, 5000); // over budget: page 1 goes
    expect(await kept()).toBe(2 * PAGE_BYTES);
    await p.read(0, 5000);
    expect(l.reads).toHaveLength(3);
    await p.read(LOG_PAGE, 5000);
    expect(l.reads).toHaveLength(4);
  });

  it('reads a page again once it is older than the max age', async () => {
    const { p, l, advance } = pages(10 * PAGE_BYTES, 1000);
    await p.read(0, 5000);
    advance(999);
    await p.read(0, 5000);
    expect(l.reads).toHaveLength(1);
    advance(2);
    await p.read(0, 5000);
    expect(l.reads).toHaveLength(2);
  });

  it('forgets every kept page on clear (an account taken down or restored)', async () => {
    const { p, l, kept } = pages(10 * PAGE_BYTES);
    await p.read(0, 5000);
    await p.read(LOG_PAGE, 5000);
    expect(await kept()).toBe(2 * PAGE_BYTES);
    p.clear();
    expect(await kept()).toBe(0);
    await p.read(0, 5000);
    expect(l.reads).toHaveLength(3);
    // A read in flight when cleared still answers its readers but is not kept.
    const release = l.hold();
    const inFlight = p.read(LOG_PAGE, 5000);
    p.clear();
    release();
    expect((await inFlight).upTo).toBe(2 * LOG_PAGE);
    await p.read(LOG_PAGE, 5000);
    expect(l.reads).toHaveLength(5);
  });

  it('keeps no failed read: the readers waiting on it fail, the next one reads again', async () => {
    const { p, l } = pages(10 * PAGE_BYTES);
    l.failNext();
    const release = l.hold();
    const a = p.read(0, 5000);
    const b = p.read(5, 5000);
    release();
    await expect(a).rejects.toThrow('read failed');
    await expect(b).rejects.toThrow('read failed');
    expect(seqs(await p.read(0, 5000))).toHaveLength(LOG_PAGE);
    expect(l.reads).toHaveLength(2);
  });
});
