// Host rows: admission, status transitions, operators' settings and the crawl-request queue. A change an operator
// makes is announced on HOSTS_CHANNEL in its own transaction, so every relay process acts on it at once (a ban closes
// the connection wherever the host is crawled) instead of at its next scan.
import { asc, eq, inArray, sql, type AnyColumn } from 'drizzle-orm';
import type { Db } from './db.ts';
import { crawlRequests, domainBans, hostImports, hosts } from './schema.ts';
import { EVENTS_LAST_HOUR } from './events.ts';
import { CRAWLED_STATUSES, effectiveSyncMode, HOST_STATUSES, type HostStatus, type HostTier, type SyncMode, type SyncModeSetting } from '../core/hosts.ts';

export type HostRow = typeof hosts.$inferSelect;

export const HOSTS_CHANNEL = 'relay_hosts';

async function hostsChanged(tx: Db): Promise<void> {
  await tx.execute(sql`SELECT pg_notify(${HOSTS_CHANNEL}, '')`);
}

/** Known hosts (not removed) in id order. */
export async function listHosts(db: Db, opts: { afterId?: number; limit?: number } = {}): Promise<HostRow[]> {
  return db
    .select()
    .from(hosts)
    .where(sql`${hosts.id} > ${opts.afterId ?? 0} AND ${hosts.status} <> 'removed'`)
    .orderBy(asc(hosts.id))
    .limit(opts.limit ?? 1000);
}

export interface HostsPageQuery {
  sort: 'hostname' | 'status' | 'lastEvent' | 'accounts' | 'errors' | 'events';
  order: 'asc' | 'desc';
  status?: HostStatus;
  /** A part of the hostname. */
  q?: string;
  offset: number;
  limit: number;
}

/** One page of hosts for the console, with how many match; ties go by hostname, so pages never overlap. */
export async function listHostsPage(db: Db, o: HostsPageQuery): Promise<{ rows: HostRow[]; total: number }> {
  const dir = o.order === 'desc' ? sql`DESC` : sql`ASC`;
  const key = {
    hostname: sql`${hosts.hostname}`,
    status: sql`${hosts.status}`,
    lastEvent: sql`${hosts.lastEventAt}`,
    // The hosts row's account_count column is not maintained: counted from the accounts table (its host index).
    accounts: sql`(SELECT count(*) FROM accounts a WHERE a.host_id = ${hosts.id})`,
    errors: sql`${hosts.failedAttempts}`,
    events: sql`COALESCE(last_hour.events, 0)`,
  }[o.sort];
  const where = [
    sql`${hosts.status} <> 'removed'`,
    o.status ? sql`${hosts.status} = ${o.status}` : undefined,
    o.q ? sql`strpos(${hosts.hostname}, ${o.q.toLowerCase()}) > 0` : undefined,
  ].filter((w) => w !== undefined);
  const cond = sql.join(where, sql` AND `);
  const query = db.select({ id: hosts.id, total: sql<number>`count(*) OVER ()`.mapWith(Number) }).from(hosts);
  // The last hour is one range of the counts' key (minute first), summed per host once for the whole list.
  const joined =
    o.sort === 'events'
      ? query.leftJoin(
          sql`${EVENTS_LAST_HOUR} last_hour`,
          sql`last_hour.host_id = ${hosts.id}`,
        )
      : query;
  const rows = await joined
    .where(cond)
    .orderBy(sql`${key} ${dir} NULLS LAST`, sql`${hosts.hostname} ${dir}`)
    .limit(o.limit)
    .offset(o.offset);
  if (rows.length === 0) {
    // A page past the end still says how many there are.
    const [c] = await db.select({ n: sql<number>`count(*)`.mapWith(Number) }).from(hosts).where(cond);
    return { rows: [], total: c?.n ?? 0 };
  }
  const full = await db.select().from(hosts).where(inArray(hosts.id, rows.map((r) => r.id)));
  const byId = new Map(full.map((h) => [h.id, h]));
  return { rows: rows.map((r) => byId.get(r.id)!), total: rows[0]!.total };
}

export async function hostsToCrawl(db: Db): Promise<HostRow[]> {
  return db.select().from(hosts).where(inArray(hosts.status, [...CRAWLED_STATUSES])).orderBy(asc(hosts.id));
}

