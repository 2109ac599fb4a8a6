// A relay clock for tests of quota windows and account budgets: it runs at real speed from where it is set, and
// jumps forward on demand, running every wait it passes, so a test moves to a window's end instead of sleeping
// through it (createRelay's `clock` override).
import type { Clock } from '../src/core/clock.ts';

interface Wait {
  at: number;
  fn: () => void;
  timer: NodeJS.Timeout | null;
}

export class TestClock implements Clock {
  private offset: number;
  private readonly waits = new Set<Wait>();

  /** Starts at `start` (epoch ms; default: now). */
  constructor(start = Date.now()) {
    this.offset = start - Date.now();
  }

  /** Starts `afterMs` into the current window of `windowMs` (windows align to multiples of their length). */
  static inWindow(windowMs: number, afterMs = 1000): TestClock {
    return new TestClock(Math.floor(Date.now() / windowMs) * windowMs + afterMs);
  }

  now(): number {
    return Date.now() + this.offset;
  }

  at(at: number, fn: () => void): () => void {
    const wait: Wait = { at, fn, timer: null };
    this.waits.add(wait);
    this.schedule(wait);
    return () => this.cancel(wait);
  }

  /** Jumps `ms` forward; waits now due run at once. */
  advance(ms: number): void {
    this.offset += ms;
    for (const wait of this.waits) this.schedule(wait);
  }

  /** Jumps to `ms` past the end of the current window of `windowMs`. */
  advancePastWindow(windowMs: number, ms = 1000): void {
    const now = this.now();
    this.advance(Math.floor(now / windowMs) * windowMs + windowMs + ms - now);
  }

  private schedule(wait: Wait): void {
    if (wait.timer) clearTimeout(wait.timer);
    wait.timer = setTimeout(() => {
      this.waits.delete(wait);
      wait.fn();
    }, Math.max(0, wait.at - this.now()));
    wait.timer.unref();
  }

  private cancel(wait: Wait): void {
    if (wait.timer) clearTimeout(wait.timer);
    this.waits.delete(wait);
  }
}
