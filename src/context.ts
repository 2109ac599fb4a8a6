import type { RelayConfig } from './config/config.ts';
import type { Database } from './storage/db.ts';
import type { FanoutHub } from './firehose/hub.ts';
import type { FirehoseServer } from './firehose/server.ts';
import type { Crawler } from './ingest/crawler.ts';
import type { RejectionLog } from './ingest/rejections.ts';
import type { Sequencer } from './sequencer/sequencer.ts';
import type { RelayMetrics } from './metrics.ts';
import type { AccountStates } from './verify/account-state.ts';
import type { HostPolicy } from './quota/trust.ts';
import type { CounterStore } from './quota/counters.ts';
import type { VerifyPool } from './verify/pool.ts';

/** The relay's parts, handed explicitly to the API handlers. */
export interface RelayContext {
  version: string;
  config: RelayConfig;
  database: Database;
  hub: FanoutHub;
  firehose: FirehoseServer;
  sequencer: Sequencer;
  crawler: Crawler;
  rejections: RejectionLog;
  metrics: RelayMetrics;
  /** The verifier's view of accounts; operators' changes must reach it. */
  accountStates: AccountStates;
  /** Host tiers and limits. */
  policy: HostPolicy;
  /** Worker threads running commit checks; null when verification runs on the main thread. */
  verifyPool: VerifyPool | null;
  /** Shared quota counters (Redis, or in-process). */
  counters: CounterStore;
}
