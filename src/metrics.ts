// Prometheus metrics, all named relay_*. One registry per relay instance (no global default registry), so several
// relays in one test process do not collide.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export function createMetrics() {
  const registry = new Registry();
  // Node's own metrics under relay_: relay_process_resident_memory_bytes, relay_nodejs_eventloop_lag_seconds, ...
  collectDefaultMetrics({ register: registry, prefix: 'relay_' });
  const r = [registry];
  return {
    registry,
    eventsReceived: new Counter({
      name: 'relay_events_received_total',
      help: 'Upstream frames received, by message type (commit, sync, identity, account, info, error, unknown_op, other)',
      labelNames: ['type'] as const,
      registers: r,
    }),
    eventsAccepted: new Counter({
      name: 'relay_events_accepted_total',
      help: 'Upstream events accepted for rebroadcast, by message type (commit, sync, identity, account)',
      labelNames: ['type'] as const,
      registers: r,
    }),
    eventsRejected: new Counter({
      name: 'relay_events_rejected_total',
      help: 'Upstream events dropped, by reason',
      labelNames: ['reason'] as const,
      registers: r,
    }),
    // A series per host (and type or reason): thousands of hosts make thousands of series, so RELAY_METRICS_HOST_LABEL
    // turns them off (relay.ts then never counts into them).
    hostEvents: new Counter({
      name: 'relay_host_events_total',
      help: 'Events logged for rebroadcast, per host crawled by this process and message type (RELAY_METRICS_HOST_LABEL)',
      labelNames: ['host', 'type'] as const,
      registers: r,
    }),
    hostRejections: new Counter({
      name: 'relay_host_rejections_total',
      help: 'Upstream events dropped, per host crawled by this process and reason (RELAY_METRICS_HOST_LABEL)',
      labelNames: ['host', 'reason'] as const,
      registers: r,
    }),
    verifyWarnings: new Counter({
      name: 'relay_verify_warnings_total',
      help: 'Sync v1.1 checks that failed but were let through in lenient mode, by check',
      labelNames: ['check'] as const,
      registers: r,
    }),
    discontinuities: new Counter({
      name: 'relay_discontinuities_total',
      help: 'Valid commits that did not continue the chain the relay knew (since/prevData mismatch)',
      registers: r,
    }),
    eventsBroadcast: new Counter({
      name: 'relay_events_broadcast_total',
      help: 'Committed events handed to fan-out',
      registers: r,
    }),
    lastSeq: new Gauge({ name: 'relay_last_seq', help: 'Last relay seq committed and broadcast', registers: r }),
    sequencerBatchSeconds: new Histogram({
      name: 'relay_sequencer_batch_seconds',
      help: 'Time to write one batch transaction',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: r,
    }),
    sequencerBatchSize: new Histogram({
      name: 'relay_sequencer_batch_events',
      help: 'Upstream events per batch transaction',
      buckets: [1, 5, 10, 50, 100, 250, 500, 1000, 2500],
      registers: r,
    }),
    sequencerFailures: new Counter({
      name: 'relay_sequencer_failures_total',
      help: 'Batch transactions that failed and were retried',
      registers: r,
    }),
    upstreamConnections: new Gauge({
      name: 'relay_upstream_connections',
      help: 'Open upstream subscriptions',
      registers: r,
    }),
    upstreamConnectFailures: new Counter({
      name: 'relay_upstream_connect_failures_total',
      help: 'Failed or dropped upstream connections',
      registers: r,
    }),
    upstreamDialsRefused: new Counter({
      name: 'relay_upstream_dials_refused_total',
      help: 'Upstream dials refused before connecting, by reason (e.g. the host resolved to a non-public address)',
      labelNames: ['reason'] as const,
      registers: r,
    }),
    hostsThrottled: new Counter({
      name: 'relay_host_throttles_total',
      help: 'Times a host went over its event quota and was disconnected until the window reset',
      registers: r,
    }),
    consumers: new Gauge({ name: 'relay_consumers', help: 'Connected stream clients (firehose consumers and Jetstream subscribers)', registers: r }),
    consumersDropped: new Counter({
      name: 'relay_consumers_dropped_total',
      help: 'Consumers disconnected by the relay, by reason',
      labelNames: ['reason'] as const,
      registers: r,
    }),
    framesSent: new Counter({ name: 'relay_frames_sent_total', help: 'Frames written to consumers', registers: r }),
    consumerCatchUps: new Counter({
      name: 'relay_consumer_catch_ups_total',
      help: 'Times a firehose consumer fell behind live delivery (queued bytes or frames past the cap) and went back to reading the log',
      labelNames: ['reason'] as const,
      registers: r,
    }),
    jetstreamSubscribers: new Gauge({ name: 'relay_jetstream_subscribers', help: 'Connected Jetstream subscribers', registers: r }),
    jetstreamSent: new Counter({ name: 'relay_jetstream_events_sent_total', help: 'Jetstream messages written to subscribers', registers: r }),
    jetstreamBytes: new Counter({
      name: 'relay_jetstream_bytes_sent_total',
      help: 'Jetstream bytes written to subscribers, by encoding (json or zstd)',
      labelNames: ['encoding'] as const,
      registers: r,
    }),
    jetstreamFiltered: new Counter({
      name: 'relay_jetstream_events_filtered_total',
      help: "Jetstream messages a subscriber's filters (collections, DIDs, size) left out",
      registers: r,
    }),
    jetstreamDrops: new Counter({
      name: 'relay_jetstream_drops_total',
      help: 'Jetstream subscribers disconnected by the relay, by reason',
      labelNames: ['reason'] as const,
      registers: r,
    }),
    jetstreamCatchUps: new Counter({
      name: 'relay_jetstream_catch_ups_total',
      help: 'Times a Jetstream subscriber fell behind live delivery and went back to reading the log',
      registers: r,
    }),
    jetstreamConverted: new Counter({
      name: 'relay_jetstream_messages_converted_total',
      help: 'Jetstream messages made from logged events (once per live event for every subscriber, once per replay read)',
      registers: r,
    }),
    jetstreamLost: new Counter({
      name: 'relay_jetstream_conversion_losses_total',
      help: 'Logged events or ops that could not be made into Jetstream messages, by reason',
      labelNames: ['reason'] as const,
      registers: r,
    }),
    replayEvents: new Counter({
      name: 'relay_replay_events_total',
      help: 'Events sent to consumers from the replay window',
      registers: r,
    }),
    replayPages: new Counter({
      name: 'relay_replay_pages_total',
      help: 'Pages of the log readers behind live (firehose and Jetstream) took: read from the log, or shared (read once for readers at nearby places)',
      labelNames: ['from'] as const,
      registers: r,
    }),
    replayPageBytes: new Gauge({ name: 'relay_replay_shared_bytes', help: 'Frame bytes of log pages kept for other readers behind live', registers: r }),
    recentEvents: new Counter({
      name: 'relay_consumer_recent_events_total',
      help: 'Events sent to firehose consumers catching up from the latest batches kept in memory (not read from the log)',
      registers: r,
    }),
    recentBytes: new Gauge({ name: 'relay_fanout_recent_bytes', help: 'Frame bytes of the latest broadcast batches kept in memory for readers a little behind', registers: r }),
    eventsPruned: new Counter({
      name: 'relay_events_pruned_total',
      help: 'Events removed from the replay window',
      registers: r,
    }),
    verifySeconds: new Histogram({
      name: 'relay_verify_seconds',
      help: 'Time to verify one upstream event (including identity lookups), by message type (commit, sync, identity, account)',
      labelNames: ['type'] as const,
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5],
      registers: r,
    }),
    accountsThrottled: new Counter({
      name: 'relay_accounts_throttled_total',
      help: 'Accounts throttled (repo events withheld), by reason: host_account_limit or account_budget',
      labelNames: ['reason'] as const,
      registers: r,
    }),
    accountsReleased: new Counter({
      name: 'relay_accounts_released_total',
      help: 'Throttled accounts released (announced active and re-synced), by reason',
      labelNames: ['reason'] as const,
      registers: r,
    }),
    eventsWithheld: new Counter({
      name: 'relay_events_withheld_total',
      help: 'Verified repo events of throttled accounts not relayed, by reason',
      labelNames: ['reason'] as const,
      registers: r,
    }),
    quotaCounterErrors: new Counter({
      name: 'relay_quota_counter_errors_total',
      help: 'Account budget checks that could not reach the counters (the event was let through)',
      registers: r,
    }),
    accountBudgetTakes: new Counter({
      name: 'relay_account_budget_takes_total',
      help: "Commits charged to their account's budget, by where it was decided: here (far from the limits, the take sent behind) or by the counters (waited for)",
      labelNames: ['decided'] as const,
      registers: r,
    }),
    hostsPromoted: new Counter({
      name: 'relay_hosts_promoted_total',
      help: 'New hosts promoted to the trusted tier automatically',
      registers: r,
    }),
    identityWaiting: new Gauge({
      name: 'relay_identity_waiting_events',
      help: 'Events held because their account identity cannot be resolved now (directory down, slow or refusing)',
      registers: r,
    }),
    verifyWorkerExits: new Counter({
      name: 'relay_verify_worker_exits_total',
      help: 'Verification worker threads that died unexpectedly (replaced; their jobs run again)',
      registers: r,
    }),
    collectionLookups: new Counter({
      name: 'relay_collection_lookups_total',
      help: "Accounts' PDSes asked what collections a repo holds (describeRepo), for the collection index, by outcome (applied; stale: a newer commit came meanwhile, asked again; failed; dropped: the queue was full)",
      labelNames: ['outcome'] as const,
      registers: r,
    }),
    collectionLookupsQueued: new Gauge({
      name: 'relay_collection_lookups_queued',
      help: 'Accounts waiting for a collection look-up at their PDS (rate-limited per host)',
      registers: r,
    }),
  };
}

