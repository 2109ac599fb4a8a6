// The relay's tables. Migrations in drizzle/ are generated from this file by drizzle-kit.

import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  boolean,
  customType,
  jsonb,
  index,
  integer,
  pgTable,
  primaryKey,
  serial,
  text,
  timestamp,
} from 'drizzle-orm/pg-core';

const bytea = customType<{ data: Uint8Array; driverData: Uint8Array }>({
  dataType: () => 'bytea',
});

/** Upstream PDS hosts the relay crawls (or has been asked to crawl). */
export const hosts = pgTable('hosts', {
  id: serial('id').primaryKey(),
  hostname: text('hostname').notNull().unique(),
  /** connecting | active | idle | offline | throttled | disconnected | banned | removed (core/hosts.ts) */
  status: text('status').notNull().default('connecting'),
  /** Upstream seq up to which every event's effects are committed; null = never connected (start at the live head). */
  cursor: bigint('cursor', { mode: 'number' }),
  /** Upstream seqs above the cursor whose effects are committed too (events are committed out of order). */
  cursorAbove: bigint('cursor_above', { mode: 'number' }).array().notNull().default(sql`'{}'::bigint[]`),
  accountCount: integer('account_count').notNull().default(0),
  /** Per-host event quota overrides; null = the configured default. */
  eventsPerHour: integer('events_per_hour'),
  eventsPerDay: integer('events_per_day'),
  /** Per-host account limit override; null = the limit of the host's tier. */
  accountLimit: integer('account_limit'),
  /** new | trusted: which default limits apply. Trusted hostname patterns are trusted whatever this says. */
  tier: text('tier').notNull().default('new'),
  /**
   * How the Sync v1.1-only checks apply to the host: auto (lenient until it has sent syncProven valid Sync 1.1
   * commits, then strict for good), or pinned strict or lenient by an operator.
   */
  syncMode: text('sync_mode').notNull().default('auto'),
  /** Valid Sync 1.1 commits counted while auto and lenient. */
  syncProven: integer('sync_proven').notNull().default(0),
  /** When auto turned strict (null = not yet). */
  syncStrictSince: timestamp('sync_strict_since', { withTimezone: true, mode: 'date' }),
  /** When the host was promoted to trusted automatically (null = never). */
  promotedAt: timestamp('promoted_at', { withTimezone: true, mode: 'date' }),
  /** Last time the host went over an event quota (promotion waits for a clean period). */
  lastThrottledAt: timestamp('last_throttled_at', { withTimezone: true, mode: 'date' }),
  /** While throttled: when the quota window resets. */
  throttledUntil: timestamp('throttled_until', { withTimezone: true, mode: 'date' }),
  failedAttempts: integer('failed_attempts').notNull().default(0),
  lastEventAt: timestamp('last_event_at', { withTimezone: true, mode: 'date' }),
  lastConnectedAt: timestamp('last_connected_at', { withTimezone: true, mode: 'date' }),
  /** Why the last connection failed or ended (DNS, TCP, TLS, HTTP or the host's doing), and when: kept after it connects again. */
  lastError: text('last_error'),
  lastErrorAt: timestamp('last_error_at', { withTimezone: true, mode: 'date' }),
  /** When an operator last asked for a redial now: a process crawling the host opens its crawl afresh (no backoff). */
  redialAt: timestamp('redial_at', { withTimezone: true, mode: 'date' }),
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
});

/** Banned domains: the domain itself and every subdomain. */
export const domainBans = pgTable('domain_bans', {
  domain: text('domain').primaryKey(),
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
});

