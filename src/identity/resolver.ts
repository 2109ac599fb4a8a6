// Fetches DID documents: did:plc from the PLC directory, did:web from the host's /.well-known/did.json.
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { checkDidSyntax, IdentityError, parseDidDocument, type Identity } from './did-doc.ts';
import { TokenBucket } from '../core/token-bucket.ts';

/**
 * A DID document as fetched: its JSON text (what the identity store keeps) and what the relay reads from it. Read
 * where it was fetched: on the resolver's thread, a first-seen account's key check (a point decompression) and the
 * parse were a tenth of the main thread in a burst of new accounts (docs/perf-journal.md, session 19).
 */
export interface ResolvedDocument {
  identity: Identity;
  json: string;
}

export interface DidResolver {
  resolve(did: string): Promise<ResolvedDocument>;
}

/** A fetched document's text, read (an IdentityError when it is not JSON or not a usable DID document). */
export function readDocument(did: string, json: string): ResolvedDocument {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    throw new IdentityError('bad_document', `DID document of ${did} is not JSON`);
  }
  return { identity: parseDidDocument(did, doc), json };
}

const MAX_DOC_BYTES = 64 * 1024;

/** A Retry-After header (seconds, or an HTTP date) in milliseconds; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000);
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

export interface DidResolverOptions {
  plcUrl: string;
  timeoutMs?: number;
  /** did:web:localhost%3APORT over http (development and tests). */
  allowInsecureWeb?: boolean;
  /** Requests per second to the PLC directory (with a burst of as many); more wait their turn. Absent = unlimited. */
  maxPerSecond?: number;
  /** Requests per second to any one did:web host. */
  webPerSecond?: number;
}

export function createDidResolver(opts: DidResolverOptions): DidResolver {
  const plc = opts.maxPerSecond ? new TokenBucket(opts.maxPerSecond, opts.maxPerSecond) : null;
  // One bucket per did:web host, kept for the hosts seen lately.
  const webRate = opts.webPerSecond ?? 10;
  const web = new Map<string, TokenBucket>();
  const webBucket = (host: string): TokenBucket => {
    let b = web.get(host);
    if (!b) {
      b = new TokenBucket(webRate, webRate);
      web.set(host, b);
      if (web.size > 10_000) web.delete(web.keys().next().value as string);
    }
    return b;
  };
  const timeoutMs = opts.timeoutMs ?? 3000;

  // node:http rather than fetch: undici's fetch took ~2x the main-thread CPU per document (~450 vs ~240 µs on
  // loopback, docs/perf-journal.md), and a burst of first-seen accounts is thousands of them a second.
  const agents = { 'http:': new HttpAgent({ keepAlive: true }), 'https:': new HttpsAgent({ keepAlive: true }) };

  function fetchDoc(did: string, url: string): Promise<ResolvedDocument> {
    const target = new URL(url);
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<ResolvedDocument>((resolveDoc, rejectDoc) => {
      const resolve = (doc: ResolvedDocument) => {
        clearTimeout(timer);
        resolveDoc(doc);
      };
      const reject = (err: IdentityError) => {
        clearTimeout(timer);
        rejectDoc(err);
      };
      const req = send(target, { agent: agents[target.protocol as 'http:' | 'https:'], headers: { accept: 'application/did+ld+json,application/json' } }, (res) => {
        const status = res.statusCode ?? 0;
        const fail = (reason: IdentityError['reason'], message: string, retryAfter?: number) => {
          res.resume();
          reject(new IdentityError(reason, message, retryAfter));
        };
        if (status === 429) return fail('rate_limited', `${url} answered 429`, retryAfterMs(res.headers['retry-after'] ?? null));
        if (status === 404) return fail('not_found', `${url} answered 404`);
        if (status === 410) return fail('tombstoned', `${url} answered 410`);
        if (status < 200 || status >= 300) return fail('resolution_failed', `${url} answered HTTP ${status}`);
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_DOC_BYTES) {
            req.destroy();
            reject(new IdentityError('bad_document', `DID document from ${url} is larger than ${MAX_DOC_BYTES} bytes`));
          } else {
            chunks.push(chunk);
          }
        });
        res.on('end', () => {
          try {
            resolve(readDocument(did, Buffer.concat(chunks).toString('utf8')));
          } catch (err) {
            reject(err instanceof IdentityError ? err : new IdentityError('bad_document', String(err)));
          }
        });
        res.on('error', (err) => reject(new IdentityError('resolution_failed', `reading ${url}: ${err.message}`)));
      });
      const timer = setTimeout(() => {
        reject(new IdentityError('timeout', `timed out fetching ${url}`));
        req.destroy();
      }, timeoutMs);
      req.on('error', (err) => reject(new IdentityError('resolution_failed', `fetching ${url}: ${err.message}`)));
      req.end();
    });
  }

  return {
    async resolve(did) {
      checkDidSyntax(did);
      if (did.startsWith('did:plc:')) {
        await plc?.take();
        return fetchDoc(did, `${opts.plcUrl}/${encodeURIComponent(did)}`);
      }
      const host = decodeURIComponent(did.slice('did:web:'.length));
      let url: string;
      if (host.includes(':')) {
        // Only localhost may carry a port, and only in development.
        if (!opts.allowInsecureWeb || !/^localhost:\d+$/.test(host)) {
          throw new IdentityError('bad_syntax', `did:web with a port is only allowed for localhost: ${did}`);
        }
        url = `http://${host}/.well-known/did.json`;
      } else {
        if (!/^[a-z0-9.-]+$/i.test(host)) throw new IdentityError('bad_syntax', `did:web must name a hostname: ${did}`);
        url = `https://${host}/.well-known/did.json`;
      }
      await webBucket(host).take();
      return fetchDoc(did, url);
    },
  };
}
