// The relay's WebSocket streams: com.atproto.sync.subscribeRepos, and whatever other streams relay.ts adds (the
// Jetstream /subscribe). Each request is checked before the upgrade (a bad one is HTTP 400 with an XRPC error
// body); every stream shares the per-client connection cap, the keepalive and the write deadline.
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Db } from '../storage/db.ts';
import type { RelayMetrics } from '../metrics.ts';
import type { StreamView } from '../core/streams.ts';
import { Consumer } from './consumer.ts';
import type { ReplayGate } from './replay-gate.ts';
import type { LogPages } from './log-pages.ts';
import type { FanoutHub } from './hub.ts';

export const SUBSCRIBE_REPOS_PATH = '/xrpc/com.atproto.sync.subscribeRepos';


/** One open stream connection, as the server watches it and operators see it. */
export interface StreamConnection {
  stalledFor(now: number): number;
  belowFloor(now: number, perSecond: number, periodMs: number): boolean;
  /** Closes it for being too slow (ConsumerTooSlow on the firehose), counted by `reason`. */
  dropTooSlow(reason: string): void;
  terminate(why: string): void;
  close(code?: number, reason?: string): void;
  describe(headSeq: number): StreamView;
}

export interface PreparedStream {
  open: (ws: WebSocket, remoteAddress: string) => StreamConnection;
}

/** A stream at a path: checks a request, then opens the connection once the socket is upgraded. */
export interface StreamRoute {
  path: string;
  /** The largest message a client may send on it. */
  maxClientMessageBytes: number;
  /** null: the request is refused with 400 and `message`. */
  prepare(url: URL, req: IncomingMessage): PreparedStream | { message: string };
}

export interface FirehoseServerOptions {
  hub: FanoutHub;
  db: Db;
  log: Logger;
  metrics: RelayMetrics;
  maxBufferBytes: number;
  maxBufferFrames: number;
  /** Queued bytes that make no progress for this long get the consumer disconnected. */
  writeTimeoutMs: number;
  /** A consumer that answers no ping for this long is disconnected. */
  idleTimeoutMs: number;
  maxConsumersPerIp: number;
  /** A connection behind live for a whole period that gets through fewer events a second than this is dropped (0: never). */
  minRate: number;
  minRatePeriodMs: number;
  /** Take the client address from X-Forwarded-For (behind the operator's own proxy). */
  trustProxy: boolean;
  /** Streams served beside subscribeRepos. */
  routes?: StreamRoute[];
  /** Where readers behind live wait for their next page while ingest lags. */
  replayGate: ReplayGate;
  /** The log as readers behind live read it, page by page, shared between them. */
  pages: LogPages;
}

/** Parses the `cursor` query parameter: absent = null, else a non-negative safe integer. */
export function parseCursor(raw: string | null): { ok: true; cursor: number | null } | { ok: false; message: string } {
  if (raw === null) return { ok: true, cursor: null };
  if (!/^\d{1,16}$/.test(raw)) return { ok: false, message: 'cursor must be a non-negative integer' };
  const n = Number(raw);
  if (!Number.isSafeInteger(n)) return { ok: false, message: 'cursor is beyond 2^53' };
  return { ok: true, cursor: n };
}

