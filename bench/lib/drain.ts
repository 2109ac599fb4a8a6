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
        // Pings from the relay go unanswered: a run is shorter than the idle timeout.
        stats.bytes += d.length;
        return;
      }
      if (!d.toString('latin1', 0, 12).startsWith('HTTP/1.1 101')) return reject(new Error(`${path}: ${d.toString().split('\r\n')[0]}`));
      upgraded = true;
      stats.bytes += d.length - d.indexOf('\r\n\r\n') - 4;
      resolve({ stats, socket });
    });
    socket.on('close', () => (stats.closed = true));
    socket.on('error', () => {});
  });
}
