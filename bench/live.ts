// Live scenarios (ingest, fanout, hosts, stalled): a fleet of fake PDS processes publishes pre-generated commits
// through a real relay process to consumer processes. One run = one relay, one fresh database.
import { cpus } from 'node:os';
import type { BenchLine } from './lib/record.ts';
import { Harness, cpuSecondsOf, machineBusy, rssOf, sleep, waitFor, type Consumers, type Fleet } from './lib/harness.ts';
import type { ConnectionStats, FleetSpec } from './lib/protocol.ts';

export interface LiveOptions {
  fleets: number;
  spec: FleetSpec;
  /** Events/s per active host; 0 = as fast as the relay takes them. */
  ratePerHost: number;
  readers: { processes: number; connections: number };
  stalled: number;
  cpuProfDir?: string;
  /** How long to wait for consumers to receive everything once publishing ends. */
  drainTimeoutMs?: number;
  log?: (msg: string) => void;
}

export interface LiveResult {
  commitsPublished: number;
  publishSeconds: number;
  generatorCpuPerEventUs: number;
  pregenSeconds: number;
  /** Per reading connection. */
  readers: ConnectionStats[];
  stalledConnections: ConnectionStats[];
  latency: { count: number; p50: number; p90: number; p99: number; max: number };
  /** Commits/s measured at the reading consumers: first to last commit received. */
  consumerRate: number;
  relayRssStart: number;
  relayRssPeak: number;
  relayRssEnd: number;
  relayCpuSeconds: number;
  /** From the start of publishing until the consumers had everything (or stopped making progress). */
  windowSeconds: number;
  rejected: number;
  consumersDropped: number;
  /** Over the relay's whole life (account announcements included). */
  sequencer: { batches: number; meanBatchMs: number; meanBatchEvents: number };
  /** Longest interval with no commit arriving at the first reader while publishing was under way. */
  maxStallMs: number;
  backgroundBusy: number;
}

export function percentiles(hist: Array<[number, number]>): LiveResult['latency'] {
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

async function reports(groups: Consumers[]): Promise<{ connections: ConnectionStats[]; hist: Array<[number, number]> }> {
  const connections: ConnectionStats[] = [];
  const hist: Array<[number, number]> = [];
  for (const g of groups) {
    g.send({ cmd: 'report' });
    const r = await g.next('report');
    connections.push(...r.connections);
    hist.push(...r.latencyHistogram);
  }
  return { connections, hist };
}

export async function runLive(o: LiveOptions): Promise<LiveResult> {
  const log = o.log ?? (() => {});
  const h = new Harness();
  try {
    // The machine's load is sampled while the services come up (nothing of the run is started yet).
    const [backgroundBusy] = await Promise.all([machineBusy(1000), h.services()]);
    const plc = await h.plc();
    const fleets: Fleet[] = [];
    const hostnames: string[] = [];
    for (let i = 0; i < o.fleets; i++) {
      const f = await h.fleet(i, o.spec);
      fleets.push(f.child);
      hostnames.push(...f.hostnames);
    }
    const docs: Array<[string, object]> = [];
    for (const f of fleets) {
      f.send({ cmd: 'accounts' });
      docs.push(...(await f.next('docs')).docs);
    }
    plc.child.send({ cmd: 'docs', docs });
    await plc.child.next('stored');
    const t0 = performance.now();
    let commits = 0;
    let announced = 0;
    // Pre-generation runs in every fleet at once (one process per core share).
    for (const f of fleets) f.send({ cmd: 'prepare' });
    for (const f of fleets) {
      const p = await f.next('prepared', 600_000);
      commits += p.commits;
      announced += p.announced;
    }
    const pregenSeconds = (performance.now() - t0) / 1000;
    log(`pre-generated ${commits} commits (${announced} account events announced) in ${pregenSeconds.toFixed(1)} s`);
    const relay = await h.relay({ plcUrl: plc.url, cpuProfDir: o.cpuProfDir });
    const pid = relay.proc.pid!;
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
    const relayRssStart = rssOf(pid);
    const cpu0 = cpuSecondsOf(pid);
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
    for (const f of fleets) f.send({ cmd: 'publish', ratePerHost: o.ratePerHost });
    let hostsWithoutSubscriber = 0;
    for (const f of fleets) hostsWithoutSubscriber += (await f.next('published', 900_000)).hostsWithoutSubscriber;
    // The relay dropping an upstream connection mid-run is a finding, not a harness detail.
    if (hostsWithoutSubscriber > 0) log(`warning: the relay was not connected to ${hostsWithoutSubscriber} active hosts when publishing ended`);
    const publishSeconds = (performance.now() - p0) / 1000;
    const generatorCpu = fleets.reduce((n, f) => n + cpuSecondsOf(f.proc.pid!), 0) - fleetCpu0;
    log(`published ${commits} commits in ${publishSeconds.toFixed(1)} s; waiting for consumers`);

    let final = await reports(readers);
    let progress = -1;
    let progressAt = Date.now();
    const drainDeadline = Date.now() + (o.drainTimeoutMs ?? 120_000);
    while (Date.now() < drainDeadline) {
      final = await reports(readers);
      const got = final.connections.reduce((n, c) => n + c.commits, 0);
      if (final.connections.every((c) => c.commits >= commits)) break;
      if (got !== progress) {
        progress = got;
        progressAt = Date.now();
      } else if (Date.now() - progressAt > 15_000) break; // nothing moving: report what arrived
      await sleep(250);
    }
    publishing = false;
    await sampler;
    await stallWatch;
    const stalledReport = stalled.length > 0 ? await reports(stalled) : { connections: [], hist: [] };
    const relayRssEnd = rssOf(pid);
    const relayCpuSeconds = cpuSecondsOf(pid) - cpu0;
    const windowSeconds = (performance.now() - p0) / 1000;
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
    return {
      commitsPublished: commits,
      publishSeconds,
      generatorCpuPerEventUs: (generatorCpu / Math.max(1, commits)) * 1e6,
      pregenSeconds,
      readers: final.connections,
      stalledConnections: stalledReport.connections,
      latency: percentiles(final.hist),
      consumerRate: last > first ? (minCommits / (last - first)) * 1000 : 0,
      relayRssStart,
      relayRssPeak,
      relayRssEnd,
      relayCpuSeconds,
      windowSeconds,
      rejected,
      consumersDropped,
      sequencer: { batches, meanBatchMs: (batchSeconds / Math.max(1, batches)) * 1000, meanBatchEvents: batchEvents / Math.max(1, batches) },
      maxStallMs,
      backgroundBusy,
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
    { name: 'relay RSS start / peak / end', value: Math.round(r.relayRssPeak / MB), unit: `MB peak (start ${Math.round(r.relayRssStart / MB)}, end ${Math.round(r.relayRssEnd / MB)})` },
    { name: 'relay CPU', value: Math.round((r.relayCpuSeconds / Math.max(0.001, r.windowSeconds)) * 100), unit: '% of one core from first publish to last delivery' },
    { name: 'sequencer mean batch', value: Math.round(r.sequencer.meanBatchEvents), unit: `events, ${r.sequencer.meanBatchMs.toFixed(1)} ms per transaction (${r.sequencer.batches} batches)` },
    { name: 'generator CPU per event', value: Math.round(r.generatorCpuPerEventUs), unit: `µs (caps the generator at ~${Math.round(1e6 / Math.max(1, r.generatorCpuPerEventUs))} events/s per core)` },
    { name: 'background machine load before the run', value: Math.round(r.backgroundBusy * 100), unit: `% of ${cpus().length} cores busy` },
  ];
}
