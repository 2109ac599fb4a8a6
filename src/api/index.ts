// The HTTP surface on the services: XRPC sync endpoints, the public host status and status page, the admin API and
// console, health and metrics; every error as XRPC JSON `{error, message}`.
import type { FastifyInstance } from 'fastify';
import { XrpcError } from '../core/xrpc-error.ts';
import type { ApiServices } from './services.ts';
import { sendXrpcError } from './xrpc-error.ts';
import { registerRateLimits } from './rate-limit.ts';
import { registerHealth } from './health.ts';
import { registerRequestCrawl } from './com.atproto.sync.requestCrawl.ts';
import { registerHostEndpoints } from './com.atproto.sync.hosts.ts';
import { registerRepoEndpoints } from './com.atproto.sync.repos.ts';
import { registerListReposByCollection } from './com.atproto.sync.listReposByCollection.ts';
import { registerHostStatus } from './host-status.ts';
import { registerAdmin } from './admin.ts';
import { registerConsole } from './console/index.ts';
import { registerStatusPage } from './status-page/index.ts';
import { SUBSCRIBE_REPOS_PATH } from '../firehose/server.ts';

export function registerApi(app: FastifyInstance, api: ApiServices): void {
  const { config } = api;
  app.setErrorHandler((err, req, reply) => {
    if (err instanceof XrpcError) return sendXrpcError(reply, err.status, err.error, err.message);
    const status = (err as { statusCode?: number }).statusCode ?? 500;
    if (status >= 500) req.log.error({ err }, 'request failed');
    const message = err instanceof Error ? err.message : String(err);
    return sendXrpcError(reply, status, status >= 500 ? 'InternalServerError' : 'InvalidRequest', message);
  });
  app.setNotFoundHandler((req, reply) =>
    req.url.startsWith('/xrpc/')
      ? sendXrpcError(reply, 501, 'MethodNotImplemented', `${req.method} ${req.url.split('?')[0]} is not implemented`)
      : sendXrpcError(reply, 404, 'NotFound', `${req.method} ${req.url.split('?')[0]} not found`),
  );
  registerRateLimits(app, {
    store: api.counters,
    reads: { name: 'reads', limit: config.rateLimitReadsPer5Min, windowMs: 5 * 60_000 },
    crawl: { name: 'crawl', limit: config.rateLimitCrawlsPerHour, windowMs: 3_600_000 },
  });
  app.get(SUBSCRIBE_REPOS_PATH, async (_req, reply) => sendXrpcError(reply, 426, 'UpgradeRequired', 'subscribeRepos is a WebSocket stream'));
  registerHealth(app, api);
  registerRequestCrawl(app, api);
  registerHostEndpoints(app, api);
  registerRepoEndpoints(app, api);
  registerListReposByCollection(app, api);
  registerHostStatus(app, api);
  registerAdmin(app, api);
  registerConsole(app);
  registerStatusPage(app);
}
