// The backfill's progress line: redrawn in place on a terminal (at most ten times a second), a plain line now and
// then in a log, and erased before a line is written in its place.
import { describe, expect, it, vi } from 'vitest';
import { ProgressBar } from '../../../src/cli/progress.ts';

const progress = (done: number, failed = 0, skipped = 0) => ({ hostname: 'pds.example.com', done, failed, skipped, finished: false });

describe('backfill progress bar', () => {
  it('redraws one line on a terminal, with the share of the repos the relay knows', () => {
    vi.useFakeTimers({ now: 1_000_000 });
    try {
      const written: string[] = [];
      const bar = new ProgressBar({ out: () => {}, err: (t) => written.push(t), tty: true }, 200);
      bar.update(progress(50, 10, 40));
      expect(written).toEqual([`\r[${'#'.repeat(15)}${'.'.repeat(15)}] 100/200 repos, 50 described, 10 failed (pds.example.com)\x1b[K`]);
      bar.update(progress(60, 10, 40)); // within 100 ms: not redrawn
      expect(written).toHaveLength(1);
      vi.advanceTimersByTime(150);
      bar.update(progress(160, 10, 30));
      expect(written.at(-1)).toContain(`[${'#'.repeat(30)}] 200/200 repos, 160 described`);
      expect(bar.clear()).toBe('\r\x1b[K');
      expect(bar.clear()).toBe('');
      expect([bar.done, bar.failed]).toEqual([160, 10]);
    } finally {
      vi.useRealTimers();
    }
  });

  it('writes a plain line at most every ten seconds in a log', () => {
    vi.useFakeTimers({ now: 1_000_000 });
    try {
      const written: string[] = [];
      const bar = new ProgressBar({ out: () => {}, err: (t) => written.push(t), tty: false }, 0);
      bar.update(progress(1));
      vi.advanceTimersByTime(5_000);
      bar.update(progress(2));
      vi.advanceTimersByTime(6_000);
      bar.update(progress(3));
      expect(written).toEqual(['[..............................] 1 repos, 1 described, 0 failed (pds.example.com)\n', '[..............................] 3 repos, 3 described, 0 failed (pds.example.com)\n']);
      expect(bar.clear()).toBe('');
    } finally {
      vi.useRealTimers();
    }
  });
});
