// Host rows: admission, status transitions and the crawl-request queue.
import { asc, eq, inArray, sql } from 'drizzle-orm';
import type { Db } from './db.ts';
import { crawlRequests, domainBans, hosts } from './schema.ts';

export type HostStatus = 'active' | 'idle' | 'offline' | 'throttled' | 'banned';
export type HostRow = typeof hosts.$inferSelect;

/** Statuses the crawler keeps a subscription open for (offline hosts are retried with a long backoff). */
export const CRAWLED_STATUSES: HostStatus[] = ['active', 'idle', 'offline', 'throttled'];

export async function listHosts(db: Db, opts: { afterId?: number; limit?: number } = {}): Promise<HostRow[]> {
  return db
    .select()
    .from(hosts)
    .where(sql`${hosts.id} > ${opts.afterId ?? 0}`)
    .orderBy(asc(hosts.id))
    .limit(opts.limit ?? 1000);
}

export async function hostsToCrawl(db: Db): Promise<HostRow[]> {
  return db.select().from(hosts).where(inArray(hosts.status, CRAWLED_STATUSES)).orderBy(asc(hosts.id));
}

export async function getHost(db: Db, hostname: string): Promise<HostRow | null> {
  const [row] = await db.select().from(hosts).where(eq(hosts.hostname, hostname));
  return row ?? null;
}

export async function getHostById(db: Db, id: number): Promise<HostRow | null> {
  const [row] = await db.select().from(hosts).where(eq(hosts.id, id));
  return row ?? null;
}

/**
 * Adds a host to crawl (or re-activates an idle/offline one) and clears its pending crawl request. A new host starts
 * with no cursor, i.e. at the live head. Banned hosts stay banned.
 */
export async function admitHost(db: Db, hostname: string): Promise<HostRow> {
  return db.transaction(async (tx) => {
    const [row] = await tx
      .insert(hosts)
      .values({ hostname, status: 'active' })
      .onConflictDoUpdate({
        target: hosts.hostname,
        set: {
          status: sql`CASE WHEN ${hosts.status} = 'banned' THEN ${hosts.status} ELSE 'active' END`,
          failedAttempts: sql`CASE WHEN ${hosts.status} = 'banned' THEN ${hosts.failedAttempts} ELSE 0 END`,
          updatedAt: sql`now()`,
        },
      })
      .returning();
    await tx.delete(crawlRequests).where(eq(crawlRequests.hostname, hostname));
    return row!;
  });
}

export async function setHostStatus(
  db: Db,
  id: number,
  status: HostStatus,
  extra: { failedAttempts?: number; connected?: boolean; throttledUntil?: Date | null; throttled?: boolean } = {},
): Promise<void> {
  await db
    .update(hosts)
    .set({
      status,
      ...(extra.throttledUntil !== undefined ? { throttledUntil: extra.throttledUntil } : {}),
      ...(extra.failedAttempts !== undefined ? { failedAttempts: extra.failedAttempts } : {}),
      ...(extra.connected ? { lastConnectedAt: sql`now()` } : {}),
      ...(extra.throttled ? { lastThrottledAt: sql`now()` } : {}),
      updatedAt: sql`now()`,
    })
    .where(eq(hosts.id, id));
}

export async function recordCrawlRequest(db: Db, hostname: string, requesterIp: string | null): Promise<void> {
  await db
    .insert(crawlRequests)
    .values({ hostname, lastRequesterIp: requesterIp })
    .onConflictDoUpdate({
      target: crawlRequests.hostname,
      set: {
        requestCount: sql`${crawlRequests.requestCount} + 1`,
        requestedAt: sql`now()`,
        lastRequesterIp: sql`excluded.last_requester_ip`,
      },
    });
}

export async function listCrawlRequests(db: Db): Promise<(typeof crawlRequests.$inferSelect)[]> {
  return db.select().from(crawlRequests).orderBy(asc(crawlRequests.requestedAt));
}

