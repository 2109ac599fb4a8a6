// The ingest lag readers behind live yield to: a moving average that a backlog moves and a few slow events do not,
// zero once ingest is idle; the live rate; and the gate that holds a replay page while the lag is high, for at most
// its wait and never so long that its reader reads slower than twice the live rate; the event loop's utilization,
// which holds a page the same way while it is high and events flow live.
import { describe, expect, it, vi } from 'vitest';
import { IngestLag } from '../../../src/pipeline/ingest-lag.ts';
import { pageWaitBudgetMs, ReplayGate } from '../../../src/firehose/replay-gate.ts';
import { LoopLoad } from '../../../src/core/loop-load.ts';

/** Under fake timers: admits a reader's next 500-event page, advances the clock, and says when (ms since start) it went. */
function pageTimes(gate: ReplayGate): (advanceMs: number) => Promise<number> {
  const reader = gate.pacer();
  const start = Date.now();
  return async (advanceMs) => {
    let at = -1;
    const p = reader.admit(500).then(() => (at = Date.now() - start));
    await vi.advanceTimersByTimeAsync(advanceMs);
    await p;
    return at;
  };
}

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

  it('counts the events a second that pass, and says 0 once they stop', () => {
    let now = 0;
    const lag = new IngestLag(() => now);
    // 2,000 events over a second and a half: the first whole second is the rate.
    for (let i = 0; i < 3000; i++) {
      now = i / 2;
      lag.note(1);
    }
    expect(lag.eventsPerSecond()).toBeCloseTo(2000, -1);
    now += 1001;
    expect(lag.eventsPerSecond()).toBe(0);
  });
});

describe('loop load', () => {
  it('is the share of the last whole window the loop ran code, measured again once a window has passed', () => {
    let now = 0;
    let active = 0;
    let idle = 0;
    const load = new LoopLoad({ windowMs: 100, now: () => now, sample: () => ({ active, idle, utilization: 0 }) });
    expect(load.utilization()).toBe(0);
    active += 80;
    idle += 20;
    now = 100;
    expect(load.utilization()).toBeCloseTo(0.8);
    // Within the window the last figure holds, whatever has happened since.
    active += 5;
    idle += 45;
    now = 150;
    expect(load.utilization()).toBeCloseTo(0.8);
    active += 5;
    idle += 45;
    now = 200;
    expect(load.utilization()).toBeCloseTo(0.1);
  });

  it('reads the real event loop', () => {
    const load = new LoopLoad({ windowMs: 0 });
    const until = performance.now() + 30;
    while (performance.now() < until);
    expect(load.utilization()).toBeGreaterThan(0.5);
  });
});

describe('replay gate', () => {
  it('holds a page while the event loop is busier than its limit, as while ingest lags', async () => {
    vi.useFakeTimers();
    try {
      let busy = 0.9;
      let live = 10;
      const gate = new ReplayGate({ lagMs: () => 0, maxLagMs: 50, loopBusy: () => busy, maxLoopBusy: 0.6, maxWaitMs: 1000, liveRate: () => live, now: () => Date.now() }).pacer();
      // A reader's first page goes at once.
      await gate.admit(500);
      let admitted = false;
      void gate.admit(500).then(() => (admitted = true));
      await vi.advanceTimersByTimeAsync(200);
      expect(admitted).toBe(false);
      busy = 0.3;
      await vi.advanceTimersByTimeAsync(30);
      expect(admitted).toBe(true);
      admitted = false;
      void gate.admit(500).then(() => (admitted = true));
      await vi.advanceTimersByTimeAsync(0);
      expect(admitted).toBe(true);
      // Busy with nothing flowing live: the readers' own work, not held.
      busy = 0.9;
      live = 0;
      admitted = false;
      void gate.admit(500).then(() => (admitted = true));
      await vi.advanceTimersByTimeAsync(0);
      expect(admitted).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });

  it('holds a reader to five times the live rate while only the loop is busy, twice while ingest lags', async () => {
    vi.useFakeTimers();
    try {
      let lag = 0;
      const gate = new ReplayGate({ lagMs: () => lag, maxLagMs: 50, loopBusy: () => 0.9, maxLoopBusy: 0.6, liveRate: () => 2000, now: () => Date.now() });
      const admitAt = pageTimes(gate);
      // 500 events at five times 2,000/s: a page per 50 ms; at twice, per 125 ms (counted from the last page).
      expect(await admitAt(0)).toBe(0);
      expect(await admitAt(60)).toBe(50);
      lag = 500;
      expect(await admitAt(130)).toBe(175);
    } finally {
      vi.useRealTimers();
    }
  });

  it('lets a page through at once while ingest keeps up, and holds it at most its wait while it lags', async () => {
    vi.useFakeTimers();
    try {
      let lag = 0;
      const gate = new ReplayGate({ lagMs: () => lag, maxLagMs: 200, maxWaitMs: 1000, liveRate: () => 0 }).pacer();
      let admitted = false;
      void gate.admit(500).then(() => (admitted = true));
      await vi.advanceTimersByTimeAsync(0);
      expect(admitted).toBe(true);

      lag = 500;
      admitted = false;
      void gate.admit(500).then(() => (admitted = true));
      await vi.advanceTimersByTimeAsync(900);
      expect(admitted).toBe(false);
      await vi.advanceTimersByTimeAsync(150);
      expect(admitted).toBe(true);

      // Released as soon as ingest is back.
      admitted = false;
      void gate.admit(500).then(() => (admitted = true));
      await vi.advanceTimersByTimeAsync(100);
      expect(admitted).toBe(false);
      lag = 10;
      await vi.advanceTimersByTimeAsync(30);
      expect(admitted).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });

  it('holds a page only as long as lets its reader read twice the live rate, counting the time since its last page', async () => {
    // 500 events at twice 2,000/s: one page per 125 ms at most, however long ingest lags.
    expect(pageWaitBudgetMs(500, 2000, 2, 1000, Infinity)).toBe(0);
    expect(pageWaitBudgetMs(500, 2000, 2, 1000, 0)).toBe(125);
    expect(pageWaitBudgetMs(500, 2000, 2, 1000, 100)).toBe(25);
    expect(pageWaitBudgetMs(500, 100, 2, 1000, 0)).toBe(1000);
    expect(pageWaitBudgetMs(500, 0, 2, 1000, 0)).toBe(1000);
    vi.useFakeTimers();
    try {
      const gate = new ReplayGate({ lagMs: () => 500, maxLagMs: 50, liveRate: () => 2000, now: () => Date.now() });
      const admitAt = pageTimes(gate);
      // The first page goes at once; the next one 125 ms after it; a page whose read took 100 ms waits 25 more.
      expect(await admitAt(0)).toBe(0);
      expect(await admitAt(130)).toBe(125);
      await vi.advanceTimersByTimeAsync(100);
      expect(await admitAt(30)).toBe(250);
      // Another reader has its own pace.
      const other = gate.pacer();
      let went = false;
      void other.admit(500).then(() => (went = true));
      await vi.advanceTimersByTimeAsync(0);
      expect(went).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });
});
