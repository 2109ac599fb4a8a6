// The composition root: every part of the relay is built here, once, and handed what it needs. ARCHITECTURE.md
// draws what this wires:
//
//   crawler -> per host: upstream connection -> host pipeline (quota, verify, account budget, account slots)
//   -> sequencer -> PostgreSQL -> fan-out hub -> firehose consumers
//
// with the HTTP API on services beside it, and NOTIFY channels carrying changes between relay processes.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { RelayConfig } from './config/config.ts';
import { systemClock, type Clock } from './core/clock.ts';
import { RejectionLog } from './core/rejections.ts';
import { hostUrls, isLocalDevHost } from './core/hostname.ts';
import { openDatabase, type Database } from './storage/db.ts';
import { ACCOUNTS_CHANNEL, accountStore } from './storage/accounts.ts';
import { logBytes, logPartitions, oldestRetainedSeq, readEvents } from './storage/events.ts';
import { countHostsByStatus, countHostsBySyncMode, getHostById, HOSTS_CHANNEL, ratchetHostStrict, setHostSyncProven, type HostRow } from './storage/hosts.ts';
import { createIdentityStore } from './storage/identities.ts';
import { createMetrics, registerScrapeMetrics, type RelayMetrics } from './metrics.ts';
import { IDENTITY_ENTRY_BYTES, IdentityCache } from './identity/cache.ts';
import { createThreadedDidResolver } from './identity/resolver-thread.ts';
import { networkHandleSources, resolveHandle, type HandleSources } from './identity/handle.ts';
import { createFastVerifier } from './protocol/signature.ts';
import { SyncVerifier } from './verify/verifier.ts';
import { VerifyPool } from './verify/pool.ts';
import { SyncStrictness } from './verify/strictness.ts';
import { createCounterStore, type CounterStore } from './quota/counters.ts';
import { HostQuota } from './quota/host-quota.ts';
import { HostLimitsBook } from './quota/limits-book.ts';
import { HostPolicy } from './quota/trust.ts';
import { ACCOUNT_ENTRY_BYTES, AccountRegistry } from './accounts/registry.ts';
import { Crawler, type Crawl } from './ingest/crawler.ts';
import { HostLifecycle } from './ingest/host-lifecycle.ts';
import { UpstreamConnection } from './ingest/upstream.ts';
import { publicOnlyLookup, systemLookup, type Lookup } from './ingest/address-policy.ts';
import { untrustedGet } from './ingest/http-json.ts';
import { createReadTurns } from './ingest/read-turns.ts';
import { HostPipeline, type RejectionReporter } from './pipeline/host-pipeline.ts';
import { AccountBudgetStage } from './pipeline/account-budget-stage.ts';
import { timedVerifier } from './pipeline/timed-verifier.ts';
import type { EventVerifier } from './verify/types.ts';
import { Sequencer } from './sequencer/sequencer.ts';
import { Retention } from './sequencer/retention.ts';
import { FanoutHub } from './firehose/hub.ts';
import { LogPages } from './firehose/log-pages.ts';
import { ReplayGate } from './firehose/replay-gate.ts';
import { WS_BINARY } from './firehose/wire-batch.ts';
import { IngestLag } from './pipeline/ingest-lag.ts';
import { LoopLoad } from './core/loop-load.ts';
import { loadCompressor } from './jetstream/compression.ts';
import { JetstreamFanout } from './jetstream/fanout.ts';
import { jetstreamRoute } from './jetstream/route.ts';
import { ReplayPages } from './jetstream/replay-pages.ts';
import { FirehoseServer } from './firehose/server.ts';
import { CollectionLookups } from './collections/lookups.ts';
import { createPdsClient } from './collections/pds.ts';
import { estimatedEntries, indexBytes } from './storage/collections.ts';
import { HostsService } from './services/hosts.ts';
import { AccountsService } from './services/accounts.ts';
import { StatusService } from './services/status.ts';
import { CollectionsService } from './services/collections.ts';
import { registerApi } from './api/index.ts';
import { serializeRequest } from './api/log-redaction.ts';
import { AccessLog } from './api/access-log.ts';
import { serveMetrics, type MetricsServer } from './api/metrics-server.ts';
import { createLogger } from './logging.ts';
import { startupSummary } from './startup-summary.ts';
import { sha256Impl } from './protocol/sha256.ts';

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
/** Frames all upstream connections together read in one turn of the event loop (readTurns below). */
const READ_FRAMES_PER_TURN = 512;

