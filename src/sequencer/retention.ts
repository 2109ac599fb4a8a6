// Keeps the event log to the replay window: by age, and by size when a cap is set. Runs in the background in
// bounded chunks, so ingest never waits on it.
import type { Logger } from 'pino';
import type { Db } from '../storage/db.ts';
import { pruneEventsOlderThan, pruneEventsThrough, sizePruneCutoff } from '../storage/events.ts';
import type { RelayMetrics } from '../metrics.ts';

export interface RetentionOptions {
  db: Db;
  log: Logger;
  metrics: RelayMetrics;
  windowMs: number;
  /** Frame bytes to keep at most; 0 = no size cap. */
  maxBytes: number;
  /** How often pruning runs; by default a tenth of the window, between 1 s and 1 min. */
  intervalMs?: number;
}

export class Retention {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  private readonly opts: RetentionOptions;
  constructor(opts: RetentionOptions) {
    this.opts = opts;
  }

  start(): void {
    const every = this.opts.intervalMs ?? Math.min(60_000, Math.max(1000, Math.floor(this.opts.windowMs / 10)));
    this.timer = setInterval(() => void this.runOnce(), every);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  runOnce(): Promise<void> {
    this.running ??= this.prune()
      .catch((err: unknown) => this.opts.log.warn({ err }, 'pruning the event log failed'))
      .finally(() => {
        this.running = null;
      });
    return this.running;
  }

  private async prune(): Promise<void> {
    const { db, metrics, log, windowMs, maxBytes } = this.opts;
    const byAge = await pruneEventsOlderThan(db, new Date(Date.now() - windowMs));
    let bySize = 0;
    if (maxBytes > 0) {
      const cutoff = await sizePruneCutoff(db, maxBytes);
      if (cutoff !== null) bySize = await pruneEventsThrough(db, cutoff);
    }
    if (byAge + bySize > 0) {
      metrics.eventsPruned.inc(byAge + bySize);
      log.debug({ byAge, bySize }, 'pruned events outside the replay window');
    }
  }
}
