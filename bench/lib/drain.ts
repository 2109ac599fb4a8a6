// A stream reader that costs the machine almost nothing: a raw TCP socket that does the WebSocket handshake by hand,
// then reads and discards bytes (counting them). The relay cannot tell it from a real client; the bench then
// measures the relay, not the consumers' WebSocket parsing.
import { connect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';

export interface DrainStats {
  /** Request path with its query, e.g. /xrpc/com.atproto.sync.subscribeRepos?cursor=0 */
  path: string;
  bytes: number;
  closed: boolean;
}

/**
 * An unsolicited pong (masked, as a client's frames must be; empty payload), which RFC 6455 allows as a heartbeat:
 * the relay counts it as a sign of life, so a drain that never parses the pings it gets is not cut at the idle
 * timeout.
 */
const HEARTBEAT = Buffer.from([0x8a, 0x80, 0, 0, 0, 0]);
const HEARTBEAT_MS = 15_000;

export function drain(base: string, path: string): Promise<{ stats: DrainStats; socket: Socket }> {
  const url = new URL(base);
  const stats: DrainStats = { path, bytes: 0, closed: false };
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname, () => {
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    let upgraded = false;
    socket.on('data', (d: Buffer) => {
      if (upgraded) {
        stats.bytes += d.length;
        return;
      }
      if (!d.toString('latin1', 0, 12).startsWith('HTTP/1.1 101')) return reject(new Error(`${path}: ${d.toString().split('\r\n')[0]}`));
      upgraded = true;
      stats.bytes += d.length - d.indexOf('\r\n\r\n') - 4;
      const beat = setInterval(() => socket.write(HEARTBEAT), HEARTBEAT_MS);
      beat.unref();
      socket.once('close', () => clearInterval(beat));
      resolve({ stats, socket });
    });
    socket.on('close', () => (stats.closed = true));
    socket.on('error', () => {});
  });
}
