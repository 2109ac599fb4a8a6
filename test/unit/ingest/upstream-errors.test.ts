// Why a dial failed, as the upstream connection reports it to the host's lifecycle (and from there to every view of
// the host): real sockets failing at each layer, named by the layer, not by the close code.
import { createServer as createHttpServer } from 'node:http';
import { createServer as createTcpServer, type Server } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { WebSocketServer } from 'ws';
import { UpstreamConnection, type HostStatusChange } from '../../../src/ingest/upstream.ts';
import { createMetrics } from '../../../src/metrics.ts';
import { systemClock } from '../../../src/core/clock.ts';
import { freePort } from '../../../dev-env/process.ts';

const servers: Server[] = [];
afterAll(() => {
  // Not waited for: a half-closed socket of a refused upgrade would hold close() open.
  for (const s of servers) {
    s.close();
    (s as Server & { closeAllConnections?: () => void }).closeAllConnections?.();
  }
});

async function listen<S extends Server>(server: S): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

/** The error of the first failed dial to `url`. */
function firstFailure(url: string): Promise<string> {
  return new Promise((resolve) => {
    const conn: UpstreamConnection = new UpstreamConnection({
      url: () => url,
      cursor: null,
      listener: {
        event: () => {},
        renumbered: () => {},
        reject: () => {},
        status: (change: HostStatusChange) => {
          if (change.kind !== 'failed') return;
          conn.stop();
          resolve(change.error);
        },
      },
      log: pino({ level: 'silent' }),
      metrics: createMetrics(),
      clock: systemClock,
      reconnectBaseMs: 60_000,
      reconnectMaxMs: 60_000,
    });
    conn.start();
  });
}

describe('describeConnectionError, through real failing dials', () => {
  it('names DNS, TCP, TLS and HTTP failures', async () => {
    // .invalid never resolves (RFC 6761); without DNS at all the resolver fails too, still a DNS error.
    expect(await firstFailure('ws://pds.nowhere.invalid/xrpc/com.atproto.sync.subscribeRepos')).toMatch(/^DNS: getaddrinfo (ENOTFOUND|EAI_AGAIN)/);
    expect(await firstFailure(`ws://127.0.0.1:${await freePort()}/`)).toMatch(/^TCP: connect ECONNREFUSED/);
    // A plain-text server on the TLS port.
    const plain = await listen(createTcpServer((s) => s.end('HTTP/1.1 400 Bad Request\r\n\r\n')));
    expect(await firstFailure(`wss://127.0.0.1:${plain}/`)).toMatch(/^TLS: /);
    const proxy = createHttpServer((_req, res) => res.writeHead(404).end());
    proxy.on('upgrade', (_req, socket) => socket.end('HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n'));
    expect(await firstFailure(`ws://127.0.0.1:${await listen(proxy)}/`)).toBe('HTTP: Unexpected server response: 502');
  });

  it('says how an open connection ended when the host closes it', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((r) => wss.once('listening', r));
    wss.on('connection', (ws) => ws.close(1011, 'going down for maintenance'));
    try {
      const port = (wss.address() as { port: number }).port;
      expect(await firstFailure(`ws://127.0.0.1:${port}/`)).toBe('the host closed the connection (code 1011: going down for maintenance)');
    } finally {
      await new Promise((r) => wss.close(r));
    }
  });
});
