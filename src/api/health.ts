import type { FastifyInstance } from 'fastify';
import type { RelayContext } from '../context.ts';

export function registerHealth(app: FastifyInstance, ctx: RelayContext): void {
  app.get('/_health', async (_req, reply) => {
    try {
      await ctx.database.ping();
    } catch (err) {
      return reply.code(503).send({ error: 'DatabaseUnavailable', message: (err as Error).message });
    }
    // Without the quota counters the relay still serves the firehose, but holds its hosts: degraded, not down.
    const counters = ctx.counters.available() ? 'ok' : 'unavailable';
    return { status: counters === 'ok' ? 'ok' : 'degraded', version: ctx.version, seq: ctx.hub.lastSeq, counters, countersKind: ctx.counters.kind };
  });

  app.get('/metrics', async (_req, reply) => {
    const body = await ctx.metrics.registry.metrics();
    return reply.type(ctx.metrics.registry.contentType).send(body);
  });
}
