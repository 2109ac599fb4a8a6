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
          limits: {
            perHour: h.eventsPerHour ?? ctx.config.hostEventsPerHour,
            perDay: h.eventsPerDay ?? ctx.config.hostEventsPerDay,
            custom: h.eventsPerHour !== null || h.eventsPerDay !== null,
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

    /** Sets a host's event quota; null restores the configured default. Takes effect within one scan. */
    admin.post('/admin/hosts/:hostname/limits', async (req) => {
      const { hostname } = req.params as { hostname: string };
      const body = (req.body ?? {}) as { perHour?: unknown; perDay?: unknown };
      const limit = (v: unknown, name: string): number | null | undefined => {
        if (v === undefined || v === null) return v;
        if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) {
          throw new XrpcError(400, 'InvalidRequest', `${name} must be a positive integer or null`);
        }
        return v;
      };
      const perHour = limit(body.perHour, 'perHour');
      const perDay = limit(body.perDay, 'perDay');
      if (perHour === undefined && perDay === undefined) throw new XrpcError(400, 'InvalidRequest', 'give perHour and/or perDay');
      const host = await setHostLimits(ctx.database.db, hostname.toLowerCase(), { perHour, perDay });
      if (!host) throw new XrpcError(404, 'HostNotFound', `${hostname} is not known to this relay`);
      ctx.crawler.kick();
      req.log.info({ hostname, perHour: host.eventsPerHour, perDay: host.eventsPerDay }, 'host limits changed by operator');
      return {
        hostname: host.hostname,
        limits: { perHour: host.eventsPerHour ?? ctx.config.hostEventsPerHour, perDay: host.eventsPerDay ?? ctx.config.hostEventsPerDay },
      };
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
