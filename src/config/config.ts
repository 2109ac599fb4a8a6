// Typed configuration: defaults from config/default.json, overridden by environment variables, validated once at
// start-up and then passed down. No other module reads process.env.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export type CrawlPolicy = 'allowlist' | 'open' | 'closed';
/** all: crawls, verifies, sequences and serves; fanout: serves the streams from the shared log and crawls nothing. */
export type RelayRole = 'all' | 'fanout';

export interface RelayConfig {
  /** production refuses to start without an admin password. */
  nodeEnv: 'development' | 'production' | 'test';
  port: number;
  /** Port of GET /metrics, apart from the public API (0: any free port). */
  metricsPort: number;
  /** Per-host series (relay_host_events_total, relay_host_rejections_total): off for a relay with very many hosts. */
  metricsHostLabel: boolean;
  bindHost: string;
  /** Take the client address from X-Forwarded-For (only behind a reverse proxy you control). */
  trustProxy: boolean;
  /** PostgreSQL URL; null selects the embedded PGlite store under dataDir. */
  databaseUrl: string | null;
  dataDir: string;
  /** Redis URL; null selects in-process counters. */
  redisUrl: string | null;
  /** Prefix of every Redis key, so several relays can share one Redis. */
  redisPrefix: string;
  plcUrl: string;
  adminPassword: string | null;
  /** Allow ws:// and http:// upstreams and localhost:PORT hostnames (development and tests). */
  allowInsecureHosts: boolean;
  crawlPolicy: CrawlPolicy;
  role: RelayRole;
  /** Sync v1.1-only verification failures are counted warnings instead of rejections, for every host. */
  lenient: boolean;
  /** Valid Sync 1.1 commits after which a host in auto mode is held to the Sync 1.1-only checks for good. */
  syncRatchetCommits: number;
  /** Worker threads verifying commits; -1 = one per CPU core, 0 = on the main thread. */
  verifyWorkers: number;
  replayWindowMs: number;
  /** How long one partition of the event log spans (retention drops whole partitions). */
  eventLogPartitionMs: number;
  logLevel: string;
  /** pretty: one readable line per entry; json: one JSON object per line; auto: pretty on a terminal, else json. */
  logFormat: 'auto' | 'json' | 'pretty';
  batchMaxDelayMs: number;
  batchMaxEvents: number;
  /** Events buffered per host before its socket is paused. */
  hostMaxPending: number;
  consumerMaxBufferBytes: number;
  /** Frame bytes of the latest broadcast batches kept in memory, from which readers a little behind live catch up. */
  fanoutRecentBytes: number;
  /** Frame bytes of log pages kept after a reader behind live read them, for the other readers (firehose/log-pages.ts). */
  replaySharedBytes: number;
  /** Frames queued to one consumer before it gets ConsumerTooSlow. */
  consumerMaxBufferFrames: number;
  /** A consumer whose queued bytes make no progress for this long is disconnected. */
  consumerWriteTimeoutMs: number;
  /** A consumer that answers no ping for this long is disconnected (pings go out four times per period). */
  consumerIdleTimeoutMs: number;
  /** A consumer behind live for a whole period that reads fewer events a second than this gets ConsumerTooSlow (0: never). */
  consumerMinRate: number;
  consumerMinRatePeriodMs: number;
  /** Cap on the replay window's frame bytes (0 = no cap; the age window applies either way). */
  replayMaxBytes: number;
  /** Concurrent firehose connections allowed from one client address. */
  maxConsumersPerIp: number;
  /** Serve the Jetstream-compatible JSON stream at /subscribe. */
  jetstream: boolean;
  hostOfflineAfterFailures: number;
  /** Default event quota per host (UTC calendar hour and day). */
  hostEventsPerHour: number;
  hostEventsPerDay: number;
  /** Accounts a new host may carry; accounts beyond it are throttled (their repo events withheld). */
  hostAccountLimit: number;
  /** Hostname patterns (comma-separated, `*.` for any subdomain) that get the trusted tier's limits. */
  trustedHosts: string | null;
  trustedEventsPerHour: number;
  trustedEventsPerDay: number;
  trustedAccountLimit: number;
  /** A new host that has stayed clear of its quotas this long is promoted to trusted (0 = never). */
  promoteAfterMs: number;
  /** A connected host that sends nothing for this long is shown as idle. */
  hostIdleAfterMs: number;
  /** Per-account write budget in points (create 3, update 2, delete 1); 0 turns the window off. */
  accountPointsPerHour: number;
  accountPointsPerDay: number;
  /** Public HTTP requests per client IP per 5 minutes. */
  rateLimitReadsPer5Min: number;
  /** requestCrawl calls per client IP per hour. */
  rateLimitCrawlsPerHour: number;
  reconnectMaxDelayMs: number;
  /** Drop an upstream connection on which nothing (frame or pong) was heard this long. */
  upstreamIdleTimeoutMs: number;
  /** Requests per second to the PLC directory, across all hosts. */
  didResolutionsPerSecond: number;
  /** PLC directory requests in flight at once (enough to hide its latency: rate x latency). */
  didResolutionConcurrency: number;
  /** Memory for cached identities and account states, in MiB each. */
  identityCacheMb: number;
  accountCacheMb: number;
  /** Outbound requestCrawl probes per minute, across all callers. */
  crawlProbesPerMinute: number;
  newHostsPerDay: number;
  /** Keep the collection index (listReposByCollection) from accepted commits. */
  collectionIndex: boolean;
  /** Requests per minute to one PDS for the collection index (look-ups after commits, and the backfill). */
  collectionLookupsPerMinute: number;
  /** RELAY_* variables in the environment that name no setting, each with the nearest one (warned at start). */
  unknownVariables: readonly string[];
}