/** A known host (a removed one is not). */
export async function getHost(db: Db, hostname: string): Promise<HostRow | null> {
  const [row] = await db.select().from(hosts).where(sql`${hosts.hostname} = ${hostname} AND ${hosts.status} <> 'removed'`);
  return row ?? null;
}

export async function getHostById(db: Db, id: number): Promise<HostRow | null> {
  const [row] = await db.select().from(hosts).where(eq(hosts.id, id));
  return row ?? null;
}

/**
 * Adds a host to crawl (or re-admits an offline or removed one) and clears its pending crawl request. A new host
 * starts with no cursor, i.e. at the live head, and is `connecting` until its first connection. Banned and
 * disconnected hosts stay so, and a host being crawled keeps the status its connection gave it.
 */
export async function admitHost(db: Db, hostname: string): Promise<HostRow> {
  return db.transaction(async (tx) => {
    const [row] = await tx
      .insert(hosts)
      .values({ hostname, status: 'connecting' })
      .onConflictDoUpdate({
        target: hosts.hostname,
        set: {
          status: sql`CASE WHEN ${hosts.status} IN ('offline', 'removed') THEN 'connecting' ELSE ${hosts.status} END`,
          failedAttempts: sql`CASE WHEN ${hosts.status} = 'offline' THEN 0 ELSE ${hosts.failedAttempts} END`,
          // Added again after removal: a new host, as far as promotion goes.
          createdAt: sql`CASE WHEN ${hosts.status} = 'removed' THEN now() ELSE ${hosts.createdAt} END`,
          updatedAt: sql`now()`,
        },
      })
      .returning();
    await tx.delete(crawlRequests).where(eq(crawlRequests.hostname, hostname));
    await hostsChanged(tx);
    return row!;
  });
}

/** What a status change records beside the status. */
export interface HostStatusExtra {
  failedAttempts?: number;
  /** It connected now. */
  connected?: boolean;
  throttledUntil?: Date | null;
  /** It went over a quota now. */
  throttled?: boolean;
  /** Why its connection failed now. */
  error?: string;
}

/**
 * A crawl's status change (host-lifecycle.ts). Only a crawled host's row takes it: an operator's disconnect, ban or
 * removal made meanwhile (another request, maybe another process) is not undone by a dial that was already failing.
 */
export async function setHostStatus(db: Db, id: number, status: HostStatus, extra: HostStatusExtra = {}): Promise<void> {
  await db
    .update(hosts)
    .set({
      status,
      ...(extra.throttledUntil !== undefined ? { throttledUntil: extra.throttledUntil } : {}),
      ...(extra.failedAttempts !== undefined ? { failedAttempts: extra.failedAttempts } : {}),
      ...(extra.connected ? { lastConnectedAt: sql`now()` } : {}),
      ...(extra.throttled ? { lastThrottledAt: sql`now()` } : {}),
      ...(extra.error !== undefined ? { lastError: extra.error, lastErrorAt: sql`now()` } : {}),
      updatedAt: sql`now()`,
    })
    .where(sql`${hosts.id} = ${id} AND ${hosts.status} IN ${[...CRAWLED_STATUSES]}`);
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

/** The pending crawl request of a host, if it has one. */
export async function getCrawlRequest(db: Db, hostname: string): Promise<typeof crawlRequests.$inferSelect | null> {
  const [row] = await db.select().from(crawlRequests).where(eq(crawlRequests.hostname, hostname));
  return row ?? null;
}

export async function listCrawlRequests(db: Db): Promise<(typeof crawlRequests.$inferSelect)[]> {
  return db.select().from(crawlRequests).orderBy(asc(crawlRequests.requestedAt));
}

export async function setHostLimits(
  db: Db,
  hostname: string,
  limits: { perHour?: number | null; perDay?: number | null; accountLimit?: number | null },
): Promise<HostRow | null> {
  return db.transaction(async (tx) => {
    const [row] = await tx
      .update(hosts)
      .set({
        ...(limits.perHour !== undefined ? { eventsPerHour: limits.perHour } : {}),
        ...(limits.perDay !== undefined ? { eventsPerDay: limits.perDay } : {}),
        ...(limits.accountLimit !== undefined ? { accountLimit: limits.accountLimit } : {}),
        updatedAt: sql`now()`,
      })
      .where(eq(hosts.hostname, hostname))
      .returning();
    if (row) await hostsChanged(tx);
    return row ?? null;
  });
}

/** Sets a host's trust tier; `promoted` records an automatic promotion. */
export async function setHostTier(db: Db, hostname: string, tier: HostTier, promoted = false): Promise<HostRow | null> {
  return db.transaction(async (tx) => {
    const [row] = await tx
      .update(hosts)
      .set({ tier, ...(promoted ? { promotedAt: sql`now()` } : {}), updatedAt: sql`now()` })
      .where(eq(hosts.hostname, hostname))
      .returning();
    if (row) await hostsChanged(tx);
    return row ?? null;
  });
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
    await hostsChanged(tx);
    return banned.map((h) => h.hostname);
  });
}

