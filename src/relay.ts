// Wires the pipeline together: ingest (crawler) -> verify -> sequence/persist -> fan-out, with the HTTP API beside.
import { readFileSync } from 'node:fs';
import Fastify, { type FastifyInstance } from 'fastify';
import type { RelayConfig } from './config/config.ts';
import type { RelayContext } from './context.ts';
import { openDatabase, type Database } from './storage/db.ts';
import { FanoutHub } from './firehose/hub.ts';
import { FirehoseServer, SUBSCRIBE_REPOS_PATH } from './firehose/server.ts';
import { Crawler } from './ingest/crawler.ts';
import { RejectionLog } from './ingest/rejections.ts';
import { Sequencer } from './sequencer/sequencer.ts';
import { Retention } from './sequencer/retention.ts';
import { createMetrics, registerScrapeMetrics, timedVerifier } from './metrics.ts';
import type { EventVerifier } from './verify/types.ts';
import { createCounterStore } from './quota/counters.ts';
import { HostPolicy } from './quota/trust.ts';
import { AccountGate } from './quota/account-gate.ts';
import { ACCOUNTS_CHANNEL } from './storage/accounts.ts';
import { oldestRetainedSeq } from './storage/events.ts';
import { countHostsByStatus } from './storage/hosts.ts';
import { SyncVerifier } from './verify/verifier.ts';
import { AccountStates } from './verify/account-state.ts';
import { IdentityCache } from './identity/cache.ts';
import { createDidResolver } from './identity/resolver.ts';
import { createIdentityStore } from './storage/identities.ts';
import { createFastVerifier } from './protocol/signature.ts';
import { VerifyPool } from './verify/pool.ts';
import { availableParallelism } from 'node:os';
import { registerAdmin } from './api/admin.ts';
import { registerAccountAdmin } from './api/admin-accounts.ts';
import { registerHealth } from './api/health.ts';
import { registerRequestCrawl } from './api/com.atproto.sync.requestCrawl.ts';
import { registerHostEndpoints } from './api/com.atproto.sync.hosts.ts';
import { registerRepoEndpoints } from './api/com.atproto.sync.repos.ts';
import { XrpcError, sendXrpcError } from './api/xrpc-error.ts';
import { registerRateLimits } from './api/rate-limit.ts';
import { registerHostStatus } from './api/host-status.ts';
import { registerConsole } from './api/console/index.ts';
import { registerStatusPage } from './api/status-page/index.ts';
import { systemLookup, type Lookup } from './ingest/address-policy.ts';
import { serializeRequest } from './api/log-redaction.ts';

const VERSION = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

export interface Relay {
  readonly app: FastifyInstance;
  readonly ctx: RelayContext;
  /** Migrates, starts every stage and listens; resolves to the base URL. */
  start(): Promise<string>;
  /** Stops ingest, commits what was accepted, closes consumers and the database. Idempotent. */
  stop(): Promise<void>;
}

export interface RelayOverrides {
  /** Replaces the verification stage (tests). */
  verifier?: EventVerifier;
  /** Host scan period and reconnect base delay (tests shorten them). */
  scanIntervalMs?: number;
  reconnectBaseMs?: number;
  /** Quota window lengths (tests shorten the hour and day). */
  quotaWindows?: { hourMs: number; dayMs: number };
  /** How often the replay window is pruned (tests shorten it). */
  retentionIntervalMs?: number;
  /** Name resolution for host admission checks (tests stub it; there is no DNS here). */
  lookup?: Lookup;
}

