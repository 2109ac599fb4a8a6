// One GET of a JSON document from a host the relay does not trust (a PDS being admitted, a crawled PDS asked about
// a repo). node:http rather than fetch because fetch cannot take a `lookup`: with publicOnlyLookup the address that
// is checked is the address dialled, so a host cannot pass an address check and then answer DNS with a private
// address for the request itself (DNS rebinding). Redirects are not followed (a 3xx is an answer like any other).
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';

const MAX_BODY_BYTES = 1024 * 1024;

export interface JsonAnswer {
  status: number;
  /** The parsed body; null when it was empty, not JSON or too large. */
  body: unknown;
}

export interface GetJsonOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  /** The resolver of the dial; absent = the system's. */
  lookup?: LookupFunction;
}

/** Rejects (with the cause in the message) only when there was no answer: refused, unresolvable, timed out. */
export function getJson(url: URL, o: GetJsonOptions): Promise<JsonAnswer> {
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<JsonAnswer>((resolve, reject) => {
    const signal = o.signal ? AbortSignal.any([o.signal, AbortSignal.timeout(o.timeoutMs)]) : AbortSignal.timeout(o.timeoutMs);
    const req = send(url, { signal, headers: { accept: 'application/json' }, ...(o.lookup ? { lookup: o.lookup } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= MAX_BODY_BYTES) chunks.push(chunk);
        else res.destroy();
      });
      const finish = () => {
        let body: unknown = null;
        if (size <= MAX_BODY_BYTES && chunks.length > 0) {
          try {
            body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            body = null;
          }
        }
        resolve({ status: res.statusCode ?? 0, body });
      };
      res.on('end', finish);
      res.on('close', () => {
        if (!res.complete) finish();
      });
    });
    req.on('error', (err: Error & { code?: string }) => {
      if (o.signal?.aborted) reject(new Error('aborted'));
      else reject(new Error(signal.aborted ? `timed out after ${o.timeoutMs} ms` : err.message));
    });
    req.end();
  });
}
