// Per-client rate limits on the public HTTP endpoints, on the same shared counters as the host quotas (so several
// relay processes enforce one limit). Every response carries RateLimit-Limit/-Remaining/-Reset; past the limit the
// answer is 429 with Retry-After and an XRPC error body.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { CounterStore } from '../quota/counters.ts';
import { sendXrpcError } from './xrpc-error.ts';

export interface RateLimitRule {
  /** Name of the bucket (part of the counter key). */
  name: string;
  limit: number;
  windowMs: number;
}

export interface RateLimitOptions {
  store: CounterStore;
  /** requestCrawl and notifyOfUpdate: each may make the relay dial out, so they get a much tighter budget. */
  crawl: RateLimitRule;
  /** Every other public request. */
  reads: RateLimitRule;
  now?: () => number;
}

const CRAWL_PATHS = new Set(['/xrpc/com.atproto.sync.requestCrawl', '/xrpc/com.atproto.sync.notifyOfUpdate']);

function ruleFor(req: FastifyRequest, o: RateLimitOptions): RateLimitRule | null {
  const path = req.url.split('?')[0]!;
  // Operators and health checks are not rate-limited here (admin has its own password).
  if (path.startsWith('/admin') || path === '/_health') return null;
  return CRAWL_PATHS.has(path) ? o.crawl : o.reads;
}

export function registerRateLimits(app: FastifyInstance, o: RateLimitOptions): void {
  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    const rule = ruleFor(req, o);
    if (!rule) return;
    const now = (o.now ?? Date.now)();
    const windows = [{ name: rule.name, ms: rule.windowMs, limit: rule.limit }];
    let grant;
    try {
      grant = await o.store.take(`ip:${req.ip}`, 1, windows, now);
    } catch (err) {
      // Counters unavailable: serve rather than fail every request.
      req.log.warn({ err: (err as Error).message }, 'rate-limit counters unavailable');
      return;
    }
    const w = grant.windows[0]!;
    const resetSeconds = Math.max(1, Math.ceil((w.resetAt - now) / 1000));
    reply.header('RateLimit-Limit', String(rule.limit));
    reply.header('RateLimit-Remaining', String(Math.max(0, rule.limit - w.count)));
    reply.header('RateLimit-Reset', String(resetSeconds));
    if (grant.granted === 0) {
      reply.header('Retry-After', String(resetSeconds));
      await sendXrpcError(reply, 429, 'RateLimitExceeded', `rate limit of ${rule.limit} per ${rule.windowMs / 1000}s exceeded`);
    }
  });
}
