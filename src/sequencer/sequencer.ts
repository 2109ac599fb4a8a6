// Assigns the relay's global seq and persists accepted events, together with the upstream cursors and account
// changes they cover, in one transaction per batch (storage/events.ts). Only after commit are frames handed to
// fan-out, so nothing is broadcast that a crash could take back and no seq is ever reused.
import type { Logger } from 'pino';
import { frameUnderSeq } from '../protocol/frame.ts';
import type { Db, Pipeline } from '../storage/db.ts';
import { commitBatch, frameAt, LogPartitioner, type Batch, type FrameLayout, type LaidOutEvents, type PartitionPolicy } from '../storage/events.ts';
import { mergeChanges } from '../core/accounts.ts';
import { timeSpanOf, type SequencerItem, type SequencerSink } from '../core/events.ts';
import { retryDelay } from '../core/retry.ts';
import type { RelayMetrics } from '../metrics.ts';

/** Frame bytes one batch transaction carries at most (at least one event goes in, whatever its size). */
export const MAX_BATCH_BYTES = 16 * 1024 * 1024;

export interface SequencerOptions {
  db: Db;
  /** Where batches are written on PostgreSQL (storage/db.ts Pipeline); without one, statement by statement on `db`. */
  pipeline?: Pipeline | null;
  log: Logger;
  metrics: RelayMetrics;
  maxDelayMs: number;
  maxBatch: number;
  /** Default MAX_BATCH_BYTES. */
  maxBatchBytes?: number;
  /** How the log is cut into partitions (default: an hour each, no byte cap). */
  partitions?: PartitionPolicy;
  /** How a batch's frames are laid out for fan-out (firehose/wire-batch.ts WS_BINARY): written so once, then sent as they lie. */
  layout: FrameLayout;
}

/** Hears of each commit, in seq order: the events committed (laid out), and the items the batch covered. */
export type CommitListener = (events: LaidOutEvents, items: SequencerItem[]) => void;

export class Sequencer implements SequencerSink {
  private pending: SequencerItem[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private readonly pendingByHost = new Map<number, number>();
  private stopped = false;
  private failures = 0;
  /**
   * The events a failed batch would have committed under their seqs: a COMMIT whose answer was lost (the server went
   * away) may have gone through, and writing the batch again would relay it twice.
   */
  private uncertain: { items: number; committed: LaidOutEvents } | null = null;
  private readonly listeners: CommitListener[] = [];
  private readonly partitions: LogPartitioner;

  private readonly opts: SequencerOptions;
  constructor(opts: SequencerOptions) {
    this.opts = opts;
    this.partitions = new LogPartitioner(opts.partitions ?? { spanMs: 3_600_000, maxBytes: 0 });
  }

  onCommitted(listener: CommitListener): void {
    this.listeners.push(listener);
  }

  submit(item: SequencerItem): void {
    if (this.stopped) throw new Error('sequencer stopped');
    this.pending.push(item);
    this.pendingByHost.set(item.hostId, (this.pendingByHost.get(item.hostId) ?? 0) + 1);
    if (this.pending.length >= this.opts.maxBatch) this.kick(0);
    else this.kick(this.opts.maxDelayMs);
  }

  pendingFor(hostId: number): number {
    return this.pendingByHost.get(hostId) ?? 0;
  }

  get backlog(): number {
    return this.pending.length;
  }

  /** Commits everything submitted so far. */
  async drain(): Promise<void> {
    while (this.pending.length > 0 || this.flushing) {
      if (this.flushing) await this.flushing;
      else await this.flushNow();
    }
  }

  async stop(): Promise<void> {
    await this.drain();
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private kick(delay: number): void {
    if (this.flushing) return; // the running flush re-kicks when it finishes
    if (this.timer && delay > 0) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flushNow();
    }, delay);
  }

