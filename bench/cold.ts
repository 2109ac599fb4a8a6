// Cold start (issue 14): hosts whose accounts the relay has mostly never seen. A share of each host's accounts is
// known (announced and settled before the measured phase); the rest each publish one commit, their first the relay
// sees, as fast as the relay takes them, with the known accounts' commits spread among them in the same streams.
// The PLC directory answers after a latency with jitter, and can rate-limit. Measured: first-seen accounts per
// second end to end (verified, committed, delivered to a consumer), the time to the first of them at the consumer,
// and how much the first-seen accounts delayed the known accounts' commits: each run is done twice, the second time
// with the known accounts' commits alone (no first-seen account on the hosts, the known commits published at the
// same pace), and the delay is the known accounts' latency p99 in the first run less theirs in the second. Their
// latency itself is reported too: in the burst, which offers ~30,000 commits/s to a relay that takes ~10,000, it is
// mostly the burst's queue, there whether or not any account in it is new.
import { cpus } from 'node:os';
import type { BenchLine } from './lib/record.ts';
import { liveLines, runLive, type Latency } from './live.ts';
import { live, num, warmupPerHost, type Flags } from './scenarios.ts';

/**
 * Flags (hosts and accounts per fleet process, as in the other live scenarios): --hosts 10, --accounts-per-host 250
 * (all of a host's accounts), --warm-share 0.1 (known before the measured phase), --events-per-host 100 (the known
 * accounts' commits), --plc-latency-ms 50, --plc-jitter 0.2, --plc-rate 0 (requests/s, 0 = no limit), and the
 * corpus and live flags; --distinct-repos defaults to 200; --paced-rate 2000 (first-seen accounts/s of the second,
 * paced run; 0 skips it).
 */
