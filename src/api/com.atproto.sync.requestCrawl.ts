// com.atproto.sync.requestCrawl (and the deprecated notifyOfUpdate, treated the same): a PDS asks to be crawled.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ApiServices } from './services.ts';
import { sendXrpcError } from './xrpc-error.ts';

export function registerRequestCrawl(app: FastifyInstance, api: ApiServices): void {
  const handler = async (req: FastifyRequest, reply: FastifyReply) => {
    const { hostname } = (req.body ?? {}) as { hostname?: unknown };
    const { retryAfter } = await api.hosts.requestCrawl(hostname, req.ip);
    if (retryAfter !== undefined) {
      reply.header('Retry-After', String(retryAfter));
      return sendXrpcError(reply, 429, 'RateLimitExceeded', `the relay is probing too many new hosts; retry in ${retryAfter} s`);
    }
    return {};
  };
  app.post('/xrpc/com.atproto.sync.requestCrawl', handler);
  app.post('/xrpc/com.atproto.sync.notifyOfUpdate', handler);
}
