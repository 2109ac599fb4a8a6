// One downstream firehose connection: optional replay from the event log, then live frames from the hub, with no
// gap and no duplicate at the switch. Replay is paced by the socket (backpressure). Live delivery is bounded by a
// byte cap and a frame cap: a consumer past either is not dropped but goes back to reading the log from where it is,
// at its own pace, and rejoins live once it has caught up, holding no more than the cap meanwhile. It gets
// ConsumerTooSlow only when its place falls out of the replay window, or when it stays slower than the floor rate
// (the server's check).
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import { encodeErrorFrame, encodeMessageFrame } from '../protocol/frame.ts';
import type { Db } from '../storage/db.ts';
import { oldestRetainedSeq, prunedPast } from '../storage/events.ts';
import type { RelayMetrics } from '../metrics.ts';
import type { FanoutHub, LiveSink } from './hub.ts';
import { LOG_PAGE, type LogPage, type LogPages } from './log-pages.ts';
import { StreamConnectionBase } from './outbound.ts';
import type { ReplayGate, ReplayPacer } from './replay-gate.ts';
import type { StreamConnection } from './server.ts';
import type { StreamView } from '../core/streams.ts';
import type { WireBatch } from './wire-batch.ts';

const OUTDATED_CURSOR = encodeMessageFrame('#info', {
  name: 'OutdatedCursor',
  message: 'Requested cursor is older than the replay window; streaming from the oldest event kept.',
});
/** Replay pauses when this much is queued on the socket, and resumes on drain. */
const REPLAY_HIGH_WATER = 1 << 20;
const CLOSE_GRACE_MS = 1000;

export interface ConsumerOptions {
  ws: WebSocket;
  hub: FanoutHub;
  db: Db;
  /** Where replay reads the log: pages shared with the other readers behind live. */
  pages: LogPages;
  log: Logger;
  metrics: RelayMetrics;
  maxBufferBytes: number;
  maxBufferFrames: number;
  remoteAddress: string;
  replayGate: ReplayGate;
}

export class Consumer extends StreamConnectionBase<'starting' | 'replay' | 'live'> implements LiveSink, StreamConnection {
  /** Highest seq written to this consumer. */
  sentSeq = 0;
  readonly connectedAt = new Date();
  /** Highest seq known to have left the process (handed to the kernel); frames above it are queued here. */
  private flushedSeq = 0;
  /** It went back to the log from live (shown as catching up). */
  private caughtUp = true;

  private readonly opts: ConsumerOptions;
  private readonly pacer: ReplayPacer;
  constructor(opts: ConsumerOptions) {
    super({ ws: opts.ws, log: opts.log, remoteAddress: opts.remoteAddress, what: 'consumer' }, 'starting');
    this.opts = opts;
    this.pacer = opts.replayGate.pacer();
  }

  get state(): string {
    return this.mode;
  }

  /** What an operator sees of this consumer. */
  describe(headSeq: number): StreamView {
    return {
      kind: 'firehose',
      remoteAddress: this.opts.remoteAddress,
      connectedAt: this.connectedAt.toISOString(),
      state: this.mode === 'replay' && !this.caughtUp ? 'catching up' : this.mode,
      sentSeq: this.sentSeq,
      lag: Math.max(0, headSeq - this.sentSeq),
      bufferedBytes: this.opts.ws.bufferedAmount,
      peakBufferedBytes: this.out.peakQueued,
      filters: 'all',
    };
  }

  async start(cursor: number | null): Promise<void> {
    const { hub, db } = this.opts;
    if (cursor === null) {
      this.sentSeq = this.flushedSeq = hub.lastSeq;
      this.goLive();
      return;
    }
    if (cursor > hub.lastSeq && cursor > (await hub.refreshHead())) {
      this.fail('FutureCursor', 'Cursor in the future.');
      return;
    }
    this.mode = 'replay';
    this.setBehind(true);
    const oldest = await oldestRetainedSeq(db);
    let after = cursor;
    if (cursor === 0 || oldest === null || cursor < oldest - 1) {
      if (cursor !== 0 && cursor < hub.lastSeq) this.write(OUTDATED_CURSOR);
      after = oldest === null ? hub.lastSeq : oldest - 1;
    }
    this.sentSeq = this.flushedSeq = after;
    await this.replay(cursor === 0 || after !== cursor);
  }

  deliver(batch: WireBatch): void {
    if (this.mode !== 'live') return;
    // Live seqs are gapless, so the seq distance is the number of frames still queued.
    if (this.sentSeq - this.flushedSeq > this.opts.maxBufferFrames) return this.catchUp('too_slow_frames');
    if (!this.writeBatch(batch, this.opts.maxBufferBytes)) this.catchUp('too_slow');
  }

  dropTooSlow(reason: string): void {
    this.opts.metrics.consumersDropped.inc({ reason });
    this.fail('ConsumerTooSlow', 'Stream consumer too slow.');
  }

  /** Live delivery could not keep up: read the log from the next seq it has not been sent, then rejoin. */
  private catchUp(reason: 'too_slow' | 'too_slow_frames'): void {
    this.opts.hub.remove(this);
    this.opts.metrics.consumerCatchUps.inc({ reason });
    this.opts.log.info({ remote: this.opts.remoteAddress, seq: this.sentSeq, reason }, 'consumer behind live; reading the log');
    this.mode = 'replay';
    this.caughtUp = false;
    this.setBehind(true);
    this.replay().catch((err: unknown) => {
      this.opts.log.warn({ err, remote: this.opts.remoteAddress }, 'consumer failed');
      this.close(1011, 'internal error');
    });
  }