/** Crawl requests waiting for an operator under the allowlist policy. */
export const crawlRequests = pgTable('crawl_requests', {
  hostname: text('hostname').primaryKey(),
  requestedAt: timestamp('requested_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  requestCount: integer('request_count').notNull().default(1),
  lastRequesterIp: text('last_requester_ip'),
});

/** Accounts seen on the firehose and the repo state the relay last accepted for each. */
export const accounts = pgTable(
  'accounts',
  {
    did: text('did').primaryKey(),
    /** Stable, increasing id used as the listRepos cursor. */
    uid: bigserial('uid', { mode: 'number' }).notNull().unique(),
    /** The host its events last came from; null: none yet (an operator took down a DID the relay had not seen). */
    hostId: integer('host_id').references(() => hosts.id),
    /** Status the upstream host reports (null = active). */
    upstreamStatus: text('upstream_status'),
    upstreamActive: boolean('upstream_active').notNull().default(true),
    /** Status set by this relay's operators (e.g. takendown); overrides upstream. */
    localStatus: text('local_status'),
    /** When the operator status was set (the admin list of takedowns says since when); null on rows set before it was kept. */
    localStatusAt: timestamp('local_status_at', { withTimezone: true, mode: 'date' }),
    /** Why the relay holds this account's repo events back: host_account_limit | account_budget (null = it does not). */
    throttled: text('throttled'),
    /** For account_budget: when the budget window resets. */
    throttledUntil: timestamp('throttled_until', { withTimezone: true, mode: 'date' }),
    /** The newest signed commit block accepted while throttled, re-announced as #sync when the account is released. */
    heldCommit: bytea('held_commit'),
    rev: text('rev'),
    /** CID (string form) of the latest accepted commit. */
    head: text('head'),
    /** CID (string form) of that commit's MST root: the next commit's prevData. */
    data: text('data'),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [
    index('accounts_host_idx').on(t.hostId),
    // The few accounts an operator took down: each read of the log builds its withheld set from this, in one scan.
    index('accounts_taken_down_idx').on(t.did).where(sql`${t.localStatus} IS NOT NULL`),
    // The throttled accounts, in uid order, for the admin list: a few among millions of rows.
    index('accounts_throttled_idx').on(t.uid).where(sql`${t.throttled} IS NOT NULL`),
  ],
);

/**
 * The relay's own event log: every rebroadcast frame, under the relay's global seq. Range-partitioned by seq
 * (migration 0009 makes it so; drizzle-kit does not model partitioning): each partition is one row of
 * `event_partitions`, and retention drops whole partitions, so nothing is ever deleted row by row. The only index is
 * the seq key replay reads by: takedowns are honoured at replay through the accounts table's key.
 */
export const events = pgTable('events', {
  seq: bigint('seq', { mode: 'number' }).primaryKey(),
  did: text('did').notNull(),
  /** commit | sync | identity | account */
  kind: text('kind').notNull(),
  /** The complete frame (header + body with the relay seq) exactly as sent to consumers. */
  frame: bytea('frame').notNull(),
  hostId: integer('host_id').notNull(),
  /** Upstream seq of the event; null for events the relay itself emits (e.g. a takedown's #account). */
  upstreamSeq: bigint('upstream_seq', { mode: 'number' }),
  /**
   * The last microsecond the event takes on the relay's time line (the Jetstream cursor): one per op of a commit,
   * one for any other event, so every Jetstream message has its own. Increases with seq; null for events logged
   * before migration 0012.
   */
  timeUs: bigint('time_us', { mode: 'number' }),
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
});

/** The event log's partitions, oldest first: each holds the seqs from `fromSeq` up to (not including) `toSeq`. */
export const eventPartitions = pgTable('event_partitions', {
  name: text('name').primaryKey(),
  fromSeq: bigint('from_seq', { mode: 'number' }).notNull(),
  toSeq: bigint('to_seq', { mode: 'number' }).notNull(),
  /** When the partition was made: about when its first event was written (the one before it ended then). */
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
});

/**
 * One row holding the last assigned relay seq. Writers update it inside their batch transaction, so the row lock
 * serialises them: seqs are gapless and commit in seq order, whichever process writes.
 */
export const relaySeq = pgTable('relay_seq', {
  id: integer('id').primaryKey(),
  seq: bigint('seq', { mode: 'number' }).notNull(),
  /** The last microsecond given to an event (events.time_us): taken under the same lock, so it is unique and increasing. */
  timeUs: bigint('time_us', { mode: 'number' }).notNull().default(0),
});


/** Last resolved DID document per account, so a restart does not re-resolve every identity at once. */
export const identities = pgTable('identities', {
  did: text('did').primaryKey(),
  doc: jsonb('doc').notNull(),
  resolvedAt: timestamp('resolved_at', { withTimezone: true, mode: 'date' }).notNull(),
});

/**
 * Collection names (NSIDs) seen in repos, each given a small id once and for ever, so an index entry is two integers
 * rather than two strings (there are a few thousand collections and hundreds of millions of entries).
 */
export const collections = pgTable('collections', {
  id: serial('id').primaryKey(),
  nsid: text('nsid').notNull().unique(),
});

/**
 * The collection index behind listReposByCollection: one row per (collection, account) while the account's repo holds
 * at least one record of the collection. Keyed collection first, then the account's uid, so a page is one range of
 * the key in the order the cursor follows. Whether an account is active is read from `accounts` when listing. No
 * index by account: an account's rows are dropped rarely (deletion, #sync), by probing the key once per collection.
 */
export const repoCollections = pgTable(
  'repo_collections',
  {
    collectionId: integer('collection_id').notNull(),
    uid: bigint('uid', { mode: 'number' }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.collectionId, t.uid] })],
);

/** Progress of `relay collections backfill`, per host: where its listRepos crawl stands, so a new run resumes there. */
export const collectionBackfills = pgTable('collection_backfills', {
  hostId: integer('host_id').primaryKey(),
  /** The listRepos cursor of the next page to read (null: from the start). */
  cursor: text('cursor'),
  /** Repos described so far, and repos whose describeRepo failed. */
  done: integer('done').notNull().default(0),
  failed: integer('failed').notNull().default(0),
  /** running | finished */
  state: text('state').notNull().default('running'),
  startedAt: timestamp('started_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
});

/**
 * Progress of `relay hosts import --from <relay>`, per source relay: the listHosts cursor of the next page to read,
 * so a run killed part way resumes there, and the counts so far.
 */
export const hostImports = pgTable('host_imports', {
  /** The source relay's origin (https://relay.example). */
  source: text('source').primaryKey(),
  /** The next page's cursor (null: from the start). */
  cursor: text('cursor'),
  admitted: integer('admitted').notNull().default(0),
  refused: integer('refused').notNull().default(0),
  skipped: integer('skipped').notNull().default(0),
  /** The last run read the last page: the next one starts over (hosts already known are skipped). */
  finished: boolean('finished').notNull().default(false),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
});

/**
 * Upstream events per host per minute, written by each batch transaction (one upsert for the batch's hosts), so every
 * relay process reads the cluster's rates with their history. A row exists only for a minute a host sent something;
 * rows older than the longest window served are pruned.
 */
export const hostEventCounts = pgTable(
  'host_event_counts',
  {
    hostId: integer('host_id').notNull(),
    /** The minute's start, by PostgreSQL's clock (one clock for every process). */
    minute: timestamp('minute', { withTimezone: true, mode: 'date' }).notNull(),
    /** Events logged (relayed), the relay's own included. */
    accepted: integer('accepted').notNull().default(0),
    /** Upstream events dropped by a check. */
    rejected: integer('rejected').notNull().default(0),
  },
  // Keyed minute first: a batch's rows are all of one minute, side by side at the key's end (a write touches few
  // pages), and every read (a window, the last hour, pruning) is one range of minutes.
  (t) => [primaryKey({ columns: [t.minute, t.hostId] })],
);
