// Fetches DID documents: did:plc from the PLC directory, did:web from the host's /.well-known/did.json.
import { checkDidSyntax, IdentityError } from './did-doc.ts';
import { TokenBucket } from '../core/token-bucket.ts';

export interface DidResolver {
  resolve(did: string): Promise<unknown>;
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

export function createDidResolver(opts: {
  plcUrl: string;
  timeoutMs?: number;
  /** did:web:localhost%3APORT over http (development and tests). */
  allowInsecureWeb?: boolean;
  fetch?: typeof fetch;
  /** Requests per second to the PLC directory (with a burst of as many); more wait their turn. Absent = unlimited. */
  maxPerSecond?: number;
  /** Requests per second to any one did:web host. */
  webPerSecond?: number;
}): DidResolver {
  const doFetch = opts.fetch ?? fetch;
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

  async function fetchDoc(url: string): Promise<unknown> {
    // Not AbortSignal.timeout: its timer builds a DOMException when it fires, long after most fetches are done,
    // which showed in the relay's profile after a burst of new accounts.
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), timeoutMs);
    try {
      return await fetchDocWithin(url, abort.signal);
    } finally {
      clearTimeout(timer);
    }
  }

  async function fetchDocWithin(url: string, signal: AbortSignal): Promise<unknown> {
    let res: Response;
    try {
      res = await doFetch(url, {
        headers: { accept: 'application/did+ld+json,application/json' },
        redirect: 'manual',
        signal,
      });
    } catch (err) {
      const e = err as Error;
      if (e.name === 'TimeoutError' || e.name === 'AbortError') throw new IdentityError('timeout', `timed out fetching ${url}`);
      throw new IdentityError('resolution_failed', `fetching ${url}: ${e.message}`);
    }
    if (res.status === 429) {
      await res.body?.cancel();
      throw new IdentityError('rate_limited', `${url} answered 429`, retryAfterMs(res.headers.get('retry-after')));
    }
    if (res.status === 404) throw new IdentityError('not_found', `${url} answered 404`);
    if (res.status === 410) throw new IdentityError('tombstoned', `${url} answered 410`);
    if (res.status < 200 || res.status >= 300) {
      await res.body?.cancel();
      throw new IdentityError('resolution_failed', `${url} answered HTTP ${res.status}`);
    }
    const reader = res.body?.getReader();
    const chunks: Uint8Array[] = [];
    let size = 0;
    if (reader) {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        size += value.length;
        if (size > MAX_DOC_BYTES) {
          await reader.cancel();
          throw new IdentityError('bad_document', `DID document from ${url} is larger than ${MAX_DOC_BYTES} bytes`);
        }
        chunks.push(value);
      }
    }
    try {
      return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
    } catch {
      throw new IdentityError('bad_document', `DID document from ${url} is not JSON`);
    }
  }

  return {
    async resolve(did) {
      checkDidSyntax(did);
      if (did.startsWith('did:plc:')) {
        await plc?.take();
        return fetchDoc(`${opts.plcUrl}/${encodeURIComponent(did)}`);
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
      return fetchDoc(url);
    },
  };
}
