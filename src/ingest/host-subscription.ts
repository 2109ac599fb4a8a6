// One upstream subscribeRepos connection: frames in, events through the ordered verification pipeline, outcomes
// to the sequencer. Reconnects with backoff from the last upstream seq handed on; never gives up on a host.
import type { Logger } from 'pino';
import WebSocket from 'ws';
import { decodeFrame, FrameError, MAX_FRAME_BYTES } from '../protocol/frame.ts';
import type { Sequencer } from '../sequencer/sequencer.ts';
import type { SequencerItem } from '../sequencer/types.ts';
import type { RelayMetrics } from '../metrics.ts';
import type { EventVerifier, HostContext, UpstreamEvent, Verdict } from '../verify/types.ts';
import { OrderedPipeline } from './ordered-pipeline.ts';
import { backoffDelay } from './backoff.ts';
import type { RejectionLog } from './rejections.ts';
import type { HostQuota, Refill } from '../quota/host-quota.ts';
import type { AccountGate } from '../quota/account-gate.ts';

interface Incoming {
  t: string;
  body: Record<string, unknown>;
  seq: number;
  frameBytes: number;
}

export type HostStatusChange =
  | { kind: 'connected' }
  | { kind: 'throttled'; until: number }
  | { kind: 'failed'; consecutiveFailures: number };

export interface HostSubscriptionOptions {
  host: HostContext;
  /** Last committed upstream seq; null = start at the live head. */
  cursor: number | null;
  url: (cursor: number | null) => string;
  verifier: EventVerifier;
  sequencer: Sequencer;
  rejections: RejectionLog;
  log: Logger;
  metrics: RelayMetrics;
  maxPending: number;
  reconnectBaseMs: number;
  reconnectMaxMs: number;
  onStatus: (change: HostStatusChange) => void;
  /** The host's event quota; absent = unlimited. */
  quota?: HostQuota;
  /** Account limits and budgets applied to verified events; absent = none. */
  gate?: AccountGate;
  /**
   * A connection on which nothing (no frame, no pong) is heard for this long is dropped and redialled: a hung
   * host or a dead path must not hold the host's slot forever. Absent = never.
   */
  idleTimeoutMs?: number;
  /** Name resolution for the dial (connect-time address policy); absent = the system's. */
  lookup?: import('node:net').LookupFunction;
}

const KNOWN_TYPES = new Set(['#commit', '#sync', '#identity', '#account']);
/** A connection that stayed up this long counts as healthy again. */
const HEALTHY_AFTER_MS = 30_000;

export class HostSubscription {
  private ws: WebSocket | null = null;
  private stopped = false;
  private failures = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;
  /** Highest upstream seq handed to the pipeline: the resume point while this process lives. */
  private handedOn: number | null;
  /**
   * For a host first joined at its live head: just before the first seq seen, so a reconnect before anything was
   * handed on still resumes there instead of at a later live head.
   */
  private firstSeen: number | null = null;
  private lastSeqOnConnection = 0;
  private paused = false;
  /** Events waiting for quota, in arrival order. */
  private held: Incoming[] = [];
  /** Set while over quota: when the window resets. */
  private throttledUntil = 0;
  private readonly pipeline: OrderedPipeline<SequencerItem[]>;
  /** Released results waiting for the account limit (only while the host's slot count loads). */
  private readonly admitQueue: SequencerItem[][] = [];
  /** The host's status as the crawler last recorded it. */
  status = 'active';

  private readonly opts: HostSubscriptionOptions;
  constructor(opts: HostSubscriptionOptions) {
    this.opts = opts;
    this.handedOn = opts.cursor;
    this.pipeline = new OrderedPipeline<SequencerItem[]>((items) => this.release(items));
  }

