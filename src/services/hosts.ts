// Hosts, as operators, PDS admins and the sync API ask about them: admission (an operator's, or a PDS's crawl
// request), limits, tiers, bans, and the views of each host. Changes are written to the database, which announces
// them to every relay process (storage/hosts.ts); what a host is doing right now comes from this process's crawls.
import type { Db } from '../storage/db.ts';
import {
  admitHost,
  banDomain,
  banHost,
  bannedDomainFor,
  disconnectHost,
  getCrawlRequest,
  getHost,
  getHostImport,
  listCrawlRequests,
  listDomainBans,
  listHosts,
  listHostsPage,
  reconnectHost,
  recordCrawlRequest,
  removeHost,
  saveHostImportPage,
  setHostLimits,
  setHostSyncMode,
  setHostTier,
  unbanDomain,
  unbanHost,
  type HostImportRow,
  type HostRow,
} from '../storage/hosts.ts';
import { accountCounts, countThrottledAccounts } from '../storage/accounts.ts';
import { eventCountSeries, eventsLastHour } from '../storage/events.ts';
import { normalizeHostname } from '../core/hostname.ts';
import { CRAWLED_STATUSES, type HostLimits, type HostStatus, type HostTier, type SyncModeSetting } from '../core/hosts.ts';
import type { RejectionLog } from '../core/rejections.ts';
import type { Clock } from '../core/clock.ts';
import { TokenBucket } from '../core/token-bucket.ts';
import { forEachConcurrently } from '../core/concurrently.ts';
import { XrpcError } from '../core/xrpc-error.ts';
import type { Lookup } from '../ingest/address-policy.ts';
import { checkAdmission } from './host-admission.ts';
import type { HostPolicy } from '../quota/trust.ts';
import type { CounterStore } from '../quota/counters.ts';
import { hostScope, hostWindows } from '../quota/host-quota.ts';
import type { RelayConfig } from '../config/config.ts';
import type { StrictnessRow, StrictnessView } from '../verify/strictness.ts';
import { MAX_HOSTS_PAGE, type AdminHost, type HostRecheck, type HostRecheckRequest, type RatesQuery, type RatesView, type RateWindow, type HostImportPage, type HostImportView, type HostLimitsChange, type HostsPage, type HostsQuery, type QuotaWindow } from './contract.ts';

const WINDOW_MINUTES: Record<RateWindow, number> = { '1h': 60, '6h': 360, '24h': 1440 };

/** What this process's crawls say of a host. */
export interface CrawlView {
  isConnected(hostId: number): boolean;
  /** The host's quota counters as last seen here; null when it is not crawled here. */
  quotaWindows(hostId: number): QuotaWindow[] | null;
}

export interface HostsServiceOptions {
  db: Db;
  config: Pick<RelayConfig, 'allowInsecureHosts' | 'crawlPolicy' | 'crawlProbesPerMinute' | 'newHostsPerDay'>;
  policy: HostPolicy;
  rejections: RejectionLog;
  crawls: CrawlView;
  /** How each host is held to the Sync v1.1-only checks (verify/strictness.ts). */
  strictness: { view(row: StrictnessRow): StrictnessView };
  counters: CounterStore;
  clock: Clock;
  /** Name resolution for admission checks (tests stub it; there is no DNS here). */
  lookup: Lookup;
}

/** What a PDS developer is told about how the relay holds their commits to Sync v1.1. */
export function syncExplanation(v: StrictnessView): string {
  const checks = Object.keys(v.lenientPasses);
  if (v.mode === 'strict') {
    return v.setting === 'auto'
      ? `This host has sent valid Sync v1.1 commits, so its commits are held to every Sync v1.1 check (since ${v.strictSince}): a commit without prevData, or whose operations do not invert to it, is refused.`
      : 'An operator holds this host to every Sync v1.1 check: a commit without prevData, or whose operations do not invert to it, is refused.';
  }
  const why = checks.length > 0 ? ` Recent commits failed: ${checks.join(', ')} (missing_prev_data: the commit has no prevData field).` : '';
  const left = Math.max(1, v.ratchetAfter - v.provenCommits);
  const until = v.setting === 'auto' ? ` After ${left} more commit${left === 1 ? '' : 's'} that pass every Sync v1.1 check, the relay holds this host to them for good.` : '';
  return `This relay relays this host's commits leniently: a commit that fails a Sync v1.1-only check is still relayed, and counted.${why} Sync v1.1 expects every #commit to carry prevData (the MST root of the previous commit) and the blocks to invert its operations back to it.${until}`;
}

