// The operator API under /admin, declared once: each endpoint's method, path, request body (a schema Fastify
// validates) and response type. The handlers (api/admin.ts), the CLI (cli/admin-client.ts), the console (through
// JSDoc types) and the tests' client (dev-env/relay-client.ts) all take their types from here.
import { HOST_STATUSES, SYNC_MODE_SETTINGS, type HostLimits, type HostStatus, type HostTier } from '../core/hosts.ts';
import type { StrictnessView } from '../verify/strictness.ts';
import type { Rejection } from '../core/rejections.ts';
import { s, type Infer, type Schema } from '../core/schema.ts';
import type { StreamView } from '../core/streams.ts';

/** The `:name` parts of a path. */
export type PathParams<P extends string> = P extends `${string}:${infer Param}/${infer Rest}`
  ? Param | PathParams<`/${Rest}`>
  : P extends `${string}:${infer Param}`
    ? Param
    : never;

export interface Endpoint<Path extends string = string, Body = undefined, Res = unknown, Query = undefined> {
  method: 'GET' | 'POST' | 'DELETE';
  path: Path;
  body?: Schema<Body>;
  /** The query string's parameters (a GET's options), validated like a body. */
  query?: Schema<Query>;
  /** Never set: carries the response type. */
  res?: Res;
}

export type AnyEndpoint = Endpoint<string, unknown, unknown, unknown>;
export type BodyOf<E> = E extends Endpoint<string, infer B, unknown, unknown> ? B : never;
export type QueryOf<E> = E extends Endpoint<string, unknown, unknown, infer Q> ? Q : never;
export type ResponseOf<E> = E extends Endpoint<string, unknown, infer R, unknown> ? R : never;
export type ParamsOf<E> = E extends Endpoint<infer P, unknown, unknown, unknown> ? Record<PathParams<P>, string> : never;

const endpoint =
  <Res>() =>
  <const Path extends string, Body = undefined, Query = undefined>(def: {
    method: Endpoint['method'];
    path: Path;
    body?: Schema<Body>;
    query?: Schema<Query>;
  }): Endpoint<Path, Body, Res, Query> =>
    def;

/** What the hosts list sorts by: the name, status, last event, accounts, failed dials in a row, events in the last hour. */
export const HOST_SORTS = ['hostname', 'status', 'lastEvent', 'accounts', 'errors', 'events'] as const;
export type HostSort = (typeof HOST_SORTS)[number];
export const MAX_HOSTS_PAGE = 1000;

export const hostsQuery = s.object(
  {
    sort: s.literal(...HOST_SORTS),
    order: s.literal('asc', 'desc'),
    status: s.literal(...HOST_STATUSES),
    /** A part of the hostname. */
    q: s.string({ maxLength: 253 }),
    offset: s.integer({ minimum: 0 }),
    limit: s.integer({ minimum: 1, maximum: MAX_HOSTS_PAGE }),
  },
  { optional: ['sort', 'order', 'status', 'q', 'offset', 'limit'] },
);
export type HostsQuery = Infer<typeof hostsQuery>;

export interface QuotaWindow {
  name: string;
  count: number;
  limit: number;
  /** When the window ends (epoch ms). */
  resetAt: number;
}

export interface AdminHost {
  id: number;
  hostname: string;
  status: HostStatus;
  cursor: number | null;
  accountCount: number;
  failedAttempts: number;
  /** Whether the relay process answering holds an open connection to it. */
  connected: boolean;
  lastEventAt: string | null;
  /** Null: it never connected. */
  lastConnectedAt: string | null;
  /** Why its last connection failed or ended (DNS, TCP, TLS, HTTP, or the host's doing), and when. */
  lastError: string | null;
  lastErrorAt: string | null;
  createdAt: string;
  tier: HostTier;
  promotedAt: string | null;
  limits: HostLimits & { custom: boolean };
  throttledUntil: string | null;
  /** Counter state as last seen by the process answering (null when another process crawls the host). */
  quota: QuotaWindow[] | null;
  /** How the host is held to the Sync v1.1-only checks. */
  sync: StrictnessView;
  recentRejections: Rejection[];
  /** Events logged from it over the last hour, by every relay process. */
  eventsLastHour: number;
}