interface Field {
  key: Exclude<keyof RelayConfig, 'unknownVariables'>;
  env: string;
  /** Key in config/default.json when it differs from `key`. */
  fileKey?: string;
  kind: 'int' | 'string' | 'nullableString' | 'bool' | 'duration' | 'enum' | 'url' | 'nullableUrl';
  values?: readonly string[];
  min?: number;
  max?: number;
  doc: string;
}

/** The configuration reference: every setting, its variable and meaning. */
export const CONFIG_FIELDS: readonly Field[] = [
  { key: 'nodeEnv', env: 'NODE_ENV', kind: 'enum', values: ['development', 'production', 'test'], doc: 'production refuses to start without RELAY_ADMIN_PASSWORD' },
  { key: 'port', env: 'RELAY_PORT', kind: 'int', min: 0, max: 65535, doc: 'HTTP and WebSocket port' },
  { key: 'metricsPort', env: 'RELAY_METRICS_PORT', kind: 'int', min: 0, max: 65535, doc: 'Port of GET /metrics (Prometheus), on RELAY_BIND_HOST; keep it off the public proxy and let only Prometheus reach it (0 = any free port)' },
  { key: 'bindHost', env: 'RELAY_BIND_HOST', kind: 'string', doc: 'Address to listen on' },
  { key: 'metricsHostLabel', env: 'RELAY_METRICS_HOST_LABEL', kind: 'bool', doc: 'Export per-host event and rejection counters (a series per host, and per host and reason); turn off when thousands of hosts make them too many' },
  { key: 'trustProxy', env: 'RELAY_TRUST_PROXY', kind: 'bool', doc: 'Take client addresses from X-Forwarded-For (only behind your own reverse proxy)' },
  { key: 'databaseUrl', env: 'DATABASE_URL', kind: 'nullableUrl', doc: 'PostgreSQL URL; unset = embedded store in RELAY_DATA_DIR' },
  { key: 'dataDir', env: 'RELAY_DATA_DIR', kind: 'string', doc: 'Directory of the embedded store' },
  { key: 'redisUrl', env: 'REDIS_URL', kind: 'nullableUrl', doc: 'Redis URL; unset = in-process counters' },
  { key: 'redisPrefix', env: 'RELAY_REDIS_PREFIX', kind: 'string', doc: 'Prefix of every Redis key (to share one Redis between relays)' },
  { key: 'plcUrl', env: 'RELAY_PLC_URL', kind: 'url', doc: 'PLC directory used to resolve did:plc' },
  { key: 'adminPassword', env: 'RELAY_ADMIN_PASSWORD', kind: 'nullableString', doc: 'Password of the /admin API; unset = admin API disabled' },
  { key: 'allowInsecureHosts', env: 'RELAY_ALLOW_INSECURE_HOSTS', kind: 'bool', doc: 'Allow ws:// upstreams and localhost:PORT hosts (development only)' },
  { key: 'role', env: 'RELAY_ROLE', kind: 'enum', values: ['all', 'fanout'], doc: 'fanout: serve the firehose and Jetstream from the shared database, crawl nothing (add such processes for consumer capacity)' },
  { key: 'crawlPolicy', env: 'RELAY_CRAWL_POLICY', kind: 'enum', values: ['allowlist', 'open', 'closed'], doc: 'open: requestCrawl admits a reachable host; allowlist: an operator approves it; closed: requestCrawl is refused (operators add hosts)' },
  { key: 'lenient', env: 'RELAY_LENIENT', kind: 'bool', doc: 'Let commits that fail Sync v1.1-only checks (prevData, inversion) through from every host, counted as warnings' },
  { key: 'syncRatchetCommits', env: 'RELAY_SYNC_RATCHET_COMMITS', kind: 'int', min: 1, doc: 'Valid Sync v1.1 commits after which a host in auto mode is held to the Sync v1.1-only checks for good (until then they are counted warnings)' },
  { key: 'verifyWorkers', env: 'RELAY_VERIFY_WORKERS', kind: 'int', min: -1, max: 64, doc: 'Worker threads that verify commits (signatures, MST proofs); -1 = one per CPU core, 0 = on the main thread' },
  { key: 'replayWindowMs', env: 'RELAY_REPLAY_WINDOW', fileKey: 'replayWindow', kind: 'duration', doc: 'How long events stay available for cursor replay (e.g. 72h)' },
  { key: 'eventLogPartitionMs', env: 'RELAY_EVENT_LOG_PARTITION', fileKey: 'eventLogPartition', kind: 'duration', doc: 'How long one partition of the event log spans at the current rate; retention drops whole partitions, so the log holds the window plus up to one partition' },
  { key: 'replayMaxBytes', env: 'RELAY_REPLAY_MAX_BYTES', kind: 'int', min: 0, doc: 'Cap on the frame bytes kept for replay, oldest pruned first (0 = no cap; estimated from recent frame sizes)' },
  { key: 'logLevel', env: 'RELAY_LOG_LEVEL', kind: 'enum', values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], doc: 'Log level' },
  { key: 'logFormat', env: 'RELAY_LOG_FORMAT', kind: 'enum', values: ['auto', 'json', 'pretty'], doc: 'Log lines: json (one object per line, for collectors), pretty (readable), auto (pretty when stdout is a terminal, json otherwise)' },
  { key: 'batchMaxDelayMs', env: 'RELAY_BATCH_MAX_DELAY_MS', kind: 'int', min: 0, max: 1000, doc: 'Longest wait before accepted events are written as one batch' },
  { key: 'batchMaxEvents', env: 'RELAY_BATCH_MAX_EVENTS', kind: 'int', min: 1, max: 10000, doc: 'Most events written in one transaction' },
  { key: 'hostMaxPending', env: 'RELAY_HOST_MAX_PENDING', kind: 'int', min: 1, doc: 'Events buffered per host before its socket is paused, those of accounts whose identity is being resolved aside (of which four times as many)' },
  { key: 'consumerMaxBufferBytes', env: 'RELAY_CONSUMER_MAX_BUFFER_BYTES', kind: 'int', min: 1048576, doc: 'Bytes queued to one consumer before it goes back to reading the log at its own pace' },
  { key: 'replaySharedBytes', env: 'RELAY_REPLAY_SHARED_BYTES', kind: 'int', min: 0, doc: 'Frame bytes of log pages kept after a reader behind live read them, for other readers at nearby places (0: only reads in flight are shared)' },
  { key: 'fanoutRecentBytes', env: 'RELAY_FANOUT_RECENT_BYTES', kind: 'int', min: 0, doc: 'Frame bytes of the latest events kept in memory, shared by every reader: one that fell a little behind live catches up from them instead of the log (0: always the log)' },
  { key: 'consumerMaxBufferFrames', env: 'RELAY_CONSUMER_MAX_BUFFER_FRAMES', kind: 'int', min: 1, doc: 'Frames queued to one consumer before it goes back to reading the log at its own pace' },
  { key: 'consumerMinRate', env: 'RELAY_CONSUMER_MIN_RATE', kind: 'int', min: 0, doc: 'Events/s a consumer behind live must read over a whole period, or it gets ConsumerTooSlow (0: never)' },
  { key: 'consumerMinRatePeriodMs', env: 'RELAY_CONSUMER_MIN_RATE_PERIOD', fileKey: 'consumerMinRatePeriod', kind: 'duration', doc: 'The period over which RELAY_CONSUMER_MIN_RATE is measured' },
  { key: 'consumerWriteTimeoutMs', env: 'RELAY_CONSUMER_WRITE_TIMEOUT', fileKey: 'consumerWriteTimeout', kind: 'duration', doc: 'A consumer whose queued data makes no progress for this long is disconnected' },
  { key: 'consumerIdleTimeoutMs', env: 'RELAY_CONSUMER_IDLE_TIMEOUT', fileKey: 'consumerIdleTimeout', kind: 'duration', doc: 'A consumer that answers no ping for this long is disconnected (pinged four times per period)' },
  { key: 'hostEventsPerHour', env: 'RELAY_HOST_EVENTS_PER_HOUR', kind: 'int', min: 1, doc: 'Events a host may send per UTC hour before it is throttled until the hour ends' },
  { key: 'hostEventsPerDay', env: 'RELAY_HOST_EVENTS_PER_DAY', kind: 'int', min: 1, doc: 'Events a host may send per UTC day before it is throttled until the day ends' },
  { key: 'hostAccountLimit', env: 'RELAY_HOST_ACCOUNT_LIMIT', kind: 'int', min: 0, doc: 'Accounts a new host may carry; further accounts are throttled (repo events withheld) until a slot frees' },
  { key: 'trustedHosts', env: 'RELAY_TRUSTED_HOSTS', kind: 'nullableString', doc: 'Comma-separated hostname patterns (e.g. *.host.bsky.network) that get the trusted limits' },
  { key: 'trustedEventsPerHour', env: 'RELAY_TRUSTED_HOST_EVENTS_PER_HOUR', kind: 'int', min: 1, doc: 'Hourly event quota of trusted hosts' },
  { key: 'trustedEventsPerDay', env: 'RELAY_TRUSTED_HOST_EVENTS_PER_DAY', kind: 'int', min: 1, doc: 'Daily event quota of trusted hosts' },
  { key: 'trustedAccountLimit', env: 'RELAY_TRUSTED_HOST_ACCOUNT_LIMIT', kind: 'int', min: 0, doc: 'Account limit of trusted hosts' },
  { key: 'promoteAfterMs', env: 'RELAY_PROMOTE_AFTER', fileKey: 'promoteAfter', kind: 'duration', min: 0, doc: 'Promote a new host to trusted after it has been crawled this long without hitting a quota (0 = never)' },
  { key: 'hostIdleAfterMs', env: 'RELAY_HOST_IDLE_AFTER', fileKey: 'hostIdleAfter', kind: 'duration', doc: 'A connected host that sends nothing for this long is shown as idle' },
  { key: 'accountPointsPerHour', env: 'RELAY_ACCOUNT_POINTS_PER_HOUR', kind: 'int', min: 0, doc: 'Write points an account may spend per UTC hour (create 3, update 2, delete 1; 0 = no hourly budget)' },
  { key: 'accountPointsPerDay', env: 'RELAY_ACCOUNT_POINTS_PER_DAY', kind: 'int', min: 0, doc: 'Write points an account may spend per UTC day (0 = no daily budget)' },
  { key: 'rateLimitReadsPer5Min', env: 'RELAY_RATE_LIMIT_READS_PER_5MIN', kind: 'int', min: 1, doc: 'Public HTTP requests per client IP per 5 minutes (429 past it)' },
  { key: 'rateLimitCrawlsPerHour', env: 'RELAY_RATE_LIMIT_CRAWLS_PER_HOUR', kind: 'int', min: 1, doc: 'requestCrawl calls per client IP per hour' },
  { key: 'maxConsumersPerIp', env: 'RELAY_MAX_CONSUMERS_PER_IP', kind: 'int', min: 1, doc: 'Concurrent stream connections (firehose and Jetstream) allowed from one client address' },
  { key: 'jetstream', env: 'RELAY_JETSTREAM', kind: 'bool', doc: 'Serve the Jetstream-compatible JSON stream at /subscribe (false: 404)' },
  { key: 'hostOfflineAfterFailures', env: 'RELAY_HOST_OFFLINE_AFTER_FAILURES', kind: 'int', min: 1, doc: 'Consecutive failed connections before a host is marked offline' },
  { key: 'reconnectMaxDelayMs', env: 'RELAY_RECONNECT_MAX_DELAY', fileKey: 'reconnectMaxDelay', kind: 'duration', doc: 'Cap on the reconnect backoff to a failing host' },
  { key: 'upstreamIdleTimeoutMs', env: 'RELAY_UPSTREAM_IDLE_TIMEOUT', fileKey: 'upstreamIdleTimeout', kind: 'duration', doc: 'Drop and redial an upstream connection silent this long (no frame, no pong; pinged at half of it)' },
  { key: 'didResolutionsPerSecond', env: 'RELAY_DID_RESOLUTIONS_PER_SEC', kind: 'int', min: 1, doc: 'Requests per second to the PLC directory (each did:web host gets 10); more wait their turn' },
  { key: 'didResolutionConcurrency', env: 'RELAY_DID_RESOLUTION_CONCURRENCY', kind: 'int', min: 1, max: 10000, doc: 'PLC directory requests in flight at once (each did:web host gets 4)' },
  { key: 'identityCacheMb', env: 'RELAY_IDENTITY_CACHE_MB', kind: 'int', min: 1, doc: 'Memory for cached DID documents, in MiB (about 900 bytes each)' },
  { key: 'accountCacheMb', env: 'RELAY_ACCOUNT_CACHE_MB', kind: 'int', min: 1, doc: 'Memory for cached account states, in MiB (about 520 bytes each)' },
  { key: 'newHostsPerDay', env: 'RELAY_NEW_HOSTS_PER_DAY', kind: 'int', min: 0, doc: 'New hosts requestCrawl may admit a UTC day under policy open, counted across all processes (429 past it; 0 = no cap; operators are not capped)' },
  { key: 'crawlProbesPerMinute', env: 'RELAY_CRAWL_PROBES_PER_MINUTE', kind: 'int', min: 1, doc: 'Outbound requestCrawl probes per minute across all callers (429 past it)' },
  { key: 'collectionIndex', env: 'RELAY_COLLECTION_INDEX', kind: 'bool', doc: 'Keep the collection index behind com.atproto.sync.listReposByCollection from accepted commits (off: the endpoint answers from what the index held)' },
  { key: 'collectionLookupsPerMinute', env: 'RELAY_COLLECTION_LOOKUPS_PER_MINUTE', kind: 'int', min: 1, doc: 'Requests per minute to one PDS for the collection index: after a delete its commit proof does not settle, a #sync or a move, and in `relay collections backfill`' },
];

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.problems = problems;
    this.name = 'ConfigError';
  }
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(input: string | number): number {
  if (typeof input === 'number') return input;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(input.trim());
  if (!m) throw new Error(`"${input}" is not a duration (e.g. 500ms, 30s, 15m, 72h, 3d)`);
  return Math.round(Number(m[1]) * DURATION_UNITS[m[2]!]!);
}

