// Prometheus metrics, all named relay_*. One registry per relay instance (no global default registry), so several
// relays in one test process do not collide.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'relay_process_' });
  const r = [registry];
  return {
    registry,
    eventsReceived: new Counter({
      name: 'relay_events_received_total',
      help: 'Upstream frames received, by message type',
      labelNames: ['type'] as const,
      registers: r,
    }),
    eventsAccepted: new Counter({
      name: 'relay_events_accepted_total',
      help: 'Upstream events accepted for rebroadcast, by kind',
      labelNames: ['kind'] as const,
      registers: r,
    }),
    eventsRejected: new Counter({
      name: 'relay_events_rejected_total',
      help: 'Upstream events dropped, by reason',
      labelNames: ['reason'] as const,
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
    hostsByStatus: new Gauge({
      name: 'relay_hosts',
      help: 'Known hosts by status',
      labelNames: ['status'] as const,
      registers: r,
    }),
    hostsThrottled: new Counter({
      name: 'relay_host_throttles_total',
      help: 'Times a host went over its event quota and was disconnected until the window reset',
      registers: r,
    }),
    consumers: new Gauge({ name: 'relay_consumers', help: 'Connected firehose consumers', registers: r }),
    consumersDropped: new Counter({
      name: 'relay_consumers_dropped_total',
      help: 'Consumers disconnected by the relay, by reason',
      labelNames: ['reason'] as const,
      registers: r,
    }),
    framesSent: new Counter({ name: 'relay_frames_sent_total', help: 'Frames written to consumers', registers: r }),
    replayEvents: new Counter({
      name: 'relay_replay_events_total',
      help: 'Events sent to consumers from the replay window',
      registers: r,
    }),
    eventsPruned: new Counter({
      name: 'relay_events_pruned_total',
      help: 'Events removed from the replay window',
      registers: r,
    }),
    verifyWorkerExits: new Counter({
      name: 'relay_verify_worker_exits_total',
      help: 'Verification worker threads that died unexpectedly (replaced; their jobs run again)',
      registers: r,
    }),
  };
}

export type RelayMetrics = ReturnType<typeof createMetrics>;
