// Pages of the event log as firehose readers behind live read them, shared between readers: the log is read in
// pages aligned on seq (page k holds the seqs k*PAGE+1 .. (k+1)*PAGE), so readers at nearby places ask for the same
// page, and a page wholly below the committed head is read and framed once for all of them (the same read in
// flight is awaited by each; a read page is kept within a byte budget). Ten readers replaying from one cursor read
// PostgreSQL ten times over and framed every page ten times: with ingest beside them that was a third of the main
// thread and most of the garbage collection (docs/perf-journal.md, session 11). A takedown or restore drops every
// kept page (`clear`, on the accounts channel); a kept page serves for at most `maxAgeMs` besides, so a notice
// missed while the listener reconnected is outlived soon.
import type { LaidOutEvents } from '../storage/events.ts';
import type { RelayMetrics } from '../metrics.ts';
import { WireBatch } from './wire-batch.ts';

export const LOG_PAGE = 500;

export interface LogPagesOptions {
  /**
   * The committed events in (after, upTo], oldest first, at most `limit`, laid out as binary WebSocket frames
   * (storage/events.ts readEvents with WS_BINARY); `sizeHint`: the bytes they are expected to take.
   */
  read: (after: number, upTo: number, limit: number, sizeHint: number) => Promise<LaidOutEvents>;
  metrics: Pick<RelayMetrics, 'replayPages' | 'replayPageBytes'>;
  /** Frame bytes of read pages kept for other readers (0: none kept; reads in flight are still shared). */
  budgetBytes: number;
  /** 10 s unless said. */
  maxAgeMs?: number;
  now?: () => number;
}

interface Kept {
  page: Promise<WireBatch>;
  /** Frame bytes, once read. */
  bytes: number;
  at: number;
}

/** The part of the log one read returns: every event in (`from`, `upTo`], some of which may be before the reader's place. */
export interface LogPage {
  wire: WireBatch;
  upTo: number;
}

export class LogPages {
  /** By page number, least recently used first. */
  private readonly kept = new Map<number, Kept>();
  private keptBytes = 0;
  /** Bytes an event took in the last page read, for the next read's buffer. */
  private bytesPerEvent = 0;
  private readonly o: LogPagesOptions & { maxAgeMs: number };

  constructor(o: LogPagesOptions) {
    this.o = { maxAgeMs: 10_000, ...o };
  }

  /**
   * The events after `after` up to `upTo` (a committed seq), a page at most: the page `after + 1` falls in, ending
   * at `upTo` when the head is inside it. Its events at or before `after` are the reader's to skip
   * (`WireBatch.indexAfter`).
   */
  async read(after: number, upTo: number): Promise<LogPage> {
    const k = Math.floor(after / LOG_PAGE);
    const from = k * LOG_PAGE;
    const end = from + LOG_PAGE;
    if (end > upTo) {
      // The head's page is still filling: read from the reader's place, for it alone.
      this.o.metrics.replayPages.inc({ from: 'log' });
      return { wire: await this.readLog(after, upTo), upTo };
    }
    const now = this.now();
    const hit = this.kept.get(k);
    if (hit && hit.at >= now - this.o.maxAgeMs) {
      this.kept.delete(k);
      this.kept.set(k, hit);
      this.o.metrics.replayPages.inc({ from: 'shared' });
      return { wire: await hit.page, upTo: end };
    }
    if (hit) this.forget(k, hit);
    this.o.metrics.replayPages.inc({ from: 'log' });
    const entry: Kept = { page: this.readLog(from, end), bytes: 0, at: now };
    this.kept.set(k, entry);
    try {
      const wire = await entry.page;
      if (this.kept.get(k) === entry) {
        for (const e of wire.events) entry.bytes += e.frame.length;
        this.keptBytes += entry.bytes;
        this.evict();
      }
      return { wire, upTo: end };
    } catch (err) {
      if (this.kept.get(k) === entry) this.kept.delete(k);
      throw err;
    }
  }

  private async readLog(after: number, upTo: number): Promise<WireBatch> {
    // A little room over the last page's size: a buffer too short is grown by copying what it holds.
    const hint = Math.ceil(this.bytesPerEvent * 1.15 * Math.min(LOG_PAGE, upTo - after));
    const read = await this.o.read(after, upTo, LOG_PAGE, hint);
    if (read.events.length > 0) this.bytesPerEvent = read.bytes.length / read.events.length;
    return new WireBatch(read);
  }

  /** Forgets every page read: the next read of each goes to the log (an account's takedown or restore). */
  clear(): void {
    this.kept.clear();
    this.keptBytes = 0;
    this.o.metrics.replayPageBytes.set(0);
  }

  private evict(): void {
    const oldest = this.now() - this.o.maxAgeMs;
    for (const [k, e] of this.kept) {
      if (this.keptBytes <= this.o.budgetBytes && e.at >= oldest) break;
      // Reads in flight stay: their readers are waiting on them, and they hold no bytes yet.
      if (e.bytes > 0 || e.at < oldest) this.forget(k, e);
    }
    this.o.metrics.replayPageBytes.set(this.keptBytes);
  }

  private forget(k: number, e: Kept): void {
    this.kept.delete(k);
    this.keptBytes -= e.bytes;
  }

  private now(): number {
    return this.o.now?.() ?? performance.now();
  }
}