export async function unbanDomain(db: Db, domain: string): Promise<boolean> {
  const rows = await db.delete(domainBans).where(eq(domainBans.domain, domain)).returning();
  return rows.length > 0;
}

/** Bans one host (creating its row if the relay never saw it) so it is never crawled. */
export async function banHost(db: Db, hostname: string): Promise<void> {
  await db.transaction(async (tx) => {
    await tx
      .insert(hosts)
      .values({ hostname, status: 'banned' })
      .onConflictDoUpdate({ target: hosts.hostname, set: { status: 'banned', updatedAt: sql`now()` } });
    await hostsChanged(tx);
  });
}

/** Lifts a host ban; the host is crawled again (`connecting`) from its saved cursor. Returns false if it was not banned. */
export async function unbanHost(db: Db, hostname: string): Promise<boolean> {
  return db.transaction(async (tx) => {
    const rows = await tx
      .update(hosts)
      .set({ status: 'connecting', failedAttempts: 0, updatedAt: sql`now()` })
      .where(sql`${hosts.hostname} = ${hostname} AND ${hosts.status} = 'banned'`)
      .returning();
    if (rows.length > 0) await hostsChanged(tx);
    return rows.length > 0;
  });
}

/** Drops a crawled host's connection, wherever it is crawled, until reconnectHost. Null: not a crawled host. */
export async function disconnectHost(db: Db, hostname: string): Promise<HostRow | null> {
  return db.transaction(async (tx) => {
    const [row] = await tx
      .update(hosts)
      .set({ status: 'disconnected', updatedAt: sql`now()` })
      .where(sql`${hosts.hostname} = ${hostname} AND ${hosts.status} IN ${[...CRAWLED_STATUSES]}`)
      .returning();
    if (row) await hostsChanged(tx);
    return row ?? null;
  });
}

/**
 * Dials a crawled or disconnected host again now: `connecting`, its failures forgotten (no backoff, not offline),
 * and `redial_at` set, which makes the process crawling it open its crawl afresh. Null: neither.
 */
export async function reconnectHost(db: Db, hostname: string): Promise<HostRow | null> {
  return db.transaction(async (tx) => {
    const [row] = await tx
      .update(hosts)
      .set({ status: 'connecting', failedAttempts: 0, redialAt: sql`now()`, updatedAt: sql`now()` })
      .where(sql`${hosts.hostname} = ${hostname} AND ${hosts.status} IN ${[...CRAWLED_STATUSES, 'disconnected']}`)
      .returning();
    if (row) await hostsChanged(tx);
    return row ?? null;
  });
}

/**
 * Forgets a host that is not banned: no longer crawled or listed, and everything the relay kept of it (cursor,
 * settings, errors) reset, so adding it again starts it over at the live head. The row stays, hidden, because its
 * accounts point at it: their repo state and takedowns are kept (an account whose events come from another host
 * moves there). Null: not a known host, or banned.
 */