/** Admission checks a re-check runs at once: each probes a host the relay does not trust. */
const RECHECKS_IN_FLIGHT = 4;

/** Why a crawl request must wait, and for how many seconds. */
export interface CrawlWait {
  retryAfter: number;
  message: string;
}

/** The shared counter of new hosts requestCrawl admitted, per UTC day. */
const NEW_HOSTS_SCOPE = 'new-hosts';
const DAY_MS = 86_400_000;

/** An import's source as stored: the relay's http(s) origin. */
function importSource(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new XrpcError(400, 'InvalidRequest', `${raw} is not a URL`);
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.origin !== raw) {
    throw new XrpcError(400, 'InvalidRequest', `an import source is a relay's origin (https://relay.example), not ${raw}`);
  }
  return url.origin;
}

function importView(source: string, row: HostImportRow | null): HostImportView {
  return {
    source,
    cursor: row?.cursor ?? null,
    admitted: row?.admitted ?? 0,
    refused: row?.refused ?? 0,
    skipped: row?.skipped ?? 0,
    finished: row?.finished ?? false,
    updatedAt: row?.updatedAt.toISOString() ?? null,
  };
}

export class HostsService {
  // Probes are the relay's own outbound traffic on behalf of anonymous callers: one budget for all of them.
  private readonly probes: TokenBucket;
  private readonly o: HostsServiceOptions;

  constructor(o: HostsServiceOptions) {
    this.o = o;
    this.probes = new TokenBucket(o.config.crawlProbesPerMinute / 60, o.config.crawlProbesPerMinute);
  }

  /** A hostname as given by a caller; `allowInsecure` also accepts local development hosts. */
  hostname(raw: unknown, allowInsecure = this.o.config.allowInsecureHosts): string {
    const parsed = normalizeHostname(raw, { allowInsecure });
    if (!parsed.ok) throw new XrpcError(400, 'InvalidRequest', parsed.message);
    return parsed.hostname;
  }

  /** One page of hosts, sorted and filtered in SQL: only that page is described. */
  async list(query: HostsQuery = {}): Promise<HostsPage> {
    const { db, policy, crawls, rejections } = this.o;
    const offset = query.offset ?? 0;
    const limit = query.limit ?? MAX_HOSTS_PAGE;
    const { rows, total } = await listHostsPage(db, {
      sort: query.sort ?? 'hostname',
      order: query.order ?? 'asc',
      ...(query.status ? { status: query.status } : {}),
      ...(query.q ? { q: query.q } : {}),
      offset,
      limit,
    });
    // Counted from the accounts table: the hosts row's account_count column is not maintained.
    const counts = await accountCounts(db, rows.map((h) => h.id));
    const events = await eventsLastHour(db, rows.map((h) => h.id));
    const hosts = rows.map((h): AdminHost => ({
      id: h.id,
      hostname: h.hostname,
      status: h.status as HostStatus,
      cursor: h.cursor,
      accountCount: counts.get(h.id) ?? 0,
      failedAttempts: h.failedAttempts,
      connected: crawls.isConnected(h.id),
      lastEventAt: h.lastEventAt?.toISOString() ?? null,
      lastConnectedAt: h.lastConnectedAt?.toISOString() ?? null,
      lastError: h.lastError,
      lastErrorAt: h.lastErrorAt?.toISOString() ?? null,
      createdAt: h.createdAt.toISOString(),
      tier: policy.tierOf(h),
      promotedAt: h.promotedAt?.toISOString() ?? null,
      limits: { ...policy.limitsOf(h), custom: h.eventsPerHour !== null || h.eventsPerDay !== null || h.accountLimit !== null },
      throttledUntil: h.throttledUntil?.toISOString() ?? null,
      quota: crawls.quotaWindows(h.id),
      sync: this.o.strictness.view(h),
      recentRejections: rejections.recent(h.id).slice(0, 10),
      eventsLastHour: events.get(h.id) ?? 0,
    }));
    return { hosts, total, offset, limit };
  }

  /** Events per minute over the window, of one known host or of all. */
  async rates(query: RatesQuery = {}): Promise<RatesView> {
    const window = query.window ?? '1h';
    const host = query.host === undefined ? null : await this.known(query.host);
    const points = await eventCountSeries(this.o.db, WINDOW_MINUTES[window], host?.id);
    return { window, host: host?.hostname ?? null, stepSeconds: 60, points };
  }

