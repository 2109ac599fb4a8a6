// Fetches DID documents: did:plc from the PLC directory, did:web from the host's /.well-known/did.json.
import { checkDidSyntax, IdentityError } from './did-doc.ts';
import { TokenBucket } from '../core/token-bucket.ts';

export interface DidResolver {
  resolve(did: string): Promise<unknown>;
}

const MAX_DOC_BYTES = 64 * 1024;

export function createDidResolver(opts: {
  plcUrl: string;
  timeoutMs?: number;
  /** did:web:localhost%3APORT over http (development and tests). */
  allowInsecureWeb?: boolean;
  fetch?: typeof fetch;
  /** Outbound resolutions per second (with a burst of as many); more wait their turn. Absent = unlimited. */
  maxPerSecond?: number;
}): DidResolver {
  const doFetch = opts.fetch ?? fetch;
  const outbound = opts.maxPerSecond ? new TokenBucket(opts.maxPerSecond, opts.maxPerSecond) : null;
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
      await outbound?.take();
      if (did.startsWith('did:plc:')) return fetchDoc(`${opts.plcUrl}/${encodeURIComponent(did)}`);
      const host = decodeURIComponent(did.slice('did:web:'.length));
      if (host.includes(':')) {
        // Only localhost may carry a port, and only in development.
        if (!opts.allowInsecureWeb || !/^localhost:\d+$/.test(host)) {
          throw new IdentityError('bad_syntax', `did:web with a port is only allowed for localhost: ${did}`);
        }
        return fetchDoc(`http://${host}/.well-known/did.json`);
      }
      if (!/^[a-z0-9.-]+$/i.test(host)) throw new IdentityError('bad_syntax', `did:web must name a hostname: ${did}`);
      return fetchDoc(`https://${host}/.well-known/did.json`);
    },
  };
}
