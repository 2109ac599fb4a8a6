// Keeps the event log to the replay window. Runs in the background in bounded chunks, so ingest never waits on it.
import type { Logger } from 'pino';
import type { Db } from '../storage/db.ts';
import { pruneEventsOlderThan } from '../storage/events.ts';
import type { RelayMetrics } from '../metrics.ts';

export class Retention {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(private readonly opts: { db: Db; log: Logger; metrics: RelayMetrics; windowMs: number }) {}

  start(): void {
    const every = Math.min(60_000, Math.max(1000, Math.floor(this.opts.windowMs / 10)));
    this.timer = setInterval(() => void this.runOnce(), every);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  runOnce(): Promise<void> {
    this.running ??= pruneEventsOlderThan(this.opts.db, new Date(Date.now() - this.opts.windowMs))
      .then((n) => {
        if (n > 0) {
          this.opts.metrics.eventsPruned.inc(n);
          this.opts.log.debug({ pruned: n }, 'pruned events outside the replay window');
        }
      })
      .catch((err: unknown) => this.opts.log.warn({ err }, 'pruning the event log failed'))
      .finally(() => {
        this.running = null;
      });
    return this.running;
  }
}