export async function setHostLimits(
  db: Db,
  hostname: string,
  limits: { perHour?: number | null; perDay?: number | null; accountLimit?: number | null },
): Promise<HostRow | null> {
  const [row] = await db
    .update(hosts)
    .set({
      ...(limits.perHour !== undefined ? { eventsPerHour: limits.perHour } : {}),
      ...(limits.perDay !== undefined ? { eventsPerDay: limits.perDay } : {}),
      ...(limits.accountLimit !== undefined ? { accountLimit: limits.accountLimit } : {}),
      updatedAt: sql`now()`,
    })
    .where(eq(hosts.hostname, hostname))
    .returning();
  return row ?? null;
}

/** Sets a host's trust tier; `promoted` records an automatic promotion. */
export async function setHostTier(db: Db, hostname: string, tier: 'new' | 'trusted', promoted = false): Promise<HostRow | null> {
  const [row] = await db
    .update(hosts)
    .set({ tier, ...(promoted ? { promotedAt: sql`now()` } : {}), updatedAt: sql`now()` })
    .where(eq(hosts.hostname, hostname))
    .returning();
  return row ?? null;
}

/** The banned domain that covers `hostname` (itself or a parent domain), if any. */
export async function bannedDomainFor(db: Db, hostname: string): Promise<string | null> {
  const name = hostname.split(':')[0]!;
  const labels = name.split('.');
  const candidates = labels.map((_, i) => labels.slice(i).join('.'));
  const rows = await db.select({ domain: domainBans.domain }).from(domainBans).where(inArray(domainBans.domain, candidates));
  return rows[0]?.domain ?? null;
}

export async function listDomainBans(db: Db): Promise<string[]> {
  const rows = await db.select({ domain: domainBans.domain }).from(domainBans).orderBy(asc(domainBans.domain));
  return rows.map((r) => r.domain);
}

/** Bans a domain and every known host under it. Returns the hosts that were banned by it. */
export async function banDomain(db: Db, domain: string): Promise<string[]> {
  return db.transaction(async (tx) => {
    await tx.insert(domainBans).values({ domain }).onConflictDoNothing();
    const banned = await tx
      .update(hosts)
      .set({ status: 'banned', updatedAt: sql`now()` })
      .where(sql`split_part(${hosts.hostname}, ':', 1) = ${domain} OR split_part(${hosts.hostname}, ':', 1) LIKE ${`%.${domain}`}`)
      .returning({ hostname: hosts.hostname });
    return banned.map((h) => h.hostname);
  });
}

export async function unbanDomain(db: Db, domain: string): Promise<boolean> {
  const rows = await db.delete(domainBans).where(eq(domainBans.domain, domain)).returning();
  return rows.length > 0;
}

/** Bans one host (creating its row if the relay never saw it) so it is never crawled. */
export async function banHost(db: Db, hostname: string): Promise<void> {
  await db
    .insert(hosts)
    .values({ hostname, status: 'banned' })
    .onConflictDoUpdate({ target: hosts.hostname, set: { status: 'banned', updatedAt: sql`now()` } });
}

/** Lifts a host ban; the host is crawled again from its saved cursor. Returns false if it was not banned. */
export async function unbanHost(db: Db, hostname: string): Promise<boolean> {
  const rows = await db
    .update(hosts)
    .set({ status: 'active', failedAttempts: 0, updatedAt: sql`now()` })
    .where(sql`${hosts.hostname} = ${hostname} AND ${hosts.status} = 'banned'`)
    .returning();
  return rows.length > 0;
}

export const HOST_STATUSES: readonly HostStatus[] = ['active', 'idle', 'offline', 'throttled', 'banned'];

/** Hosts per status (every status present, zero when none), for the relay_hosts gauge. */
export async function countHostsByStatus(db: Db): Promise<Record<HostStatus, number>> {
  const rows = await db
    .select({ status: hosts.status, n: sql<number>`count(*)`.mapWith(Number) })
    .from(hosts)
    .groupBy(hosts.status);
  const out = Object.fromEntries(HOST_STATUSES.map((s) => [s, 0])) as Record<HostStatus, number>;
  for (const r of rows) out[r.status as HostStatus] = r.n;
  return out;
}