/** The relay's parts, for the CLI and for tests that look inside. */
export interface RelayParts {
  version: string;
  config: RelayConfig;
  database: Database;
  hub: FanoutHub;
  firehose: FirehoseServer;
  sequencer: Sequencer;
  crawler: Crawler<HostCrawl>;
  rejections: RejectionLog;
  metrics: RelayMetrics;
  accounts: AccountRegistry;
  /** Worker threads running commit checks; null when verification runs on the main thread. */
  verifyPool: VerifyPool | null;
  counters: CounterStore;
  lookups: CollectionLookups;
}

export interface Relay {
  readonly app: FastifyInstance;
  readonly ctx: RelayParts;
  /** Migrates, starts every stage and listens; resolves to the base URL. */
  start(): Promise<string>;
  /** Base URL of GET /metrics once started (its own port: RELAY_METRICS_PORT). */
  readonly metricsUrl: string | null;
  /** Stops ingest, commits what was accepted, closes consumers and the database. Idempotent. */
  stop(): Promise<void>;
}

export interface RelayOverrides {
  /** Host scan period and reconnect base delay (tests shorten them). */
  scanIntervalMs?: number;
  reconnectBaseMs?: number;
  /** What quota and account-budget windows are measured by (tests put a window's end a moment away). */
  clock?: Clock;
  /** How often the replay window is pruned (tests shorten it). */
  retentionIntervalMs?: number;
  /** Name resolution for host admission checks (tests stub it; there is no DNS here). */
  lookup?: Lookup;
  /** Where handles' DIDs are looked up (tests stub DNS and HTTPS). */
  handleSources?: HandleSources;
  /** Where log lines go instead of stdout (tests read them). */
  logDestination?: { write(line: string): void };
}

/** A host being crawled here, and its quota counters as last seen. */
interface HostCrawl extends Crawl {
  quota: HostQuota;
}

