// Live scenarios (ingest, fanout, hosts, stalled): a fleet of fake PDS processes publishes pre-generated commits
// through a real relay process to consumer processes. One run = one relay, one fresh database.
import { cpus } from 'node:os';
import type { PlcBehaviour } from '../dev-env/fake-plc.ts';
import type { BenchLine } from './lib/record.ts';
import { corpusLines, type CorpusSpec } from './lib/corpus.ts';
import { Harness, busyShare, cpuSecondsOf, cpuTicks, threadCpuOf, machineBusy, rssOf, sleep, untilStill, waitFor, type Consumers, type Fleet, type Plc, type RelayHandle, type ThreadGroup } from './lib/harness.ts';
import type { ConnectionStats, FleetSpec } from './lib/protocol.ts';

export interface LiveOptions {
  fleets: number;
  spec: FleetSpec;
  /** Events/s per active host; 0 = as fast as the relay takes them. */
  ratePerHost: number;
  readers: { processes: number; connections: number };
  stalled: number;
  /** How the PLC directory answers (default: at once, no rate limit). */
  plc?: Partial<PlcBehaviour>;
  cpuProfDir?: string;
  /** How long to wait for consumers to receive everything once publishing ends. */
  drainTimeoutMs?: number;
  /** Settings for the relay process beyond the bench's own (an A/B of one setting). */
  relayEnv?: Record<string, string>;
  log?: (msg: string) => void;
  /**
   * Runs once the consumers have everything (or stopped making progress), with the relay and its PLC still up;
   * `commits` is what the slowest consumer received of the measured commits, logged after the warm-up's.
   */
  afterDelivery?: (h: Harness, relay: RelayHandle, plcUrl: string, delivered: { commits: number; warmup: Warmup }) => Promise<void>;
}

export interface LiveResult {
  commitsPublished: number;
  publishSeconds: number;
  /** When the first fleet started publishing the measured commits (ms since the epoch). */
  firstPublishAt: number;
  generatorCpuPerEventUs: number;
  /** The corpus the fleets published, and how long it took them to build or read it (wall time). */
  corpus: { spec: CorpusSpec; distinctRepos: number; frameSizes: number[]; repoSizes: number[]; seconds: number; cached: boolean };
  /** Per reading connection. */
  readers: ConnectionStats[];
  stalledConnections: ConnectionStats[];
  latency: Latency;
  /**
   * Latency of the known accounts' commits alone (only when there are first-seen accounts: then the consumers
   * track the known ones).
   */
  knownLatency: Latency;
  /** The warm-up before the measured phase (commits 0: none): what compiling a fresh relay's hot paths cost. */
  warmup: Warmup;
  /**
   * Requests the PLC directory had in the measured phase, how many it turned away with 429, and its process's CPU
   * meanwhile (load the relay does not cause).
   */
  plcRequests: { requests: number; rateLimited: number; cpuSeconds: number };
  /** Commits/s measured at the reading consumers: first to last commit received. */
  consumerRate: number;
  relayRssStart: number;
  relayRssPeak: number;
  relayRssEnd: number;
  relayCpuSeconds: number;
  /** The same, by the relay's thread groups (threads that ended during the run are missing). */
  relayThreadCpuSeconds: Record<ThreadGroup, number>;
  /** From the start of publishing until the consumers had everything (or stopped making progress). */
  windowSeconds: number;
  rejected: number;
  consumersDropped: number;
  /** Over the relay's whole life (account announcements included). */
  sequencer: { batches: number; meanBatchMs: number; meanBatchEvents: number };
  /** Longest interval with no commit arriving at the first reader while publishing was under way. */
  maxStallMs: number;
  backgroundBusy: number;
  /** Busy share of all cores from the first publish to the last delivery: every process, the load generator too. */
  machineBusy: number;
}

export interface Warmup {
  commits: number;
  seconds: number;
  /** The relay's CPU a commit over the warm-up, all threads. */
  relayCpuUs: number;
  /** The relay's last seq once the warm-up was delivered (the measured events come after it). */
  lastSeq: number;
}

