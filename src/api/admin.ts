// Operator API under /admin: hosts and crawl requests. Every route requires the admin password.
import type { FastifyInstance } from 'fastify';
import { normalizeHostname } from '../ingest/hostname.ts';
import {
  admitHost,
  banDomain,
  banHost,
  bannedDomainFor,
  listCrawlRequests,
  listDomainBans,
  listHosts,
  setHostLimits,
  setHostTier,
  unbanDomain,
  unbanHost,
} from '../storage/hosts.ts';
import { accountCounts } from '../storage/accounts.ts';
import type { RelayContext } from '../context.ts';
import { makeAdminGuard } from './admin-auth.ts';
import { XrpcError } from './xrpc-error.ts';

export function registerAdmin(app: FastifyInstance, ctx: RelayContext): void {
  void app.register(async (admin) => {
    admin.addHook('onRequest', makeAdminGuard(ctx.config.adminPassword));

    admin.get('/admin/hosts', async () => {
      const rows = await listHosts(ctx.database.db, { limit: 10_000 });
      // Counted from the accounts table: the hosts row's account_count column is not maintained.
      const counts = await accountCounts(ctx.database.db, rows.map((h) => h.id));
      return {
        hosts: rows.map((h) => ({
          id: h.id,
          hostname: h.hostname,
          status: h.status,
          cursor: h.cursor,
          accountCount: counts.get(h.id) ?? 0,
          failedAttempts: h.failedAttempts,
          connected: ctx.crawler.isConnected(h.id),
          lastEventAt: h.lastEventAt?.toISOString() ?? null,
          lastConnectedAt: h.lastConnectedAt?.toISOString() ?? null,
          createdAt: h.createdAt.toISOString(),
          tier: ctx.policy.tierOf(h),
          promotedAt: h.promotedAt?.toISOString() ?? null,
          limits: {
            ...ctx.policy.limitsOf(h),
            custom: h.eventsPerHour !== null || h.eventsPerDay !== null || h.accountLimit !== null,
          },
          throttledUntil: h.throttledUntil?.toISOString() ?? null,
          // Counter state as last seen by this process (null when another process crawls the host).
          quota: ctx.crawler.quotaOf(h.id)?.lastWindows ?? null,
          recentRejections: ctx.rejections.recent(h.id).slice(0, 10),
        })),
      };
    });

    /** Adds a host (or approves its pending crawl request); it is crawled from its live head. */
    admin.post('/admin/hosts', async (req) => {
      const body = (req.body ?? {}) as { hostname?: unknown };
      const parsed = normalizeHostname(body.hostname, { allowInsecure: ctx.config.allowInsecureHosts });
      if (!parsed.ok) throw new XrpcError(400, 'InvalidRequest', parsed.message);
      const domain = await bannedDomainFor(ctx.database.db, parsed.hostname);
      if (domain) throw new XrpcError(400, 'HostBanned', `${parsed.hostname} is under the banned domain ${domain}`);
      const host = await admitHost(ctx.database.db, parsed.hostname);
      ctx.crawler.kick();
      req.log.info({ hostname: host.hostname, status: host.status }, 'host admitted by operator');
      return { hostname: host.hostname, status: host.status };
    });

    /**
     * Sets a host's event quotas and account limit; null restores the tier's default. Takes effect within one scan
     * (a raised account limit releases throttled accounts then).
     */
    admin.post('/admin/hosts/:hostname/limits', async (req) => {
      const { hostname } = req.params as { hostname: string };
      const body = (req.body ?? {}) as { perHour?: unknown; perDay?: unknown; accountLimit?: unknown };
      const limit = (v: unknown, name: string, min: number): number | null | undefined => {
        if (v === undefined || v === null) return v;
        if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
          throw new XrpcError(400, 'InvalidRequest', `${name} must be an integer >= ${min}, or null`);
        }
        return v;
      };
      const perHour = limit(body.perHour, 'perHour', 1);
      const perDay = limit(body.perDay, 'perDay', 1);
      const accountLimit = limit(body.accountLimit, 'accountLimit', 0);
      if (perHour === undefined && perDay === undefined && accountLimit === undefined) {
        throw new XrpcError(400, 'InvalidRequest', 'give perHour, perDay and/or accountLimit');
      }
      const host = await setHostLimits(ctx.database.db, hostname.toLowerCase(), { perHour, perDay, accountLimit });
      if (!host) throw new XrpcError(404, 'HostNotFound', `${hostname} is not known to this relay`);
      ctx.crawler.kick();
      const limits = ctx.policy.limitsOf(host);
      req.log.info({ hostname, limits }, 'host limits changed by operator');
      return { hostname: host.hostname, limits };
    });

    /** Sets a host's trust tier (new or trusted). */
    admin.post('/admin/hosts/:hostname/tier', async (req) => {
      const { hostname } = req.params as { hostname: string };
      const tier = (req.body as { tier?: unknown } | null)?.tier;
      if (tier !== 'new' && tier !== 'trusted') throw new XrpcError(400, 'InvalidRequest', 'tier must be "new" or "trusted"');
      const host = await setHostTier(ctx.database.db, hostname.toLowerCase(), tier);
      if (!host) throw new XrpcError(404, 'HostNotFound', `${hostname} is not known to this relay`);
      ctx.crawler.kick();
      req.log.info({ hostname, tier }, 'host tier changed by operator');
      return { hostname: host.hostname, tier: ctx.policy.tierOf(host), limits: ctx.policy.limitsOf(host) };
    });

    const hostnameParam = (raw: string): string => {
      const parsed = normalizeHostname(raw, { allowInsecure: true });
      if (!parsed.ok) throw new XrpcError(400, 'InvalidRequest', parsed.message);
      return parsed.hostname;
    };

    /** Bans a host: its connection closes at once and its crawl requests are refused. */
    admin.post('/admin/hosts/:hostname/ban', async (req) => {
      const hostname = hostnameParam((req.params as { hostname: string }).hostname);
      await banHost(ctx.database.db, hostname);
      ctx.crawler.kick();
      req.log.info({ hostname }, 'host banned by operator');
      return { hostname, status: 'banned' };
    });

    admin.post('/admin/hosts/:hostname/unban', async (req) => {
      const hostname = hostnameParam((req.params as { hostname: string }).hostname);
      if (!(await unbanHost(ctx.database.db, hostname))) throw new XrpcError(404, 'HostNotFound', `${hostname} is not banned`);
      ctx.crawler.kick();
      req.log.info({ hostname }, 'host unbanned by operator');
      return { hostname, status: 'active' };
    });

    admin.get('/admin/domain-bans', async () => ({ domains: await listDomainBans(ctx.database.db) }));

    /** Bans a domain and all its subdomains, including hosts already being crawled. */
    admin.post('/admin/domain-bans', async (req) => {
      const domain = hostnameParam(String((req.body as { domain?: unknown } | null)?.domain ?? ''));
      const banned = await banDomain(ctx.database.db, domain);
      ctx.crawler.kick();
      req.log.info({ domain, banned }, 'domain banned by operator');
      return { domain, bannedHosts: banned };
    });

    admin.delete('/admin/domain-bans/:domain', async (req) => {
      const domain = hostnameParam((req.params as { domain: string }).domain);
      if (!(await unbanDomain(ctx.database.db, domain))) throw new XrpcError(404, 'NotFound', `${domain} is not banned`);
      req.log.info({ domain }, 'domain unbanned by operator');
      return { domain };
    });

    /** Firehose consumers connected to this relay process. */
    admin.get('/admin/consumers', async () => ({
      consumers: [...ctx.firehose.consumers].map((c) => c.describe(ctx.hub.lastSeq)),
    }));

    admin.get('/admin/crawl-requests', async () => {
      const rows = await listCrawlRequests(ctx.database.db);
      return {
        requests: rows.map((r) => ({
          hostname: r.hostname,
          requestedAt: r.requestedAt.toISOString(),
          requestCount: r.requestCount,
        })),
      };
    });
  });
}
