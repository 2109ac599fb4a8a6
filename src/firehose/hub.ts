// Fan-out of committed events to live consumers. Events reach the hub in seq order: directly from this process's
// sequencer after commit, or — when another relay process committed them — read back from PostgreSQL after a NOTIFY.
// The latest batches stay in memory (a byte budget, and no longer than the replay window) so that a reader a little
// behind catches up from them, with no log read of its own.
import type { Logger } from 'pino';
import type { Database } from '../storage/db.ts';
import { committedSeq, EVENTS_CHANNEL, readEvents, type LaidOutEvents } from '../storage/events.ts';
import { retryDelay, sleep } from '../core/retry.ts';
import type { RelayMetrics } from '../metrics.ts';
import { WireBatch, WS_BINARY } from './wire-batch.ts';

export interface LiveSink {
  /** Called synchronously, in seq order, with each contiguous run of newly committed events. */
  deliver(batch: WireBatch): void;
}

export interface HubOptions {
  database: Database;
  log: Logger;
  metrics: RelayMetrics;
  /** Frame bytes of the latest batches kept for readers a little behind (0: none). */
  recentBytes: number;
  /** Kept batches older than this are let go (the replay window: what the log no longer serves, neither does this). */
  recentMaxAgeMs: number;
  now?: () => number;
}

export class FanoutHub {
  /** Highest seq handed to live sinks; every event up to it is committed. */
  lastSeq = 0;
  private readonly sinks = new Set<LiveSink>();
  private targetSeq = 0;
  /** The head is read (start()): before it, what is noted only raises the target. */
  private started = false;
  private catchingUp: Promise<void> | null = null;
  private unlisten: (() => Promise<void>) | null = null;

  /** The latest broadcast batches, oldest first, with when each was broadcast. */
  private readonly recent: Array<{ wire: WireBatch; bytes: number; at: number }> = [];
  private recentBytes = 0;

  private readonly opts: HubOptions;
  constructor(opts: HubOptions) {
    this.opts = opts;
  }

  /**
   * The kept batch holding the first event after `seq`, when the batches kept cover everything after it (what live
   * readers got after it is then exactly these batches, in order); null when `seq` is older than what is kept.
   */
  recentAfter(seq: number): WireBatch | null {
    this.evictRecent();
    const first = this.recent[0];
    if (!first || first.wire.events[0]!.seq > seq + 1) return null;
    for (const r of this.recent) if (r.wire.events.at(-1)!.seq > seq) return r.wire;
    return null;
  }

  private keepRecent(wire: WireBatch): void {
    if (this.opts.recentBytes <= 0) return;
    let bytes = 0;
    for (const e of wire.events) bytes += e.frame.length;
    this.recent.push({ wire, bytes, at: this.now() });
    this.recentBytes += bytes;
    this.evictRecent();
  }

  private now(): number {
    return this.opts.now?.() ?? performance.now();
  }

  private evictRecent(): void {
    const oldest = this.now() - this.opts.recentMaxAgeMs;
    while (this.recent.length > 0 && (this.recentBytes > this.opts.recentBytes || this.recent[0]!.at < oldest)) {
      this.recentBytes -= this.recent.shift()!.bytes;
    }
    this.opts.metrics.recentBytes.set(this.recentBytes);
  }

  async start(): Promise<void> {
    // Listen before reading the head, so a commit between the two is not missed.
    this.unlisten = await this.opts.database.listen(EVENTS_CHANNEL, (payload) => {
      const seq = Number(payload);
      if (Number.isSafeInteger(seq) && seq > 0) return this.noteCommitted(seq);
      // A wake-up without a seq (the listen connection came back): ask the log for its head. Guessing lastSeq + 1
      // would skip that seq for live consumers when it was not committed yet (found by test/chaos/services.test.ts).
      void this.refreshHead().catch((err: unknown) => this.opts.log.warn({ err }, 'could not read the committed head'));
    });
    // A NOTIFY that arrived meanwhile only raised the target: reading from seq 0 then would have broadcast the whole
    // log to live consumers, and set the head back to where that read ended (found by the fan-out bench: a fan-out
    // process started while events flowed served its readers minutes-old events as live).
    this.lastSeq = await committedSeq(this.opts.database.db);
    this.opts.metrics.lastSeq.set(this.lastSeq);
    this.started = true;
    this.noteCommitted(this.targetSeq);
  }

  async stop(): Promise<void> {
    await this.unlisten?.();
    await this.catchingUp;
  }

  get size(): number {
    return this.sinks.size;
  }

  add(sink: LiveSink): void {
    this.sinks.add(sink);
  }

  remove(sink: LiveSink): void {
    this.sinks.delete(sink);
  }

  /** Events this process just committed, laid out as `WS_BINARY` frames. */
  publish(batch: LaidOutEvents): void {
    const { events } = batch;
    if (events.length === 0) return;
    if (!this.catchingUp && events[0]!.seq === this.lastSeq + 1) {
      this.broadcast(new WireBatch(batch));
      return;
    }
    // Another process committed seqs in between: read everything in order from the log instead.
    this.noteCommitted(events.at(-1)!.seq);
  }

  /** Something up to `seq` is committed (possibly by another process); make sure it gets broadcast. */
  noteCommitted(seq: number): void {
    if (seq <= this.lastSeq) return;
    this.targetSeq = Math.max(this.targetSeq, seq);
    if (!this.started) return;
    this.catchingUp ??= this.catchUp().finally(() => {
      this.catchingUp = null;
    });
  }

  /** Re-reads the committed head (e.g. a consumer asks for a cursor this process has not seen yet). */
  async refreshHead(): Promise<number> {
    const head = await committedSeq(this.opts.database.db);
    this.noteCommitted(head);
    await this.catchingUp;
    return this.lastSeq;
  }

  private async catchUp(): Promise<void> {
    let attempt = 0;
    while (this.lastSeq < this.targetSeq) {
      try {
        const read = await readEvents(this.opts.database.db, this.lastSeq, this.targetSeq, 1000, WS_BINARY);
        attempt = 0;
        if (read.events.length === 0) {
          // The gap was pruned already (far behind): skip ahead rather than stall.
          this.lastSeq = this.targetSeq;
          break;
        }
        this.broadcast(new WireBatch(read));
      } catch (err) {
        this.opts.log.warn({ err }, 'fan-out catch-up read failed; retrying');
        await sleep(retryDelay(attempt++, 100));
      }
    }
  }

  /** Committed events, framed once (on first use, unless read laid out from the log) for every sink. */
  private broadcast(wire: WireBatch): void {
    this.lastSeq = wire.events.at(-1)!.seq;
    this.opts.metrics.lastSeq.set(this.lastSeq);
    this.opts.metrics.eventsBroadcast.inc(wire.events.length);
    this.keepRecent(wire);
    for (const sink of this.sinks) {
      try {
        sink.deliver(wire);
      } catch (err) {
        this.opts.log.error({ err }, 'live sink failed; removing it');
        this.sinks.delete(sink);
      }
    }
  }
}
