// Persistence behind the identity cache (src/identity/cache.ts's IdentityStore).
import { eq, sql } from 'drizzle-orm';
import type { Db } from './db.ts';
import { identities } from './schema.ts';

export interface StoredIdentities {
  load(did: string): Promise<{ doc: unknown; resolvedAt: number } | null>;
  save(did: string, doc: unknown, resolvedAt: number): Promise<void>;
}

export function createIdentityStore(db: Db): StoredIdentities {
  return {
    async load(did) {
      const [row] = await db.select().from(identities).where(eq(identities.did, did));
      return row ? { doc: row.doc, resolvedAt: row.resolvedAt.getTime() } : null;
    },
    async save(did, doc, resolvedAt) {
      const at = new Date(resolvedAt);
      await db
        .insert(identities)
        .values({ did, doc, resolvedAt: at })
        .onConflictDoUpdate({ target: identities.did, set: { doc: sql`excluded.doc`, resolvedAt: at } });
    },
  };
}