export async function benchCold(flags: Flags): Promise<BenchLine[]> {
  const hosts = num(flags, 'hosts', 10);
  const accounts = num(flags, 'accounts-per-host', 250);
  const warmShare = num(flags, 'warm-share', 0.1);
  if (warmShare > 1) throw new Error(`--warm-share must be between 0 and 1, got ${warmShare}`);
  const known = Math.round(accounts * warmShare);
  const fleets = num(flags, 'fleets', 2);
  const plc = { latencyMs: num(flags, 'plc-latency-ms', 50), jitter: num(flags, 'plc-jitter', 0.2), maxPerSecond: num(flags, 'plc-rate', 0) };
  // These mean something else here than in live(): read above, not again there.
  const rest = new Map([...flags].filter(([k]) => !['hosts', 'active-hosts', 'accounts-per-host', 'events-per-host'].includes(k)));
  const o = live(rest, {
    fleets,
    spec: {
      hosts,
      activeHosts: hosts,
      accountsPerHost: known,
      eventsPerHost: known > 0 ? num(flags, 'events-per-host', 100) : 0,
      warmupPerHost: known > 0 ? warmupPerHost(fleets * hosts) : 0,
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
  // The known accounts' commits alone, at the pace they had among the first-seen ones: every commit is theirs.
  const alone = (ratePerHost: number) => runLive({ ...o, spec: { ...o.spec, coldAccountsPerHost: 0 }, ratePerHost });
  const burstAlone = known > 0 ? await alone(0) : null;
  // The same hosts and accounts again, published at a set rate of first-seen accounts (with the known accounts'
  // commits among them at their share): at the most the relay can take, a burst is a queue, and every commit's
  // latency is its wait in it (6,500 commits published in 0.2 s take ~2 s to go through); at the target rate, what
  // the first-seen path costs a commit, and whether new accounts delay the known ones, show.
  const pacedRate = num(flags, 'paced-rate', 2_000);
  const coldPerHost = pacedRate / allHosts;
  const paced = pacedRate > 0 ? await runLive({ ...o, ratePerHost: coldPerHost * (1 + o.spec.eventsPerHost / o.spec.coldAccountsPerHost) }) : null;
  const pacedAlone = paced && known > 0 ? await alone((coldPerHost * o.spec.eventsPerHost) / o.spec.coldAccountsPerHost) : null;
  const firstSeen = allHosts * o.spec.coldAccountsPerHost;
  // The slowest reader decides: delivered means delivered to every consumer.
  const firstSeenOf = (run: typeof r) => {
    const delivered = Math.min(...run.readers.map((c) => c.untracked.commits));
    const lastAt = Math.max(...run.readers.map((c) => c.untracked.lastAt));
    const firstAt = Math.min(...run.readers.map((c) => c.untracked.firstAt || Infinity));
    const seconds = (lastAt - run.firstPublishAt) / 1000;
    return { delivered, seconds, perSecond: seconds > 0 ? Math.round(delivered / seconds) : 0, firstMs: Number.isFinite(firstAt) ? firstAt - run.firstPublishAt : -1 };
  };
  const burst = firstSeenOf(r);
  const { delivered, seconds } = burst;
  const limit = plc.maxPerSecond > 0 ? `, ${plc.maxPerSecond} requests/s then 429` : '';
  const at = `at ${pacedRate.toLocaleString('en-US')} first-seen accounts/s`;
  const pacedLines: BenchLine[] = [];
  if (paced) {
    const p = firstSeenOf(paced);
    pacedLines.push(
      { name: `${at}: first-seen accounts per second (verified, committed, delivered)`, value: p.perSecond, unit: `accounts/s (${p.delivered} of ${firstSeen} delivered, the last ${p.seconds.toFixed(2)} s after the first publish)` },
      { name: `${at}: first publish to the first first-seen account's commit at the consumer`, value: p.firstMs, unit: 'ms', target: { op: '<', value: 200 } },
      ...delayLines(`${at}: known accounts`, paced.knownLatency, pacedAlone?.latency ?? null),
      { name: `${at}: every commit's latency p99 (upstream publish to consumer receipt)`, value: paced.latency.p99, unit: `ms (p50 ${paced.latency.p50})` },
      { name: `${at}: machine load from first publish to last delivery`, value: Math.round(paced.machineBusy * 100), unit: `% of ${cpus().length} cores busy (relay CPU per commit ${Math.round((paced.relayCpuSeconds * 1e6) / Math.max(1, paced.commitsPublished))} µs)` },
    );
  }
  return [
    { name: 'first-seen accounts per second (verified, committed, delivered)', value: burst.perSecond, unit: `accounts/s (first publish to the last one's commit at the consumer, ${seconds.toFixed(2)} s)`, target: { op: '>=', value: 2_000 } },
    { name: "first publish to the first first-seen account's commit at the consumer", value: burst.firstMs, unit: 'ms', target: { op: '<', value: 200 } },
    ...delayLines('known accounts in the cold burst', r.knownLatency, burstAlone?.latency ?? null),
    ...pacedLines,
    { name: 'first-seen accounts delivered', value: delivered, unit: `of ${firstSeen} (${allHosts} hosts x ${accounts} accounts, ${known} of each host's known)` },
    { name: 'PLC directory requests', value: r.plcRequests.requests, unit: `requests, ${r.plcRequests.rateLimited} answered 429 (latency ${plc.latencyMs} ms ±${Math.round(plc.jitter * 100)}%${limit}; the fake directory's CPU ${Math.round((r.plcRequests.cpuSeconds * 1e6) / Math.max(1, r.plcRequests.requests))} µs a request)` },
    ...liveLines(r),
  ];
}

/**
 * The known accounts' commit latency among the first-seen accounts, the same commits' alone, and the difference at
 * p99: how much the first-seen accounts delayed them (the target: < 100 ms).
 */
function delayLines(prefix: string, among: Latency, alone: Latency | null): BenchLine[] {
  const described = (l: Latency) => `ms (p50 ${l.p50}, max ${l.max}; ${l.count} commits)`;
  const lines: BenchLine[] = [{ name: `${prefix}: commit latency p99 among the first-seen accounts`, value: among.p99, unit: described(among) }];
  if (alone) {
    lines.push(
      { name: `${prefix}: commit latency p99 alone (no first-seen accounts on the hosts)`, value: alone.p99, unit: described(alone) },
      { name: `${prefix}: delayed by the first-seen accounts, at p99`, value: among.p99 - alone.p99, unit: 'ms (p99 among them less p99 alone)', target: { op: '<', value: 100 } },
    );
  }
  return lines;
}
