// The collection index as operators see it (the console): its size, the collections most repos hold, and how the
// backfills stand. The top collections are an aggregate over the whole index: one computation at a time, whoever
// asks, kept a minute when read from the statistics (a large index), a few seconds when counted (a small one).
import type { Db } from '../storage/db.ts';
import { allBackfills, estimatedEntries, indexBytes, topCollections } from '../storage/collections.ts';
import { listHosts } from '../storage/hosts.ts';
import type { CollectionsView } from './contract.ts';

export const TOP_COLLECTIONS = 20;
export const TOP_CACHE_MS = { estimated: 60_000, counted: 5_000 };

export class CollectionsService {
  private cached: { until: number; view: Promise<CollectionsView> } | null = null;
  private readonly db: Db;
  private readonly now: () => number;

  constructor(o: { db: Db; now?: () => number }) {
    this.db = o.db;
    this.now = o.now ?? Date.now;
  }

  overview(): Promise<CollectionsView> {
    const now = this.now();
    if (!this.cached || now > this.cached.until) {
      const view = this.compute(now);
      const entry = { until: Infinity, view };
      // Kept from when it is known how it was computed; a failed computation is not kept (the next request tries again).
      view.then(
        (v) => (entry.until = now + (v.exact ? TOP_CACHE_MS.counted : TOP_CACHE_MS.estimated)),
        () => {
          if (this.cached === entry) this.cached = null;
        },
      );
      this.cached = entry;
    }
    return this.cached.view;
  }

  private async compute(now: number): Promise<CollectionsView> {
    const [top, entries, bytes, backfills, hosts] = await Promise.all([
      topCollections(this.db, TOP_COLLECTIONS),
      estimatedEntries(this.db),
      indexBytes(this.db),
      allBackfills(this.db),
      listHosts(this.db, { limit: 100_000 }),
    ]);
    const names = new Map(hosts.map((h) => [h.id, h.hostname]));
    return {
      computedAt: new Date(now).toISOString(),
      entries,
      bytes,
      exact: top.exact,
      top: top.collections,
      backfills: backfills.map((b) => ({
        hostname: names.get(b.hostId) ?? String(b.hostId),
        state: b.state as 'running' | 'finished',
        done: b.done,
        failed: b.failed,
        updatedAt: b.updatedAt.toISOString(),
      })),
    };
  }
}
