// One GET of a JSON document (or a short text) from a host the relay does not trust (a PDS being admitted, a crawled PDS asked about
// a repo). node:http rather than fetch because fetch cannot take a `lookup`: with publicOnlyLookup the address that
// is checked is the address dialled, so a host cannot pass an address check and then answer DNS with a private
// address for the request itself (DNS rebinding). Redirects are not followed (a 3xx is an answer like any other).
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import { publicOnlyLookup, type Lookup } from './address-policy.ts';

const MAX_BODY_BYTES = 1024 * 1024;

export interface JsonAnswer {
  status: number;
  /** The parsed body; null when it was empty, not JSON or too large. */
  body: unknown;
}

export interface TextAnswer {
  status: number;
  /** The body as UTF-8; null when it was larger than asked for. */
  text: string | null;
}

export interface GetJsonOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  /** The resolver of the dial; absent = the system's. */
  lookup?: LookupFunction;
  /** Certificate authorities trusted instead of the system's (tests' self-signed servers). */
  ca?: string;
  /** false: a connection of its own, never a kept-alive one that another request (and lookup) dialled. */
  pooled?: boolean;
}

/** Rejects (with the cause in the message) only when there was no answer: refused, unresolvable, timed out. */
export async function getJson(url: URL, o: GetJsonOptions): Promise<JsonAnswer> {
  const { status, text } = await getText(url, { ...o, maxBytes: MAX_BODY_BYTES, accept: 'application/json' });
  let body: unknown = null;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = null;
    }
  }
  return { status, body };
}

/** The same GET for a body that is not JSON, read up to `maxBytes` (a larger one is dropped unread). */
export function getText(url: URL, o: GetJsonOptions & { maxBytes: number; accept?: string }): Promise<TextAnswer> {
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<TextAnswer>((resolve, reject) => {
    const signal = o.signal ? AbortSignal.any([o.signal, AbortSignal.timeout(o.timeoutMs)]) : AbortSignal.timeout(o.timeoutMs);
    const options = { signal, headers: { accept: o.accept ?? '*/*' }, ...(o.lookup ? { lookup: o.lookup } : {}), ...(o.ca ? { ca: o.ca } : {}), ...(o.pooled === false ? { agent: false } : {}) };
    const req = send(url, options, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= o.maxBytes) chunks.push(chunk);
        else res.destroy();
      });
      const finish = () => resolve({ status: res.statusCode ?? 0, text: size <= o.maxBytes ? Buffer.concat(chunks).toString('utf8') : null });
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

/**
 * getText for a host named by someone else (a handle's /.well-known/atproto-did): it dials only public addresses, the
 * ones it checked; with `allowLoopback` (RELAY_ALLOW_INSECURE_HOSTS) loopback ones too. Each call dials afresh (they
 * are rare: one per operator action), so no request rides a connection dialled under another lookup.
 */
export function untrustedGet(o: { lookup: Lookup; allowLoopback: boolean; ca?: string }) {
  const pinned = publicOnlyLookup(o.lookup, () => {}, { allowLoopback: o.allowLoopback });
  return (url: URL, r: { maxBytes: number; timeoutMs: number }): Promise<TextAnswer> =>
    getText(url, { ...r, lookup: pinned, pooled: false, ...(o.ca ? { ca: o.ca } : {}) });
}
