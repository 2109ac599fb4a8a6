// The status of each host crawled by this process, as operators and PDS admins see it: active while connected,
// connecting until then (and while a lost connection is redialled), offline after repeated failures, throttled over
// quota, idle when quiet; the last connection error with its cause; and promotion of a new host to trusted
// after a clean period. Transitions are pure (nextStatus, reviewHost); this class persists them.
import type { Logger } from 'pino';
import type { Db } from '../storage/db.ts';
import { setHostStatus, setHostTier, type HostRow, type HostStatusExtra } from '../storage/hosts.ts';
import type { HostStatus, HostTier } from '../core/hosts.ts';
import type { RelayMetrics } from '../metrics.ts';
import type { HostStatusChange } from './upstream.ts';

/** A host's status after a change of its connection, and what else to record with it. */
export function nextStatus(current: HostStatus, change: HostStatusChange, offlineAfterFailures: number): { status: HostStatus; extra: HostStatusExtra } {
  switch (change.kind) {
    case 'connected':
      return { status: 'active', extra: { failedAttempts: 0, connected: true, throttledUntil: null } };
    case 'failed':
      // Not subscribed any more, so not active; offline stays offline until a connection succeeds.
      return {
        status: change.consecutiveFailures >= offlineAfterFailures || current === 'offline' ? 'offline' : 'connecting',
        extra: { failedAttempts: change.consecutiveFailures, error: change.error },
      };
    case 'throttled':
      return { status: 'throttled', extra: { throttledUntil: new Date(change.until), throttled: true } };
  }
}

export interface HostReview {
  /** The status to record, when it changes. */
  status?: HostStatus;
  /** Promote the host to trusted. */
  promote?: boolean;
}

/**
 * What a periodic look at a connected host changes: idle when it has sent nothing for `idleAfterMs`, active again on
 * traffic, and promoted when it stayed `new` and clear of its quotas for `promoteAfterMs` (0: never).
 */
export function reviewHost(
  host: Pick<HostRow, 'status' | 'lastEventAt' | 'lastConnectedAt' | 'createdAt' | 'lastThrottledAt'>,
  o: { connected: boolean; tier: HostTier; now: number; idleAfterMs: number; promoteAfterMs: number },
): HostReview {
  const out: HostReview = {};
  if (o.connected) {
    const lastHeard = Math.max(host.lastEventAt?.getTime() ?? 0, host.lastConnectedAt?.getTime() ?? 0);
    const quiet = o.now - lastHeard > o.idleAfterMs;
    if (host.status === 'active' && quiet) out.status = 'idle';
    else if (host.status === 'idle' && !quiet) out.status = 'active';
  }
  const cleanSince = Math.max(host.createdAt.getTime(), host.lastThrottledAt?.getTime() ?? 0);
  if (o.promoteAfterMs > 0 && o.tier === 'new' && host.status !== 'throttled' && o.now - cleanSince >= o.promoteAfterMs) out.promote = true;
  return out;
}

export interface HostLifecycleOptions {
  db: Db;
  log: Logger;
  metrics: RelayMetrics;
  offlineAfterFailures: number;
  idleAfterMs: number;
  promoteAfterMs: number;
  tierOf: (host: HostRow) => HostTier;
}

export class HostLifecycle {
  /** The status last recorded for each host crawled here. */
  private readonly statuses = new Map<number, HostStatus>();
  private readonly o: HostLifecycleOptions;

  constructor(o: HostLifecycleOptions) {
    this.o = o;
  }

  /** A host this process starts crawling, with its recorded status. */
  track(host: HostRow): void {
    this.statuses.set(host.id, host.status as HostStatus);
  }

  untrack(hostId: number): void {
    this.statuses.delete(hostId);
  }

  /** The host's connection changed. */
  changed(hostId: number, change: HostStatusChange): void {
    const { status, extra } = nextStatus(this.statuses.get(hostId) ?? 'connecting', change, this.o.offlineAfterFailures);
    this.statuses.set(hostId, status);
    if (change.kind === 'throttled') this.o.metrics.hostsThrottled.inc();
    setHostStatus(this.o.db, hostId, status, extra).catch((err: unknown) => this.o.log.warn({ err, hostId }, 'could not record host status'));
  }

  /** Idle, active again, promoted: for a host crawled here, at each scan. */
  async review(host: HostRow, connected: boolean): Promise<void> {
    const { db, log, idleAfterMs, promoteAfterMs } = this.o;
    const r = reviewHost(host, { connected, tier: this.o.tierOf(host), now: Date.now(), idleAfterMs, promoteAfterMs });
    if (r.status) {
      this.statuses.set(host.id, r.status);
      await setHostStatus(db, host.id, r.status);
    }
    if (r.promote) {
      await setHostTier(db, host.hostname, 'trusted', true);
      this.o.metrics.hostsPromoted.inc();
      log.info({ host: host.hostname }, 'host promoted to trusted after a clean period');
    }
  }
}