function parseField(field: Field, raw: unknown): unknown {
  switch (field.kind) {
    case 'int': {
      const n = typeof raw === 'number' ? raw : /^-?\d+$/.test(String(raw).trim()) ? Number(raw) : NaN;
      if (!Number.isSafeInteger(n)) throw new Error(`"${raw}" is not an integer`);
      if (field.min !== undefined && n < field.min) throw new Error(`${n} is below the minimum ${field.min}`);
      if (field.max !== undefined && n > field.max) throw new Error(`${n} is above the maximum ${field.max}`);
      return n;
    }
    case 'bool': {
      if (typeof raw === 'boolean') return raw;
      const s = String(raw).trim().toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(s)) return true;
      if (['0', 'false', 'no', 'off', ''].includes(s)) return false;
      throw new Error(`"${raw}" is not a boolean (true/false)`);
    }
    case 'duration': {
      // Settings that accept 0 (off) take it bare.
      if (field.min === 0 && String(raw).trim() === '0') return 0;
      const ms = parseDuration(raw as string | number);
      if (ms <= 0) throw new Error('must be positive');
      return ms;
    }
    case 'enum': {
      const s = String(raw);
      if (!field.values!.includes(s)) throw new Error(`"${s}" is not one of ${field.values!.join(', ')}`);
      return s;
    }
    case 'url':
    case 'nullableUrl': {
      if (raw === null || raw === '') {
        if (field.kind === 'nullableUrl') return null;
        throw new Error('is required');
      }
      const s = String(raw);
      try {
        new URL(s);
      } catch {
        throw new Error(`"${redactCredentials(s)}" is not a URL`);
      }
      return s.replace(/\/+$/, '');
    }
    case 'nullableString':
      return raw === null || raw === '' ? null : String(raw);
    case 'string':
      if (raw === null || raw === '') throw new Error('is required');
      return String(raw);
  }
}

