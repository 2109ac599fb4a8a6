// Persistence behind the identity cache (src/identity/cache.ts's IdentityStore): documents read and written many
// per round trip, because first-seen accounts arrive in bursts.
import { sql } from 'drizzle-orm';
import { arrayParam } from './pg-array.ts';
import type { Db } from './db.ts';
import { identities } from './schema.ts';

export interface StoredIdentities {
  loadMany(dids: string[]): Promise<Array<{ doc: unknown; resolvedAt: number } | null>>;
  /** Each document as the JSON text it was fetched as. */
  saveMany(entries: Array<{ did: string; json: string; resolvedAt: number }>): Promise<void>;
}

export function createIdentityStore(db: Db): StoredIdentities {
  return {
    async loadMany(dids) {
      const res = await db.execute(sql`
        SELECT did, doc, resolved_at FROM ${identities} WHERE did = ANY(${arrayParam(dids)}::text[])`);
      const rows = (res as unknown as { rows: Array<{ did: string; doc: unknown; resolved_at: Date | string }> }).rows;
      const byDid = new Map(rows.map((r) => [r.did, { doc: typeof r.doc === 'string' ? JSON.parse(r.doc) : r.doc, resolvedAt: new Date(r.resolved_at).getTime() }]));
      return dids.map((did) => byDid.get(did) ?? null);
    },
    async saveMany(entries) {
      // The last document of a DID wins when a batch holds two.
      const latest = [...new Map(entries.map((e) => [e.did, e])).values()];
      // The documents as one JSON array (joined as fetched, not serialised again): as a text[], each would be escaped
      // into the array literal, quote by quote.
      await db.execute(sql`
        INSERT INTO ${identities} (did, doc, resolved_at)
        SELECT t.d, j.doc, t.at
        FROM unnest(${arrayParam(latest.map((e) => e.did))}::text[], ${arrayParam(latest.map((e) => new Date(e.resolvedAt).toISOString()))}::timestamptz[])
          WITH ORDINALITY AS t(d, at, n)
        JOIN jsonb_array_elements(${`[${latest.map((e) => e.json).join(',')}]`}::jsonb) WITH ORDINALITY AS j(doc, n) USING (n)
        ON CONFLICT (did) DO UPDATE SET doc = excluded.doc, resolved_at = excluded.resolved_at`);
    },
  };
}
