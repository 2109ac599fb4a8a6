// GET /api/host-status?hostname=…: the public view a PDS admin needs to see why their events are (not) flowing,
// without asking an operator. An extension beside com.atproto.sync.getHostStatus, outside the XRPC namespace on
// purpose.
import type { FastifyInstance } from 'fastify';
import type { ApiServices } from './services.ts';
import { requiredString } from './params.ts';

export const HOST_STATUS_PATH = '/api/host-status';

export function registerHostStatus(app: FastifyInstance, api: ApiServices): void {
  app.get(HOST_STATUS_PATH, async (req) => api.hosts.publicStatus(requiredString(req.query as Record<string, unknown>, 'hostname')));
}
