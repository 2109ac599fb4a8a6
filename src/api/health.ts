import type { FastifyInstance } from 'fastify';
import type { ApiServices } from './services.ts';
import { sendXrpcError } from './xrpc-error.ts';

export function registerHealth(app: FastifyInstance, api: ApiServices): void {
  app.get('/_health', async (_req, reply) => {
    const health = await api.status.health();
    if (!health.ok) return sendXrpcError(reply, 503, 'DatabaseUnavailable', health.message);
    const { ok: _ok, ...body } = health;
    return body;
  });
}