export async function createRelay(config: RelayConfig, overrides: RelayOverrides = {}): Promise<Relay> {
  const app = Fastify({
    logger: { level: config.logLevel, redact: ['req.headers.authorization'], serializers: { req: serializeRequest } },
    bodyLimit: 64 * 1024,
    trustProxy: config.trustProxy,
  });
  const log = app.log as unknown as import('pino').Logger;
  const metrics = createMetrics();
  const database: Database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  const hub = new FanoutHub({ database, log: log.child({ stage: 'fanout' }), metrics });
  const rejections = new RejectionLog();
  const counters = createCounterStore(config.redisUrl, config.redisPrefix);
  // The sequencer's commit callback resumes paused host sockets, so it needs the crawler created just below.
  let crawler: Crawler | undefined;
  const sequencer = new Sequencer({
    db: database.db,
    log: log.child({ stage: 'sequencer' }),
    metrics,
    maxDelayMs: config.batchMaxDelayMs,
    maxBatch: config.batchMaxEvents,
    onCommitted: (committed, items) => {
      for (const item of items) if (item.event) metrics.eventsAccepted.inc({ kind: item.event.kind });
      hub.publish(committed);
      crawler?.onCommitted(new Set(items.map((i) => i.hostId)));
    },
  });
  const identities = new IdentityCache({
    resolver: createDidResolver({ plcUrl: config.plcUrl, allowInsecureWeb: config.allowInsecureHosts, maxPerSecond: config.didResolutionsPerSecond }),
    store: createIdentityStore(database.db),
    onError: (did, err) => log.warn({ did, err }, 'could not persist identity'),
  });
  const accountStates = new AccountStates(database.db);
  const signatures = createFastVerifier();
  const verifyWorkers = config.verifyWorkers === -1 ? availableParallelism() : config.verifyWorkers;
  // The secp256k1 path sets the relay's ceiling: say which one this machine got (scripts/build-native.sh).
  log.info({ signatures: signatures.name, verifyWorkers }, 'signature checks');
  const verifyPool =
    overrides.verifier || verifyWorkers === 0
      ? null
      : new VerifyPool({ size: verifyWorkers, signatures, log: log.child({ stage: 'verify' }), exits: metrics.verifyWorkerExits });
  const verifier: EventVerifier =
    overrides.verifier ??
    new SyncVerifier({
      identities,
      accounts: accountStates,
      signatures,
      ...(verifyPool ? { checker: verifyPool } : {}),
      metrics,
      log: log.child({ stage: 'verify' }),
      lenient: config.lenient,
    });
  const policy = new HostPolicy(config);
  const gate = new AccountGate({
    db: database.db,
    accounts: accountStates,
    store: counters,
    metrics,
    log: log.child({ stage: 'quota' }),
    accountLimit: (hostId) => crawlerInstance.limitsOf(hostId).accountLimit,
    budget: { perHour: config.accountPointsPerHour, perDay: config.accountPointsPerDay },
    windows: overrides.quotaWindows,
  });
  const crawlerInstance: Crawler = new Crawler({
    database,
    sequencer,
    verifier: timedVerifier(verifier, metrics),
    rejections,
    log: log.child({ stage: 'ingest' }),
    metrics,
    allowInsecureHosts: config.allowInsecureHosts,
    hostMaxPending: config.hostMaxPending,
    offlineAfterFailures: config.hostOfflineAfterFailures,
    reconnectBaseMs: overrides.reconnectBaseMs ?? 1000,
    reconnectMaxMs: config.reconnectMaxDelayMs,
    scanIntervalMs: overrides.scanIntervalMs ?? 10_000,
    counters,
    policy,
    gate: overrides.verifier ? undefined : gate,
    promoteAfterMs: config.promoteAfterMs,
    idleAfterMs: config.hostIdleAfterMs,
    quotaWindows: overrides.quotaWindows,
    upstreamIdleTimeoutMs: config.upstreamIdleTimeoutMs,
    lookup: overrides.lookup ?? systemLookup,
  });
  crawler = crawlerInstance;
  const firehose = new FirehoseServer({
    hub,
    db: database.db,
    log: log.child({ stage: 'firehose' }),
    metrics,
    maxBufferBytes: config.consumerMaxBufferBytes,
    maxBufferFrames: config.consumerMaxBufferFrames,
    writeTimeoutMs: config.consumerWriteTimeoutMs,
    idleTimeoutMs: config.consumerIdleTimeoutMs,
    maxConsumersPerIp: config.maxConsumersPerIp,
    trustProxy: config.trustProxy,
  });
  const retention = new Retention({
    db: database.db,
    log,
    metrics,
    windowMs: config.replayWindowMs,
    maxBytes: config.replayMaxBytes,
    intervalMs: overrides.retentionIntervalMs,
  });
  const ctx: RelayContext = {
    version: VERSION,
    config,
    database,
    hub,
    firehose,
    sequencer,
    crawler: crawlerInstance,
    rejections,
    metrics,
    accountStates,
    policy,
    verifyPool,
    counters,
  };
  registerScrapeMetrics(metrics, {
    identityCache: identities,
    consumers: () => firehose.consumers,
    headSeq: () => hub.lastSeq,
    oldestRetainedSeq: () => oldestRetainedSeq(database.db),
    hostsByStatus: () => countHostsByStatus(database.db),
    countersAvailable: () => counters.available(),
  });

  app.setErrorHandler((err, req, reply) => {
    if (err instanceof XrpcError) return sendXrpcError(reply, err.status, err.error, err.message);
    const status = (err as { statusCode?: number }).statusCode ?? 500;
    if (status >= 500) req.log.error({ err }, 'request failed');
    const message = err instanceof Error ? err.message : String(err);
    return sendXrpcError(reply, status, status >= 500 ? 'InternalServerError' : 'InvalidRequest', message);
  });
  app.setNotFoundHandler((req, reply) =>
    req.url.startsWith('/xrpc/')
      ? sendXrpcError(reply, 501, 'MethodNotImplemented', `${req.method} ${req.url.split('?')[0]} is not implemented`)
      : sendXrpcError(reply, 404, 'NotFound', `${req.method} ${req.url.split('?')[0]} not found`),
  );
  registerRateLimits(app, {
    store: counters,
    reads: { name: 'reads', limit: config.rateLimitReadsPer5Min, windowMs: 5 * 60_000 },
    crawl: { name: 'crawl', limit: config.rateLimitCrawlsPerHour, windowMs: 3_600_000 },
  });
  app.get(SUBSCRIBE_REPOS_PATH, async (_req, reply) =>
    sendXrpcError(reply, 426, 'UpgradeRequired', 'subscribeRepos is a WebSocket stream'),
  );
  registerHealth(app, ctx);
  registerRequestCrawl(app, ctx, overrides.lookup ?? systemLookup);
  registerHostEndpoints(app, ctx);
  registerRepoEndpoints(app, ctx);
  registerHostStatus(app, ctx, counters, overrides.quotaWindows);
  registerAdmin(app, ctx);
  registerAccountAdmin(app, ctx);
  registerConsole(app, ctx);
  registerStatusPage(app);
  firehose.attach(app.server);

  let started = false;
  let stopping: Promise<void> | null = null;
  return {
    app,
    ctx,
    async start() {
      await database.migrate();
      await hub.start();
      // Operator changes to an account made through any relay process.
      await database.listen(ACCOUNTS_CHANNEL, (did) => accountStates.forget(did));
      const address = await app.listen({ port: config.port, host: config.bindHost });
      started = true;
      crawlerInstance.start();
      retention.start();
      return address;
    },
    stop() {
      stopping ??= (async () => {
        if (started) {
          await crawlerInstance.stop();
          await sequencer.stop();
          await retention.stop();
          firehose.close();
          await app.close();
          await hub.stop();
        }
        await verifyPool?.close();
        await counters.close();
        await database.close();
      })();
      return stopping;
    },
  };
}
