// A firehose consumer for tests: decodes every frame, checks nothing itself, and lets tests wait for conditions.
import { connect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { decodeFrame, type DecodedFrame } from '../../src/protocol/frame.ts';

export interface ReceivedFrame {
  frame: DecodedFrame;
  bytes: Uint8Array;
}

export class TestConsumer {
  readonly frames: ReceivedFrame[] = [];
  closed = false;
  closeCode = 0;
  private waiters: Array<() => void> = [];

  readonly ws: WebSocket;
  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data: Buffer) => {
      const bytes = new Uint8Array(data);
      this.frames.push({ frame: decodeFrame(bytes), bytes });
      this.notify();
    });
    ws.on('close', (code) => {
      this.closed = true;
      this.closeCode = code;
      this.notify();
    });
  }

  static connect(wsBase: string, cursor?: number): Promise<TestConsumer> {
    const url = `${wsBase}/xrpc/com.atproto.sync.subscribeRepos${cursor === undefined ? '' : `?cursor=${cursor}`}`;
    const ws = new WebSocket(url);
    const consumer = new TestConsumer(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(consumer));
      ws.once('error', reject);
    });
  }

  /** Message frames with a seq (commit, sync, identity, account), in arrival order. */
  get events(): Array<{ t: string; seq: number; body: Record<string, unknown>; bytes: Uint8Array }> {
    const out = [];
    for (const { frame, bytes } of this.frames) {
      if (frame.op === 1 && typeof frame.body.seq === 'number') {
        out.push({ t: frame.t, seq: frame.body.seq, body: frame.body, bytes });
      }
    }
    return out;
  }

  get lastSeq(): number {
    return this.events.at(-1)?.seq ?? 0;
  }

  async waitFor(pred: (c: TestConsumer) => boolean, timeoutMs = 20_000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred(this)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what} (have ${this.events.length} events)`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  close(): void {
    this.ws.close();
  }

  private notify(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

/** Polls `pred` until it holds. */
export async function eventually(pred: () => boolean | Promise<boolean>, timeoutMs = 20_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Opens a firehose WebSocket by hand and then never reads from it. */
export function stalledConsumer(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(
        'GET /xrpc/com.atproto.sync.subscribeRepos HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
      socket.once('data', (d) => {
        if (!d.toString().startsWith('HTTP/1.1 101')) reject(new Error(d.toString()));
        socket.pause();
        resolve(socket);
      });
    });
    socket.on('error', () => {});
  });
}
