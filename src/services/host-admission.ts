// Whether the relay may crawl a host, asked on every path that adds one (a PDS's requestCrawl, an operator's add or
// approval), so that none of them can make the relay dial a private address or subscribe to a relay: crawling a
// relay (this one, a sibling process, or bsky.network) would feed its firehose, ours among it, back into ours.
// The crawler re-checks the address at every dial (ingest/address-policy.ts publicOnlyLookup); this is the check
// that can still answer the caller.
import { hostUrls, isLocalDevHost } from '../core/hostname.ts';
import { XrpcError } from '../core/xrpc-error.ts';
import { checkHostAddresses, type Lookup } from '../ingest/address-policy.ts';

const PROBE_TIMEOUT_MS = 5000;

export interface AdmissionOptions {
  /** Local development hosts (localhost:PORT over http) skip the public-address rule. */
  allowInsecureHosts: boolean;
  lookup: Lookup;
}

/** Checks that the host is a PDS that answers describeServer. */
async function probePds(hostname: string, allowInsecure: boolean): Promise<void> {
  const url = `${hostUrls(hostname, allowInsecure).http}/xrpc/com.atproto.server.describeServer`;
  let res: Response;
  try {
    res = await fetch(url, { redirect: 'error', signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
  } catch (err) {
    const cause = (err as Error & { cause?: Error }).cause?.message;
    throw new XrpcError(400, 'HostNotFound', `could not reach ${hostname}: ${cause ?? (err as Error).message}`);
  }
  await res.body?.cancel();
  if (!res.ok) throw new XrpcError(400, 'HostNotFound', `${hostname} answered describeServer with HTTP ${res.status}, so it is not a PDS`);
}

/** A relay serves com.atproto.sync.listHosts and a PDS does not. */
async function isRelay(hostname: string, allowInsecure: boolean): Promise<boolean> {
  const url = `${hostUrls(hostname, allowInsecure).http}/xrpc/com.atproto.sync.listHosts?limit=1`;
  try {
    const res = await fetch(url, { redirect: 'error', signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    if (!res.ok) {
      await res.body?.cancel();
      return false;
    }
    const body = (await res.json()) as { hosts?: unknown };
    return Array.isArray(body?.hosts);
  } catch {
    return false;
  }
}

/** Throws the XRPC error to answer when the host may not be crawled: HostNotFound or HostIsRelay. */
export async function checkAdmission(hostname: string, o: AdmissionOptions): Promise<void> {
  if (!(o.allowInsecureHosts && isLocalDevHost(hostname))) {
    const refusal = await checkHostAddresses(hostname, o.lookup);
    if (refusal) throw new XrpcError(400, 'HostNotFound', refusal);
  }
  if (await isRelay(hostname, o.allowInsecureHosts)) {
    throw new XrpcError(
      400,
      'HostIsRelay',
      `${hostname} is a relay (it serves com.atproto.sync.listHosts), perhaps this one: crawling it would make a relay loop`,
    );
  }
  await probePds(hostname, o.allowInsecureHosts);
}
