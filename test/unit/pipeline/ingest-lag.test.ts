// The ingest lag readers behind live yield to: a moving average that a backlog moves and a few slow events do not,
// zero once ingest is idle; and the gate that holds a replay page while it is high, for at most its wait.
import { describe, expect, it, vi } from 'vitest';
import { IngestLag } from '../../../src/pipeline/ingest-lag.ts';
import { ReplayGate } from '../../../src/firehose/replay-gate.ts';

describe('ingest lag', () => {
  it('follows a backlog, shrugs off a few slow events, and is zero when nothing passes', () => {
    let now = 0;
    const lag = new IngestLag(() => now);
    for (let i = 0; i < 200; i++) lag.note(5);
    expect(lag.lagMs()).toBeCloseTo(5, 0);
    lag.note(2000);
    lag.note(2000);
    expect(lag.lagMs()).toBeLessThan(250);
    for (let i = 0; i < 100; i++) lag.note(2000);
    expect(lag.lagMs()).toBeGreaterThan(1900);
    now += 1001;
    expect(lag.lagMs()).toBe(0);
  });
});

describe('replay gate', () => {
  it('lets a page through at once while ingest keeps up, and holds it at most its wait while it lags', async () => {
    vi.useFakeTimers();
    try {
      let lag = 0;
      const gate = new ReplayGate({ lagMs: () => lag, maxLagMs: 200, maxWaitMs: 1000 });
      let admitted = false;
      void gate.admit().then(() => (admitted = true));
      await vi.advanceTimersByTimeAsync(0);
      expect(admitted).toBe(true);

      lag = 500;
      admitted = false;
      void gate.admit().then(() => (admitted = true));
      await vi.advanceTimersByTimeAsync(900);
      expect(admitted).toBe(false);
      await vi.advanceTimersByTimeAsync(150);
      expect(admitted).toBe(true);

      // Released as soon as ingest is back.
      admitted = false;
      void gate.admit().then(() => (admitted = true));
      await vi.advanceTimersByTimeAsync(100);
      expect(admitted).toBe(false);
      lag = 10;
      await vi.advanceTimersByTimeAsync(30);
      expect(admitted).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });
});
