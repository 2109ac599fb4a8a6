// GET /api/host-status?hostname=…: the public view a PDS admin needs to see why their events are (not) flowing,
// without asking an operator: crawl status, event quota usage and reset times, throttling, recent rejections.
// An extension beside com.atproto.sync.getHostStatus, outside the XRPC namespace on purpose.
import type { FastifyInstance } from 'fastify';
import { normalizeHostname } from '../ingest/hostname.ts';
import { HostQuota } from '../quota/host-quota.ts';
import type { CounterStore } from '../quota/counters.ts';
import { bannedDomainFor, getHost } from '../storage/hosts.ts';
import { accountCounts } from '../storage/accounts.ts';
import type { RelayContext } from '../context.ts';
import { requiredString } from './params.ts';
import { XrpcError } from './xrpc-error.ts';

export const HOST_STATUS_PATH = '/api/host-status';

export function registerHostStatus(app: FastifyInstance, ctx: RelayContext, counters: CounterStore, quotaWindows?: { hourMs: number; dayMs: number }): void {
  app.get(HOST_STATUS_PATH, async (req) => {
    const raw = requiredString(req.query as Record<string, unknown>, 'hostname');
    const parsed = normalizeHostname(raw, { allowInsecure: ctx.config.allowInsecureHosts });
    if (!parsed.ok) throw new XrpcError(400, 'InvalidRequest', parsed.message);
    const host = await getHost(ctx.database.db, parsed.hostname);
    if (!host) {
      const domain = await bannedDomainFor(ctx.database.db, parsed.hostname);
      return {
        hostname: parsed.hostname,
        known: false,
        message: domain
          ? `this host is under the banned domain ${domain}`
          : 'this relay does not crawl this host; ask it to with com.atproto.sync.requestCrawl',
      };
    }
    const limits = ctx.policy.limitsOf(host);
    // Read the shared counters without taking anything from them.
    const probe = new HostQuota({ store: counters, hostId: host.id, limits: () => limits, hourMs: quotaWindows?.hourMs, dayMs: quotaWindows?.dayMs });
    const usage = await counters.take(`host:${host.id}`, 0, probe.windows(), Date.now()).then(
      (g) => g.windows.map((w) => ({ window: w.name, count: w.count, limit: w.limit, resetAt: new Date(w.resetAt).toISOString() })),
      () => null,
    );
    const counts = await accountCounts(ctx.database.db, [host.id]);
    return {
      hostname: host.hostname,
      known: true,
      status: host.status,
      seq: host.cursor,
      accountCount: counts.get(host.id) ?? 0,
      lastEventAt: host.lastEventAt?.toISOString() ?? null,
      throttledUntil: host.status === 'throttled' ? (host.throttledUntil?.toISOString() ?? null) : null,
      tier: ctx.policy.tierOf(host),
      limits,
      usage,
      // Rejections seen by the relay process answering (the one crawling the host sees them all).
      recentRejections: ctx.rejections.recent(host.id).slice(0, 20),
    };
  });
}
