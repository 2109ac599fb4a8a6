// com.atproto.sync.requestCrawl (and the deprecated notifyOfUpdate, treated the same): a PDS asks to be crawled.
// Policy `open` admits a host that answers describeServer; policy `allowlist` queues the request for an operator.
import type { FastifyInstance } from 'fastify';
import { normalizeHostname, hostUrls, isLocalDevHost } from '../ingest/hostname.ts';
import { checkHostAddresses, type Lookup } from '../ingest/address-policy.ts';
import { admitHost, bannedDomainFor, getHost, recordCrawlRequest } from '../storage/hosts.ts';
import type { RelayContext } from '../context.ts';
import { XrpcError } from './xrpc-error.ts';

const DESCRIBE_TIMEOUT_MS = 5000;

/** Checks that the host is a PDS that answers describeServer. */
export async function probeHost(hostname: string, allowInsecure: boolean): Promise<void> {
  const url = `${hostUrls(hostname, allowInsecure).http}/xrpc/com.atproto.server.describeServer`;
  let res: Response;
  try {
    res = await fetch(url, { redirect: 'error', signal: AbortSignal.timeout(DESCRIBE_TIMEOUT_MS) });
  } catch (err) {
    throw new XrpcError(400, 'HostNotFound', `could not reach ${hostname}: ${(err as Error).message}`);
  }
  if (!res.ok) throw new XrpcError(400, 'HostNotFound', `${hostname} answered describeServer with HTTP ${res.status}`);
  await res.body?.cancel();
}

export function registerRequestCrawl(app: FastifyInstance, ctx: RelayContext, lookup: Lookup): void {
  const handler = async (req: { body: unknown; ip: string }) => {
    const body = (req.body ?? {}) as { hostname?: unknown };
    const parsed = normalizeHostname(body.hostname, { allowInsecure: ctx.config.allowInsecureHosts });
    if (!parsed.ok) throw new XrpcError(400, 'InvalidRequest', parsed.message);
    const hostname = parsed.hostname;
    const existing = await getHost(ctx.database.db, hostname);
    if (existing?.status === 'banned') throw new XrpcError(400, 'HostBanned', `${hostname} is banned from this relay`);
    const domain = await bannedDomainFor(ctx.database.db, hostname);
    if (domain) throw new XrpcError(400, 'HostBanned', `${hostname} is under the banned domain ${domain}`);
    if (existing || ctx.config.crawlPolicy === 'open') {
      if (!existing) {
        // Only public addresses may be dialled (development hosts on localhost are allowed when configured).
        if (!(ctx.config.allowInsecureHosts && isLocalDevHost(hostname))) {
          const refusal = await checkHostAddresses(hostname, lookup);
          if (refusal) throw new XrpcError(400, 'HostNotFound', refusal);
        }
        await probeHost(hostname, ctx.config.allowInsecureHosts);
      }
      if (!existing || existing.status === 'idle' || existing.status === 'offline') {
        await admitHost(ctx.database.db, hostname);
        ctx.crawler.kick();
      }
      return {};
    }
    await recordCrawlRequest(ctx.database.db, hostname, req.ip);
    return {};
  };
  app.post('/xrpc/com.atproto.sync.requestCrawl', handler);
  app.post('/xrpc/com.atproto.sync.notifyOfUpdate', handler);
}