  /**
   * An operator adds a host (or approves its crawl request): crawled from its live head once it passes the same
   * admission checks as a crawl request (no probe budget: operators are not anonymous).
   */
  async add(raw: unknown): Promise<{ hostname: string; status: HostStatus }> {
    const hostname = this.hostname(raw);
    const domain = await bannedDomainFor(this.o.db, hostname);
    if (domain) throw new XrpcError(400, 'HostBanned', `${hostname} is under the banned domain ${domain}`);
    await this.admissible(hostname);
    const host = await admitHost(this.o.db, hostname);
    return { hostname: host.hostname, status: host.status as HostStatus };
  }

  private admissible(hostname: string): Promise<void> {
    return checkAdmission(hostname, { allowInsecureHosts: this.o.config.allowInsecureHosts, lookup: this.o.lookup });
  }

  /**
   * A PDS asks to be crawled (requestCrawl). Refused outright under policy `closed`. A new host must pass the
   * admission checks (a PDS that answers describeServer, from a public address, not a relay) before policy `open`
   * admits it or policy `allowlist` queues it for an operator, so the queue holds only hosts an operator could
   * approve; `open` admits at most RELAY_NEW_HOSTS_PER_DAY new hosts a UTC day, counted in the shared counters so
   * every process takes from one cap. Returns how long to wait when the relay is probing too many new hosts or the
   * day's new hosts are all admitted.
   */
  async requestCrawl(raw: unknown, requesterIp: string | null): Promise<{ wait?: CrawlWait }> {
    const { db, config } = this.o;
    if (config.crawlPolicy === 'closed') {
      throw new XrpcError(403, 'CrawlRequestsClosed', 'this relay does not take crawl requests; its operator adds hosts');
    }
    const hostname = this.hostname(raw);
    const existing = await getHost(db, hostname);
    if (existing?.status === 'banned') throw new XrpcError(400, 'HostBanned', `${hostname} is banned from this relay`);
    const domain = await bannedDomainFor(db, hostname);
    if (domain) throw new XrpcError(400, 'HostBanned', `${hostname} is under the banned domain ${domain}`);
    if (!existing) {
      if (!this.probes.tryTake()) {
        const retryAfter = Math.max(1, Math.ceil(this.probes.waitMs() / 1000));
        return { wait: { retryAfter, message: `the relay is probing too many new hosts; retry in ${retryAfter} s` } };
      }
      await this.admissible(hostname);
      if (config.crawlPolicy !== 'open') {
        await recordCrawlRequest(db, hostname, requesterIp);
        return {};
      }
      const wait = await this.newHostCapFull();
      if (wait) return { wait };
    }
    if (!existing || existing.status === 'idle' || existing.status === 'offline') await admitHost(db, hostname);
    return {};
  }

  /** Takes one of today's new-host admissions; what to answer when there is none left (null: admit). */
  private async newHostCapFull(): Promise<CrawlWait | null> {
    const { counters, clock, config } = this.o;
    if (config.newHostsPerDay === 0) return null;
    const now = clock.now();
    const grant = await counters.take(NEW_HOSTS_SCOPE, 1, [{ name: 'day', ms: DAY_MS, limit: config.newHostsPerDay }], now).catch(() => {
      throw new XrpcError(503, 'CountersUnavailable', 'the relay cannot count new hosts now (its counter store is unreachable); retry later');
    });
    if (grant.granted > 0) return null;
    const retryAfter = Math.max(1, Math.ceil((grant.windows[0]!.resetAt - now) / 1000));
    return { retryAfter, message: `this relay admits ${config.newHostsPerDay} new hosts a day and today's are taken; retry in ${retryAfter} s` };
  }

  /** Sets a host's event quotas and account limit; null restores the tier's default. */
  async setLimits(hostname: string, change: HostLimitsChange): Promise<{ hostname: string; limits: HostLimits }> {
    if (change.perHour === undefined && change.perDay === undefined && change.accountLimit === undefined) {
      throw new XrpcError(400, 'InvalidRequest', 'give perHour, perDay and/or accountLimit');
    }
    const host = await setHostLimits(this.o.db, hostname.toLowerCase(), change);
    if (!host) throw new XrpcError(404, 'HostNotFound', `${hostname} is not known to this relay`);
    return { hostname: host.hostname, limits: this.o.policy.limitsOf(host) };
  }

  async setTier(hostname: string, tier: HostTier): Promise<{ hostname: string; tier: HostTier; limits: HostLimits }> {
    const host = await setHostTier(this.o.db, hostname.toLowerCase(), tier);
    if (!host) throw new XrpcError(404, 'HostNotFound', `${hostname} is not known to this relay`);
    return { hostname: host.hostname, tier: this.o.policy.tierOf(host), limits: this.o.policy.limitsOf(host) };
  }

