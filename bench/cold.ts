// Cold start (issue 14): hosts whose accounts the relay has mostly never seen. A share of each host's accounts is
// known (announced and settled before the measured phase); the rest each publish one commit, their first the relay
// sees, as fast as the relay takes them, with the known accounts' commits spread among them in the same streams.
// The PLC directory answers after a latency with jitter, and can rate-limit. Measured: first-seen accounts per
// second end to end (verified, committed, delivered to a consumer), the time to the first of them at the consumer,
// and how long the known accounts' commits took meanwhile (ordered per host, they queue behind the new accounts).
import type { BenchLine } from './lib/record.ts';
import { liveLines, runLive } from './live.ts';
import { live, num, type Flags } from './scenarios.ts';

/**
 * Flags (hosts and accounts per fleet process, as in the other live scenarios): --hosts 10, --accounts-per-host 250
 * (all of a host's accounts), --warm-share 0.1 (known before the measured phase), --events-per-host 100 (the known
 * accounts' commits), --plc-latency-ms 50, --plc-jitter 0.2, --plc-rate 0 (requests/s, 0 = no limit), and the
 * corpus and live flags; --distinct-repos defaults to 200.
 */
export async function benchCold(flags: Flags): Promise<BenchLine[]> {
  const hosts = num(flags, 'hosts', 10);
  const accounts = num(flags, 'accounts-per-host', 250);
  const warmShare = num(flags, 'warm-share', 0.1);
  if (warmShare > 1) throw new Error(`--warm-share must be between 0 and 1, got ${warmShare}`);
  const known = Math.round(accounts * warmShare);
  const plc = { latencyMs: num(flags, 'plc-latency-ms', 50), jitter: num(flags, 'plc-jitter', 0.2), maxPerSecond: num(flags, 'plc-rate', 0) };
  // These mean something else here than in live(): read above, not again there.
  const rest = new Map([...flags].filter(([k]) => !['hosts', 'active-hosts', 'accounts-per-host', 'events-per-host'].includes(k)));
  const o = live(rest, {
    fleets: 2,
    spec: {
      hosts,
      activeHosts: hosts,
      accountsPerHost: known,
      eventsPerHost: known > 0 ? num(flags, 'events-per-host', 100) : 0,
      coldAccountsPerHost: accounts - known,
      k256Share: 0.8,
      distinctRepos: 200,
    },
    ratePerHost: 0,
    readers: { processes: 1, connections: 1 },
    stalled: 0,
    plc,
  });
  const r = await runLive(o);
  const allHosts = o.fleets * hosts;
  const firstSeen = allHosts * o.spec.coldAccountsPerHost;
  // The slowest reader decides: delivered means delivered to every consumer.
  const delivered = Math.min(...r.readers.map((c) => c.untracked.commits));
  const lastAt = Math.max(...r.readers.map((c) => c.untracked.lastAt));
  const firstAt = Math.min(...r.readers.map((c) => c.untracked.firstAt || Infinity));
  const seconds = (lastAt - r.firstPublishAt) / 1000;
  const limit = plc.maxPerSecond > 0 ? `, ${plc.maxPerSecond} requests/s then 429` : '';
  return [
    { name: 'first-seen accounts per second (verified, committed, delivered)', value: seconds > 0 ? Math.round(delivered / seconds) : 0, unit: `accounts/s (first publish to the last one's commit at the consumer, ${seconds.toFixed(2)} s)`, target: { op: '>=', value: 2_000 } },
    { name: "first publish to the first first-seen account's commit at the consumer", value: Number.isFinite(firstAt) ? firstAt - r.firstPublishAt : -1, unit: 'ms', target: { op: '<', value: 200 } },
    { name: 'known accounts: commit latency p99 during the cold burst', value: r.knownLatency.p99, unit: `ms (p50 ${r.knownLatency.p50}, max ${r.knownLatency.max}; ${r.knownLatency.count} commits)`, target: { op: '<', value: 100 } },
    { name: 'known accounts: commit latency p50 during the cold burst', value: r.knownLatency.p50, unit: 'ms' },
    { name: 'first-seen accounts delivered', value: delivered, unit: `of ${firstSeen} (${allHosts} hosts x ${accounts} accounts, ${known} of each host's known)` },
    { name: 'PLC directory requests', value: r.plcRequests.requests, unit: `requests, ${r.plcRequests.rateLimited} answered 429 (latency ${plc.latencyMs} ms ±${Math.round(plc.jitter * 100)}%${limit})` },
    ...liveLines(r),
  ];
}
