// One upstream subscribeRepos connection: the socket and its reconnects, the idle watchdog, frame decoding, error
// and info frames, and the seq order. It emits each message with a seq, in order, and knows nothing of what follows
// (src/pipeline/ steers it through pause and holdUntil). It never gives up on a host: it redials with backoff from
// the last seq it emitted.
import type { LookupFunction } from 'node:net';
import type { Logger } from 'pino';
import WebSocket from 'ws';
import { decodeFrame, FrameError, MAX_FRAME_BYTES } from '../protocol/frame.ts';
import { RELAYED_TYPES, type UpstreamEvent } from '../core/events.ts';
import type { StreamRejection } from '../core/rejections.ts';
import type { Clock } from '../core/clock.ts';
import { backoffDelay } from '../core/retry.ts';
import type { RelayMetrics } from '../metrics.ts';
import type { ReadTurns } from './read-turns.ts';

export type HostStatusChange =
  | { kind: 'connected' }
  | { kind: 'throttled'; until: number }
  /** `error`: why, as describeConnectionError puts it. */
  | { kind: 'failed'; consecutiveFailures: number; error: string };

/** What the connection tells whoever listens. */
export interface UpstreamListener {
  /** A message with a seq, in upstream order. */
  event(evt: UpstreamEvent): void;
  /** The host numbers its events anew from its oldest (it answered FutureCursor to our cursor). */
  renumbered(): void;
  status(change: HostStatusChange): void;
  /** Something the host sent that the connection refused (counted; most end the connection). */
  reject(reason: StreamRejection, detail: string): void;
}

export interface UpstreamOptions {
  /** The subscribeRepos URL from a cursor (null: the live head). */
  url: (cursor: number | null) => string;
  /** Last committed upstream seq; null = start at the live head. */
  cursor: number | null;
  listener: UpstreamListener;
  log: Logger;
  metrics: RelayMetrics;
  clock: Clock;
  reconnectBaseMs: number;
  reconnectMaxMs: number;
  /**
   * A connection on which nothing (no frame, no pong) is heard for this long is dropped and redialled: a hung
   * host or a dead path must not hold the host's slot forever. Absent = never.
   */
  idleTimeoutMs?: number;
  /** Name resolution for the dial (connect-time address policy); absent = the system's. */
  lookup?: LookupFunction;
  /** The frames every connection together may read in one turn of the event loop; absent = no limit. */
  turns?: ReadTurns;
}

/** A connection that stayed up this long counts as healthy again. */
const HEALTHY_AFTER_MS = 30_000;

const LAYERS: Array<[RegExp, string]> = [
  [/^(ENOTFOUND|EAI_AGAIN|ENODATA|ESERVFAIL)$/, 'DNS'],
  [/^EADDRNOTPUBLIC$/, 'address policy'],
  [/^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EPIPE)$/, 'TCP'],
  [/^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|EPROTO$|HOSTNAME_MISMATCH$)/, 'TLS'],
];

/**
 * Why a dial failed, in the words an operator acts on: which layer (DNS, TCP, TLS, HTTP) and the system's message.
 * The close code alone (1006) says only that the socket went away.
 */
export function describeConnectionError(err: Error & { code?: string }): string {
  const layer = err.code ? LAYERS.find(([re]) => re.test(err.code!))?.[1] : undefined;
  if (layer) return `${layer}: ${err.message}`;
  // ws puts a refused upgrade's status in the message only.
  if (err.message.startsWith('Unexpected server response')) return `HTTP: ${err.message}`;
  return err.message;
}