export async function removeHost(db: Db, hostname: string): Promise<HostRow | null> {
  return db.transaction(async (tx) => {
    const [row] = await tx
      .update(hosts)
      .set({
        status: 'removed',
        cursor: null,
        cursorAbove: [],
        failedAttempts: 0,
        eventsPerHour: null,
        eventsPerDay: null,
        accountLimit: null,
        tier: 'new',
        syncMode: 'auto',
        syncProven: 0,
        syncStrictSince: null,
        promotedAt: null,
        lastThrottledAt: null,
        throttledUntil: null,
        lastEventAt: null,
        lastConnectedAt: null,
        lastError: null,
        lastErrorAt: null,
        redialAt: null,
        updatedAt: sql`now()`,
      })
      .where(sql`${hosts.hostname} = ${hostname} AND ${hosts.status} NOT IN ('removed', 'banned')`)
      .returning();
    if (row) await hostsChanged(tx);
    return row ?? null;
  });
}

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

/** Pins a host's Sync v1.1 strictness, or returns it to auto (where a ratchet already made stays made). */
export async function setHostSyncMode(db: Db, hostname: string, mode: SyncModeSetting): Promise<HostRow | null> {
  return db.transaction(async (tx) => {
    const [row] = await tx.update(hosts).set({ syncMode: mode, updatedAt: sql`now()` }).where(eq(hosts.hostname, hostname)).returning();
    if (row) await hostsChanged(tx);
    return row ?? null;
  });
}

/** Valid Sync 1.1 commits counted so far towards an auto host's ratchet. */
export async function setHostSyncProven(db: Db, id: number, count: number): Promise<void> {
  await db.update(hosts).set({ syncProven: sql`GREATEST(${hosts.syncProven}, ${count})` }).where(eq(hosts.id, id));
}

/** An auto host turned strict, for good: recorded once, and announced to every process. */
export async function ratchetHostStrict(db: Db, id: number, proven: number): Promise<void> {
  await db.transaction(async (tx) => {
    await tx
      .update(hosts)
      .set({ syncStrictSince: sql`COALESCE(${hosts.syncStrictSince}, now())`, syncProven: sql`GREATEST(${hosts.syncProven}, ${proven})` })
      .where(eq(hosts.id, id));
    await hostsChanged(tx);
  });
}

/** Hosts by the Sync v1.1 mode in force (every mode present), for the relay_host_sync_mode gauge. */
export async function countHostsBySyncMode(db: Db, globalLenient: boolean): Promise<Record<SyncMode, number>> {
  const rows = await db
    .select({ syncMode: hosts.syncMode, strict: sql<boolean>`${hosts.syncStrictSince} IS NOT NULL`, n: sql<number>`count(*)`.mapWith(Number) })
    .from(hosts)
    .where(inArray(hosts.status, [...CRAWLED_STATUSES]))
    .groupBy(hosts.syncMode, sql`${hosts.syncStrictSince} IS NOT NULL`);
  const out: Record<SyncMode, number> = { strict: 0, lenient: 0 };
  for (const r of rows) out[effectiveSyncMode({ syncMode: r.syncMode, syncStrictSince: r.strict ? new Date(0) : null }, globalLenient)] += r.n;
  return out;
}

export type HostImportRow = typeof hostImports.$inferSelect;

export async function getHostImport(db: Db, source: string): Promise<HostImportRow | null> {
  const [row] = await db.select().from(hostImports).where(eq(hostImports.source, source));
  return row ?? null;
}

/**
 * Records that an import read a page: the cursor of the next one (null with `finished`: that was the last) and the
 * page's counts, added to the run's. A run that starts over after a finished one starts its counts from zero.
 */
export async function saveHostImportPage(
  db: Db,
  source: string,
  page: { cursor: string | null; finished: boolean; admitted: number; refused: number; skipped: number; restart: boolean },
): Promise<HostImportRow> {
  const add = (col: AnyColumn, n: number) => (page.restart ? sql`${n}` : sql`${col} + ${n}`);
  const [row] = await db
    .insert(hostImports)
    .values({ source, cursor: page.cursor, finished: page.finished, admitted: page.admitted, refused: page.refused, skipped: page.skipped })
    .onConflictDoUpdate({
      target: hostImports.source,
      set: {
        cursor: page.cursor,
        finished: page.finished,
        admitted: add(hostImports.admitted, page.admitted),
        refused: add(hostImports.refused, page.refused),
        skipped: add(hostImports.skipped, page.skipped),
        updatedAt: sql`now()`,
      },
    })
    .returning();
  return row!;
}
