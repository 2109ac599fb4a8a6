// A Jetstream subscriber for tests: collects every message (compressed ones decoded with the standard dictionary,
// which test/unit/jetstream checks is the published one), remembers how the connection closed, and lets tests wait.
import { readFileSync } from 'node:fs';
import { zstdDecompressSync } from 'node:zlib';
import WebSocket from 'ws';

export const STANDARD_DICTIONARY = readFileSync(new URL('../../src/jetstream/dictionary/legacy_subscribe.zdict', import.meta.url));

export interface JetstreamEvent {
  did: string;
  time_us: number;
  kind: 'commit' | 'identity' | 'account';
  commit?: { rev: string; operation: string; collection: string; rkey: string; record?: Record<string, unknown>; cid?: string };
  identity?: Record<string, unknown>;
  account?: Record<string, unknown>;
}

export class JetstreamClient {
  readonly events: JetstreamEvent[] = [];
  /** Each message as received: text, or binary (zstd). */
  readonly raw: Array<{ binary: boolean; bytes: Buffer; json: string }> = [];
  closed: { code: number; reason: string } | null = null;
  readonly ws: WebSocket;

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data: Buffer, binary: boolean) => {
      const json = binary ? zstdDecompressSync(data, { dictionary: STANDARD_DICTIONARY }).toString() : data.toString();
      this.raw.push({ binary, bytes: data, json });
      this.events.push(JSON.parse(json) as JetstreamEvent);
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
    });
  }

  static connect(wsBase: string, query = '', headers: Record<string, string> = {}): Promise<JetstreamClient> {
    const ws = new WebSocket(`${wsBase}/subscribe${query ? `?${query}` : ''}`, { headers });
    const client = new JetstreamClient(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(client));
      ws.once('error', reject);
    });
  }

  send(msg: unknown): void {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  commits(): JetstreamEvent[] {
    return this.events.filter((e) => e.kind === 'commit');
  }

  async waitFor(pred: (c: JetstreamClient) => boolean, timeoutMs = 15_000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred(this)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (have ${this.events.length} events)`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  close(): void {
    this.ws.close();
  }
}

/** The HTTP answer to an upgrade the relay refuses: status and JSON body. */
export function refusedUpgrade(wsBase: string, query: string, headers: Record<string, string> = {}): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${wsBase}/subscribe?${query}`, { headers });
    ws.once('open', () => {
      ws.close();
      reject(new Error('the upgrade was accepted'));
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(body) }));
    });
    ws.once('error', () => {});
  });
}
