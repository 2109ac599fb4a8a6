// Operator API under /admin: hosts and crawl requests. Every route requires the admin password.
import type { FastifyInstance } from 'fastify';
import { normalizeHostname } from '../ingest/hostname.ts';
import { admitHost, listCrawlRequests, listHosts } from '../storage/hosts.ts';
import type { RelayContext } from '../context.ts';
import { makeAdminGuard } from './admin-auth.ts';
import { XrpcError } from './xrpc-error.ts';

export function registerAdmin(app: FastifyInstance, ctx: RelayContext): void {
  void app.register(async (admin) => {
    admin.addHook('onRequest', makeAdminGuard(ctx.config.adminPassword));

    admin.get('/admin/hosts', async () => {
      const rows = await listHosts(ctx.database.db, { limit: 10_000 });
      return {
        hosts: rows.map((h) => ({
          id: h.id,
          hostname: h.hostname,
          status: h.status,
          cursor: h.cursor,
          accountCount: h.accountCount,
          failedAttempts: h.failedAttempts,
          connected: ctx.crawler.isConnected(h.id),
          lastEventAt: h.lastEventAt?.toISOString() ?? null,
          lastConnectedAt: h.lastConnectedAt?.toISOString() ?? null,
          createdAt: h.createdAt.toISOString(),
          recentRejections: ctx.rejections.recent(h.id).slice(0, 10),
        })),
      };
    });

    /** Adds a host (or approves its pending crawl request); it is crawled from its live head. */
    admin.post('/admin/hosts', async (req) => {
      const body = (req.body ?? {}) as { hostname?: unknown };
      const parsed = normalizeHostname(body.hostname, { allowInsecure: ctx.config.allowInsecureHosts });
      if (!parsed.ok) throw new XrpcError(400, 'InvalidRequest', parsed.message);
      const host = await admitHost(ctx.database.db, parsed.hostname);
      ctx.crawler.kick();
      req.log.info({ hostname: host.hostname, status: host.status }, 'host admitted by operator');
      return { hostname: host.hostname, status: host.status };
    });

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