  /**
   * Sends the log after sentSeq, page by page at the socket's pace, until it reaches the hub's head; then live.
   * `outdated`: the consumer was told already that it starts from the oldest event kept.
   */
  private async replay(outdated = false): Promise<void> {
    const { hub, db, metrics } = this.opts;
    let pending: Promise<LogPage> | null = null;
    while (this.mode === 'replay') {
      if (!pending) {
        const head = hub.lastSeq;
        if (this.sentSeq >= head) {
          // Synchronous check-and-join: nothing can be broadcast between the comparison and joining the hub.
          this.goLive();
          return;
        }
        // A reader a little behind takes what live readers got from the batches the hub keeps: no log read, no
        // framing of its own.
        const recent = this.caughtUp ? null : hub.recentAfter(this.sentSeq);
        if (recent) {
          const from = this.progress;
          if (!(await this.send(recent))) return;
          metrics.recentEvents.inc(this.progress - from);
          continue;
        }
        pending = this.prefetch(this.sentSeq, head);
      }
      const { wire, upTo } = await pending;
      pending = null;
      if (this.mode !== 'replay') return;
      const first = wire.seqAfter(this.sentSeq);
      // Seqs the page skips are taken-down accounts' events, or pruned: then the consumer would miss them unseen. Only
      // before its first page is that the start of the window moving (it asked for the oldest kept, or a cursor the
      // window has just passed): it starts from there, told so.
      if (await prunedPast(db, this.sentSeq, first, upTo)) {
        if (this.progress > 0 || !this.caughtUp) {
          this.dropTooSlow('out_of_window');
          return;
        }
        if (!outdated) this.write(OUTDATED_CURSOR);
        outdated = true;
      }
      if (this.mode !== 'replay') return;
      // The next page is read while this one is written and drained, so PostgreSQL and the socket work at once
      // (one page at a time left replay waiting on the database: docs/perf-journal.md, replay).
      if (upTo < hub.lastSeq) pending = this.prefetch(upTo, hub.lastSeq);
      const from = this.progress;
      if (first !== undefined && !(await this.send(wire))) return;
      // Nothing is logged between its last event and upTo (or it is not for this reader).
      this.sentSeq = Math.max(this.sentSeq, upTo);
      metrics.replayEvents.inc(this.progress - from);
    }
  }

  /**
   * Writes a batch behind live within the high-water mark, the rest after the socket drains, so what one reader
   * holds stays bounded; false when it stopped being behind live (closed) meanwhile.
   */
  private async send(wire: WireBatch): Promise<boolean> {
    while (!this.writeBatch(wire, REPLAY_HIGH_WATER)) {
      await this.out.drained();
      if (this.mode !== 'replay') return false;
    }
    return true;
  }

  private prefetch(after: number, upTo: number): Promise<LogPage> {
    const page = this.pacer.admit(LOG_PAGE).then(() => this.opts.pages.read(after, upTo));
    // Awaited later (where a failure ends the consumer); a consumer that closes first never awaits it.
    page.catch(() => {});
    return page;
  }

  private goLive(): void {
    if (this.mode === 'closed') return;
    this.mode = 'live';
    this.caughtUp = true;
    this.setBehind(false);
    this.opts.hub.add(this);
  }

  /**
   * Writes the batch's frames above sentSeq straight to the socket, in as few writes as the cap allows; each
   * write's callback tracks what has left the process. Before each write the queue is re-read (the kernel takes
   * what it can synchronously) and the write holds only frames that start within `capBytes`: what one reader holds
   * stays within the cap plus one frame, whatever the batch size, and a reader that keeps up never trips it.
   * Returns false, having stopped, when the queue is past the cap with frames left.
   */
  private writeBatch(wire: WireBatch, capBytes: number): boolean {
    const { events } = wire;
    let i = wire.indexAfter(this.sentSeq);
    if (i === events.length) return true;
    const { bytes, offsets } = wire;
    while (i < events.length) {
      const queued = this.out.queued();
      if (queued > capBytes) return false;
      let j = i + 1;
      while (j < events.length && queued + (offsets[j]! - offsets[i]!) <= capBytes) j++;
      const chunk = bytes.subarray(offsets[i]!, offsets[j]!);
      const upTo = events[j - 1]!.seq;
      this.out.write(chunk, () => {
        if (upTo > this.flushedSeq) this.flushedSeq = upTo;
      });
      this.opts.metrics.framesSent.inc(j - i);
      this.progress += j - i;
      this.sentSeq = upTo;
      i = j;
    }
    this.out.queued();
    return true;
  }

  private write(frame: Uint8Array): void {
    this.out.send(frame);
    this.opts.metrics.framesSent.inc();
  }

  private fail(error: string, message: string): void {
    if (this.mode === 'closed') return;
    this.opts.log.info({ remote: this.opts.remoteAddress, error }, 'closing consumer with error frame');
    this.opts.ws.send(encodeErrorFrame(error, message), { binary: true });
    this.opts.ws.close(1008, error);
    // A consumer that does not read never completes the close handshake: free its queue soon regardless.
    setTimeout(() => this.opts.ws.terminate(), CLOSE_GRACE_MS).unref();
    this.closed();
  }

  protected onClosed(): void {
    this.opts.hub.remove(this);
  }
}