  /** Results leave the pipeline in upstream order; the account limit is decided here, in that order. */
  private release(items: SequencerItem[]): void {
    const { gate, sequencer, host } = this.opts;
    if (!gate) {
      for (const item of items) sequencer.submit(item);
      return;
    }
    this.admitQueue.push(items);
    if (this.admitQueue.length === 1) void this.drainAdmitQueue(gate, sequencer, host);
  }

  private async drainAdmitQueue(gate: AccountGate, sequencer: Sequencer, host: HostContext): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await gate.ready(host.id);
        break;
      } catch (err) {
        this.opts.log.warn({ err }, 'could not count the host\'s accounts; retrying');
        await new Promise((r) => setTimeout(r, Math.min(5000, 100 * 2 ** attempt)));
      }
    }
    while (this.admitQueue.length > 0) {
      for (const item of gate.admit(host, this.admitQueue[0]!)) sequencer.submit(item);
      this.admitQueue.shift();
    }
  }

  get hostId(): number {
    return this.opts.host.id;
  }

  get connected(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  start(): void {
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.ws?.terminate();
    this.ws = null;
    void this.opts.quota?.release();
  }

  /** Called after sequencer commits: resumes a socket paused for backpressure. */
  maybeResume(): void {
    if (this.paused && this.ws && this.backlog() <= this.opts.maxPending / 2) this.updateFlow(this.ws);
  }

  private backlog(): number {
    return this.pipeline.pending + this.opts.sequencer.pendingFor(this.opts.host.id);
  }

  private connect(): void {
    if (this.stopped) return;
    const { log, metrics } = this.opts;
    const url = this.opts.url(this.handedOn ?? this.firstSeen);
    const ws = new WebSocket(url, {
      maxPayload: MAX_FRAME_BYTES,
      handshakeTimeout: 10_000,
      perMessageDeflate: false,
      ...(this.opts.lookup ? { lookup: this.opts.lookup } : {}),
    });
    this.ws = ws;
    this.lastSeqOnConnection = 0;
    this.paused = false;
    let openedAt = 0;
    let watchdog: NodeJS.Timeout | null = null;
    ws.on('open', () => {
      openedAt = Date.now();
      if (this.opts.idleTimeoutMs) watchdog = this.watchIdle(ws, this.opts.idleTimeoutMs);
      metrics.upstreamConnections.inc();
      log.info({ url }, 'connected to upstream');
      this.opts.onStatus({ kind: 'connected' });
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (this.ws !== ws) return;
      this.onFrame(ws, data, isBinary);
    });
    ws.on('error', (err: Error & { code?: string }) => {
      // Protocol violations below our framing (oversize or malformed WebSocket frames) are the host's fault: count
      // them like bad frames. ws closes the connection itself; we reconnect from the cursor.
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' || err.code === 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH') {
        this.reject('frame_too_large', '', err.message);
      }
      else if (err.code?.startsWith('WS_ERR_')) this.reject('bad_websocket_frame', '', `${err.code}: ${err.message}`);
      else log.debug({ err: err.message }, 'upstream socket error');
    });
    ws.on('close', (code) => {
      if (watchdog) clearInterval(watchdog);
      if (openedAt) metrics.upstreamConnections.dec();
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) return;
      this.held = [];
      if (this.throttledUntil > 0) {
        // Over quota is not a failure: come back when the window resets, a little spread out.
        const delay = Math.max(0, this.throttledUntil - Date.now()) + Math.floor(Math.random() * 1000);
        this.throttledUntil = 0;
        this.reconnectTimer = setTimeout(() => this.connect(), delay);
        return;
      }
      const healthy = openedAt > 0 && Date.now() - openedAt >= HEALTHY_AFTER_MS;
      this.failures = healthy ? 1 : this.failures + 1;
      metrics.upstreamConnectFailures.inc();
      this.opts.onStatus({ kind: 'failed', consecutiveFailures: this.failures });
      const delay = backoffDelay(this.failures, this.opts.reconnectBaseMs, this.opts.reconnectMaxMs);
      log.info({ code, failures: this.failures, delayMs: delay }, 'upstream connection closed; will reconnect');
      this.reconnectTimer = setTimeout(() => this.connect(), delay);
    });
  }

  /**
   * Pings at half the timeout; drops the connection when nothing at all was heard for the whole timeout. A paused
   * socket is not read (backpressure, quota), so its silence is ours, not the host's.
   */
  private watchIdle(ws: WebSocket, timeoutMs: number): NodeJS.Timeout {
    let lastHeard = Date.now();
    const heard = () => (lastHeard = Date.now());
    ws.on('message', heard);
    ws.on('pong', heard);
    const timer = setInterval(() => {
      if (this.ws !== ws || this.paused) return void heard();
      if (Date.now() - lastHeard >= timeoutMs) {
        this.dropConnection(ws, 'upstream_idle', `nothing received for ${timeoutMs} ms`);
        return;
      }
      ws.ping();
    }, Math.max(10, Math.floor(timeoutMs / 2)));
    timer.unref();
    return timer;
  }

  /** Drops the connection (the spec's answer to broken framing) and reconnects from the last handed-on seq. */
  private dropConnection(ws: WebSocket, reason: string, detail: string): void {
    this.reject(reason, '', detail);
    ws.terminate();
  }

  private reject(reason: string, did: string, detail?: string): void {
    this.opts.metrics.eventsRejected.inc({ reason });
    this.opts.rejections.record(this.opts.host.id, { reason, did, detail });
    this.opts.log.debug({ reason, did, detail }, 'upstream event rejected');
  }

  private onFrame(ws: WebSocket, data: Buffer, isBinary: boolean): void {
    const { metrics } = this.opts;
    if (!isBinary) return this.dropConnection(ws, 'text_frame', 'upstream sent a text frame');
    let frame;
    try {
      frame = decodeFrame(data);
    } catch (err) {
      if (err instanceof FrameError) return this.dropConnection(ws, err.reason, err.message);
      throw err;
    }
    if (frame.op === 'unknown') {
      metrics.eventsReceived.inc({ type: 'unknown_op' });
      return;
    }
    if (frame.op === -1) {
      metrics.eventsReceived.inc({ type: 'error' });
      this.opts.log.warn({ error: frame.error, message: frame.message }, 'upstream sent an error frame');
      if (frame.error === 'FutureCursor') {
        // Our cursor is ahead of the host: it was wiped or rolled back and numbers its events from a lower seq
        // again. Everything it has now is newer than what we relayed, so start over from its oldest event (commits
        // it already sent us are caught by the stale-rev check) instead of waiting for an operator.
        this.reject('host_seq_reset', '', `host answered FutureCursor to cursor ${this.handedOn ?? this.firstSeen}`);
        this.handedOn = 0;
        this.firstSeen = null;
        ws.close();
        return;
      }
      ws.close();
      return;
    }
    const { t, body } = frame;
    metrics.eventsReceived.inc({ type: KNOWN_TYPES.has(t) || t === '#info' ? t.slice(1) : 'other' });
    if (t === '#info') {
      this.opts.log.warn({ name: body.name, message: body.message }, 'upstream info message');
      if (body.name === 'OutdatedCursor') this.reject('outdated_cursor', '', 'host no longer has events after our cursor');
      return;
    }
    const seq = body.seq;
    if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) {
      return this.dropConnection(ws, 'bad_seq', `seq ${String(seq)} is not a positive integer`);
    }
    if (this.handedOn === null && this.firstSeen === null) this.firstSeen = seq - 1;
    this.admit(ws, { t, body, seq, frameBytes: data.length });
  }

  /** Quota gate: events pass in arrival order while the host has quota; the rest wait for a refill or a reset. */
  private admit(ws: WebSocket, msg: Incoming): void {
    if (this.throttledUntil > 0) return; // the connection is closing; the cursor has not moved past these
    const quota = this.opts.quota;
    if (quota && (this.held.length > 0 || !quota.tryTake())) {
      this.held.push(msg);
      if (this.held.length === 1) {
        this.updateFlow(ws);
        void this.refillQuota(ws);
      }
      return;
    }
    this.handOn(ws, msg);
    if (quota && quota.remaining < quota.chunk / 4) void quota.refill().catch(() => {});
  }

  private async refillQuota(ws: WebSocket): Promise<void> {
    const quota = this.opts.quota!;
    for (let attempt = 0; this.ws === ws && this.held.length > 0; ) {
      let r: Refill;
      try {
        r = await quota.refill();
        attempt = 0;
      } catch (err) {
        // Without the shared counters we cannot count: hold this host (nothing is lost; its cursor stays) and retry.
        this.opts.log.warn({ err: (err as Error).message }, 'quota counters unavailable; holding host');
        await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 200 * 2 ** attempt++)));
        continue;
      }
      if (this.ws !== ws) return;
      if (!r.ok) return this.throttle(ws, r.resetAt);
      while (this.held.length > 0 && quota.tryTake()) this.handOn(ws, this.held.shift()!);
    }
    if (this.ws === ws) this.updateFlow(ws);
  }

  /** Over quota: stop reading from the host until the window resets, then resume from the cursor. */
  private throttle(ws: WebSocket, resetAt: number): void {
    this.throttledUntil = resetAt;
    const discarded = this.held.length;
    this.held = [];
    this.opts.log.info({ resetAt: new Date(resetAt).toISOString(), discarded }, 'host over quota; disconnecting until reset');
    this.opts.onStatus({ kind: 'throttled', until: resetAt });
    ws.terminate();
  }

  private updateFlow(ws: WebSocket): void {
    const shouldPause = this.held.length > 0 || this.backlog() > this.opts.maxPending;
    if (shouldPause && !this.paused) ws.pause();
    if (!shouldPause && this.paused) ws.resume();
    this.paused = shouldPause;
  }

  private handOn(ws: WebSocket, msg: Incoming): void {
    const { host } = this.opts;
    const { t, body, seq } = msg;
    if (seq <= this.lastSeqOnConnection || (this.handedOn !== null && seq <= this.handedOn)) {
      // Replays and repeats on one connection are dropped; the cursor already covers them.
      this.reject('seq_not_increasing', '', `seq ${seq} after ${Math.max(this.lastSeqOnConnection, this.handedOn ?? 0)}`);
      return;
    }
    this.lastSeqOnConnection = seq;
    this.handedOn = seq;
    const rawDid = t === '#commit' ? body.repo : body.did;
    const did = typeof rawDid === 'string' ? rawDid : '';
    if (!KNOWN_TYPES.has(t)) {
      this.reject('unsupported_type', did, `message type ${t}`);
      const items = [{ hostId: host.id, upstreamSeq: seq, event: null }];
      this.pipeline.push(did, () => items, () => items);
      return;
    }
    const evt: UpstreamEvent = { t, seq, did, body, frameBytes: msg.frameBytes };
    const { gate } = this.opts;
    this.pipeline.push(
      did,
      async () => {
        const item = this.toItem(seq, did, await this.opts.verifier.verify(host, evt));
        return gate ? gate.charge(host, item) : [item];
      },
      (err) => {
        this.opts.log.error({ err, did, seq }, 'verification or account gate threw');
        return [this.toItem(seq, did, { ok: false, reason: 'internal_error', detail: String(err) })];
      },
    );
    if (!this.paused && this.backlog() > this.opts.maxPending) this.updateFlow(ws);
  }

  private toItem(seq: number, did: string, verdict: Verdict): SequencerItem {
    if (verdict.ok) return { hostId: this.opts.host.id, upstreamSeq: seq, event: verdict.event };
    this.reject(verdict.reason, did, verdict.detail);
    return { hostId: this.opts.host.id, upstreamSeq: seq, event: null };
  }
}
