// One Jetstream subscriber: optional replay from a time cursor, then live messages from the shared batches, with no
// gap and no duplicate at the switch (positions are relay seqs, like the firehose's). A subscriber whose queue passes
// the cap while live is not dropped: it goes back to reading the log at its own pace and rejoins live when it has
// caught up, so memory stays bounded by the cap in every state; only one that falls out of the replay window is
// closed. Filters may change at any time (options_update).
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import type { Db } from '../storage/db.ts';
import { prunedPast, seqBeforeTime } from '../storage/events.ts';
import type { RelayMetrics } from '../metrics.ts';
import type { FanoutHub } from '../firehose/hub.ts';
import { StreamConnectionBase } from '../firehose/outbound.ts';
import type { ReplayGate, ReplayPacer } from '../firehose/replay-gate.ts';
import type { StreamConnection } from '../firehose/server.ts';
import type { StreamView } from '../core/streams.ts';
import type { JetstreamBatch } from './batch.ts';
import { describeFilters, parseClientMessage, wants, type Filters, type SubscribeRequest } from './options.ts';
import type { ReplayPages } from './replay-pages.ts';
import { LOG_PAGE } from '../firehose/log-pages.ts';

/** Replay pauses when this much is queued on the socket, and resumes on drain; it joins live below it. */
const REPLAY_HIGH_WATER = 1 << 20;

/** Where live subscribers are registered (the Jetstream fan-out). */
export interface LiveSet {
  add(s: JetstreamSubscriber): void;
  remove(s: JetstreamSubscriber): void;
}

export interface SubscriberOptions {
  ws: WebSocket;
  remoteAddress: string;
  request: SubscribeRequest;
  hub: FanoutHub;
  live: LiveSet;
  db: Db;
  /** Where replay reads the log: pages shared with the other readers behind live, converted once. */
  pages: ReplayPages;
  log: Logger;
  metrics: RelayMetrics;
  /** Queued bytes past which a live subscriber goes back to reading the log. */
  maxBufferBytes: number;
  replayGate: ReplayGate;
}

export class JetstreamSubscriber extends StreamConnectionBase<'hello' | 'starting' | 'replay' | 'live'> implements StreamConnection {
  /** Highest relay seq whose messages this subscriber was sent (or skipped by its filters). */
  sentSeq = 0;
  readonly connectedAt = new Date();
  private filters: Filters;
  /** Messages at or before this time are not sent: the part of the cursor's event the subscriber had. */
  private notAfter = -1;
  private readonly opts: SubscriberOptions;
  private readonly pacer: ReplayPacer;

  constructor(opts: SubscriberOptions) {
    super({ ws: opts.ws, log: opts.log, remoteAddress: opts.remoteAddress, what: 'Jetstream subscriber' }, 'starting');
    this.opts = opts;
    this.pacer = opts.replayGate.pacer();
    this.filters = opts.request.filters;
    opts.ws.on('message', (data) => this.onMessage(String(data)));
  }

  describe(headSeq: number): StreamView {
    return {
      kind: 'jetstream',
      remoteAddress: this.opts.remoteAddress,
      connectedAt: this.connectedAt.toISOString(),
      state: this.mode,
      sentSeq: this.sentSeq,
      lag: Math.max(0, headSeq - this.sentSeq),
      bufferedBytes: this.opts.ws.bufferedAmount,
      peakBufferedBytes: this.out.peakQueued,
      filters: describeFilters(this.filters),
      compressed: this.opts.request.compress,
    };
  }

  /** Sends nothing before the first options_update when the subscriber asked so (requireHello). */
  start(): Promise<void> {
    if (this.opts.request.requireHello) {
      this.mode = 'hello';
      return Promise.resolve();
    }
    return this.begin();
  }

  private async begin(): Promise<void> {
    const { hub, db } = this.opts;
    const { cursor } = this.opts.request;
    // No cursor, or one in the future: the live tail.
    const before = cursor === null || cursor > Date.now() * 1000 ? null : await seqBeforeTime(db, cursor);
    if (this.mode === 'closed') return;
    if (before === null) {
      this.sentSeq = hub.lastSeq;
      this.goLive();
      return;
    }
    this.notAfter = cursor!;
    await this.replay(before);
  }

  /** A shared live batch (from the fan-out, in seq order). */
  deliver(batch: JetstreamBatch): void {
    if (this.mode !== 'live') return;
    if (!this.write(batch, this.opts.maxBufferBytes)) this.catchUp();
  }

  private onMessage(text: string): void {
    if (this.mode === 'closed') return;
    const parsed = parseClientMessage(text);
    if (!parsed.ok) {
      this.opts.metrics.jetstreamDrops.inc({ reason: 'bad_options_update' });
      // A close reason is at most 123 bytes.
      this.close(1008, `invalid message: ${parsed.message}`.slice(0, 120));
      return;
    }
    if (parsed.value === null) return;
    this.filters = parsed.value;
    if (this.mode === 'hello') {
      this.mode = 'starting';
      this.begin().catch((err: unknown) => this.failed(err));
    }
  }

