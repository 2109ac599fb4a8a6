// com.atproto.sync.requestCrawl (and the deprecated notifyOfUpdate, treated the same): a PDS asks to be crawled.
// Policy `open` admits a host that answers describeServer; policy `allowlist` queues the request for an operator.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { normalizeHostname, hostUrls, isLocalDevHost } from '../ingest/hostname.ts';
import { checkHostAddresses, type Lookup } from '../ingest/address-policy.ts';
import { admitHost, bannedDomainFor, getHost, recordCrawlRequest } from '../storage/hosts.ts';
import type { RelayContext } from '../context.ts';
import { XrpcError, sendXrpcError } from './xrpc-error.ts';
import { TokenBucket } from '../ingest/token-bucket.ts';

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

/**
 * A relay serves com.atproto.sync.listHosts and a PDS does not: crawling a relay would feed its firehose (our own
 * events among them) back into ours, a relay loop.
 */
export async function isRelay(hostname: string, allowInsecure: boolean): Promise<boolean> {
  const url = `${hostUrls(hostname, allowInsecure).http}/xrpc/com.atproto.sync.listHosts?limit=1`;
  try {
    const res = await fetch(url, { redirect: 'error', signal: AbortSignal.timeout(DESCRIBE_TIMEOUT_MS) });
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

export function registerRequestCrawl(app: FastifyInstance, ctx: RelayContext, lookup: Lookup): void {
  // Probes are the relay's own outbound traffic on behalf of anonymous callers: one budget for all of them.
  const probes = new TokenBucket(ctx.config.crawlProbesPerMinute / 60, ctx.config.crawlProbesPerMinute);
  const handler = async (req: FastifyRequest, reply: FastifyReply) => {
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
        if (!probes.tryTake()) {
          const wait = Math.max(1, Math.ceil(probes.waitMs() / 1000));
          reply.header('Retry-After', String(wait));
          return sendXrpcError(reply, 429, 'RateLimitExceeded', `the relay is probing too many new hosts; retry in ${wait} s`);
        }
        // Only public addresses may be dialled (development hosts on localhost are allowed when configured).
        if (!(ctx.config.allowInsecureHosts && isLocalDevHost(hostname))) {
          const refusal = await checkHostAddresses(hostname, lookup);
          if (refusal) throw new XrpcError(400, 'HostNotFound', refusal);
        }
        if (await isRelay(hostname, ctx.config.allowInsecureHosts)) {
          req.log.warn({ hostname }, 'refused to crawl a relay (relay loop)');
          throw new XrpcError(400, 'HostIsRelay', `${hostname} is a relay (it serves com.atproto.sync.listHosts); crawling it would make a relay loop`);
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