export interface Latency {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export function percentiles(hist: Array<[number, number]>): Latency {
  const sorted = [...hist].sort((a, b) => a[0] - b[0]);
  const count = sorted.reduce((n, [, c]) => n + c, 0);
  const at = (p: number) => {
    let target = Math.ceil(count * p);
    for (const [ms, c] of sorted) {
      target -= c;
      if (target <= 0) return ms;
    }
    return sorted.at(-1)?.[0] ?? 0;
  };
  return { count, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted.at(-1)?.[0] ?? 0 };
}

interface Reports {
  connections: ConnectionStats[];
  hist: Array<[number, number]>;
  trackedHist: Array<[number, number]>;
}

async function reports(groups: Consumers[]): Promise<Reports> {
  const out: Reports = { connections: [], hist: [], trackedHist: [] };
  for (const g of groups) {
    g.send({ cmd: 'report' });
    const r = await g.next('report');
    out.connections.push(...r.connections);
    out.hist.push(...r.latencyHistogram);
    out.trackedHist.push(...r.trackedLatencyHistogram);
  }
  return out;
}

/** A live run set up: services, PLC, fleets with their corpus, the relay crawling them, consumers, accounts announced. */
export interface LiveSetup {
  backgroundBusy: number;
  plc: { child: Plc; url: string };
  fleets: Fleet[];
  relay: RelayHandle;
  readers: Consumers[];
  stalled: Consumers[];
  /** Every account's DID. */
  dids: string[];
  /** Commits the fleets will publish (0 for streaming fleets), and the account events announced before. */
  commits: number;
  announced: number;
  warmup: Warmup;
  corpus: LiveResult['corpus'];
}

/** `prepare` runs on the fresh database before the relay starts (e.g. to fill its log). */
export async function startLive(h: Harness, o: LiveOptions, relayEnv?: Record<string, string>, prepare?: () => Promise<void>): Promise<LiveSetup> {
  const log = o.log ?? (() => {});
  // The machine's load is sampled while the services come up (nothing of the run is started yet).
  const [backgroundBusy] = await Promise.all([machineBusy(1000), h.services()]);
  await prepare?.();
  const plc = await h.plc(o.plc);
  const fleets: Fleet[] = [];
  const hostnames: string[] = [];
  for (let i = 0; i < o.fleets; i++) {
    const f = await h.fleet(i, o.spec);
    fleets.push(f.child);
    hostnames.push(...f.hostnames);
  }
  const t0 = performance.now();
  // Every fleet builds (or reads) its corpus at once, one process per core share.
  for (const f of fleets) f.send({ cmd: 'prepare' });
  const docs: Array<[string, object]> = [];
  const known: string[] = [];
  const corpus: LiveResult['corpus'] = { spec: o.spec.corpus.spec, distinctRepos: o.spec.corpus.distinctRepos * o.fleets, frameSizes: [], repoSizes: [], seconds: 0, cached: true };
  let commits = 0;
  let announced = 0;
  let warmupCommits = 0;
  for (const f of fleets) {
    const p = await f.next('prepared', 1_800_000);
    docs.push(...p.docs);
    known.push(...p.known);
    corpus.frameSizes.push(...p.frameSizes);
    corpus.repoSizes.push(...p.repoSizes);
    corpus.cached &&= p.cached;
    commits += p.commits;
    announced += p.announced;
    warmupCommits += p.warmup;
  }
  corpus.seconds = (performance.now() - t0) / 1000;
  log(`${corpus.cached ? 'read' : 'generated'} ${commits} commits of ${docs.length} accounts (${announced} account events announced) in ${corpus.seconds.toFixed(1)} s`);
  plc.child.send({ cmd: 'docs', docs });
  await plc.child.next('stored');
  const relay = await h.relay({ plcUrl: plc.url, cpuProfDir: o.cpuProfDir, env: relayEnv });
  log(`relay up; ${hostnames.length} hosts listening; requesting crawls`);
  await h.requestCrawl(relay, hostnames);
  await waitFor(
    'relay subscribed to every host',
    async () => {
      let connected = 0;
      for (const f of fleets) {
        f.send({ cmd: 'subscribers' });
        connected += (await f.next('subscribers')).connected;
      }
      return connected === hostnames.length ? true : undefined;
    },
    180_000,
    200,
  );
  const readers: Consumers[] = [];
  for (let i = 0; i < o.readers.processes; i++) readers.push(await h.consumers(i, { url: relay.wsUrl, connections: o.readers.connections, mode: 'read', cursor: null }));
  const stalled: Consumers[] = [];
  if (o.stalled > 0) stalled.push(await h.consumers(99, { url: relay.wsUrl, connections: o.stalled, mode: 'stall', cursor: null }));
  if (o.spec.coldAccountsPerHost > 0) {
    for (const r of readers) {
      r.send({ cmd: 'track', dids: known });
      await r.next('tracking');
    }
  }
  log('consumers connected; announcing accounts');

  for (const f of fleets) f.send({ cmd: 'announce' });
  for (const f of fleets) await f.next('announced');
  // Let the relay settle the account announcements before the measured part.
  await waitFor(
    'account announcements to reach the consumers',
    async () => {
      const r = await reports(readers);
      return r.connections.every((c) => c.events >= announced) ? true : undefined;
    },
    120_000,
    200,
  ).catch(() => log(`warning: consumers saw fewer than ${announced} announcement events (continuing)`));
  const warmup = await warmUp(h, fleets, relay, readers, warmupCommits, log);
  return { backgroundBusy, plc, fleets, relay, readers, stalled, dids: docs.map(([did]) => did), commits, announced, warmup, corpus };
}

/**
 * The warm-up commits (the fleets' spec says which), through the relay to every consumer, whose counts then start
 * again: the measured phase meets a relay whose code is compiled, as a relay that has been running is.
 */
async function warmUp(h: Harness, fleets: Fleet[], relay: RelayHandle, readers: Consumers[], commits: number, log: (msg: string) => void): Promise<Warmup> {
  if (commits === 0) return { commits: 0, seconds: 0, relayCpuUs: 0, lastSeq: await h.metric(relay, 'relay_last_seq') };
  const pid = relay.proc.pid!;
  const cpu0 = cpuSecondsOf(pid);
  const t0 = performance.now();
  for (const f of fleets) f.send({ cmd: 'warmup' });
  for (const f of fleets) await f.next('warmed', 600_000);
  await waitFor(
    'warm-up commits to reach the consumers',
    async () => ((await reports(readers)).connections.every((c) => c.commits >= commits) ? true : undefined),
    300_000,
    100,
  );
  const seconds = (performance.now() - t0) / 1000;
  const relayCpuUs = ((cpuSecondsOf(pid) - cpu0) * 1e6) / commits;
  for (const r of readers) {
    r.send({ cmd: 'reset' });
    await r.next('reset');
  }
  log(`warmed up: ${commits} commits in ${seconds.toFixed(1)} s, relay CPU ${Math.round(relayCpuUs)} µs a commit`);
  return { commits, seconds, relayCpuUs, lastSeq: await h.metric(relay, 'relay_last_seq') };
}

export async function runLive(o: LiveOptions): Promise<LiveResult> {
  const log = o.log ?? (() => {});
  const h = new Harness();
  try {
    const { backgroundBusy, plc, fleets, relay, readers, stalled, commits, warmup, corpus } = await startLive(h, o, o.relayEnv);
    const pid = relay.proc.pid!;
    plc.child.send({ cmd: 'stats' });
    const plcStats0 = await plc.child.next('stats');
    const plcCpu0 = cpuSecondsOf(plc.child.proc.pid!);
    const relayRssStart = rssOf(pid);
    const cpu0 = cpuSecondsOf(pid);
    const threads0 = threadCpuOf(pid);
    const fleetCpu0 = fleets.reduce((n, f) => n + cpuSecondsOf(f.proc.pid!), 0);

    let relayRssPeak = relayRssStart;
    let maxStallMs = 0;
    let lastCount = -1;
    let lastChange = Date.now();
    let publishing = true;
    const sampler = (async () => {
      while (publishing) {
        relayRssPeak = Math.max(relayRssPeak, rssOf(pid));
        await sleep(250);
      }
    })();
    const stallWatch = (async () => {
      while (publishing) {
        const first = readers[0];
        if (first) {
          first.send({ cmd: 'report' });
          const c = (await first.next('report')).connections[0]!.commits;
          if (c !== lastCount) {
            lastCount = c;
            lastChange = Date.now();
          } else maxStallMs = Math.max(maxStallMs, Date.now() - lastChange);
        }
        await sleep(200);
      }
    })();

    const p0 = performance.now();
    const ticks0 = cpuTicks();
    for (const f of fleets) f.send({ cmd: 'publish', ratePerHost: o.ratePerHost });
    let hostsWithoutSubscriber = 0;
    let firstPublishAt = Infinity;
    for (const f of fleets) {
      const p = await f.next('published', 900_000);
      hostsWithoutSubscriber += p.hostsWithoutSubscriber;
      firstPublishAt = Math.min(firstPublishAt, p.startedAt);
    }
    // The relay dropping an upstream connection mid-run is a finding, not a harness detail.
    if (hostsWithoutSubscriber > 0) log(`warning: the relay was not connected to ${hostsWithoutSubscriber} active hosts when publishing ended`);
    const publishSeconds = (performance.now() - p0) / 1000;
    const generatorCpu = fleets.reduce((n, f) => n + cpuSecondsOf(f.proc.pid!), 0) - fleetCpu0;
    log(`published ${commits} commits in ${publishSeconds.toFixed(1)} s; waiting for consumers`);

    // Until every consumer has every commit, or nothing has moved for 15 s (then what arrived is reported).
    const { last: final } = await untilStill(() => reports(readers), {
      done: (r) => r.connections.every((c) => c.commits >= commits),
      progress: (r) => r.connections.reduce((n, c) => n + c.commits, 0),
      stillMs: 15_000,
      everyMs: 250,
      timeoutMs: o.drainTimeoutMs ?? 120_000,
    });
    publishing = false;
    await sampler;
    await stallWatch;
    const stalledReport = stalled.length > 0 ? await reports(stalled) : { connections: [] };
    plc.child.send({ cmd: 'stats' });
    const plcStats = await plc.child.next('stats');
    const plcCpuSeconds = cpuSecondsOf(plc.child.proc.pid!) - plcCpu0;
    const relayRssEnd = rssOf(pid);
    const relayCpuSeconds = cpuSecondsOf(pid) - cpu0;
    const threads1 = threadCpuOf(pid);
    const relayThreadCpuSeconds = Object.fromEntries(Object.entries(threads1).map(([g, s]) => [g, s - threads0[g as ThreadGroup]])) as Record<ThreadGroup, number>;
    const windowSeconds = (performance.now() - p0) / 1000;
    const machineBusyRun = busyShare(ticks0, cpuTicks());
    const rejected = await h.metric(relay, 'relay_events_rejected_total');
    const consumersDropped = await h.metric(relay, 'relay_consumers_dropped_total');
    const batches = await h.metric(relay, 'relay_sequencer_batch_seconds_count');
    const batchSeconds = await h.metric(relay, 'relay_sequencer_batch_seconds_sum');
    const batchEvents = await h.metric(relay, 'relay_sequencer_batch_events_sum');
    if (!final.connections.every((c) => c.commits >= commits)) {
      // Incomplete delivery is reported, not hidden: show what the relay said about it.
      log(`consumers missed commits; relay log tail:\n${relay.output().slice(-4000)}`);
      log(`consumer connections: ${JSON.stringify(final.connections.slice(0, 3))}`);
      const names = ['relay_events_received_total', 'relay_events_accepted_total', 'relay_host_throttles_total', 'relay_upstream_connections', 'relay_upstream_connect_failures_total', 'relay_last_seq'];
      log(`relay metrics: ${(await Promise.all(names.map(async (n) => `${n}=${await h.metric(relay, n)}`))).join(' ')}`);
    }
    const first = Math.min(...final.connections.map((c) => c.firstCommitAt || Infinity));
    const last = Math.max(...final.connections.map((c) => c.lastCommitAt));
    const minCommits = Math.min(...final.connections.map((c) => c.commits));
    await o.afterDelivery?.(h, relay, plc.url, { commits: minCommits, warmup });
    return {
      commitsPublished: commits,
      publishSeconds,
      firstPublishAt,
      generatorCpuPerEventUs: (generatorCpu / Math.max(1, commits)) * 1e6,
      corpus,
      readers: final.connections,
      stalledConnections: stalledReport.connections,
      latency: percentiles(final.hist),
      knownLatency: percentiles(final.trackedHist),
      warmup,
      plcRequests: { requests: plcStats.requests - plcStats0.requests, rateLimited: plcStats.rateLimited - plcStats0.rateLimited, cpuSeconds: plcCpuSeconds },
      consumerRate: last > first ? (minCommits / (last - first)) * 1000 : 0,
      relayRssStart,
      relayRssPeak,
      relayRssEnd,
      relayCpuSeconds,
      relayThreadCpuSeconds,
      windowSeconds,
      rejected,
      consumersDropped,
      sequencer: { batches, meanBatchMs: (batchSeconds / Math.max(1, batches)) * 1000, meanBatchEvents: batchEvents / Math.max(1, batches) },
      maxStallMs,
      backgroundBusy,
      machineBusy: machineBusyRun,
    };
  } finally {
    await h.close();
  }
}

const MB = 1024 * 1024;

/** Summary lines common to every live scenario. */
export function liveLines(r: LiveResult): BenchLine[] {
  const complete = r.readers.filter((c) => c.commits >= r.commitsPublished).length;
  const gaps = r.readers.reduce((n, c) => n + c.gaps, 0);
  const mismatches = r.readers.reduce((n, c) => n + c.scanMismatches, 0);
  return [
    { name: 'commits published', value: r.commitsPublished, unit: 'commits' },
    { name: 'consumers that received every commit', value: complete, unit: `of ${r.readers.length}` },
    { name: 'seq gaps seen by consumers', value: gaps + mismatches, unit: 'gaps' },
    { name: 'events rejected by the relay', value: r.rejected, unit: 'events' },
    { name: 'consumers dropped by the relay', value: r.consumersDropped, unit: 'connections' },
    { name: 'latency p50 (upstream publish to consumer receipt)', value: r.latency.p50, unit: 'ms' },
    { name: 'latency p99', value: r.latency.p99, unit: 'ms' },
    { name: 'latency max', value: r.latency.max, unit: 'ms' },
    ...(r.warmup.commits > 0
      ? [{ name: 'warm-up before the measured phase (relay CPU per commit, all threads)', value: Math.round(r.warmup.relayCpuUs), unit: `µs (${r.warmup.commits} commits in ${r.warmup.seconds.toFixed(1)} s, compiling included)` }]
      : []),
    { name: 'relay RSS start / peak / end', value: Math.round(r.relayRssPeak / MB), unit: `MB peak (start ${Math.round(r.relayRssStart / MB)}, end ${Math.round(r.relayRssEnd / MB)})` },
    { name: 'relay CPU', value: Math.round((r.relayCpuSeconds / Math.max(0.001, r.windowSeconds)) * 100), unit: '% of one core from first publish to last delivery' },
    {
      name: 'relay CPU per commit, by thread',
      value: Math.round((r.relayCpuSeconds * 1e6) / Math.max(1, r.commitsPublished)),
      unit: `µs (${(['main', 'verify', 'resolver', 'other'] as const).map((g) => `${g === 'verify' ? 'verify workers' : g === 'resolver' ? 'DID resolver' : g} ${Math.round((r.relayThreadCpuSeconds[g] * 1e6) / Math.max(1, r.commitsPublished))}`).join(', ')})`,
    },
    { name: 'sequencer mean batch', value: Math.round(r.sequencer.meanBatchEvents), unit: `events, ${r.sequencer.meanBatchMs.toFixed(1)} ms per transaction (${r.sequencer.batches} batches)` },
    { name: 'generator CPU per event', value: Math.round(r.generatorCpuPerEventUs), unit: `µs (caps the generator at ~${Math.round(1e6 / Math.max(1, r.generatorCpuPerEventUs))} events/s per core)` },
    { name: 'background machine load before the run', value: Math.round(r.backgroundBusy * 100), unit: `% of ${cpus().length} cores busy` },
    // A machine near 100 % busy is a queue: latencies then measure the wait for a core, whichever process holds it.
    { name: 'machine load from first publish to last delivery', value: Math.round(r.machineBusy * 100), unit: `% of ${cpus().length} cores busy (the relay, the load generator, PostgreSQL, Redis)` },
    ...corpusLines(r.corpus),
  ];
}
