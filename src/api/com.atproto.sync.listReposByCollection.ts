// com.atproto.sync.listReposByCollection, from the collection index the relay keeps from the commits it verifies.
// Beyond today's lexicon, as its pending revision allows: `collection` may repeat (repos with any of them) or be
// left out (every active repo). Inactive accounts (taken down, deactivated, deleted, throttled) are never listed.
import type { FastifyInstance } from 'fastify';
import { isNsid } from '../protocol/syntax.ts';
import { XrpcError } from '../core/xrpc-error.ts';
import { listReposByCollections } from '../storage/collections.ts';
import type { ApiServices } from './services.ts';
import { intParam, numericCursor } from './params.ts';

/** Collections one request may name: each is a range scan of its own, merged. */
export const MAX_COLLECTIONS_PER_REQUEST = 20;

function collectionParams(q: Record<string, unknown>): string[] {
  const raw = q.collection;
  const values = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  const out = new Set<string>();
  for (const v of values) {
    if (typeof v !== 'string' || !isNsid(v)) throw new XrpcError(400, 'InvalidRequest', `collection must be a valid NSID: ${JSON.stringify(v)}`);
    out.add(v);
  }
  if (out.size > MAX_COLLECTIONS_PER_REQUEST) {
    throw new XrpcError(400, 'InvalidRequest', `at most ${MAX_COLLECTIONS_PER_REQUEST} collection params (got ${out.size})`);
  }
  return [...out];
}

export function registerListReposByCollection(app: FastifyInstance, api: ApiServices): void {
  app.get('/xrpc/com.atproto.sync.listReposByCollection', async (req) => {
    const q = req.query as Record<string, unknown>;
    const collections = collectionParams(q);
    const limit = intParam(q, 'limit', { min: 1, max: 2000, default: 500 });
    // The cursor is the last account's uid scanned: accounts never change uid, and new ones get higher uids, so a walk
    // visits each repo once however the index changes meanwhile. A page may list fewer than `limit` repos (inactive
    // accounts are scanned, not listed) and still have a cursor.
    const page = await listReposByCollections(api.db, collections, numericCursor(q), limit);
    return {
      ...(page.cursor !== null ? { cursor: String(page.cursor) } : {}),
      repos: page.repos.map((r) => ({ did: r.did })),
    };
  });
}
