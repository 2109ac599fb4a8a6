// Handle to DID, the two ways atproto publishes it: a DNS TXT record `_atproto.<handle>` holding `did=<did>`, or
// https://<handle>/.well-known/atproto-did. The answer is believed only when the DID's document claims the handle back
// (bidirectional), so a handle cannot point an operator's takedown at someone else's account.
import { resolveTxt } from 'node:dns/promises';
import { isDid, isHandle } from '../protocol/syntax.ts';
import { XrpcError } from '../core/xrpc-error.ts';

const TIMEOUT_MS = 5000;
/** A DID is short: a larger /.well-known/atproto-did is not one. */
const MAX_BODY = 2048;

/** Where a handle's DID is published; each answers null when it names none. */
export interface HandleSources {
  txt(handle: string): Promise<string | null>;
  wellKnown(handle: string): Promise<string | null>;
}

/** A GET of a short text from a host the relay does not trust; `text` null when larger than `maxBytes`. */
export type UntrustedGet = (url: URL, o: { maxBytes: number; timeoutMs: number }) => Promise<{ status: number; text: string | null }>;

export interface NetworkHandleOptions {
  /**
   * The well-known fetch: a request to a host named by whoever asks, so relay.ts hands in the one its other
   * untrusted requests use (ingest/http-json.ts untrustedGet: public addresses only, the checked address dialled).
   */
  get: UntrustedGet;
  /** TXT records: the system's resolver unless given (a node:dns Resolver pointed at other servers). */
  resolver?: { resolveTxt(name: string): Promise<string[][]> };
  /** The HTTPS port (tests' local server); 443 otherwise. */
  httpsPort?: number;
}

/** DNS and HTTPS, as the network has them. */
export function networkHandleSources(o: NetworkHandleOptions): HandleSources {
  const resolver = o.resolver ?? { resolveTxt };
  return {
    async txt(handle) {
      const records = await resolver.resolveTxt(`_atproto.${handle}`).catch(() => []);
      const dids = records.map((chunks) => chunks.join('')).filter((r) => r.startsWith('did=')).map((r) => r.slice(4));
      // More than one is ambiguous: the specification says to treat it as none.
      return dids.length === 1 ? dids[0]! : null;
    },
    async wellKnown(handle) {
      const url = new URL(`https://${handle}${o.httpsPort ? `:${o.httpsPort}` : ''}/.well-known/atproto-did`);
      try {
        // Not followed: a redirect (3xx) names no DID.
        const { status, text } = await o.get(url, { timeoutMs: TIMEOUT_MS, maxBytes: MAX_BODY });
        if (status !== 200 || text === null) return null;
        const did = text.trim();
        return isDid(did) ? did : null;
      } catch {
        return null;
      }
    },
  };
}

export interface HandleResolverOptions {
  sources: HandleSources;
  /** The handle the DID's document claims (lower-cased), or null. */
  claimedHandle(did: string): Promise<string | null>;
}

/** The DID of a handle, checked both ways; an XRPC error (HandleNotFound, HandleMismatch) otherwise. */
export async function resolveHandle(raw: string, o: HandleResolverOptions): Promise<string> {
  const handle = raw.toLowerCase();
  if (!isHandle(handle)) throw new XrpcError(400, 'InvalidRequest', `${raw} is neither a DID nor a handle`);
  const did = (await o.sources.txt(handle)) ?? (await o.sources.wellKnown(handle));
  if (!did || !isDid(did)) {
    throw new XrpcError(400, 'HandleNotFound', `${handle} names no DID (no _atproto TXT record, no /.well-known/atproto-did)`);
  }
  const claimed = await o.claimedHandle(did).catch((err: unknown) => {
    throw new XrpcError(400, 'HandleNotFound', `${handle} names ${did}, whose DID document could not be read: ${(err as Error).message}`);
  });
  if (claimed !== handle) {
    throw new XrpcError(400, 'HandleMismatch', `${handle} names ${did}, but its DID document claims ${claimed ?? 'no handle'}`);
  }
  return did;
}
