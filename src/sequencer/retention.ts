// Keeps the event log to the replay window, by age and by size when a cap is set, by dropping whole partitions
// (storage/events.ts): nothing is deleted row by row, so the log leaves no dead tuples behind at the ingest rate. The
// per-host event counts (a row per host and minute) are deleted past their horizon at the same time. One
// relay process prunes at a time (a claim on the database); it runs in the background, so ingest never waits on it.
import type { Logger } from 'pino';
import type { Database } from '../storage/db.ts';
import { dropPartition, logPartitions, pruneEventCounts, recentFrameBytes, type LogPartition } from '../storage/events.ts';
import type { RelayMetrics } from '../metrics.ts';

/** The claim that makes one process the pruner (host ids are positive). */
const PRUNER_CLAIM = -1;

export interface RetentionOptions {
  database: Database;
  log: Logger;
  metrics: RelayMetrics;
  windowMs: number;
  /** Frame bytes to keep at most; 0 = no size cap. */
  maxBytes: number;
  /** How often pruning runs; by default a tenth of the window, between 1 s and 1 min. */
  intervalMs?: number;
}

/**
 * The partitions to drop, oldest first: those whose successor was made before the window began (they hold only
 * older events), then, under a byte cap, the oldest of the rest while the frames kept pass it. Never the newest.
 */
export function partitionsToDrop(parts: LogPartition[], o: { cutoff: number; maxBytes: number; frameBytes: number }): LogPartition[] {
  const drop: LogPartition[] = [];
  while (drop.length + 1 < parts.length && parts[drop.length + 1]!.createdAt.getTime() < o.cutoff) drop.push(parts[drop.length]!);
  if (o.maxBytes > 0 && o.frameBytes > 0) {
    let kept = parts.slice(drop.length).reduce((n, p) => n + p.events, 0) * o.frameBytes;
    while (drop.length + 1 < parts.length && kept > o.maxBytes) {
      const p = parts[drop.length]!;
      drop.push(p);
      kept -= p.events * o.frameBytes;
    }
  }
  return drop;
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
    const { database, metrics, log, windowMs, maxBytes } = this.opts;
    if (!(await database.tryClaim(PRUNER_CLAIM))) return;
    const { db } = database;
    const parts = await logPartitions(db);
    const drop = partitionsToDrop(parts, { cutoff: Date.now() - windowMs, maxBytes, frameBytes: maxBytes > 0 ? await recentFrameBytes(db) : 0 });
    for (const p of drop) {
      await dropPartition(db, p.name, database.kind === 'postgres');
      metrics.eventsPruned.inc(p.events);
    }
    await pruneEventCounts(db);
    if (drop.length > 0) log.debug({ partitions: drop.map((p) => p.name), events: drop.reduce((n, p) => n + p.events, 0) }, 'dropped partitions outside the replay window');
  }
}