  async setSyncMode(hostname: string, mode: SyncModeSetting): Promise<{ hostname: string; sync: StrictnessView }> {
    const host = await setHostSyncMode(this.o.db, hostname.toLowerCase(), mode);
    if (!host) throw new XrpcError(404, 'HostNotFound', `${hostname} is not known to this relay`);
    return { hostname: host.hostname, sync: this.o.strictness.view(host) };
  }

  async ban(raw: string): Promise<{ hostname: string; status: 'banned' }> {
    const hostname = this.hostname(raw, true);
    await banHost(this.o.db, hostname);
    return { hostname, status: 'banned' };
  }

  async unban(raw: string): Promise<{ hostname: string; status: 'connecting' }> {
    const hostname = this.hostname(raw, true);
    if (!(await unbanHost(this.o.db, hostname))) throw new XrpcError(404, 'HostNotFound', `${hostname} is not banned`);
    return { hostname, status: 'connecting' };
  }

  /** Drops the host's connection wherever it is crawled; it stays known and disconnected until reconnect. */
  async disconnect(raw: string): Promise<{ hostname: string; status: HostStatus }> {
    const hostname = this.hostname(raw, true);
    if (await disconnectHost(this.o.db, hostname)) return { hostname, status: 'disconnected' };
    throw await this.notInState(hostname, 'crawled');
  }

  /** Dials the host again now, forgetting its failures and backoff (and lifting a disconnect). */
  async reconnect(raw: string): Promise<{ hostname: string; status: HostStatus }> {
    const hostname = this.hostname(raw, true);
    if (await reconnectHost(this.o.db, hostname)) return { hostname, status: 'connecting' };
    throw await this.notInState(hostname, 'crawled or disconnected');
  }

  /** Stops crawling the host and forgets it (storage/hosts.ts removeHost says what is kept); it may be added again. */
  async remove(raw: string): Promise<{ hostname: string; status: HostStatus }> {
    const hostname = this.hostname(raw, true);
    if (await removeHost(this.o.db, hostname)) return { hostname, status: 'removed' };
    throw await this.notInState(hostname, 'removable (a banned host is unbanned first)');
  }

  /**
   * Runs the admission check again on crawled hosts, a few at a time, and with `disconnect` disconnects those that
   * fail (hosts admitted before the check existed, or that became a relay since). A named host that is not crawled
   * is refused before any is checked.
   */
  async recheck(req: HostRecheckRequest): Promise<{ results: HostRecheck[] }> {
    const hostnames = [...new Set(req.hostnames.map((h) => this.hostname(h, true)))];
    for (const hostname of hostnames) {
      const host = await getHost(this.o.db, hostname);
      if (!host || !CRAWLED_STATUSES.includes(host.status as HostStatus)) throw await this.notInState(hostname, 'crawled');
    }
    const results: HostRecheck[] = [];
    await forEachConcurrently(hostnames, RECHECKS_IN_FLIGHT, async (hostname) => {
      results.push(await this.recheckOne(hostname, req.disconnect === true));
    });
    const order = new Map(hostnames.map((h, i) => [h, i]));
    return { results: results.sort((a, b) => order.get(a.hostname)! - order.get(b.hostname)!) };
  }

  private async recheckOne(hostname: string, disconnect: boolean): Promise<HostRecheck> {
    try {
      await this.admissible(hostname);
      return { hostname, ok: true, disconnected: false };
    } catch (err) {
      if (!(err instanceof XrpcError)) throw err;
      // False too when it stopped being crawled meanwhile (another operator's disconnect, a ban).
      const disconnected = disconnect && (await disconnectHost(this.o.db, hostname)) !== null;
      return { hostname, ok: false, error: err.error, message: err.message, disconnected };
    }
  }

  /** The error for a host an operator action does not apply to: unknown, or in the wrong status. */
  private async notInState(hostname: string, wanted: string): Promise<XrpcError> {
    const host = await getHost(this.o.db, hostname);
    if (!host) return new XrpcError(404, 'HostNotFound', `${hostname} is not known to this relay`);
    return new XrpcError(400, 'InvalidRequest', `${hostname} is ${host.status}, not ${wanted}`);
  }

  domainBans(): Promise<string[]> {
    return listDomainBans(this.o.db);
  }

  async banDomain(raw: unknown): Promise<{ domain: string; bannedHosts: string[] }> {
    const domain = this.hostname(String(raw ?? ''), true);
    return { domain, bannedHosts: await banDomain(this.o.db, domain) };
  }