  /** Live delivery could not keep up: read the log from where it is, at the socket's pace, then rejoin. */
  private catchUp(): void {
    this.opts.live.remove(this);
    this.opts.metrics.jetstreamCatchUps.inc();
    this.opts.log.info({ remote: this.opts.remoteAddress, seq: this.sentSeq }, 'Jetstream subscriber behind live; reading the log');
    this.replay(this.sentSeq).catch((err: unknown) => this.failed(err));
  }

  dropTooSlow(reason: string): void {
    this.opts.metrics.jetstreamDrops.inc({ reason });
    this.close(1008, reason === 'out_of_window' ? 'fell behind the replay window; reconnect with your cursor' : 'too slow to catch up with live');
  }

  failed(err: unknown): void {
    this.opts.log.warn({ err, remote: this.opts.remoteAddress }, 'Jetstream subscriber failed');
    this.close(1011, 'internal error');
  }

  /** Reads the log after seq `after` (and within it, after notAfter) until it reaches the hub's head, then joins live. */
  private async replay(after: number): Promise<void> {
    const { hub, db } = this.opts;
    this.mode = 'replay';
    this.setBehind(true);
    this.sentSeq = after;
    while (this.mode === 'replay') {
      // Joins live only with room under the live cap, or it would fall straight back.
      if (this.out.queued() > REPLAY_HIGH_WATER) await this.out.drained();
      if (this.mode !== 'replay') return;
      const head = hub.lastSeq;
      if (this.sentSeq >= head) {
        // Synchronous check-and-join: nothing can be broadcast between the comparison and joining.
        this.goLive();
        return;
      }
      await this.pacer.admit(LOG_PAGE);
      if (this.mode !== 'replay') return;
      const page = await this.opts.pages.read(this.sentSeq, head);
      const { batch, upTo } = page;
      if (this.mode !== 'replay') return;
      // Seqs the page skips are taken-down accounts' events, or pruned: then it would miss them unseen.
      // Before its first message, that is the start of the window moving (its cursor was older): it starts there.
      if (this.progress > 0 && (await prunedPast(db, this.sentSeq, page.firstAfter(this.sentSeq), upTo))) {
        this.dropTooSlow('out_of_window');
        return;
      }
      if (this.mode !== 'replay') return;
      while (!this.write(batch, REPLAY_HIGH_WATER)) {
        await this.out.drained();
        if (this.mode !== 'replay') return;
      }
      // Nothing is logged between its last event and upTo (or it is not for this subscriber).
      this.sentSeq = Math.max(this.sentSeq, upTo);
    }
  }

  private goLive(): void {
    if (this.mode === 'closed') return;
    this.mode = 'live';
    this.setBehind(false);
    this.opts.live.add(this);
  }

  /**
   * Writes the batch's messages after the subscriber's position that its filters select: contiguous runs of them are
   * slices of the batch's frames, corked into one write to the kernel. A message is written only while what is
   * queued stays within `capBytes` (so at most the cap plus one message is ever held); returns false, having
   * stopped, when it is past it, with the position (sentSeq, and notAfter inside an event's ops) where it stopped:
   * the same batch, or the log read from there, goes on exactly from that message.
   */
  private write(batch: JetstreamBatch, capBytes: number): boolean {
    const { messages } = batch;
    const { metrics } = this.opts;
    const compressed = this.opts.request.compress;
    const start = batch.indexAfter(this.sentSeq);
    let queued = this.out.queued();
    let run = -1;
    let sent = 0;
    let bytes = 0;
    let stopped = -1;
    const flush = (to: number) => {
      const chunk = batch.frames(compressed, run, to);
      this.out.write(chunk);
      bytes += chunk.length;
      run = -1;
    };
    this.out.socket.cork();
    for (let i = start; i < messages.length; i++) {
      const m = messages[i]!;
      if (m.timeUs <= this.notAfter || !wants(this.filters, m)) {
        if (run >= 0) flush(i);
        continue;
      }
      if (queued > capBytes) {
        stopped = i;
        break;
      }
      if (run < 0) run = i;
      queued += batch.frameBytes(i, compressed);
      sent++;
    }
    if (run >= 0) flush(stopped >= 0 ? stopped : messages.length);
    this.out.socket.uncork();
    this.out.queued();
    metrics.jetstreamSent.inc(sent);
    const passed = (stopped >= 0 ? stopped : messages.length) - start;
    this.progress += passed;
    metrics.jetstreamFiltered.inc(passed - sent);
    metrics.jetstreamBytes.inc({ encoding: compressed ? 'zstd' : 'json' }, bytes);
    if (stopped < 0) {
      if (batch.lastSeq > this.sentSeq) this.sentSeq = batch.lastSeq;
      return true;
    }
    // Everything before the stopped message is done, selected or not; its event is not.
    if (stopped > 0) this.notAfter = Math.max(this.notAfter, messages[stopped - 1]!.timeUs);
    this.sentSeq = Math.max(this.sentSeq, messages[stopped]!.seq - 1);
    return false;
  }

  protected onClosed(): void {
    this.opts.live.remove(this);
  }
}