/** What the scrape-time metrics read: state that already exists elsewhere, so nothing is counted twice. */
export interface ScrapeSources {
  identityCache: { readonly counters: { hits: number; misses: number; staleHits: number }; readonly size: number; paused(): string[] };
  accountCache: { readonly counters: { hits: number; misses: number }; readonly size: number };
  consumers: () => Iterable<{ describe(headSeq: number): { lag: number; bufferedBytes: number } }>;
  headSeq: () => number;
  /** Oldest seq still in the replay window (a min over the primary key), or null when empty. */
  oldestRetainedSeq: () => Promise<number | null>;
  /** Known hosts per status (a GROUP BY over the small hosts table). */
  hostsByStatus: () => Promise<Record<string, number>>;
  /** The event log on disk: its partitions and the bytes they take (catalog reads). */
  eventLog: () => Promise<{ partitions: number; bytes: number }>;
  /** Crawled hosts per Sync v1.1 mode in force. */
  hostsBySyncMode: () => Promise<Record<string, number>>;
  /** Whether the quota counters (Redis) can be reached. */
  countersAvailable: () => boolean;
  /** How long events take from their host's quota to the sequencer here (moving average, ms; 0 when idle). */
  ingestLagMs: () => number;
  /** Entries in the collection index (the planner's estimate: a count would read the table). */
  collectionIndexEntries: () => Promise<number>;
  collectionIndexBytes: () => Promise<number>;
}

