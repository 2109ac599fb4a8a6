// The relay's own state, for health checks, the console and `relay consumers`.
import type { Counter } from 'prom-client';
import type { Database } from '../storage/db.ts';
import type { CounterStore } from '../quota/counters.ts';
import type { RelayMetrics } from '../metrics.ts';
import type { ConsumerView, RelayStats } from './contract.ts';
import type { RelayRole } from '../config/config.ts';

export interface StatusServiceOptions {
  version: string;
  /** What this process does (RELAY_ROLE). */
  role: RelayRole;
  database: Database;
  counters: CounterStore;
  metrics: RelayMetrics;
  /** The last seq this process broadcast. */
  headSeq: () => number;
  consumers: () => Iterable<{ describe(headSeq: number): ConsumerView }>;
  /** DID directories paused after refusing or failing (identity/cache.ts). */
  identityPaused: () => string[];
}

export type Health =
  | { ok: false; message: string }
  | {
      ok: true;
      status: 'ok' | 'degraded';
      version: string;
      role: RelayRole;
      seq: number;
      counters: 'ok' | 'unavailable';
      countersKind: CounterStore['kind'];
      /** degraded while the PLC directory refuses or fails: first-seen accounts' events wait. */
      identity: 'ok' | 'degraded';
    };

async function total(counter: Counter<string>): Promise<number> {
  return (await counter.get()).values.reduce((sum, v) => sum + v.value, 0);
}

export class StatusService {
  private readonly o: StatusServiceOptions;

  constructor(o: StatusServiceOptions) {
    this.o = o;
  }

  async health(): Promise<Health> {
    const { database, counters, version, role, headSeq } = this.o;
    try {
      await database.ping();
    } catch (err) {
      return { ok: false, message: (err as Error).message };
    }
    // Without the quota counters the relay still serves the firehose, but holds its hosts; without the PLC directory it
    // holds the events of accounts it cannot resolve: degraded, not down.
    const up = counters.available();
    const identity = this.o.identityPaused().includes('plc') ? 'degraded' : 'ok';
    return {
      ok: true,
      status: up && identity === 'ok' ? 'ok' : 'degraded',
      version,
      role,
      seq: headSeq(),
      counters: up ? 'ok' : 'unavailable',
      countersKind: counters.kind,
      identity,
    };
  }

  consumers(): ConsumerView[] {
    const head = this.o.headSeq();
    return [...this.o.consumers()].map((c) => c.describe(head));
  }

  /** Cumulative counters; the console derives rates from successive polls. */
  async stats(): Promise<RelayStats> {
    const m = this.o.metrics;
    return {
      at: Date.now(),
      version: this.o.version,
      headSeq: this.o.headSeq(),
      consumers: [...this.o.consumers()].length,
      received: await total(m.eventsReceived),
      accepted: await total(m.eventsAccepted),
      rejected: await total(m.eventsRejected),
      broadcast: await total(m.eventsBroadcast),
    };
  }
}
