// Account reads for the sync API.
import { and, asc, eq, gt, isNotNull, sql } from 'drizzle-orm';
import type { Db } from './db.ts';
import { accounts, hosts } from './schema.ts';

export type AccountRow = typeof accounts.$inferSelect & { hostname: string };

/**
 * The relay's own view of an account: inactive if an operator acted, the relay throttles it, or the host says so
 * (in that order of precedence).
 */
export function effectiveStatus(a: {
  upstreamActive: boolean;
  upstreamStatus: string | null;
  localStatus: string | null;
  throttled?: string | null;
}): {
  active: boolean;
  status: string | null;
} {
  if (a.localStatus) return { active: false, status: a.localStatus };
  if (a.throttled) return { active: false, status: 'throttled' };
  return { active: a.upstreamActive, status: a.upstreamStatus };
}

export async function getAccount(db: Db, did: string): Promise<AccountRow | null> {
  const [row] = await db
    .select({ account: accounts, hostname: hosts.hostname })
    .from(accounts)
    .innerJoin(hosts, eq(accounts.hostId, hosts.id))
    .where(eq(accounts.did, did));
  return row ? { ...row.account, hostname: row.hostname } : null;
}

/** Accounts with a known repo state, in uid order after `afterUid`. */
export async function listAccounts(db: Db, afterUid: number, limit: number) {
  return db
    .select()
    .from(accounts)
    .where(and(gt(accounts.uid, afterUid), isNotNull(accounts.head), isNotNull(accounts.rev)))
    .orderBy(asc(accounts.uid))
    .limit(limit);
}

export async function accountCounts(db: Db, hostIds: number[]): Promise<Map<number, number>> {
  if (hostIds.length === 0) return new Map();
  const rows = await db
    .select({ hostId: accounts.hostId, n: sql<number>`count(*)::int` })
    .from(accounts)
    .where(sql`${accounts.hostId} in ${hostIds}`)
    .groupBy(accounts.hostId);
  return new Map(rows.map((r) => [r.hostId, Number(r.n)]));
}

export const ACCOUNTS_CHANNEL = 'relay_accounts';

/**
 * Sets or clears the operator status of an account (e.g. 'takendown'), telling every relay process to drop its
 * cached view. Returns the updated account, or null if the relay does not know it.
 */
export async function setLocalStatus(db: Db, did: string, status: string | null): Promise<AccountRow | null> {
  return db.transaction(async (tx) => {
    const [row] = await tx
      .update(accounts)
      .set({ localStatus: status, updatedAt: sql`now()` })
      .where(eq(accounts.did, did))
      .returning();
    if (!row) return null;
    await tx.execute(sql`SELECT pg_notify(${ACCOUNTS_CHANNEL}, ${did})`);
    const [host] = await tx.select({ hostname: hosts.hostname }).from(hosts).where(eq(hosts.id, row.hostId));
    return { ...row, hostname: host?.hostname ?? '' };
  });
}

/** Accounts holding one of a host's slots: not throttled for lack of one, and not deleted. */
export async function countSlotHolders(db: Db, hostId: number): Promise<number> {
  const [row] = await db
    .select({ n: sql<number>`count(*)::int` })
    .from(accounts)
    .where(
      sql`${accounts.hostId} = ${hostId} AND ${accounts.throttled} IS DISTINCT FROM 'host_account_limit'
        AND ${accounts.upstreamStatus} IS DISTINCT FROM 'deleted'`,
    );
  return Number(row?.n ?? 0);
}

export interface HeldAccount {
  did: string;
  hostId: number;
  throttled: string;
  throttledUntil: number | null;
  heldCommit: Uint8Array | null;
  rev: string | null;
}

/** Throttled accounts of the given hosts, oldest first (the order slots are handed out in). */
export async function heldAccounts(db: Db, hostIds: number[]): Promise<HeldAccount[]> {
  const rows = await db
    .select({
      did: accounts.did,
      hostId: accounts.hostId,
      throttled: accounts.throttled,
      throttledUntil: accounts.throttledUntil,
      heldCommit: accounts.heldCommit,
      rev: accounts.rev,
    })
    .from(accounts)
    .where(sql`${accounts.throttled} IS NOT NULL AND ${accounts.hostId} IN ${hostIds}`)
    .orderBy(asc(accounts.uid));
  return rows.map((r) => ({ ...r, throttled: r.throttled!, throttledUntil: r.throttledUntil?.getTime() ?? null }));
}
