// The sending side of one stream connection (a firehose consumer or a Jetstream subscriber): pre-framed bytes
// written straight to the socket, how much is queued (and the most ever), whether the queue still drains (for the
// write deadline), and waiting for it to drain (replay is paced by the socket).
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';

export class Outbound {
  /** Most bytes seen queued (operators compare it with the cap). */
  peakQueued = 0;
  /** Bytes handed to the socket since the last write-progress check. */
  private pushedBytes = 0;
  private lastBuffered = 0;
  private lastProgressAt = Date.now();
  readonly socket: Socket;
  private readonly ws: WebSocket;

  constructor(ws: WebSocket) {
    this.ws = ws;
    this.socket = (ws as unknown as { _socket: Socket })._socket;
  }

  /** Whole WebSocket frames (server frames are unmasked, so the same bytes serve every reader). */
  write(chunk: Uint8Array, written?: () => void): void {
    if (written) this.socket.write(chunk, written);
    else this.socket.write(chunk);
    this.pushedBytes += chunk.length;
  }

  /** A message through ws's own sender (frames the relay does not pre-build: #info, errors). */
  send(frame: Uint8Array): void {
    this.ws.send(frame, { binary: true });
    this.pushedBytes += frame.length;
  }

  /** Bytes queued to this connection now, kept as the peak when highest. */
  queued(): number {
    const queued = this.ws.bufferedAmount;
    if (queued > this.peakQueued) this.peakQueued = queued;
    return queued;
  }

  /**
   * How long the queued bytes have made no progress (0 when they are moving or nothing is queued). Called
   * periodically by the server, which disconnects connections past the write deadline.
   */
  stalledFor(now: number): number {
    const buffered = this.ws.bufferedAmount;
    const drained = this.lastBuffered + this.pushedBytes - buffered;
    this.pushedBytes = 0;
    this.lastBuffered = buffered;
    if (buffered === 0 || drained > 0) this.lastProgressAt = now;
    return now - this.lastProgressAt;
  }

  drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.socket.off('drain', done);
        this.ws.off('close', done);
        // Resume on the next macrotask: a synchronous chain of drains can starve timers and I/O.
        setImmediate(resolve);
      };
      this.socket.on('drain', done);
      this.ws.on('close', done);
    });
  }
}

/**
 * What every stream connection does alike: it is closed once (by the peer, an error, the relay), and the server's
 * deadlines act on it. Subclasses say what closing means for them (leaving the hub).
 */
export abstract class StreamConnectionBase<Mode extends string> {
  protected mode: Mode | 'closed';
  protected readonly out: Outbound;
  /** Events it has been sent or has passed (filtered out) since it connected: its progress through the log. */
  protected progress = 0;
  /** Since when it has been behind live (reading the log), or null while live. */
  private behindSince: number | null = null;
  private floorFrom = { at: Date.now(), progress: 0 };
  private readonly conn: { ws: WebSocket; log: Logger; remoteAddress: string; what: string };

  constructor(conn: { ws: WebSocket; log: Logger; remoteAddress: string; what: string }, initial: Mode) {
    this.conn = conn;
    this.mode = initial;
    this.out = new Outbound(conn.ws);
    conn.ws.on('close', () => this.closed());
    conn.ws.on('error', () => this.closed());
  }

  stalledFor(now: number): number {
    return this.out.stalledFor(now);
  }

  protected setBehind(behind: boolean): void {
    this.behindSince = behind ? (this.behindSince ?? Date.now()) : null;
  }

  /**
   * Checked by the server once per period: whether it was behind live for the whole period and got through fewer
   * than `perSecond` events a second meanwhile (it would never catch up; the replay window would drop it later).
   */
  belowFloor(now: number, perSecond: number, periodMs: number): boolean {
    if (perSecond <= 0 || now - this.floorFrom.at < periodMs) return false;
    const rate = ((this.progress - this.floorFrom.progress) * 1000) / (now - this.floorFrom.at);
    const slow = this.behindSince !== null && this.behindSince <= this.floorFrom.at && rate < perSecond;
    this.floorFrom = { at: now, progress: this.progress };
    return slow;
  }

  /** Drops the connection without a close handshake (the peer is not reading). */
  terminate(why: string): void {
    this.conn.log.info({ remote: this.conn.remoteAddress, why }, `dropping ${this.conn.what}`);
    this.conn.ws.terminate();
    this.closed();
  }

  close(code = 1000, reason = ''): void {
    if (this.mode === 'closed') return;
    this.conn.ws.close(code, reason);
    this.closed();
  }

  protected closed(): void {
    if (this.mode === 'closed') return;
    this.mode = 'closed';
    this.onClosed();
  }

  protected abstract onClosed(): void;
}