/** A firehose consumer or Jetstream subscriber, as the process serving it describes it. */
export type ConsumerView = StreamView;

/** One page of hosts; `total` counts every host the filter matches. */
export interface HostsPage {
  hosts: AdminHost[];
  total: number;
  offset: number;
  limit: number;
}

export interface RelayStats {
  at: number;
  version: string;
  headSeq: number;
  consumers: number;
  received: number;
  accepted: number;
  rejected: number;
  broadcast: number;
}

export interface AccountStatusView {
  did: string;
  active: boolean;
  status?: string;
}

const limit = (minimum: number) => s.nullable(s.integer({ minimum }));

export const hostLimitsBody = s.object(
  { perHour: limit(1), perDay: limit(1), accountLimit: limit(0) },
  { optional: ['perHour', 'perDay', 'accountLimit'] },
);
export type HostLimitsChange = Infer<typeof hostLimitsBody>;

/** The collection index (listReposByCollection) for the console. */
export interface CollectionsView {
  computedAt: string;
  /** Entries (repo, collection), as PostgreSQL estimates them, and the disk they take. */
  entries: number;
  bytes: number;
  /** Whether `top` was counted (a small index) or read from the planner's statistics. */
  exact: boolean;
  top: Array<{ nsid: string; repos: number }>;
  /** `relay collections backfill` progress per host. */
  backfills: Array<{ hostname: string; state: 'running' | 'finished'; done: number; failed: number; updatedAt: string }>;
}

/** Where `relay hosts import` stands for one source relay. */
export interface HostImportView {
  source: string;
  /** The listHosts cursor of the next page to read (null: from the start). */
  cursor: string | null;
  admitted: number;
  refused: number;
  skipped: number;
  /** The last run read every page: a new one starts over, skipping the hosts already known. */
  finished: boolean;
  updatedAt: string | null;
}

/** `cursor` left out: the page was the last (a null would reach the handler as "", coerced by Fastify's validator). */
export const hostImportPageBody = s.object(
  {
    cursor: s.string(),
    finished: s.boolean(),
    admitted: s.integer({ minimum: 0 }),
    refused: s.integer({ minimum: 0 }),
    skipped: s.integer({ minimum: 0 }),
    restart: s.boolean(),
  },
  { optional: ['cursor'] },
);
export type HostImportPage = Infer<typeof hostImportPageBody>;

// ---- account listings (takedowns, throttled accounts) ----

export const ACCOUNT_LIST_STATUSES = ['takendown', 'throttled'] as const;
export const MAX_ACCOUNTS_PAGE = 1000;

export const accountsQuery = s.object(
  {
    /** takendown: by this relay's operators; throttled: their repo events withheld. */
    status: s.literal(...ACCOUNT_LIST_STATUSES),
    /** Only the accounts of this host. */
    host: s.string({ maxLength: 253 }),
    /** A part of the DID or of the handle. */
    q: s.string({ maxLength: 2048 }),
    offset: s.integer({ minimum: 0 }),
    limit: s.integer({ minimum: 1, maximum: MAX_ACCOUNTS_PAGE }),
  },
  { optional: ['host', 'q', 'offset', 'limit'] },
);
export type AccountsQuery = Infer<typeof accountsQuery>;

export interface AdminAccount {
  did: string;
  /** The handle the account's DID document claims, when the relay has resolved it. */
  handle: string | null;
  /** The host its events last came from (null: none has sent any). */
  hostname: string | null;
  /** Taken down: since when (null for takedowns made before the relay kept the time). */
  takenDownAt: string | null;
  /** Throttled: why, and for a write budget when it resets. */
  throttle: { reason: 'host_account_limit' | 'account_budget'; until: string | null } | null;
}

