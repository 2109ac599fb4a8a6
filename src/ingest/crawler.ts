// The crawler pool: one subscription per crawlable host that this process has claimed. Claims are PostgreSQL
// session advisory locks, so several relay processes split the hosts between them and a dead process's hosts are
// picked up by the others on their next scan.
import type { Logger } from 'pino';
import type { Database } from '../storage/db.ts';
import { CRAWLED_STATUSES, getHostById, hostsToCrawl, setHostStatus, type HostRow, type HostStatus } from '../storage/hosts.ts';
import type { Sequencer } from '../sequencer/sequencer.ts';
import type { RelayMetrics } from '../metrics.ts';
import type { EventVerifier } from '../verify/types.ts';
import { HostSubscription, type HostStatusChange } from './host-subscription.ts';
import { hostUrls, isLocalDevHost } from './hostname.ts';
import { publicOnlyLookup, type Lookup } from './address-policy.ts';
import type { RejectionLog } from './rejections.ts';
import type { CounterStore } from '../quota/counters.ts';
import { HostQuota, type HostLimits } from '../quota/host-quota.ts';
import type { HostPolicy } from '../quota/trust.ts';
import type { AccountGate } from '../quota/account-gate.ts';
import { setHostTier } from '../storage/hosts.ts';

export interface CrawlerOptions {
  database: Database;
  sequencer: Sequencer;
  verifier: EventVerifier;
  rejections: RejectionLog;
  log: Logger;
  metrics: RelayMetrics;
  allowInsecureHosts: boolean;
  hostMaxPending: number;
  offlineAfterFailures: number;
  reconnectBaseMs: number;
  reconnectMaxMs: number;
  scanIntervalMs: number;
  counters: CounterStore;
  policy: HostPolicy;
  /** Account limits and budgets; absent = none (tests of other stages). */
  gate?: AccountGate;
  /** A new host crawled this long without going over a quota is promoted to trusted (0 = never). */
  promoteAfterMs: number;
  /** A connected host quiet for this long is shown as idle. */
  idleAfterMs: number;
  /** Quota window lengths (tests shorten them); default a UTC hour and day. */
  quotaWindows?: { hourMs: number; dayMs: number };
  /** Drop an upstream connection on which nothing was heard this long (0 = never). */
  upstreamIdleTimeoutMs?: number;
  /** Name resolution for dials; every address must be public (development hosts excepted). */
  lookup?: Lookup;
}

export class Crawler {
  private readonly subs = new Map<number, HostSubscription>();
  private readonly limits = new Map<number, HostLimits>();
  private readonly quotas = new Map<number, HostQuota>();
  private timer: NodeJS.Timeout | null = null;
  private scanning: Promise<void> | null = null;
  private rescan = false;
  private stopped = false;

  private readonly opts: CrawlerOptions;
  constructor(opts: CrawlerOptions) {
    this.opts = opts;
    // If the lock connection drops, this process can no longer prove it owns its hosts: let them go at once.
    opts.database.onClaimsLost(() => {
      opts.log.warn('host claims lost with the database lock connection; stopping subscriptions');
      for (const sub of this.subs.values()) sub.stop();
      this.subs.clear();
      this.kick();
    });
  }

  start(): void {
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.scanning;
    for (const sub of this.subs.values()) sub.stop();
    this.subs.clear();
  }

  /** Host ids this process is subscribed to. */
  get hostIds(): number[] {
    return [...this.subs.keys()];
  }

  isConnected(hostId: number): boolean {
    return this.subs.get(hostId)?.connected ?? false;
  }

  /** Resumes subscriptions paused for backpressure once the sequencer has caught up. */
  onCommitted(hostIds: Iterable<number>): void {
    for (const id of hostIds) this.subs.get(id)?.maybeResume();
  }

