// Reading a response body from a server the relay does not control (a DID directory, a PDS, a handle's host) with a
// cap on its size, so a hostile or broken one cannot make the relay buffer without end.
import type { Readable } from 'node:stream';

/** The body's stream failed before its end (reset, deadline); `partial` is what came of it. */
export class BodyCutShort extends Error {
  readonly partial: string;
  constructor(cause: unknown, partial: string) {
    super((cause as Error)?.message ?? String(cause), { cause });
    this.name = 'BodyCutShort';
    this.partial = partial;
  }
}

/** The body as UTF-8, or null once it passes `maxBytes` (the rest is not read: the stream is destroyed). */
export function readCappedBody(body: Readable, maxBytes: number): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const text = () => (chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8'));
    body.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) return void chunks.push(chunk);
      body.destroy();
      resolve(null);
    });
    body.on('end', () => resolve(text()));
    body.on('error', (err) => (size > maxBytes ? resolve(null) : reject(new BodyCutShort(err, text()))));
  });
}
