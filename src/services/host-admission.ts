// Whether the relay may crawl a host, asked on every path that adds one (a PDS's requestCrawl, an operator's add or
// approval), so that none of them can make the relay dial a private address or subscribe to a relay: crawling a
// relay (this one, a sibling process, or bsky.network) would feed its firehose, ours among it, back into ours.
// The crawler re-checks the address at every dial (ingest/address-policy.ts publicOnlyLookup), and so do the probes
// here; the check before them is the one that can still answer the caller with a clear reason.
import { hostUrls, isLocalDevHost } from '../core/hostname.ts';
import { XrpcError } from '../core/xrpc-error.ts';
import type { LookupFunction } from 'node:net';
import { checkHostAddresses, publicOnlyLookup, type Lookup } from '../ingest/address-policy.ts';
import { getJson } from '../ingest/http-json.ts';

const PROBE_TIMEOUT_MS = 5000;

export interface AdmissionOptions {
  /** Local development hosts (localhost:PORT over http) skip the public-address rule. */
  allowInsecureHosts: boolean;
  lookup: Lookup;
}

/** Checks that the host is a PDS that answers describeServer. */
async function probePds(hostname: string, o: AdmissionOptions, lookup: LookupFunction | undefined): Promise<void> {
  const url = new URL(`${hostUrls(hostname, o.allowInsecureHosts).http}/xrpc/com.atproto.server.describeServer`);
  let status: number;
  try {
    ({ status } = await getJson(url, { timeoutMs: PROBE_TIMEOUT_MS, ...(lookup ? { lookup } : {}) }));
  } catch (err) {
    throw new XrpcError(400, 'HostNotFound', `could not reach ${hostname}: ${(err as Error).message}`);
  }
  if (status < 200 || status >= 300) throw new XrpcError(400, 'HostNotFound', `${hostname} answered describeServer with HTTP ${status}, so it is not a PDS`);
}

/** A relay serves com.atproto.sync.listHosts and a PDS does not. */
async function isRelay(hostname: string, o: AdmissionOptions, lookup: LookupFunction | undefined): Promise<boolean> {
  const url = new URL(`${hostUrls(hostname, o.allowInsecureHosts).http}/xrpc/com.atproto.sync.listHosts?limit=1`);
  try {
    const { status, body } = await getJson(url, { timeoutMs: PROBE_TIMEOUT_MS, ...(lookup ? { lookup } : {}) });
    return status === 200 && Array.isArray((body as { hosts?: unknown } | null)?.hosts);
  } catch {
    return false;
  }
}

/** Throws the XRPC error to answer when the host may not be crawled: HostNotFound or HostIsRelay. */
export async function checkAdmission(hostname: string, o: AdmissionOptions): Promise<void> {
  let lookup: LookupFunction | undefined;
  if (!(o.allowInsecureHosts && isLocalDevHost(hostname))) {
    const refusal = await checkHostAddresses(hostname, o.lookup);
    if (refusal) throw new XrpcError(400, 'HostNotFound', refusal);
    // The probes dial through the same check, so the address checked is the address asked.
    lookup = publicOnlyLookup(o.lookup, () => {});
  }
  if (await isRelay(hostname, o, lookup)) {
    throw new XrpcError(
      400,
      'HostIsRelay',
      `${hostname} is a relay (it serves com.atproto.sync.listHosts), perhaps this one: crawling it would make a relay loop`,
    );
  }
  await probePds(hostname, o, lookup);
}
