import { describe, expect, it } from 'vitest';
import { HandedLog } from '../../../src/pipeline/handed-log.ts';

/** A deterministic pseudo-random sequence (mulberry32). */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('HandedLog', () => {
  it("lists, when read later, exactly the seqs handed on above the watermark at the snapshot's moment", () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const rand = random(seed);
      const log = new HandedLog();
      // The model: arrivals in upstream order (seqs with gaps), handed on out of order, the head passing them.
      const arrivals: Array<{ seq: number; handed: boolean }> = [];
      let head = 0;
      let seq = 100;
      const skip = new Set<number>(seed % 2 === 0 ? [5_000_000, 5_000_007] : []);
      const snapshots: Array<{ cursor: ReturnType<HandedLog['cursor']>; expected: number[]; at: number }> = [];
      for (let step = 0; step < 6000; step++) {
        if (rand() < 0.55 || head === arrivals.length) {
          seq += 1 + Math.floor(rand() * 3);
          arrivals.push({ seq, handed: false });
          continue;
        }
        // Hand on one not yet handed, mostly near the head (events are ready nearly in order), sometimes far.
        const open = arrivals.map((a, i) => [a, i] as const).filter(([a]) => !a.handed);
        const [pick] = open[rand() < 0.8 ? Math.floor(rand() * Math.min(3, open.length)) : Math.floor(rand() * open.length)]!;
        pick.handed = true;
        log.handed(arrivals.indexOf(pick), pick.seq);
        const before = head;
        while (head < arrivals.length && arrivals[head]!.handed) head++;
        if (head > before) log.passed(head);
        if (head === 0) continue;
        if (skip.size > 0 && rand() < 0.01) skip.delete([...skip][0]!);
        const at = arrivals[head - 1]!.seq;
        const expected = arrivals.slice(head).filter((a) => a.handed).map((a) => a.seq);
        snapshots.push({ cursor: log.cursor(at, skip), expected: skip.size === 0 ? expected : [...expected, ...skip].sort((a, b) => a - b), at });
      }
      // Read after everything else happened (compactions included), as the sequencer reads a batch's last one.
      expect(snapshots.length).toBeGreaterThan(2000);
      expect(snapshots.some((s) => s.expected.length > 5)).toBe(true);
      for (const s of snapshots) {
        expect(s.cursor.at).toBe(s.at);
        expect(s.cursor.above).toEqual(s.expected);
      }
    }
  });

  it('keeps a snapshot listing the same after the watermark has passed its seqs', () => {
    const log = new HandedLog();
    log.handed(1, 11);
    log.handed(2, 12);
    const before = log.cursor(9, new Set());
    log.handed(0, 10);
    log.passed(3);
    expect(log.cursor(12, new Set()).above).toEqual([]);
    expect(before.above).toEqual([11, 12]);
    expect(before.above).toBe(before.above);
  });
});