  /** Scans the host table now (after an admission or a status change). */
  kick(): void {
    if (this.stopped) return;
    if (this.scanning) {
      this.rescan = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.scanning = this.scan()
      .catch((err: unknown) => this.opts.log.warn({ err }, 'host scan failed'))
      .finally(() => {
        this.scanning = null;
        if (this.stopped) return;
        if (this.rescan) {
          this.rescan = false;
          this.kick();
          return;
        }
        this.timer = setTimeout(() => this.kick(), this.opts.scanIntervalMs);
      });
  }

  /** Stops crawling a host now (ban, idle) and releases its claim. */
  async drop(hostId: number): Promise<void> {
    const sub = this.subs.get(hostId);
    if (!sub) return;
    sub.stop();
    this.subs.delete(hostId);
    this.quotas.delete(hostId);
    await this.opts.database.release(hostId).catch(() => {});
  }

  private async scan(): Promise<void> {
    const { database } = this.opts;
    const wanted = await hostsToCrawl(database.db);
    const wantedIds = new Set(wanted.map((h) => h.id));
    for (const id of [...this.subs.keys()]) if (!wantedIds.has(id)) await this.drop(id);
    for (const host of wanted) {
      if (this.stopped) return;
      this.limits.set(host.id, this.opts.policy.limitsOf(host));
      if (this.subs.has(host.id)) {
        await this.review(host);
        continue;
      }
      if (!(await database.tryClaim(host.id))) continue;
      // Re-read after claiming: another process may have advanced the cursor before releasing the host.
      const fresh = await getHostById(database.db, host.id);
      if (!fresh || !CRAWLED_STATUSES.includes(fresh.status as HostStatus)) {
        await database.release(host.id);
        continue;
      }
      this.subscribe(fresh);
    }
    await this.releaseAccounts();
  }

  /** Lifecycle of a host crawled here: idle when quiet, active again on traffic, promotion after a clean period. */
  private async review(host: HostRow): Promise<void> {
    const { database, idleAfterMs, promoteAfterMs, policy, log } = this.opts;
    const now = Date.now();
    const sub = this.subs.get(host.id);
    if (sub?.connected) {
      const lastHeard = Math.max(host.lastEventAt?.getTime() ?? 0, host.lastConnectedAt?.getTime() ?? 0);
      if (host.status === 'active' && now - lastHeard > idleAfterMs) {
        sub.status = 'idle';
        await setHostStatus(database.db, host.id, 'idle');
      } else if (host.status === 'idle' && now - lastHeard <= idleAfterMs) {
        sub.status = 'active';
        await setHostStatus(database.db, host.id, 'active');
      }
    }
    const cleanSince = Math.max(host.createdAt.getTime(), host.lastThrottledAt?.getTime() ?? 0);
    if (promoteAfterMs > 0 && policy.tierOf(host) === 'new' && host.status !== 'throttled' && now - cleanSince >= promoteAfterMs) {
      await setHostTier(database.db, host.hostname, 'trusted', true);
      this.opts.metrics.hostsPromoted.inc();
      log.info({ hostname: host.hostname }, 'host promoted to trusted after a clean period');
      this.limits.set(host.id, policy.limitsOf({ ...host, tier: 'trusted' }));
    }
  }

  /** Releases throttled accounts where the account limit or budget now allows (a raised limit, a new window). */
  private async releaseAccounts(): Promise<void> {
    const { gate, sequencer } = this.opts;
    if (!gate) return;
    for (const item of await gate.sweep(this.hostIds)) sequencer.submit(item);
  }

  /** The limits in force for a host crawled here (the tier's defaults until its row is read). */
  limitsOf(hostId: number): HostLimits {
    return this.limits.get(hostId) ?? this.opts.policy.tiers.new;
  }

  /** Current quota counters of a host crawled by this process (for operators and PDS admins). */
  quotaOf(hostId: number): HostQuota | undefined {
    return this.quotas.get(hostId);
  }

  private subscribe(host: HostRow): void {
    const { log, allowInsecureHosts } = this.opts;
    this.limits.set(host.id, this.opts.policy.limitsOf(host));
    const quota = new HostQuota({
      store: this.opts.counters,
      hostId: host.id,
      limits: () => this.limits.get(host.id) ?? this.opts.policy.limitsOf(host),
      hourMs: this.opts.quotaWindows?.hourMs,
      dayMs: this.opts.quotaWindows?.dayMs,
    });
    this.quotas.set(host.id, quota);
    // Claimed anew (perhaps after another process crawled it): count its accounts again.
    this.opts.gate?.resetHost(host.id);
    const base = hostUrls(host.hostname, allowInsecureHosts).ws;
    const hostLog = log.child({ host: host.hostname });
    // Re-checked on every dial, not only at admission (development hosts on localhost are allowed when configured).
    const devHost = allowInsecureHosts && isLocalDevHost(host.hostname);
    const lookup =
      this.opts.lookup && !devHost
        ? publicOnlyLookup(this.opts.lookup, (detail) => {
            this.opts.metrics.upstreamDialsRefused.inc({ reason: 'address_not_public' });
            this.opts.rejections.record(host.id, { reason: 'address_not_public', did: '', detail });
            hostLog.warn({ detail }, 'refused to dial a host that resolves to a non-public address');
          })
        : undefined;
    const sub = new HostSubscription({
      host: { id: host.id, hostname: host.hostname },
      cursor: host.cursor,
      url: (cursor) => `${base}/xrpc/com.atproto.sync.subscribeRepos${cursor === null ? '' : `?cursor=${cursor}`}`,
      verifier: this.opts.verifier,
      sequencer: this.opts.sequencer,
      rejections: this.opts.rejections,
      log: hostLog,
      metrics: this.opts.metrics,
      maxPending: this.opts.hostMaxPending,
      reconnectBaseMs: this.opts.reconnectBaseMs,
      reconnectMaxMs: this.opts.reconnectMaxMs,
      onStatus: (change) => {
        sub.status = this.onStatus(host.id, sub.status, change);
      },
      quota,
      gate: this.opts.gate,
      idleTimeoutMs: this.opts.upstreamIdleTimeoutMs || undefined,
      lookup,
    });
    sub.status = host.status;
    this.subs.set(host.id, sub);
    sub.start();
  }

  private onStatus(hostId: number, current: string, change: HostStatusChange): string {
    const { database, log, offlineAfterFailures } = this.opts;
    let next = current;
    const extra: { failedAttempts?: number; connected?: boolean; throttledUntil?: Date | null; throttled?: boolean } = {};
    switch (change.kind) {
      case 'connected':
        next = 'active';
        extra.failedAttempts = 0;
        extra.connected = true;
        extra.throttledUntil = null;
        break;
      case 'failed':
        extra.failedAttempts = change.consecutiveFailures;
        if (change.consecutiveFailures >= offlineAfterFailures) next = 'offline';
        break;
      case 'throttled':
        next = 'throttled';
        extra.throttledUntil = new Date(change.until);
        extra.throttled = true;
        this.opts.metrics.hostsThrottled.inc();
        break;
    }
    setHostStatus(database.db, hostId, next as HostStatus, extra).catch((err: unknown) =>
      log.warn({ err, hostId }, 'could not record host status'),
    );
    return next;
  }
}
