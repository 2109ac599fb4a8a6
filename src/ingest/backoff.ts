/**
 * Reconnect delay after `failures` consecutive failures: exponential from `baseMs`, capped at `maxMs`, with full
 * jitter over the upper half so a relay restart does not reconnect to every host in the same instant.
 */
export function backoffDelay(failures: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.max(0, failures - 1));
  return Math.round(exp / 2 + (random() * exp) / 2);
}
