// Persistence behind the identity cache.
import { eq, sql } from 'drizzle-orm';
import type { IdentityStore } from '../identity/cache.ts';
import type { Db } from './db.ts';
import { identities } from './schema.ts';

export function createIdentityStore(db: Db): IdentityStore {
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