  private flushNow(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (this.pending.length === 0) return Promise.resolve();
    // A batch whose COMMIT failed is retried as it was, so the check below is about exactly these items.
    const batch = this.uncertain ? this.pending.slice(0, this.uncertain.items) : this.nextBatch();
    this.flushing = this.write(batch)
      .then((committed) => {
        this.pending.splice(0, batch.length);
        for (const item of batch) {
          const left = (this.pendingByHost.get(item.hostId) ?? 1) - 1;
          if (left === 0) this.pendingByHost.delete(item.hostId);
          else this.pendingByHost.set(item.hostId, left);
        }
        this.failures = 0;
        for (const listener of this.listeners) listener(committed, batch);
      })
      .catch((err: unknown) => {
        // Nothing of the batch is known to be committed; keep it (in order) and retry. Hosts pause meanwhile.
        this.failures++;
        this.opts.metrics.sequencerFailures.inc();
        this.opts.log.error({ err, attempt: this.failures }, 'sequencer batch failed; retrying');
        return new Promise<void>((r) => setTimeout(r, retryDelay(this.failures, 50)));
      })
      .finally(() => {
        this.flushing = null;
        if (this.pending.length > 0 && !this.stopped) this.kick(this.pending.length >= this.opts.maxBatch ? 0 : this.opts.maxDelayMs);
      });
    return this.flushing;
  }

  /** The oldest pending items, up to maxBatch of them and maxBatchBytes of received bodies (a #commit may be MBs). */
  private nextBatch(): SequencerItem[] {
    const maxBytes = this.opts.maxBatchBytes ?? MAX_BATCH_BYTES;
    let bytes = 0;
    let n = 0;
    while (n < this.pending.length && n < this.opts.maxBatch) {
      bytes += this.pending[n]!.event?.received?.length ?? 0;
      if (n > 0 && bytes > maxBytes) break;
      n++;
    }
    return this.pending.slice(0, n);
  }

  private async write(items: SequencerItem[]): Promise<LaidOutEvents> {
    const started = performance.now();
    const already = await this.committedBefore();
    if (already) return already;
    const committed = await commitBatch(
      this.opts.db,
      this.toBatch(items),
      this.partitions,
      this.opts.layout,
      (attempted) => {
        this.uncertain = attempted.events.length > 0 ? { items: items.length, committed: attempted } : null;
      },
      this.opts.pipeline ?? null,
    );
    this.uncertain = null;
    this.opts.metrics.sequencerBatchSeconds.observe((performance.now() - started) / 1000);
    this.opts.metrics.sequencerBatchSize.observe(items.length);
    return committed;
  }

  /**
   * After a failed COMMIT: whether the batch was committed after all (its last frame stands under the seq it was
   * given), so that it is not written again. A batch that moved only cursors and accounts is safe to repeat.
   */
  private async committedBefore(): Promise<LaidOutEvents | null> {
    if (!this.uncertain) return null;
    const { committed } = this.uncertain;
    const last = committed.events.at(-1)!;
    const stored = await frameAt(this.opts.db, last.seq);
    this.uncertain = null;
    if (!stored || Buffer.compare(Buffer.from(stored), Buffer.from(last.frame)) !== 0) return null;
    this.opts.log.warn({ seq: last.seq }, 'a batch whose commit seemed to fail was committed; not writing it again');
    return committed;
  }

  /**
   * What a batch commits. A host's cursor is the newest its items carry: items of a host come in the order its
   * pipeline handed them in, and what a cursor names was handed in with it or before.
   */
  private toBatch(items: SequencerItem[]): Batch {
    const batch: Batch = { events: [], cursors: new Map(), accounts: new Map(), counts: new Map() };
    for (const item of items) {
      const ev = item.event;
      if (ev || item.rejected) {
        const count = batch.counts.get(item.hostId) ?? { accepted: 0, rejected: 0 };
        if (ev) count.accepted++;
        else count.rejected++;
        batch.counts.set(item.hostId, count);
      }
      if (ev) {
        batch.events.push({
          did: ev.did,
          kind: ev.kind,
          hostId: item.hostId,
          upstreamSeq: item.upstreamSeq,
          timeSpan: timeSpanOf(ev),
          frame: frameUnderSeq(`#${ev.kind}`, ev.body, ev.received),
        });
      }
      if (item.account) batch.accounts.set(item.account.did, mergeChanges(batch.accounts.get(item.account.did), item.account));
      if (!item.cursor) continue;
      const accepted = (batch.cursors.get(item.hostId)?.accepted ?? false) || ev !== null;
      batch.cursors.set(item.hostId, { cursor: item.cursor, accepted });
    }
    return batch;
  }
}