/** One page of accounts; `total` counts every account the filter matches. */
export interface AccountsPage {
  accounts: AdminAccount[];
  total: number;
  offset: number;
  limit: number;
}

// ---- host admission re-check ----

/** Hosts one re-check request names at most: each is probed (seconds for one that does not answer). */
export const MAX_RECHECK_HOSTS = 100;

export const hostRecheckBody = s.object(
  {
    hostnames: s.array(s.string({ maxLength: 260 }), { minItems: 1, maxItems: MAX_RECHECK_HOSTS }),
    /** Disconnect the hosts that fail, so they are no longer crawled. */
    disconnect: s.boolean(),
  },
  { optional: ['disconnect'] },
);
export type HostRecheckRequest = Infer<typeof hostRecheckBody>;

/** One host's admission check, run again: passed, or why not (the XRPC error admission would answer). */
export interface HostRecheck {
  hostname: string;
  ok: boolean;
  error?: string;
  message?: string;
  /** It failed and was disconnected. */
  disconnected: boolean;
}

// Rates with history, cluster-wide: per minute, from the per-host counts each batch transaction writes.
export const RATE_WINDOWS = ['1h', '6h', '24h'] as const;
export type RateWindow = (typeof RATE_WINDOWS)[number];

export const ratesQuery = s.object(
  {
    window: s.literal(...RATE_WINDOWS),
    /** One host's rates; without it, the relay's. */
    host: s.string({ maxLength: 253 }),
  },
  { optional: ['window', 'host'] },
);
export type RatesQuery = Infer<typeof ratesQuery>;

/** One minute: events logged (relay-wide, also those broadcast) and events dropped by a check. */
export interface RatePoint {
  /** The minute's start (epoch ms); the last point is the minute under way. */
  at: number;
  accepted: number;
  rejected: number;
}

export interface RatesView {
  window: RateWindow;
  /** null: every host. */
  host: string | null;
  stepSeconds: number;
  /** Oldest first, one per minute of the window. */
  points: RatePoint[];
}