  async unbanDomain(raw: string): Promise<{ domain: string }> {
    const domain = this.hostname(raw, true);
    if (!(await unbanDomain(this.o.db, domain))) throw new XrpcError(404, 'NotFound', `${domain} is not banned`);
    return { domain };
  }

  async crawlRequests(): Promise<Array<{ hostname: string; requestedAt: string; requestCount: number }>> {
    const rows = await listCrawlRequests(this.o.db);
    return rows.map((r) => ({ hostname: r.hostname, requestedAt: r.requestedAt.toISOString(), requestCount: r.requestCount }));
  }

  /** Where an import from `source` (a relay's origin) stands. */
  async hostImport(source: string): Promise<HostImportView> {
    const origin = importSource(source);
    return importView(origin, await getHostImport(this.o.db, origin));
  }

  async saveHostImportPage(source: string, page: HostImportPage): Promise<HostImportView> {
    const origin = importSource(source);
    return importView(origin, await saveHostImportPage(this.o.db, origin, { ...page, cursor: page.cursor ?? null }));
  }

  /** A known host, or HostNotFound. */
  async known(raw: unknown): Promise<HostRow> {
    const hostname = this.hostname(raw);
    const host = await getHost(this.o.db, hostname);
    if (!host) throw new XrpcError(404, 'HostNotFound', `${hostname} is not known to this relay`);
    return host;
  }

  /**
   * What a PDS admin needs to see why their events are (not) flowing, without asking an operator: crawl status,
   * quota usage and reset times, throttling, recent rejections.
   */
  async publicStatus(raw: unknown) {
    const { db, policy, counters, clock, rejections } = this.o;
    const hostname = this.hostname(raw);
    const host = await getHost(db, hostname);
    if (!host) {
      const domain = await bannedDomainFor(db, hostname);
      const request = domain ? null : await getCrawlRequest(db, hostname);
      return {
        hostname,
        known: false as const,
        // Asking again changes nothing while the operator has not decided.
        pending: request !== null,
        message: domain
          ? `this host is under the banned domain ${domain}`
          : request
            ? `a crawl request for this host is waiting for the relay operator's approval (first asked ${request.requestedAt.toISOString()})`
            : 'this relay does not crawl this host; ask it to with com.atproto.sync.requestCrawl',
      };
    }
    const limits = policy.limitsOf(host);
    // Read the shared counters without taking anything from them.
    const usage = await counters.take(hostScope(host.id), 0, hostWindows(limits), clock.now()).then(
      (g) => g.windows.map((w) => ({ window: w.name, count: w.count, limit: w.limit, resetAt: new Date(w.resetAt).toISOString() })),
      () => null,
    );
    const counts = await accountCounts(db, [host.id]);
    return {
      hostname: host.hostname,
      known: true as const,
      // Over the account limit (or their own write budget): their repo events are withheld until released.
      throttledAccounts: await countThrottledAccounts(db, host.id),
      status: host.status as HostStatus,
      seq: host.cursor,
      accountCount: counts.get(host.id) ?? 0,
      lastEventAt: host.lastEventAt?.toISOString() ?? null,
      lastConnectedAt: host.lastConnectedAt?.toISOString() ?? null,
      // The PDS admin's own host: the cause (its DNS, certificate, HTTP answer) is theirs to fix.
      lastError: host.lastError,
      lastErrorAt: host.lastErrorAt?.toISOString() ?? null,
      throttledUntil: host.status === 'throttled' ? (host.throttledUntil?.toISOString() ?? null) : null,
      tier: policy.tierOf(host),
      limits,
      usage,
      sync: { ...this.o.strictness.view(host), explanation: syncExplanation(this.o.strictness.view(host)) },
      // Rejections seen by the relay process answering (the one crawling the host sees them all).
      recentRejections: rejections.recent(host.id).slice(0, 20),
    };
  }

  /** com.atproto.sync.listHosts: hosts in id order after `afterId`, with their account counts. */
  async syncList(afterId: number, limit: number): Promise<Array<{ id: number; row: HostRow; accountCount: number }>> {
    const rows = await listHosts(this.o.db, { afterId, limit });
    const counts = await accountCounts(this.o.db, rows.map((h) => h.id));
    return rows.map((row) => ({ id: row.id, row, accountCount: counts.get(row.id) ?? 0 }));
  }

  async accountCount(hostId: number): Promise<number> {
    return (await accountCounts(this.o.db, [hostId])).get(hostId) ?? 0;
  }
}
