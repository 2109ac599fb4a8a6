// Upstream hosts as every stage refers to them.

export interface HostRef {
  id: number;
  hostname: string;
}

export type HostStatus = 'active' | 'idle' | 'offline' | 'throttled' | 'banned';

export const HOST_STATUSES: readonly HostStatus[] = ['active', 'idle', 'offline', 'throttled', 'banned'];

/** Statuses the crawler keeps a subscription open for (offline hosts are retried with a long backoff). */
export const CRAWLED_STATUSES: readonly HostStatus[] = ['active', 'idle', 'offline', 'throttled'];

export type HostTier = 'new' | 'trusted';

export interface HostLimits {
  perHour: number;
  perDay: number;
  /** Accounts the host may carry before further ones are throttled. */
  accountLimit: number;
}