export const adminApi = {
  /** A page of hosts, sorted and filtered (without options: by hostname, the first MAX_HOSTS_PAGE). */
  listHosts: endpoint<HostsPage>()({ method: 'GET', path: '/admin/hosts', query: hostsQuery }),
  /** Adds a host (or approves its pending crawl request); it is crawled from its live head. */
  addHost: endpoint<{ hostname: string; status: HostStatus }>()({
    method: 'POST',
    path: '/admin/hosts',
    body: s.object({ hostname: s.string() }),
  }),
  /** Sets a host's event quotas and account limit; null restores the tier's default. */
  setHostLimits: endpoint<{ hostname: string; limits: HostLimits }>()({
    method: 'POST',
    path: '/admin/hosts/:hostname/limits',
    body: hostLimitsBody,
  }),
  setHostTier: endpoint<{ hostname: string; tier: HostTier; limits: HostLimits }>()({
    method: 'POST',
    path: '/admin/hosts/:hostname/tier',
    body: s.object({ tier: s.literal('new', 'trusted') }),
  }),
  /** Pins a host strict or lenient for the Sync v1.1-only checks, or returns it to auto. */
  setHostSyncMode: endpoint<{ hostname: string; sync: StrictnessView }>()({
    method: 'POST',
    path: '/admin/hosts/:hostname/sync-mode',
    body: s.object({ mode: s.literal(...SYNC_MODE_SETTINGS) }),
  }),
  /** Bans a host: its connection closes at once, in every relay process, and its crawl requests are refused. */
  banHost: endpoint<{ hostname: string; status: 'banned' }>()({ method: 'POST', path: '/admin/hosts/:hostname/ban' }),
  unbanHost: endpoint<{ hostname: string; status: 'connecting' }>()({ method: 'POST', path: '/admin/hosts/:hostname/unban' }),
  /** An import's saved progress (`relay hosts import`); a source never imported from reads as not started. */
  getHostImport: endpoint<HostImportView>()({ method: 'GET', path: '/admin/host-imports/:source' }),
  /** An import read a page of the source's listHosts (its hosts admitted through addHost): where to go on from. */
  saveHostImportPage: endpoint<HostImportView>()({ method: 'POST', path: '/admin/host-imports/:source', body: hostImportPageBody }),
  /** Drops the host's connection now, in whichever process crawls it; it stays disconnected until reconnected. */
  disconnectHost: endpoint<{ hostname: string; status: HostStatus }>()({ method: 'POST', path: '/admin/hosts/:hostname/disconnect' }),
  /** Redials the host now, its backoff and failures reset (offline and disconnected hosts too). */
  reconnectHost: endpoint<{ hostname: string; status: HostStatus }>()({ method: 'POST', path: '/admin/hosts/:hostname/reconnect' }),
  /** Stops crawling the host and forgets it; its accounts keep their state. It may be added again. */
  removeHost: endpoint<{ hostname: string; status: HostStatus }>()({ method: 'DELETE', path: '/admin/hosts/:hostname' }),
  listDomainBans: endpoint<{ domains: string[] }>()({ method: 'GET', path: '/admin/domain-bans' }),
  /** Bans a domain and all its subdomains, including hosts already being crawled. */
  banDomain: endpoint<{ domain: string; bannedHosts: string[] }>()({
    method: 'POST',
    path: '/admin/domain-bans',
    body: s.object({ domain: s.string() }),
  }),
  unbanDomain: endpoint<{ domain: string }>()({ method: 'DELETE', path: '/admin/domain-bans/:domain' }),
  listCrawlRequests: endpoint<{ requests: Array<{ hostname: string; requestedAt: string; requestCount: number }> }>()({
    method: 'GET',
    path: '/admin/crawl-requests',
  }),
  /** Firehose consumers and Jetstream subscribers connected to the relay process answering. */
  listConsumers: endpoint<{ consumers: ConsumerView[] }>()({ method: 'GET', path: '/admin/consumers' }),
  /** Cumulative counters of the process answering (the console's totals). */
  stats: endpoint<RelayStats>()({ method: 'GET', path: '/admin/stats' }),
  /** Events per minute over a window (default 1h), of one host or of the whole relay (every process). */
  rates: endpoint<RatesView>()({ method: 'GET', path: '/admin/rates', query: ratesQuery }),
  /** The collection index: size, the collections most repos hold (cached a minute), backfill progress. */
  collections: endpoint<CollectionsView>()({ method: 'GET', path: '/admin/collections' }),
  /** `:did` may be a handle: resolved, and accepted only if the DID's document claims it back. */
  takedownAccount: endpoint<AccountStatusView>()({ method: 'POST', path: '/admin/accounts/:did/takedown' }),
  restoreAccount: endpoint<AccountStatusView>()({ method: 'POST', path: '/admin/accounts/:did/restore' }),
  /** Runs the admission check again on crawled hosts (those admitted before it existed were never checked). */
  recheckHosts: endpoint<{ results: HostRecheck[] }>()({ method: 'POST', path: '/admin/hosts/recheck', body: hostRecheckBody }),
  /** A page of the accounts taken down here, or of the throttled ones (`status`). */
  listAccounts: endpoint<AccountsPage>()({ method: 'GET', path: '/admin/accounts', query: accountsQuery }),
};

export type AdminApi = typeof adminApi;

/** The path of an endpoint with its parameters filled in. */
export function endpointPath(e: AnyEndpoint, params: Record<string, string>): string {
  return e.path.replace(/:(\w+)/g, (_, name: string) => {
    const v = params[name];
    if (v === undefined) throw new Error(`${e.path}: missing parameter ${name}`);
    return encodeURIComponent(v);
  });
}
