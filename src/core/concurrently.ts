// Work over a list with a bound on how much runs at once (hosts probed, backfilled or re-checked a few at a time).

/**
 * Runs `work` on each item in order, at most `limit` at a time, and resolves when all have run. Items not started
 * when `stop()` turns true are skipped. An exception rejects the whole run (the others started still finish).
 */
export async function forEachConcurrently<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>, stop: () => boolean = () => false): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length && !stop()) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}
