// The few calls the collection index makes to a PDS: what collections a repo holds (describeRepo), the rev it is at
// (getLatestCommit), and its repos a page at a time (listRepos, for the backfill). Each answer is checked for shape
// before use: a PDS is an untrusted party.
import { hostUrls, isLocalDevHost } from '../core/hostname.ts';
import { publicOnlyLookup, type Lookup } from '../ingest/address-policy.ts';
import { getJson } from '../ingest/http-json.ts';
import { isDid, isNsid } from '../protocol/syntax.ts';

export const PDS_TIMEOUT_MS = 15_000;

export class PdsError extends Error {
  /** HTTP status, or 0 when there was no answer. */
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** `signal` ends a request early (the relay is stopping). */
export interface PdsClient {
  describeRepo(hostname: string, did: string, signal?: AbortSignal): Promise<string[]>;
  latestRev(hostname: string, did: string, signal?: AbortSignal): Promise<string | null>;
  listRepos(hostname: string, cursor: string | null, limit: number, signal?: AbortSignal): Promise<{ repos: Array<{ did: string; active: boolean }>; cursor: string | null }>;
}

/** `lookup` resolves every public host's name at each request, refusing non-public addresses, as the crawler does. */
export function createPdsClient(opts: { allowInsecureHosts: boolean; lookup: Lookup; timeoutMs?: number }): PdsClient {
  const pinned = publicOnlyLookup(opts.lookup, () => {});
  const get = async (hostname: string, nsid: string, params: Record<string, string>, stop?: AbortSignal): Promise<Record<string, unknown>> => {
    const url = new URL(`${hostUrls(hostname, opts.allowInsecureHosts).http}/xrpc/${nsid}`);
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    const dev = opts.allowInsecureHosts && isLocalDevHost(hostname);
    let answer;
    try {
      answer = await getJson(url, { timeoutMs: opts.timeoutMs ?? PDS_TIMEOUT_MS, ...(stop ? { signal: stop } : {}), ...(dev ? {} : { lookup: pinned }) });
    } catch (err) {
      throw new PdsError(0, `${nsid} at ${hostname}: ${(err as Error).message}`);
    }
    const { status } = answer;
    const body = answer.body as Record<string, unknown> | null;
    if (status < 200 || status >= 300 || body === null || typeof body !== 'object') {
      throw new PdsError(status, `${nsid} at ${hostname}: HTTP ${status}${body && typeof body.error === 'string' ? ` ${body.error}` : ''}`);
    }
    return body;
  };
  return {
    async describeRepo(hostname, did, signal) {
      const body = await get(hostname, 'com.atproto.repo.describeRepo', { repo: did }, signal);
      if (!Array.isArray(body.collections)) throw new PdsError(200, `describeRepo at ${hostname}: no collections list`);
      return [...new Set(body.collections.filter(isNsid))];
    },
    async latestRev(hostname, did, signal) {
      const body = await get(hostname, 'com.atproto.sync.getLatestCommit', { did }, signal);
      return typeof body.rev === 'string' ? body.rev : null;
    },
    async listRepos(hostname, cursor, limit, signal) {
      const body = await get(hostname, 'com.atproto.sync.listRepos', { limit: String(limit), ...(cursor ? { cursor } : {}) }, signal);
      if (!Array.isArray(body.repos)) throw new PdsError(200, `listRepos at ${hostname}: no repos list`);
      const repos = (body.repos as Array<Record<string, unknown>>)
        .filter((r) => r && isDid(r.did))
        .map((r) => ({ did: r.did as string, active: r.active !== false }));
      return { repos, cursor: typeof body.cursor === 'string' && body.cursor !== '' ? body.cursor : null };
    },
  };
}