export async function createRelay(config: RelayConfig, overrides: RelayOverrides = {}): Promise<Relay> {
  const clock = overrides.clock ?? systemClock;
  const lookup = overrides.lookup ?? systemLookup;
  const logger = createLogger({
    level: config.logLevel,
    format: config.logFormat,
    ...(overrides.logDestination ? { destination: overrides.logDestination } : {}),
    options: { redact: ['req.headers.authorization'], serializers: { req: serializeRequest } },
  });
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    logController: new AccessLog(),
    bodyLimit: 64 * 1024,
    trustProxy: config.trustProxy,
  });
  const log: Logger = logger;
  const metrics = createMetrics();
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  const { db } = database;
  const counters = createCounterStore(config.redisUrl, config.redisPrefix);
  const rejections = new RejectionLog();
  const policy = new HostPolicy(config);
  const limits = new HostLimitsBook(policy);

  // Sequencing and fan-out.
  const hub = new FanoutHub({ database, log: log.child({ stage: 'fanout' }), metrics, recentBytes: config.fanoutRecentBytes, recentMaxAgeMs: config.replayWindowMs });
  // Readers behind live yield to ingest while it lags (50 ms on average from quota to the sequencer): with 200 ms
  // live p99 during a catch-up was 1.1 s, with 50 ms 0.6 s, for the same catch-up time (docs/perf-journal.md).
  const ingestLag = new IngestLag();
  // One read budget for every upstream connection, so a burst is verified and committed as it comes in rather than
  // after it has all been read, with fewer events in flight at once: in `bench ingest` (pairs) the relay's CPU went
  // from 184-188 to 147-151 us a commit; 128, 256, 1,024 and 2,048 frames a turn did less (read-turns.ts,
  // docs/perf-journal.md, session 27).
  const readTurns = createReadTurns(READ_FRAMES_PER_TURN);
  const pages = new LogPages({ read: (after, upTo, limit, hint) => readEvents(db, after, upTo, limit, WS_BINARY, hint), metrics, budgetBytes: config.replaySharedBytes });
  // And while the main thread is more than 60 % busy: ten readers catching up from 200,000 events back, unheld, took
  // it to 90 % and live p99 to 230-290 ms; held at 60 %, 120-150 ms and 20 s to catch up instead of 9 (at 50 %,
  // ~100 ms but readers at their floor rate, 85 s).
  const loopLoad = new LoopLoad();
  const replayGate = new ReplayGate({
    lagMs: () => ingestLag.lagMs(),
    maxLagMs: 50,
    loopBusy: () => loopLoad.utilization(),
    maxLoopBusy: 0.6,
    liveRate: () => ingestLag.eventsPerSecond(),
  });
  // Jetstream: one sink on the hub converts each committed run once for every subscriber.
  const jetstreamParts = () => {
    const compressor = loadCompressor();
    const jlog = log.child({ stage: 'jetstream' });
    jlog.info({ compressor: compressor.name }, 'Jetstream served at /subscribe');
    const fanout = new JetstreamFanout({ compressor, metrics });
    hub.add(fanout);
    const replayPages = new ReplayPages({ pages, compressor, metrics });
    return jetstreamRoute({ hub, fanout, db, pages: replayPages, log: jlog, metrics, maxBufferBytes: config.consumerMaxBufferBytes, replayGate });
  };
  const sequencer = new Sequencer({
    db,
    pipeline: database.pipeline,
    log: log.child({ stage: 'sequencer' }),
    metrics,
    maxDelayMs: config.batchMaxDelayMs,
    maxBatch: config.batchMaxEvents,
    partitions: { spanMs: config.eventLogPartitionMs, maxBytes: config.replayMaxBytes },
    layout: WS_BINARY,
  });
  const jetstream = config.jetstream ? jetstreamParts() : null;
  const firehose = new FirehoseServer({
    hub,
    db,
    routes: jetstream ? [jetstream] : [],
    replayGate,
    pages,
    log: log.child({ stage: 'firehose' }),
    metrics,
    maxBufferBytes: config.consumerMaxBufferBytes,
    maxBufferFrames: config.consumerMaxBufferFrames,
    writeTimeoutMs: config.consumerWriteTimeoutMs,
    minRate: config.consumerMinRate,
    minRatePeriodMs: config.consumerMinRatePeriodMs,
    idleTimeoutMs: config.consumerIdleTimeoutMs,
    maxConsumersPerIp: config.maxConsumersPerIp,
    trustProxy: config.trustProxy,
  });
  const retention = new Retention({ database, log, metrics, windowMs: config.replayWindowMs, maxBytes: config.replayMaxBytes, intervalMs: overrides.retentionIntervalMs });

  // Verification: identities, account state, and the commit checks on worker threads.
  const MiB = 1 << 20;
  const didResolver = createThreadedDidResolver({ plcUrl: config.plcUrl, allowInsecureWeb: config.allowInsecureHosts, maxPerSecond: config.didResolutionsPerSecond }, log.child({ stage: 'identity' }));
  const identities = new IdentityCache({
    resolver: didResolver,
    store: createIdentityStore(db),
    maxEntries: Math.floor((config.identityCacheMb * MiB) / IDENTITY_ENTRY_BYTES),
    concurrency: { plc: config.didResolutionConcurrency, web: 4 },
    onError: (did, err) => log.warn({ did, err }, 'could not persist identity'),
  });
  const accounts = new AccountRegistry({
    store: accountStore(db),
    clock,
    metrics,
    log: log.child({ stage: 'accounts' }),
    maxEntries: Math.floor((config.accountCacheMb * MiB) / ACCOUNT_ENTRY_BYTES),
  });
  const strictness = new SyncStrictness({
    globalLenient: config.lenient,
    ratchetAfter: config.syncRatchetCommits,
    saveProven: (hostId, count) => void setHostSyncProven(db, hostId, count).catch((err: unknown) => log.warn({ err, hostId }, 'could not record Sync 1.1 commits')),
    ratchet: (hostId) => {
      log.info({ hostId, after: config.syncRatchetCommits }, 'host proved it speaks Sync 1.1: its commits are held to every check from now on');
      void ratchetHostStrict(db, hostId, config.syncRatchetCommits).catch((err: unknown) => log.warn({ err, hostId }, 'could not record the Sync 1.1 ratchet'));
    },
  });
  const signatures = createFastVerifier();
  // A fan-out process verifies nothing: no threads kept waiting.
  const workers = config.role === 'fanout' ? 0 : config.verifyWorkers === -1 ? availableParallelism() : config.verifyWorkers;
  const verifyPool = workers === 0 ? null : new VerifyPool({ size: workers, signatures, log: log.child({ stage: 'verify' }), exits: metrics.verifyWorkerExits });
  const verifier: EventVerifier = timedVerifier(
    new SyncVerifier({
      identities,
      accounts,
      signatures,
      ...(verifyPool ? { checker: verifyPool } : {}),
      metrics,
      log: log.child({ stage: 'verify' }),
      strictness,
      indexCollections: config.collectionIndex,
    }),
    metrics,
  );
  const budget = new AccountBudgetStage({
    accounts,
    store: counters,
    budget: { perHour: config.accountPointsPerHour, perDay: config.accountPointsPerDay },
    clock,
    metrics,
    log: log.child({ stage: 'accounts' }),
  });

  // Ingest: a crawl per host claimed here, each a connection feeding its pipeline.
  const lifecycle = new HostLifecycle({
    db,
    log: log.child({ stage: 'ingest' }),
    metrics,
    offlineAfterFailures: config.hostOfflineAfterFailures,
    idleAfterMs: config.hostIdleAfterMs,
    promoteAfterMs: config.promoteAfterMs,
    tierOf: (host) => policy.tierOf(host),
  });
  // The hosts crawled here by id, for the per-host series (RELAY_METRICS_HOST_LABEL).
  const hostnames = new Map<number, string>();
  const openHost = (host: HostRow): HostCrawl => {
    const ref = { id: host.id, hostname: host.hostname };
    const hostLog = log.child({ stage: 'ingest', host: host.hostname });
    if (config.metricsHostLabel) hostnames.set(host.id, host.hostname);
    const reject: RejectionReporter = (r) => {
      metrics.eventsRejected.inc({ reason: r.reason });
      if (config.metricsHostLabel) metrics.hostRejections.inc({ host: host.hostname, reason: r.reason });
      rejections.record(host.id, r);
      hostLog.debug(r, 'upstream event rejected');
    };
    limits.update(host);
    strictness.update(host);
    lifecycle.track(host);
    // Claimed anew (perhaps after another process crawled it): its accounts are counted again, and what this
    // process knew of their collection index entries may be out of date.
    accounts.resetSlots(host.id);
    accounts.forgetCollectionsOfHost(host.id);
    const quota = new HostQuota({ store: counters, hostId: host.id, limits: () => limits.of(host.id), clock });
    const pipeline = new HostPipeline({
      host: ref,
      cursor: host.cursor,
      committedAbove: host.cursorAbove,
      quota,
      verifier,
      budget,
      accounts,
      accountLimit: () => limits.of(host.id).accountLimit,
      sink: sequencer,
      clock,
      reject,
      log: hostLog,
      maxPending: config.hostMaxPending,
      identityKnown: (did) => identities.peek(did) !== null,
      lag: ingestLag,
    });
    const base = hostUrls(host.hostname, config.allowInsecureHosts).ws;
    // Re-checked on every dial, not only at admission (development hosts on localhost are allowed when configured).
    const devHost = config.allowInsecureHosts && isLocalDevHost(host.hostname);
    const upstream = new UpstreamConnection({
      url: (cursor) => `${base}/xrpc/com.atproto.sync.subscribeRepos${cursor === null ? '' : `?cursor=${cursor}`}`,
      cursor: host.cursor,
      listener: {
        event: (evt) => pipeline.push(evt),
        renumbered: () => pipeline.renumbered(),
        status: (change) => lifecycle.changed(host.id, change),
        reject: (reason, detail) => reject({ reason, did: '', detail }),
      },
      log: hostLog,
      metrics,
      clock,
      reconnectBaseMs: overrides.reconnectBaseMs ?? 1000,
      reconnectMaxMs: config.reconnectMaxDelayMs,
      turns: readTurns,
      ...(config.upstreamIdleTimeoutMs ? { idleTimeoutMs: config.upstreamIdleTimeoutMs } : {}),
      ...(devHost
        ? {}
        : {
            lookup: publicOnlyLookup(lookup, (detail) => {
              metrics.upstreamDialsRefused.inc({ reason: 'address_not_public' });
              rejections.record(host.id, { reason: 'address_not_public', did: '', detail });
              hostLog.warn({ detail }, 'refused to dial a host that resolves to a non-public address');
            }),
          }),
    });
    pipeline.attach(upstream);
    return {
      quota,
      start: () => upstream.start(),
      stop: () => {
        upstream.stop();
        return pipeline.stop();
      },
      get connected() {
        return upstream.connected;
      },
      committed: () => pipeline.resume(),
    };
  };
  const crawler = new Crawler<HostCrawl>({
    database,
    log: log.child({ stage: 'ingest' }),
    scanIntervalMs: overrides.scanIntervalMs ?? 10_000,
    open: openHost,
    seen: async (host, connected) => {
      limits.update(host);
      strictness.update(host);
      await lifecycle.review(host, connected);
    },
    closed: (hostId) => {
      limits.forget(hostId);
      strictness.forget(hostId);
      lifecycle.untrack(hostId);
      hostnames.delete(hostId);
    },
    // Throttled accounts whose limit or window now allows it are released at every scan.
    scanned: async (hostIds) => {
      for (const item of await accounts.sweep(hostIds, (id) => limits.of(id).accountLimit)) sequencer.submit(item);
    },
  });
  // What a batch leaves unsettled in the collection index is asked of the accounts' PDSes, after it commits.
  const lookups = new CollectionLookups({
    db,
    pds: createPdsClient({ allowInsecureHosts: config.allowInsecureHosts, lookup }),
    hostname: async (hostId) => (await getHostById(db, hostId))?.hostname ?? null,
    perMinute: config.collectionLookupsPerMinute,
    metrics,
    log: log.child({ stage: 'collections' }),
    applied: (did) => accounts.forgetCollections(did),
  });
  sequencer.onCommitted((committed, items) => {
    for (const item of items) {
      if (!item.event) continue;
      metrics.eventsAccepted.inc({ type: item.event.kind });
      const host = hostnames.get(item.hostId);
      if (host !== undefined) metrics.hostEvents.inc({ host, type: item.event.kind });
    }
    hub.publish(committed);
    crawler.committed(new Set(items.map((i) => i.hostId)));
    lookups.committed(items);
  });

  // The services the HTTP API answers from.
  const handleSources = overrides.handleSources ?? networkHandleSources({ get: untrustedGet({ lookup, allowLoopback: config.allowInsecureHosts }) });
  const hostsService = new HostsService({
    db,
    config,
    policy,
    rejections,
    crawls: {
      isConnected: (hostId) => crawler.isConnected(hostId),
      quotaWindows: (hostId) => crawler.crawlOf(hostId)?.quota.lastWindows ?? null,
    },
    strictness,
    counters,
    clock,
    lookup,
  });
  const status = new StatusService({
    version: VERSION,
    role: config.role,
    database,
    counters,
    metrics,
    headSeq: () => hub.lastSeq,
    consumers: () => firehose.consumers,
    identityPaused: () => identities.paused(),
  });
  registerApi(app, {
    config,
    hosts: hostsService,
    accounts: new AccountsService({
      db,
      accounts,
      sink: sequencer,
      clock,
      resolveHandle: (handle) => resolveHandle(handle, { sources: handleSources, claimedHandle: async (did) => (await identities.get(did)).handle }),
    }),
    status,
    collections: new CollectionsService({ db }),
    db,
    counters,
  });
  firehose.attach(app.server);
  registerScrapeMetrics(metrics, {
    identityCache: identities,
    accountCache: accounts,
    consumers: () => firehose.consumers,
    headSeq: () => hub.lastSeq,
    oldestRetainedSeq: () => oldestRetainedSeq(db),
    hostsByStatus: () => countHostsByStatus(db),
    hostsBySyncMode: () => countHostsBySyncMode(db, config.lenient),
    eventLog: async () => ({ partitions: (await logPartitions(db)).length, bytes: await logBytes(db) }),
    countersAvailable: () => counters.available(),
    ingestLagMs: () => ingestLag.lagMs(),
    collectionIndexEntries: () => estimatedEntries(db),
    collectionIndexBytes: () => indexBytes(db),
  });

  const ctx: RelayParts = { version: VERSION, config, database, hub, firehose, sequencer, crawler, rejections, metrics, accounts, verifyPool, counters, lookups };
  let started = false;
  let stopping: Promise<void> | null = null;
  let metricsServer: MetricsServer | null = null;
  return {
    app,
    ctx,
    get metricsUrl() {
      return metricsServer?.url ?? null;
    },
    async start() {
      await database.migrate();
      await hub.start();
      // Changes made through any relay process: operators' account changes, and host changes (admission, bans,
      // limits, tiers), which a scan acts on at once.
      await database.listen(ACCOUNTS_CHANNEL, (did) => {
        accounts.forget(did);
        pages.clear();
      });
      if (config.role === 'all') await database.listen(HOSTS_CHANNEL, () => crawler.kick());
      const address = await app.listen({ port: config.port, host: config.bindHost });
      started = true;
      metricsServer = await serveMetrics(metrics.registry, { port: config.metricsPort, host: config.bindHost });
      // A fan-out process claims no host and prunes nothing: it reads what the ingesting processes commit (NOTIFY
      // relay_events, then the log), so consumer capacity grows without touching ingest.
      if (config.role === 'all') {
        crawler.start();
        retention.start();
      }
      log.info(startupSummary(config, { address, metrics: `${metricsServer.url}/metrics`, signatures: signatures.name, hashes: sha256Impl.name, verifyWorkers: workers }), config.role === 'fanout' ? 'relay started: fan-out only, serving the streams, crawling nothing' : 'relay started: crawling and serving');
      for (const warning of config.unknownVariables) log.warn(warning);
      return address;
    },
    stop() {
      stopping ??= (async () => {
        if (started) {
          await crawler.stop();
          await sequencer.stop();
          await lookups.stop();
          await retention.stop();
          firehose.close();
          await app.close();
          await metricsServer?.close();
          await hub.stop();
        }
        await verifyPool?.close();
        await didResolver.close();
        await counters.close();
        await database.close();
      })();
      return stopping;
    },
  };
}
