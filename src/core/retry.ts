// Waiting between attempts, in one place: reconnects to hosts and loops that must neither drop their work nor spin
// while a service (PostgreSQL, Redis) is away.

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Reconnect delay after `failures` consecutive failures: exponential from `baseMs`, capped at `maxMs`, with full
 * jitter over the upper half so a relay restart does not reconnect to every host in the same instant.
 */
export function backoffDelay(failures: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.max(0, failures - 1));
  return Math.round(exp / 2 + (random() * exp) / 2);
}

/** Delay before retry `attempt` (0 = the first retry): doubling from `baseMs`, at most `maxMs`. */
export function retryDelay(attempt: number, baseMs: number, maxMs = 5000): number {
  return Math.min(maxMs, baseMs * 2 ** attempt);
}

export interface RetryOptions {
  baseMs: number;
  maxMs?: number;
  /** Sees every failure before the wait. */
  onError?: (err: unknown, attempt: number) => void;
  /** Checked before each attempt: true gives up (resolves undefined). */
  stop?: () => boolean;
}

/** Runs `fn` until it succeeds (or `stop()`), waiting retryDelay() between attempts. */
export async function retrying<T>(fn: () => Promise<T>, opts: RetryOptions): Promise<T | undefined> {
  for (let attempt = 0; ; attempt++) {
    if (opts.stop?.()) return undefined;
    try {
      return await fn();
    } catch (err) {
      opts.onError?.(err, attempt);
      await sleep(retryDelay(attempt, opts.baseMs, opts.maxMs));
    }
  }
}
