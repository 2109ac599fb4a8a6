// Upstream hosts as every stage refers to them.

export interface HostRef {
  id: number;
  hostname: string;
}

/**
 * `active` only while subscribed (idle: subscribed, nothing heard lately); `connecting` from admission until the
 * first connection and again while a lost one is being redialled, until repeated failures make the host `offline`.
 * `disconnected`: an operator dropped the connection, until they reconnect it. `removed`: an operator made the relay
 * forget the host (the row stays for its accounts' sake, hidden, and is reused if the host is added again).
 */
export type HostStatus = 'connecting' | 'active' | 'idle' | 'offline' | 'throttled' | 'disconnected' | 'banned' | 'removed';

export const HOST_STATUSES: readonly HostStatus[] = ['connecting', 'active', 'idle', 'offline', 'throttled', 'disconnected', 'banned', 'removed'];

/** Statuses the crawler keeps a subscription open for (offline hosts are retried with a long backoff). */
export const CRAWLED_STATUSES: readonly HostStatus[] = ['connecting', 'active', 'idle', 'offline', 'throttled'];

/** The statuses com.atproto.sync.defs#hostStatus knows. */
export type LexiconHostStatus = Exclude<HostStatus, 'connecting' | 'disconnected' | 'removed'>;

/** A status as the sync API reports it: a host the relay is not subscribed to is offline, however new or why. */
export function lexiconHostStatus(status: HostStatus): LexiconHostStatus {
  return status === 'connecting' || status === 'disconnected' || status === 'removed' ? 'offline' : status;
}

export type HostTier = 'new' | 'trusted';

export interface HostLimits {
  perHour: number;
  perDay: number;
  /** Accounts the host may carry before further ones are throttled. */
  accountLimit: number;
}

/** How a host's commits are held to the Sync v1.1-only checks, as set: auto ratchets from lenient to strict. */
export type SyncModeSetting = 'auto' | 'strict' | 'lenient';
export const SYNC_MODE_SETTINGS: readonly SyncModeSetting[] = ['auto', 'strict', 'lenient'];

export type SyncMode = 'strict' | 'lenient';

/**
 * The mode in force: RELAY_LENIENT waives the Sync 1.1-only checks everywhere; a pinned mode stands; auto is lenient
 * until the host has proven it speaks Sync 1.1, then strict for good.
 */
export function effectiveSyncMode(host: { syncMode: string; syncStrictSince: Date | null }, globalLenient: boolean): SyncMode {
  if (globalLenient) return 'lenient';
  if (host.syncMode === 'strict' || host.syncMode === 'lenient') return host.syncMode;
  return host.syncStrictSince ? 'strict' : 'lenient';
}