function rejectUpgrade(socket: Duplex, status: number, error: string, message: string): void {
  const body = JSON.stringify({ error, message });
  const reason = { 400: 'Bad Request', 404: 'Not Found', 429: 'Too Many Requests' }[status] ?? 'Error';
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

export class FirehoseServer {
  /** Every open stream connection, of every route. */
  readonly consumers = new Set<StreamConnection>();
  private readonly routes = new Map<string, { route: StreamRoute; wss: WebSocketServer }>();
  /** When each socket last showed it is alive (a pong or any frame). */
  private readonly lastSeen = new WeakMap<WebSocket, number>();
  private readonly perIp = new Map<string, number>();
  private watchdog: NodeJS.Timeout | null = null;
  private lastPingAt = 0;

  private readonly opts: FirehoseServerOptions;
  constructor(opts: FirehoseServerOptions) {
    this.opts = opts;
    for (const route of [this.subscribeRepos(), ...(opts.routes ?? [])]) {
      const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: route.maxClientMessageBytes });
      this.routes.set(route.path, { route, wss });
    }
  }

  private subscribeRepos(): StreamRoute {
    const { hub, db, pages, log, metrics, maxBufferBytes, maxBufferFrames, replayGate } = this.opts;
    return {
      path: SUBSCRIBE_REPOS_PATH,
      // Consumers send nothing meaningful (frames they send are ignored, as the spec says).
      maxClientMessageBytes: 64 * 1024,
      prepare: (url): PreparedStream | { message: string } => {
        const parsed = parseCursor(url.searchParams.get('cursor'));
        if (!parsed.ok) return { message: parsed.message };
        return {
          open: (ws, remoteAddress) => {
            const consumer = new Consumer({ ws, hub, db, pages, log, metrics, maxBufferBytes, maxBufferFrames, remoteAddress, replayGate });
            consumer.start(parsed.cursor).catch((err: unknown) => {
              log.warn({ err, remote: remoteAddress }, 'consumer failed');
              consumer.close(1011, 'internal error');
            });
            return consumer;
          },
        };
      },
    };
  }

  attach(server: Server): void {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
    const { idleTimeoutMs, writeTimeoutMs } = this.opts;
    const tick = Math.max(10, Math.min(1000, Math.floor(idleTimeoutMs / 8), Math.floor(writeTimeoutMs / 4)));
    this.watchdog = setInterval(() => this.watch(Date.now()), tick);
    this.watchdog.unref();
  }

  close(): void {
    if (this.watchdog) clearInterval(this.watchdog);
    for (const c of this.consumers) c.close(1001, 'relay shutting down');
    for (const { wss } of this.routes.values()) wss.close();
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://relay.invalid');
    const served = this.routes.get(url.pathname);
    if (!served) {
      rejectUpgrade(socket, 404, 'MethodNotImplemented', `no stream at ${url.pathname}`);
      return;
    }
    const prepared = served.route.prepare(url, req);
    if ('message' in prepared) {
      rejectUpgrade(socket, 400, 'InvalidRequest', prepared.message);
      return;
    }
    const ip = this.clientAddress(req);
    const open = this.perIp.get(ip) ?? 0;
    if (open >= this.opts.maxConsumersPerIp) {
      this.opts.metrics.consumersDropped.inc({ reason: 'per_ip_limit' });
      rejectUpgrade(socket, 429, 'RateLimitExceeded', `at most ${this.opts.maxConsumersPerIp} firehose connections per client`);
      return;
    }
    this.perIp.set(ip, open + 1);
    socket.once('close', () => {
      const left = (this.perIp.get(ip) ?? 1) - 1;
      if (left <= 0) this.perIp.delete(ip);
      else this.perIp.set(ip, left);
    });
    served.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, req, prepared.open));
  }

  private clientAddress(req: IncomingMessage): string {
    const forwarded = this.opts.trustProxy ? req.headers['x-forwarded-for'] : undefined;
    const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(',')[0]?.trim();
    return first || req.socket.remoteAddress || 'unknown';
  }

  private onConnection(ws: WebSocket, req: IncomingMessage, open: (ws: WebSocket, remoteAddress: string) => StreamConnection): void {
    const { metrics } = this.opts;
    const seen = () => this.lastSeen.set(ws, Date.now());
    seen();
    // Any frame a client sends shows it is alive.
    ws.on('message', seen);
    ws.on('pong', seen);
    const connection = open(ws, this.clientAddress(req));
    this.consumers.add(connection);
    metrics.consumers.set(this.consumers.size);
    ws.on('close', () => {
      this.consumers.delete(connection);
      metrics.consumers.set(this.consumers.size);
    });
  }

  /**
   * Keepalive and deadlines: pings four times per idle period, and terminates sockets that answered nothing for the
   * idle timeout or whose queued bytes made no progress for the write timeout (a reader that stopped with less than
   * the buffer cap queued would otherwise hold its socket forever); drops readers behind live slower than the floor.
   */
  private watch(now: number): void {
    const { idleTimeoutMs, writeTimeoutMs, metrics } = this.opts;
    const ping = now - this.lastPingAt >= idleTimeoutMs / 4;
    if (ping) this.lastPingAt = now;
    for (const { wss } of this.routes.values()) {
      for (const ws of wss.clients) {
        if (now - (this.lastSeen.get(ws) ?? now) > idleTimeoutMs) {
          metrics.consumersDropped.inc({ reason: 'idle_timeout' });
          ws.terminate();
        } else if (ping) ws.ping();
      }
    }
    for (const consumer of this.consumers) {
      if (consumer.stalledFor(now) > writeTimeoutMs) {
        metrics.consumersDropped.inc({ reason: 'write_timeout' });
        consumer.terminate('write deadline passed');
      } else if (consumer.belowFloor(now, this.opts.minRate, this.opts.minRatePeriodMs)) consumer.dropTooSlow('below_min_rate');
    }
  }
}