/** A URL-ish string with the password part of `scheme://user:password@` hidden (for error messages and logs). */
export function redactCredentials(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/@:]*:)[^@/]*@/i, '$1[redacted]@');
}

let fileDefaults: Record<string, unknown> | undefined;

function loadDefaults(): Record<string, unknown> {
  fileDefaults ??= JSON.parse(
    readFileSync(fileURLToPath(new URL('../../config/default.json', import.meta.url)), 'utf8'),
  ) as Record<string, unknown>;
  return fileDefaults;
}

/** Builds the configuration from the defaults file, then `env`, then `overrides` (used by tests). */
export function loadConfig(
  env: Record<string, string | undefined> = {},
  overrides: Partial<RelayConfig> = {},
): RelayConfig {
  const defaults = loadDefaults();
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  for (const field of CONFIG_FIELDS) {
    const fromEnv = env[field.env];
    const raw = fromEnv !== undefined ? fromEnv : defaults[field.fileKey ?? field.key];
    try {
      out[field.key] = parseField(field, raw ?? null);
    } catch (err) {
      problems.push(`${field.env}: ${(err as Error).message}`);
    }
  }
  const config = { ...(out as unknown as RelayConfig), unknownVariables: unknownVariables(env), ...overrides };
  if (config.nodeEnv === 'production' && !config.adminPassword) {
    problems.push('RELAY_ADMIN_PASSWORD: required when NODE_ENV=production (the admin API must not be open or absent by accident)');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/**
 * RELAY_* names in `env` that no setting reads, as warnings naming the closest setting when it is a likely typo: a
 * misspelt variable would otherwise leave its default in force without a word.
 */
export function unknownVariables(env: Record<string, string | undefined>): string[] {
  const known = CONFIG_FIELDS.map((f) => f.env).filter((e) => e.startsWith('RELAY_'));
  const out: string[] = [];
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith('RELAY_') || known.includes(name) || env[name] === undefined) continue;
    let best: { env: string; d: number } | null = null;
    for (const k of known) {
      const d = editDistance(name, k);
      if (!best || d < best.d) best = { env: k, d };
    }
    // A third of the name's own characters (past the prefix) can be wrong before the guess stops helping.
    const close = best && best.d <= Math.max(2, Math.floor((name.length - 'RELAY_'.length) / 3));
    out.push(close ? `${name} is not a setting (did you mean ${best!.env}?)` : `${name} is not a setting (relay config lists them)`);
  }
  return out;
}

/** Levenshtein distance: insertions, deletions and substitutions. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row.push(Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)));
    prev = row;
  }
  return prev[b.length]!;
}

/** The configuration reference as a Markdown table (for docs and `relay config`). */
export function configReference(): string {
  const defaults = loadDefaults();
  const rows = CONFIG_FIELDS.map((f) => {
    const d = defaults[f.fileKey ?? f.key];
    return `| \`${f.env}\` | ${d === null || d === undefined ? '(unset)' : `\`${String(d)}\``} | ${f.doc} |`;
  });
  return ['| variable | default | meaning |', '|---|---|---|', ...rows].join('\n');
}
