// Fetches DID documents: did:plc from the PLC directory, did:web from the host's /.well-known/did.json.
import { Agent, errors, type Dispatcher } from 'undici';
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
const ACCEPT = { accept: 'application/did+ld+json,application/json' };

/** A failed request as the resolution's error: its own when it is one (the deadline, a size), else undici's. */
function failure(url: string, err: unknown): IdentityError {
  if (err instanceof IdentityError) return err;
  if (err instanceof errors.ConnectTimeoutError) return new IdentityError('timeout', `timed out connecting for ${url}`);
  return new IdentityError('resolution_failed', `fetching ${url}: ${(err as Error).message}`);
}

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

  // undici's dispatcher rather than node:http or fetch: a document fetched and read on loopback (64 in flight, one
  // core, warm) cost 94 µs of CPU against node:http's 154-160, and fetch had taken twice node:http's
  // (docs/perf-journal.md, session 20). A burst of first-seen accounts is thousands of documents a second.
  const dispatcher = new Agent({ keepAliveTimeout: 30_000, connect: { timeout: timeoutMs } });
  const plcOrigin = new URL(opts.plcUrl);
  const plcPath = plcOrigin.pathname.replace(/\/+$/, '');

  async function fetchDoc(did: string, origin: string, path: string): Promise<ResolvedDocument> {
    const text = await fetchText(origin, path);
    try {
      return readDocument(did, text);
    } catch (err) {
      throw err instanceof IdentityError ? err : new IdentityError('bad_document', String(err));
    }
  }

  /**
   * A document's text, through undici's handler interface rather than `request`: no body stream, no abort
   * controller, the chunks kept as they come. A resolution on loopback (64 in flight, warm, the document read
   * included) went from 40-45 to 34-39 us of CPU (docs/perf-journal.md, session 27).
   */
  function fetchText(origin: string, path: string): Promise<string> {
    const url = `${origin}${path}`;
    const tooLarge = () => new IdentityError('bad_document', `DID document from ${url} is larger than ${MAX_DOC_BYTES} bytes`);
    return new Promise<string>((resolve, reject) => {
      let controller: Dispatcher.DispatchController | null = null;
      let settled = false;
      const settle = (err: IdentityError | null, text = '') => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(text);
      };
      /** Settles with `err` and stops the request (once it has started: `onRequestStart` stops a late one). */
      const stop = (err: IdentityError) => {
        settle(err);
        controller?.abort(err);
      };
      // One deadline for the whole document: undici's own timeouts restart with each chunk and run on a coarse clock.
      const timer = setTimeout(() => stop(new IdentityError('timeout', `timed out fetching ${url}`)), timeoutMs);
      const chunks: Buffer[] = [];
      let size = 0;
      // An answer that is not the document is settled on its status, its body still read and dropped, so the
      // connection stays for the next request.
      let discard = false;
      const refuse = (reason: IdentityError['reason'], message: string, retryAfter?: number) => {
        discard = true;
        settle(new IdentityError(reason, message, retryAfter));
      };
      const handler: Dispatcher.DispatchHandler = {
        onRequestStart(c) {
          controller = c;
          if (settled) c.abort(new IdentityError('timeout', `timed out fetching ${url}`));
        },
        onResponseStart(_c, status, headers) {
          if (status === 429) {
            const after = headers['retry-after'];
            return refuse('rate_limited', `${url} answered 429`, retryAfterMs((Array.isArray(after) ? after[0] : after) ?? null));
          }
          if (status === 404) return refuse('not_found', `${url} answered 404`);
          if (status === 410) return refuse('tombstoned', `${url} answered 410`);
          if (status < 200 || status >= 300) return refuse('resolution_failed', `${url} answered HTTP ${status}`);
          if (Number(headers['content-length'] ?? 0) > MAX_DOC_BYTES) stop(tooLarge());
        },
        onResponseData(_c, chunk) {
          if (discard || settled) return;
          size += chunk.length;
          if (size <= MAX_DOC_BYTES) return void chunks.push(chunk);
          stop(tooLarge());
        },
        onResponseEnd() {
          settle(null, chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8'));
        },
        onResponseError(_c, err) {
          settle(failure(url, err));
        },
      };
      try {
        dispatcher.dispatch({ origin, path, method: 'GET', headers: ACCEPT }, handler);
      } catch (err) {
        settle(failure(url, err));
      }
    });
  }

  return {
    async resolve(did) {
      checkDidSyntax(did);
      if (did.startsWith('did:plc:')) {
        await plc?.take();
        return fetchDoc(did, plcOrigin.origin, `${plcPath}/${encodeURIComponent(did)}`);
      }
      const host = decodeURIComponent(did.slice('did:web:'.length));
      let origin: string;
      if (host.includes(':')) {
        // Only localhost may carry a port, and only in development.
        if (!opts.allowInsecureWeb || !/^localhost:\d+$/.test(host)) {
          throw new IdentityError('bad_syntax', `did:web with a port is only allowed for localhost: ${did}`);
        }
        origin = `http://${host}`;
      } else {
        if (!/^[a-z0-9.-]+$/i.test(host)) throw new IdentityError('bad_syntax', `did:web must name a hostname: ${did}`);
        origin = `https://${host}`;
      }
      await webBucket(host).take();
      return fetchDoc(did, origin, '/.well-known/did.json');
    },
  };
}
