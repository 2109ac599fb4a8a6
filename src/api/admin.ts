// The operator API under /admin (services/contract.ts declares it), on the services. Every route requires the admin
// password, checked before anything else about the request.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { adminApi, type AnyEndpoint, type BodyOf, type ParamsOf, type QueryOf, type ResponseOf } from '../services/contract.ts';
import type { ApiServices } from './services.ts';
import { makeAdminGuard } from './admin-auth.ts';

type Handler<E extends AnyEndpoint> = (req: {
  params: ParamsOf<E>;
  body: BodyOf<E>;
  query: QueryOf<E>;
  log: FastifyRequest['log'];
}) => Promise<ResponseOf<E>>;

function route<E extends AnyEndpoint>(app: FastifyInstance, e: E, handler: Handler<E>): void {
  app.route({
    method: e.method,
    url: e.path,
    schema: { ...(e.body ? { body: e.body.json } : {}), ...(e.query ? { querystring: e.query.json } : {}) },
    handler: (req) =>
      handler({ params: req.params as ParamsOf<E>, body: req.body as BodyOf<E>, query: req.query as QueryOf<E>, log: req.log }),
  });
}

export function registerAdmin(app: FastifyInstance, api: ApiServices): void {
  const { hosts, accounts, status } = api;
  void app.register(async (admin) => {
    admin.addHook('onRequest', makeAdminGuard(api.config.adminPassword));

    route(admin, adminApi.listHosts, ({ query }) => hosts.list(query));
    route(admin, adminApi.addHost, async ({ body, log }) => {
      const added = await hosts.add(body.hostname);
      log.info({ host: added.hostname, status: added.status }, 'host admitted by operator');
      return added;
    });
    route(admin, adminApi.setHostLimits, async ({ params, body, log }) => {
      const res = await hosts.setLimits(params.hostname, body);
      log.info({ host: res.hostname, limits: res.limits }, 'host limits changed by operator');
      return res;
    });
    route(admin, adminApi.setHostTier, async ({ params, body, log }) => {
      const res = await hosts.setTier(params.hostname, body.tier);
      log.info({ host: res.hostname, tier: res.tier }, 'host tier changed by operator');
      return res;
    });
    route(admin, adminApi.setHostSyncMode, async ({ params, body, log }) => {
      const res = await hosts.setSyncMode(params.hostname, body.mode);
      log.info({ host: res.hostname, mode: body.mode }, 'host Sync v1.1 mode set by operator');
      return res;
    });
    route(admin, adminApi.banHost, async ({ params, log }) => {
      const res = await hosts.ban(params.hostname);
      log.info({ host: res.hostname }, 'host banned by operator');
      return res;
    });
    route(admin, adminApi.unbanHost, async ({ params, log }) => {
      const res = await hosts.unban(params.hostname);
      log.info({ host: res.hostname }, 'host unbanned by operator');
      return res;
    });
    route(admin, adminApi.disconnectHost, async ({ params, log }) => {
      const res = await hosts.disconnect(params.hostname);
      log.info({ host: res.hostname }, 'host disconnected by operator');
      return res;
    });
    route(admin, adminApi.reconnectHost, async ({ params, log }) => {
      const res = await hosts.reconnect(params.hostname);
      log.info({ host: res.hostname }, 'host redialled by operator');
      return res;
    });
    route(admin, adminApi.removeHost, async ({ params, log }) => {
      const res = await hosts.remove(params.hostname);
      log.info({ host: res.hostname }, 'host removed by operator');
      return res;
    });
    route(admin, adminApi.recheckHosts, async ({ body, log }) => {
      const res = await hosts.recheck(body);
      for (const r of res.results.filter((r) => !r.ok)) {
        log.warn({ host: r.hostname, error: r.error, reason: r.message, disconnected: r.disconnected }, 'host failed its admission re-check');
      }
      return res;
    });
    route(admin, adminApi.getHostImport, ({ params }) => hosts.hostImport(params.source));
    route(admin, adminApi.saveHostImportPage, async ({ params, body, log }) => {
      const res = await hosts.saveHostImportPage(params.source, body);
      log.info({ source: res.source, cursor: res.cursor, finished: res.finished }, 'host import page recorded');
      return res;
    });
    route(admin, adminApi.listDomainBans, async () => ({ domains: await hosts.domainBans() }));
    route(admin, adminApi.banDomain, async ({ body, log }) => {
      const res = await hosts.banDomain(body.domain);
      log.info({ domain: res.domain, bannedHosts: res.bannedHosts }, 'domain banned by operator');
      return res;
    });
    route(admin, adminApi.unbanDomain, async ({ params, log }) => {
      const res = await hosts.unbanDomain(params.domain);
      log.info({ domain: res.domain }, 'domain unbanned by operator');
      return res;
    });
    route(admin, adminApi.listCrawlRequests, async () => ({ requests: await hosts.crawlRequests() }));
    route(admin, adminApi.listConsumers, async () => ({ consumers: status.consumers() }));
    route(admin, adminApi.stats, () => status.stats());
    route(admin, adminApi.rates, ({ query }) => hosts.rates(query));
    route(admin, adminApi.collections, () => api.collections.overview());
    route(admin, adminApi.listAccounts, ({ query }) => accounts.list(query));
    route(admin, adminApi.takedownAccount, async ({ params, log }) => {
      const res = await accounts.takedown(params.did);
      log.info({ did: res.did }, 'account taken down by operator');
      return res;
    });
    route(admin, adminApi.restoreAccount, async ({ params, log }) => {
      const res = await accounts.restore(params.did);
      log.info({ did: res.did }, 'account restored by operator');
      return res;
    });
  });
}
