// com.atproto.sync.requestCrawl (and the deprecated notifyOfUpdate, treated the same): a PDS asks to be crawled.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ApiServices } from './services.ts';
import { sendXrpcError } from './xrpc-error.ts';

export function registerRequestCrawl(app: FastifyInstance, api: ApiServices): void {
  const handler = async (req: FastifyRequest, reply: FastifyReply) => {
    const { hostname } = (req.body ?? {}) as { hostname?: unknown };
    const { wait } = await api.hosts.requestCrawl(hostname, req.ip);
    if (wait) {
      reply.header('Retry-After', String(wait.retryAfter));
      return sendXrpcError(reply, 429, 'RateLimitExceeded', wait.message);
    }
    return {};
  };
  app.post('/xrpc/com.atproto.sync.requestCrawl', handler);
  app.post('/xrpc/com.atproto.sync.notifyOfUpdate', handler);
}
