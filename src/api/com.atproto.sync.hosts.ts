// com.atproto.sync.listHosts and getHostStatus: which upstream hosts this relay knows, with their last committed
// upstream seq, account count and status.
import type { FastifyInstance } from 'fastify';
import { normalizeHostname } from '../ingest/hostname.ts';
import { getHost, listHosts, type HostRow } from '../storage/hosts.ts';
import { accountCounts } from '../storage/accounts.ts';
import type { RelayContext } from '../context.ts';
import { intParam, numericCursor, requiredString } from './params.ts';
import { XrpcError } from './xrpc-error.ts';

function hostView(h: HostRow, count: number) {
  return {
    hostname: h.hostname,
    ...(h.cursor !== null ? { seq: h.cursor } : {}),
    accountCount: count,
    status: h.status,
  };
}

export function registerHostEndpoints(app: FastifyInstance, ctx: RelayContext): void {
  app.get('/xrpc/com.atproto.sync.listHosts', async (req) => {
    const q = req.query as Record<string, unknown>;
    const limit = intParam(q, 'limit', { min: 1, max: 1000, default: 200 });
    const after = numericCursor(q);
    const rows = await listHosts(ctx.database.db, { afterId: after, limit });
    const counts = await accountCounts(ctx.database.db, rows.map((h) => h.id));
    return {
      ...(rows.length === limit ? { cursor: String(rows.at(-1)!.id) } : {}),
      hosts: rows.map((h) => hostView(h, counts.get(h.id) ?? 0)),
    };
  });

  app.get('/xrpc/com.atproto.sync.getHostStatus', async (req) => {
    const q = req.query as Record<string, unknown>;
    const parsed = normalizeHostname(requiredString(q, 'hostname'), { allowInsecure: ctx.config.allowInsecureHosts });
    if (!parsed.ok) throw new XrpcError(400, 'InvalidRequest', parsed.message);
    const host = await getHost(ctx.database.db, parsed.hostname);
    if (!host) throw new XrpcError(404, 'HostNotFound', `${parsed.hostname} is not known to this relay`);
    const counts = await accountCounts(ctx.database.db, [host.id]);
    return hostView(host, counts.get(host.id) ?? 0);
  });
}
