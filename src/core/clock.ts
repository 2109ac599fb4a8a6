// The clock of quota windows and account budgets: what "now" is when a window is counted, and when a wait for a
// window's end is over. Handed to whatever compares times with those windows, so tests can move to a window's end
// instead of sleeping through it.

export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  /** Runs `fn` once the clock reaches `at` (epoch ms); the returned function cancels it. */
  at(at: number, fn: () => void): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  at(at, fn) {
    // A wait for a window's end may be an hour; it must not keep a stopping process alive.
    const timer = setTimeout(fn, Math.max(0, at - Date.now()));
    timer.unref();
    return () => clearTimeout(timer);
  },
};