/**
 * Metrics computed when Prometheus scrapes rather than on the hot path: identity-cache lookups (from the cache's
 * own counters), consumer lag, the replay window's extent, and hosts by status (read from the database, so it is
 * the same whichever relay process is scraped).
 */
export function registerScrapeMetrics(metrics: RelayMetrics, src: ScrapeSources): void {
  const r = [metrics.registry];
  new Gauge({
    name: 'relay_quota_counters_up',
    help: 'Whether the shared quota counters (Redis) can be reached: 1 yes, 0 no (hosts are held until they are back)',
    registers: r,
    collect() {
      this.set(src.countersAvailable() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'relay_ingest_lag_seconds',
    help: "How long events take in this process from their host's quota to the sequencer (verification, identities, account stages), moving average; 0 when idle",
    registers: r,
    collect() {
      this.set(src.ingestLagMs() / 1000);
    },
  });
  new Gauge({
    name: 'relay_hosts',
    help: 'Known hosts by status (active: subscribed; connecting: admitted or reconnecting, not subscribed yet; offline: repeated failures)',
    labelNames: ['status'] as const,
    registers: r,
    async collect() {
      // A failed read leaves the last values: /metrics must answer while the database is away.
      const counts = await src.hostsByStatus().catch(() => null);
      if (counts) for (const [status, n] of Object.entries(counts)) this.set({ status }, n);
    },
  });
  new Gauge({
    name: 'relay_event_log_bytes',
    help: 'Disk the event log takes (its partitions: heap, TOAST and index)',
    registers: r,
    async collect() {
      const log = await src.eventLog().catch(() => null);
      if (log) this.set(log.bytes);
    },
  });
  new Gauge({
    name: 'relay_event_log_partitions',
    help: 'Partitions of the event log (retention drops the oldest whole)',
    registers: r,
    async collect() {
      const log = await src.eventLog().catch(() => null);
      if (log) this.set(log.partitions);
    },
  });
  new Gauge({
    name: 'relay_collection_index_entries',
    help: 'Entries (repo, collection) in the collection index behind listReposByCollection, as PostgreSQL estimates it',
    registers: r,
    async collect() {
      const n = await src.collectionIndexEntries().catch(() => null);
      if (n !== null) this.set(n);
    },
  });
  new Gauge({
    name: 'relay_collection_index_bytes',
    help: 'Disk the collection index takes (heap and key)',
    registers: r,
    async collect() {
      const n = await src.collectionIndexBytes().catch(() => null);
      if (n !== null) this.set(n);
    },
  });
  new Gauge({
    name: 'relay_host_sync_mode',
    help: 'Crawled hosts by the Sync v1.1 mode in force (strict: every check; lenient: Sync 1.1-only failures let through, counted in relay_verify_warnings_total)',
    labelNames: ['mode'] as const,
    registers: r,
    async collect() {
      const counts = await src.hostsBySyncMode().catch(() => null);
      if (counts) for (const [mode, n] of Object.entries(counts)) this.set({ mode }, n);
    },
  });
  new Counter({
    name: 'relay_identity_cache_lookups_total',
    help: 'Identity lookups by verification, by result (hit, stale: served and revalidated, miss: resolved)',
    labelNames: ['result'] as const,
    registers: r,
    collect() {
      const c = src.identityCache.counters;
      this.reset();
      this.inc({ result: 'hit' }, c.hits);
      this.inc({ result: 'stale' }, c.staleHits);
      this.inc({ result: 'miss' }, c.misses);
    },
  });
  new Gauge({
    name: 'relay_identity_directories_paused',
    help: 'DID directories the relay is leaving alone for now after a 429 or failures (plc: the PLC directory; web: did:web hosts)',
    labelNames: ['directory'] as const,
    registers: r,
    collect() {
      const paused = src.identityCache.paused();
      this.set({ directory: 'plc' }, paused.includes('plc') ? 1 : 0);
      this.set({ directory: 'web' }, paused.filter((d) => d !== 'plc').length);
    },
  });
  new Counter({
    name: 'relay_account_cache_lookups_total',
    help: 'Account state lookups, by result (hit: in memory, miss: read from PostgreSQL)',
    labelNames: ['result'] as const,
    registers: r,
    collect() {
      const c = src.accountCache.counters;
      this.reset();
      this.inc({ result: 'hit' }, c.hits);
      this.inc({ result: 'miss' }, c.misses);
    },
  });
  new Gauge({
    name: 'relay_account_cache_entries',
    help: 'Account states held in the in-memory cache',
    registers: r,
    collect() {
      this.set(src.accountCache.size);
    },
  });
  new Gauge({
    name: 'relay_identity_cache_entries',
    help: 'Identities held in the in-memory cache',
    registers: r,
    collect() {
      this.set(src.identityCache.size);
    },
  });
  new Gauge({
    name: 'relay_consumer_lag_events',
    help: 'Events between the relay head and what consumers were sent (max: the furthest behind, sum: all)',
    labelNames: ['stat'] as const,
    registers: r,
    collect() {
      let max = 0;
      let sum = 0;
      for (const c of src.consumers()) {
        const { lag } = c.describe(src.headSeq());
        max = Math.max(max, lag);
        sum += lag;
      }
      this.set({ stat: 'max' }, max);
      this.set({ stat: 'sum' }, sum);
    },
  });
  new Gauge({
    name: 'relay_consumer_buffered_bytes',
    help: 'Bytes queued to consumers and not yet written to their sockets',
    registers: r,
    collect() {
      let sum = 0;
      for (const c of src.consumers()) sum += c.describe(src.headSeq()).bufferedBytes;
      this.set(sum);
    },
  });
  new Gauge({
    name: 'relay_replay_window_events',
    help: 'Events available for cursor replay (head seq minus the oldest retained seq)',
    registers: r,
    async collect() {
      // A failed read leaves the last value: /metrics must answer while the database is away.
      const oldest = await src.oldestRetainedSeq().catch(() => undefined);
      if (oldest === undefined) return;
      this.set(oldest === null ? 0 : Math.max(0, src.headSeq() - oldest + 1));
    },
  });
}

export type RelayMetrics = ReturnType<typeof createMetrics>;
