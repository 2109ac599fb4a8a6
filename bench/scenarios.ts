// The live scenarios with their default sizes (each about two minutes or less on a shared 2-core machine); flags
// scale them: `npm run bench ingest -- --events-per-host 5000 --hosts 8` (hosts and accounts per fleet process).
// Their accounts come from the realistic corpus (bench/lib/corpus.ts): `--records 20-35` gives small repos.
import type { BenchLine } from './lib/record.ts';
import { corpusOptions } from './lib/corpus-cache.ts';
import { liveLines, runLive, type LiveOptions } from './live.ts';
import type { FleetSpec } from './lib/protocol.ts';
import { newestProfile, topSelfTime } from './lib/profile.ts';
import { indexPathCost } from './lib/collection-cost.ts';

export type Flags = Map<string, string>;

export function parseFlags(argv: string[]): Flags {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const next = argv[i + 1];
    if (next === undefined || next.startsWith('--')) flags.set(a.slice(2), 'true');
    else flags.set(a.slice(2), argv[++i]!);
  }
  return flags;
}

export function num(flags: Flags, name: string, fallback: number): number {
  const raw = flags.get(name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a non-negative number, got ${raw}`);
  return n;
}

/**
 * Warm-up commits per active host (of `hosts` in all fleets) before the measured phase of the issue-14 scenarios
 * (ingest, cold, compare), 48,000 in all. A fresh relay compiles its hot paths on V8's helper threads while the
 * first tens of thousands of events go through (--trace-opt, ingest: ~0.7 s of compiling in a 1.2 s run without a
 * warm-up, 0.37 s in the measured run after 24,000 commits, 0.13 s after 48,000); a relay that has been up a few
 * minutes does none. `--warmup-per-host` sets it (0: none).
 */
export function warmupPerHost(hosts: number): number {
  return Math.ceil(48_000 / hosts);
}

const log = (msg: string) => console.error(`  [${new Date().toISOString().slice(11, 19)}] ${msg}`);

/** --warmup-per-host, left out of the spec when 0 (the corpus cache keys of runs without one stay as they were). */
function warmupOf(flags: Flags, fallback = 0): Pick<FleetSpec, 'warmupPerHost'> {
  const n = num(flags, 'warmup-per-host', fallback);
  return n > 0 ? { warmupPerHost: n } : {};
}

/** A fleet's spec: `d` with the flags applied; --distinct-repos counts all fleets' repos. */
function fleetSpec(flags: Flags, d: Omit<FleetSpec, 'corpus'> & { distinctRepos?: number }, fleets: number): FleetSpec {
  const corpus = corpusOptions(flags, d);
  return {
    hosts: num(flags, 'hosts', d.hosts),
    activeHosts: num(flags, 'active-hosts', d.activeHosts),
    accountsPerHost: num(flags, 'accounts-per-host', d.accountsPerHost),
    eventsPerHost: num(flags, 'events-per-host', d.eventsPerHost),
    ...warmupOf(flags, d.warmupPerHost),
    coldAccountsPerHost: d.coldAccountsPerHost,
    k256Share: num(flags, 'k256-share', d.k256Share),
    corpus: { ...corpus, distinctRepos: Math.ceil(corpus.distinctRepos / fleets) },
  };
}

/** A live scenario's options: its defaults `d` with the flags applied. */
export function live(flags: Flags, d: Omit<LiveOptions, 'log' | 'spec'> & { spec: Omit<FleetSpec, 'corpus'> & { distinctRepos?: number } }): LiveOptions {
  const fleets = num(flags, 'fleets', d.fleets);
  return {
    ...d,
    fleets,
    spec: fleetSpec(flags, d.spec, fleets),
    ratePerHost: num(flags, 'rate-per-host', d.ratePerHost),
    readers: { processes: num(flags, 'reader-processes', d.readers.processes), connections: num(flags, 'readers-per-process', d.readers.connections) },
    stalled: num(flags, 'stalled', d.stalled),
    cpuProfDir: flags.get('cpu-prof') ?? d.cpuProfDir,
    log,
  };
}

/**
 * A live run at `rate` commits/s on two fleets of four hosts with 50 accounts each, its commits made ahead onto
 * disk for `seconds` of publishing and a margin, and read as published (making them live would cost the machine as
 * much as verifying them).
 */
export function streamingLive(flags: Flags, seconds: number, rate: number): { o: LiveOptions; ratePerHost: number } {
  const o = live(flags, {
    fleets: 2,
    spec: { hosts: 4, activeHosts: 4, accountsPerHost: 50, eventsPerHost: 0, coldAccountsPerHost: 0, k256Share: 0.8, distinctRepos: 16 },
    ratePerHost: 0,
    readers: { processes: 1, connections: 1 },
    stalled: 0,
  });
  const ratePerHost = rate / (o.spec.activeHosts * o.fleets);
  o.spec.stream = true;
  o.spec.eventsPerHost = Math.ceil(ratePerHost * (seconds + 30));
  return { o, ratePerHost };
}

/** Sustained ingest at the maximal rate, ~80% secp256k1 accounts, one consumer. */
export async function benchIngest(flags: Flags): Promise<BenchLine[]> {
  const r = await runLive(
    live(flags, {
      fleets: 2,
      spec: { hosts: 4, activeHosts: 4, accountsPerHost: 150, eventsPerHost: 1000, warmupPerHost: warmupPerHost(8), coldAccountsPerHost: 0, k256Share: 0.8 },
      ratePerHost: 0,
      readers: { processes: 1, connections: 1 },
      stalled: 0,
    }),
  );
  const lines: BenchLine[] = [{ name: 'sustained ingest (verified, committed, delivered)', value: Math.round(r.consumerRate), unit: 'events/s', target: { op: '>=', value: 10_000 } }, ...liveLines(r)];
  const profDir = flags.get('cpu-prof');
  const profile = profDir ? newestProfile(profDir) : null;
  if (profile) {
    // The relay's whole life is in the profile (start-up and account announcements too): shares, not absolutes.
    for (const t of topSelfTime(profile, 25)) lines.push({ name: `relay profile self time: ${t.fn}`, value: Math.round(t.share * 1000) / 10, unit: '%' });
  }
  return lines;
}

/**
 * The collection index's cost: the ingest scenario with RELAY_COLLECTION_INDEX on and off, alternating (ABBA, so a
 * drift of the shared machine falls on both arms), `--rounds` pairs. Figures are the means per arm; the relay's CPU
 * per event is what the index costs the ingest path.
 */
export async function benchCollections(flags: Flags): Promise<BenchLine[]> {
  const rounds = num(flags, 'rounds', 2);
  const cost = indexPathCost();
  log(`index path: ${cost.proofUs} µs reading the proof, ${cost.writeUs} µs deciding the write, per commit`);
  const arms: Record<'on' | 'off', Array<{ rate: number; cpuUs: number; batchMs: number; batchEvents: number }>> = { on: [], off: [] };
  for (let i = 0; i < rounds; i++) {
    for (const arm of i % 2 === 0 ? (['on', 'off'] as const) : (['off', 'on'] as const)) {
      log(`round ${i + 1}: collection index ${arm}`);
      const r = await runLive({
        ...live(flags, {
          fleets: 2,
          spec: { hosts: 4, activeHosts: 4, accountsPerHost: 150, eventsPerHost: 1000, coldAccountsPerHost: 0, k256Share: 0.8 },
          ratePerHost: 0,
          readers: { processes: 1, connections: 1 },
          stalled: 0,
        }),
        relayEnv: { RELAY_COLLECTION_INDEX: arm === 'on' ? 'true' : 'false' },
      });
      arms[arm].push({
        rate: r.consumerRate,
        cpuUs: (r.relayCpuSeconds * 1e6) / Math.max(1, r.commitsPublished),
        batchMs: r.sequencer.meanBatchMs,
        batchEvents: r.sequencer.meanBatchEvents,
      });
      log(`  ${Math.round(r.consumerRate)} events/s, ${((r.relayCpuSeconds * 1e6) / r.commitsPublished).toFixed(0)} µs relay CPU per event`);
    }
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const of = (arm: 'on' | 'off', k: 'rate' | 'cpuUs' | 'batchMs' | 'batchEvents') => mean(arms[arm].map((x) => x[k]));
  const runs = (arm: 'on' | 'off') => arms[arm].map((x) => Math.round(x.rate)).join(', ');
  return [
    { name: 'ingest with the collection index on / off', value: Math.round((of('on', 'rate') / of('off', 'rate')) * 1000) / 1000, unit: `ratio (mean of ${rounds} runs each, ABBA)`, target: { op: '>=', value: 0.95 } },
    { name: 'ingest, collection index on', value: Math.round(of('on', 'rate')), unit: `events/s (runs: ${runs('on')})` },
    { name: 'ingest, collection index off', value: Math.round(of('off', 'rate')), unit: `events/s (runs: ${runs('off')})` },
    { name: 'relay CPU per event, index on minus off', value: Math.round((of('on', 'cpuUs') - of('off', 'cpuUs')) * 10) / 10, unit: `µs (on ${of('on', 'cpuUs').toFixed(1)}, off ${of('off', 'cpuUs').toFixed(1)}; whole process, all threads)`, target: { op: '<', value: 5 } },
    { name: 'index CPU per commit on the ingest path', value: Math.round((cost.proofUs + cost.writeUs) * 100) / 100, unit: `µs (${cost.proofUs.toFixed(2)} reading the proof on a worker, ${cost.writeUs.toFixed(2)} deciding the write on the main thread; 3000 commits, ${cost.deletes} deletes)`, target: { op: '<', value: 5 } },
    { name: 'sequencer transaction, index on', value: Math.round(of('on', 'batchMs') * 10) / 10, unit: `ms per batch of ${Math.round(of('on', 'batchEvents'))} events` },
    { name: 'sequencer transaction, index off', value: Math.round(of('off', 'batchMs') * 10) / 10, unit: `ms per batch of ${Math.round(of('off', 'batchEvents'))} events` },
  ];
}

/** 2,000 events/s to 100 consumers. */
/** 1,000 connected upstream hosts, 100 of them publishing. */
export async function benchHosts(flags: Flags): Promise<BenchLine[]> {
  const r = await runLive(
    live(flags, {
      fleets: 4,
      spec: { hosts: 250, activeHosts: 25, accountsPerHost: 5, eventsPerHost: 100, coldAccountsPerHost: 0, k256Share: 0.8 },
      ratePerHost: 10,
      readers: { processes: 1, connections: 1 },
      stalled: 0,
    }),
  );
  return [
    { name: 'relay RSS with all hosts connected (peak)', value: Math.round(r.relayRssPeak / (1 << 20)), unit: 'MB', target: { op: '<', value: 1024 } },
    { name: 'longest pause in delivery while publishing', value: r.maxStallMs, unit: 'ms' },
    ...liveLines(r),
  ];
}

/** One consumer that never reads, during ingest, beside one that does. */
export async function benchStalled(flags: Flags): Promise<BenchLine[]> {
  const r = await runLive(
    live(flags, {
      fleets: 2,
      spec: { hosts: 2, activeHosts: 2, accountsPerHost: 100, eventsPerHost: 3000, coldAccountsPerHost: 0, k256Share: 0.8 },
      ratePerHost: 300,
      readers: { processes: 1, connections: 1 },
      stalled: 1,
    }),
  );
  return [
    { name: 'relay RSS growth while a consumer stalls', value: Math.round((r.relayRssEnd - r.relayRssStart) / (1 << 20)), unit: `MB (start ${Math.round(r.relayRssStart / (1 << 20))}, peak ${Math.round(r.relayRssPeak / (1 << 20))})` },
    ...liveLines(r),
  ];
}
