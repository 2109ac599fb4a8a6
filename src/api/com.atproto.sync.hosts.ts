// com.atproto.sync.listHosts and getHostStatus: which upstream hosts this relay knows, with their last committed
// upstream seq, account count and status (in the lexicon's words: a host not subscribed to yet is offline).
import type { FastifyInstance } from 'fastify';
import type { HostRow } from '../storage/hosts.ts';
import { lexiconHostStatus, type HostStatus } from '../core/hosts.ts';
import type { ApiServices } from './services.ts';
import { intParam, numericCursor, requiredString } from './params.ts';

function hostView(h: HostRow, count: number) {
  return {
    hostname: h.hostname,
    ...(h.cursor !== null ? { seq: h.cursor } : {}),
    accountCount: count,
    status: lexiconHostStatus(h.status as HostStatus),
  };
}

export function registerHostEndpoints(app: FastifyInstance, api: ApiServices): void {
  app.get('/xrpc/com.atproto.sync.listHosts', async (req) => {
    const q = req.query as Record<string, unknown>;
    const limit = intParam(q, 'limit', { min: 1, max: 1000, default: 200 });
    const rows = await api.hosts.syncList(numericCursor(q), limit);
    return {
      ...(rows.length === limit ? { cursor: String(rows.at(-1)!.id) } : {}),
      hosts: rows.map((h) => hostView(h.row, h.accountCount)),
    };
  });

  app.get('/xrpc/com.atproto.sync.getHostStatus', async (req) => {
    const host = await api.hosts.known(requiredString(req.query as Record<string, unknown>, 'hostname'));
    return hostView(host, await api.hosts.accountCount(host.id));
  });
}