export class UpstreamConnection {
  private ws: WebSocket | null = null;
  private stopped = false;
  private failures = 0;
  private cancelReconnect: (() => void) | null = null;
  /**
   * Highest upstream seq emitted: the resume point while this process lives (what follows keeps every event it was
   * given; a restart resumes from the committed cursor instead).
   */
  private emitted: number | null;
  private lastSeqOnConnection = 0;
  /** What the pipeline wants; applied to every new socket too. */
  private wantPaused = false;
  /** Paused until the next turn: this turn's read budget is spent. */
  private yielding = false;
  private paused = false;
  /** Set while over quota: when to come back. */
  private heldUntil = 0;
  /** Why the current connection ended, once known (the first cause is the root one). */
  private closeCause: string | null = null;
  private readonly o: UpstreamOptions;

  constructor(o: UpstreamOptions) {
    this.o = o;
    this.emitted = o.cursor;
  }

  get connected(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  start(): void {
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.cancelReconnect?.();
    this.ws?.terminate();
    this.ws = null;
  }

  setPaused(paused: boolean): void {
    this.wantPaused = paused;
    if (this.ws) this.applyPause(this.ws);
  }

  /** Over quota is not a failure: disconnect, and come back when the window resets, a little spread out. */
  holdUntil(resetAt: number): void {
    if (!this.ws) return;
    this.heldUntil = resetAt;
    this.o.listener.status({ kind: 'throttled', until: resetAt });
    this.ws.terminate();
  }

  private applyPause(ws: WebSocket): void {
    const pause = this.wantPaused || this.yielding;
    if (pause && !this.paused) ws.pause();
    if (!pause && this.paused) ws.resume();
    this.paused = pause;
  }

  private connect(): void {
    if (this.stopped) return;
    const { log, metrics } = this.o;
    const url = this.o.url(this.emitted);
    const ws = new WebSocket(url, {
      maxPayload: MAX_FRAME_BYTES,
      handshakeTimeout: 10_000,
      perMessageDeflate: false,
      ...(this.o.lookup ? { lookup: this.o.lookup } : {}),
    });
    this.ws = ws;
    this.lastSeqOnConnection = 0;
    this.closeCause = null;
    this.paused = false;
    this.applyPause(ws);
    let openedAt = 0;
    let watchdog: NodeJS.Timeout | null = null;
    ws.on('open', () => {
      openedAt = Date.now();
      if (this.o.idleTimeoutMs) watchdog = this.watchIdle(ws, this.o.idleTimeoutMs);
      metrics.upstreamConnections.inc();
      log.info({ url }, 'connected to upstream');
      this.o.listener.status({ kind: 'connected' });
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (this.ws !== ws) return;
      this.onFrame(ws, data, isBinary);
      if (this.o.turns && !this.o.turns.take(this) && !this.yielding && this.ws === ws) this.yieldTurn(ws);
    });
    ws.on('error', (err: Error & { code?: string }) => {
      // Protocol violations below our framing (oversize or malformed WebSocket frames) are the host's fault: count
      // them like bad frames. ws closes the connection itself; we reconnect from the cursor.
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' || err.code === 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH') {
        this.o.listener.reject('frame_too_large', err.message);
      } else if (err.code?.startsWith('WS_ERR_')) this.o.listener.reject('bad_websocket_frame', `${err.code}: ${err.message}`);
      if (this.ws === ws) this.closeCause ??= describeConnectionError(err);
    });
    ws.on('close', (code, reason: Buffer) => {
      if (watchdog) clearInterval(watchdog);
      if (openedAt) metrics.upstreamConnections.dec();
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) return;
      if (this.heldUntil > 0) {
        this.cancelReconnect = this.o.clock.at(this.heldUntil + Math.floor(Math.random() * 1000), () => this.connect());
        this.heldUntil = 0;
        return;
      }
      const healthy = openedAt > 0 && Date.now() - openedAt >= HEALTHY_AFTER_MS;
      this.failures = healthy ? 1 : this.failures + 1;
      metrics.upstreamConnectFailures.inc();
      const why = reason.length > 0 ? `code ${code}: ${reason.toString('utf8').slice(0, 200)}` : `code ${code}`;
      const error = this.closeCause ?? (openedAt ? `the host closed the connection (${why})` : `closed before the upgrade (${why})`);
      this.o.listener.status({ kind: 'failed', consecutiveFailures: this.failures, error });
      const delay = backoffDelay(this.failures, this.o.reconnectBaseMs, this.o.reconnectMaxMs);
      log.info({ error, code, failures: this.failures, delayMs: delay }, openedAt ? 'upstream connection lost; will reconnect' : 'could not connect to upstream; will retry');
      const timer = setTimeout(() => this.connect(), delay);
      this.cancelReconnect = () => clearTimeout(timer);
    });
  }

  private yieldTurn(ws: WebSocket): void {
    this.yielding = true;
    this.applyPause(ws);
    this.o.turns!.wait(() => {
      this.yielding = false;
      // The socket may have been replaced meanwhile: whichever is current now reads again.
      if (this.ws) this.applyPause(this.ws);
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
        this.drop(ws, 'upstream_idle', `nothing received for ${timeoutMs} ms`);
        return;
      }
      ws.ping();
    }, Math.max(10, Math.floor(timeoutMs / 2)));
    timer.unref();
    return timer;
  }

  /** Drops the connection (the spec's answer to broken framing) and reconnects from the last emitted seq. */
  private drop(ws: WebSocket, reason: StreamRejection, detail: string): void {
    this.o.listener.reject(reason, detail);
    this.closeCause ??= `${reason}: ${detail}`;
    ws.terminate();
  }

  private onFrame(ws: WebSocket, data: Buffer, isBinary: boolean): void {
    const { metrics, listener, log } = this.o;
    if (!isBinary) return this.drop(ws, 'text_frame', 'upstream sent a text frame');
    let frame;
    try {
      frame = decodeFrame(data);
    } catch (err) {
      if (err instanceof FrameError) return this.drop(ws, err.reason as StreamRejection, err.message);
      throw err;
    }
    if (frame.op === 'unknown') {
      metrics.eventsReceived.inc({ type: 'unknown_op' });
      return;
    }
    if (frame.op === -1) {
      metrics.eventsReceived.inc({ type: 'error' });
      log.warn({ error: frame.error, message: frame.message }, 'upstream sent an error frame');
      this.closeCause ??= `the host sent an error frame: ${frame.error}${frame.message ? `: ${frame.message}` : ''}`;
      if (frame.error === 'FutureCursor') {
        // Our cursor is ahead of the host: it was wiped or rolled back and numbers its events from a lower seq
        // again. Everything it has now is newer than what we relayed, so start over from its oldest event (commits
        // it already sent us are caught by the stale-rev check) instead of waiting for an operator.
        listener.reject('host_seq_reset', `host answered FutureCursor to cursor ${this.emitted}`);
        this.emitted = 0;
        listener.renumbered();
      }
      ws.close();
      return;
    }
    const { t, body } = frame;
    metrics.eventsReceived.inc({ type: RELAYED_TYPES.has(t) || t === '#info' ? t.slice(1) : 'other' });
    if (t === '#info') {
      log.warn({ name: body.name, message: body.message }, 'upstream info message');
      if (body.name === 'OutdatedCursor') listener.reject('outdated_cursor', 'host no longer has events after our cursor');
      return;
    }
    const seq = body.seq;
    if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) {
      return this.drop(ws, 'bad_seq', `seq ${String(seq)} is not a positive integer`);
    }
    if (seq <= this.lastSeqOnConnection || (this.emitted !== null && seq <= this.emitted)) {
      // Replays and repeats are dropped; the cursor already covers them.
      listener.reject('seq_not_increasing', `seq ${seq} after ${Math.max(this.lastSeqOnConnection, this.emitted ?? 0)}`);
      return;
    }
    this.lastSeqOnConnection = seq;
    this.emitted = seq;
    const rawDid = t === '#commit' ? body.repo : body.did;
    listener.event({ t, seq, did: typeof rawDid === 'string' ? rawDid : '', body, received: frame.received, frameBytes: data.length });
  }
}
