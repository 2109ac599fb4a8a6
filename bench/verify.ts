// Verification throughput on this machine: signature primitives per curve and implementation, then the whole
// verification stage (structure, CAR + CID checks, commit decode, signature, MST inversion) per event, on the main
// thread and on a pool of worker threads sized to the cores. The commits come from the realistic corpus
// (bench/lib/corpus.ts, cached under .tmp/bench-corpus).
// Run: npm run bench verify
import { memoryAccounts as createMemoryAccounts } from './lib/memory-accounts.ts';
import type { BenchLine } from './lib/record.ts';
import { cpus } from 'node:os';
import { BytesWrapper } from '@atcute/cbor';
import pino from 'pino';
import { createFastVerifier, createNobleVerifier, createNodeCryptoVerifier } from '../src/protocol/signature.ts';
import { unsignedCommitBytes, decodeCommit } from '../src/protocol/commit.ts';
import { readCar } from '../src/protocol/car.ts';
import type { PublicKey } from '../src/protocol/did-key.ts';
import { parseMultikey } from '../src/protocol/did-key.ts';
import { SyncVerifier } from '../src/verify/verifier.ts';
import { alwaysStrict } from '../src/verify/strictness.ts';
import { IdentityCache } from '../src/identity/cache.ts';
import { readDocument } from '../src/identity/resolver.ts';
import { createMetrics } from '../src/metrics.ts';
import { multikey, type Curve } from '../dev-env/keys.ts';
import { decodeFrame } from '../src/protocol/frame.ts';
import { corpusLines } from './lib/corpus.ts';
import { cachedAccounts, corpusOptions, describeCacheFile, type CorpusOptions, type Loaded } from './lib/corpus-cache.ts';
import { num, type Flags } from './scenarios.ts';
import type { Verdict } from '../src/verify/types.ts';
import type { UpstreamEvent } from '../src/core/events.ts';
import { VerifyPool } from '../src/verify/pool.ts';
import { checkStructure } from '../src/verify/structure.ts';
import { checkCommitJob, type CommitJob } from '../src/verify/commit-check.ts';
import { AccountChains } from '../src/pipeline/account-chains.ts';

function time(fn: () => void, minMs = 1500): { ops: number; usPerOp: number } {
  // Warm up, then run in batches until minMs has passed.
  for (let i = 0; i < 50; i++) fn();
  let ops = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < minMs) {
    for (let i = 0; i < 20; i++) fn();
    ops += 20;
  }
  const ms = performance.now() - t0;
  return { ops: (ops / ms) * 1000, usPerOp: (ms * 1000) / ops };
}

interface Prepared {
  did: string;
  key: PublicKey;
  events: UpstreamEvent[];
}

/** Accounts each with a short history from the realistic corpus (real MST proofs, real signatures), and the corpus. */
export function prepare(curve: Curve, accounts: number, commitsPer: number, o: CorpusOptions): { prepared: Prepared[]; loaded: Loaded<unknown>; frameSizes: number[]; repoSizes: number[] } {
  const { accounts: list, loaded } = cachedAccounts(new Array<Curve>(accounts).fill(curve), commitsPer, o);
  const prepared = list.map((a) => ({
    did: a.did,
    key: parseMultikey(a.multikey),
    events: a.frames.map((frame): UpstreamEvent => {
      const f = decodeFrame(frame);
      if (f.op !== 1) throw new Error('corpus frame is not a message');
      return { t: f.t, seq: f.body.seq as number, did: a.did, body: f.body, received: f.received, frameBytes: frame.length };
    }),
  }));
  return { prepared, loaded, frameSizes: list.flatMap((a) => a.frames.map((f) => f.length)), repoSizes: list.map((a) => a.records) };
}

/** Flags: --accounts 200 and --commits-per-account 5 per curve, and the corpus flags. */
export async function benchVerify(flags: Flags): Promise<BenchLine[]> {
  const lines: BenchLine[] = [];
  const corpus = corpusOptions(flags);
  const sizes = { frames: [] as number[], repos: [] as number[], seconds: 0, cached: true };
  for (const curve of ['k256', 'p256'] as const) {
    const { prepared: accounts, loaded, frameSizes, repoSizes } = prepare(curve, num(flags, 'accounts', 200), num(flags, 'commits-per-account', 5), corpus);
    console.error(`  verify: ${curve} corpus ${describeCacheFile(loaded)}`);
    sizes.frames.push(...frameSizes);
    sizes.repos.push(...repoSizes);
    sizes.seconds += loaded.seconds;
    sizes.cached &&= loaded.cached;
    const sigs = accounts.slice(0, 50).flatMap((p) =>
      p.events.map((e) => {
        const car = readCar((e.body.blocks as BytesWrapper).buf);
        const commit = decodeCommit(car.blocks.get(car.roots[0]!)!);
        return { key: p.key, msg: unsignedCommitBytes(commit), sig: commit.sig };
      }),
    );
    for (const v of [createFastVerifier(), createNodeCryptoVerifier(), createNobleVerifier()]) {
      let i = 0;
      const r = time(() => {
        const s = sigs[i++ % sigs.length]!;
        if (!v.verify(s.key, s.msg, s.sig)) throw new Error('bench signature failed');
      }, v.name === 'noble' ? 800 : 1500);
      lines.push({ name: `signature verify ${curve} ${v.name}`, value: Math.round(r.ops), unit: 'verifications/s' });
    }

    // The whole verification stage: identities cached and account state in memory (no database in this figure),
    // events fed through the ingest's ordered pipeline (accounts concurrent, each account in order).
    const job = commitJobMicros(accounts);
    lines.push({ name: `commit job ${curve} alone, one thread, CPU (CAR, commit, signature, MST inversion)`, value: job.best, unit: 'µs (best of 15 passes over the same commits)' });
    lines.push({ name: `commit job ${curve} alone, one thread, CPU, each commit seen once`, value: job.once, unit: `µs (one pass over ${job.onceJobs} commits no earlier pass saw, as the network sends them)` });
    for (const workers of [...new Set([0, 1, cpus().length])]) {
      const r = await benchStage(accounts, workers);
      const label = workers === 0 ? 'inline (main thread)' : `${workers} worker thread${workers > 1 ? 's' : ''}`;
      const mean: BenchLine = { name: `verification stage ${curve} ${label}, mean`, value: Math.round(r.perSecond), unit: 'commits/s' };
      // Issue 3's target: 10,000 secp256k1 commits/s through the stage as the relay runs it, a worker per core.
      if (curve === 'k256' && workers === cpus().length) mean.target = { op: '>=', value: 10_000 };
      lines.push(mean);
      lines.push({ name: `verification stage ${curve} ${label}, median 250 ms slice`, value: Math.round(r.median), unit: 'commits/s' });
      lines.push({ name: `verification stage ${curve} ${label}, best 250 ms slice`, value: Math.round(r.best), unit: 'commits/s' });
      lines.push({ name: `verification stage ${curve} ${label}, CPU per commit (all threads)`, value: Math.round(r.cpuUs * 10) / 10, unit: 'µs' });
      if (workers > 0) lines.push({ name: `verification stage ${curve} ${label}, first pass incl. worker start`, value: Math.round(r.startMs), unit: 'ms' });
    }
  }
  // --distinct-repos applies to each curve's corpus.
  lines.push(...corpusLines({ spec: corpus.spec, distinctRepos: corpus.distinctRepos * 2, frameSizes: sizes.frames, repoSizes: sizes.repos, seconds: sizes.seconds, cached: sizes.cached }));
  return lines;
}

/**
 * CPU time of one commit job on this thread. `best`: the least disturbed figure on a shared machine, the best of 15
 * passes over the same commits, where everything a job leaves behind (any cache, the CPU's own) is warm for the
 * next pass. `once`: one pass over the commits of accounts no pass has seen (after the code is warm on the others),
 * as the network sends each commit once: a cache keyed by what a commit holds shows here as what it is worth there
 * (a cache of MST key layers looked like a gain in `best` and was a loss here: docs/perf-journal.md, session 18).
 */
function commitJobMicros(accounts: Prepared[]): { best: number; once: number; onceJobs: number } {
  const signatures = createFastVerifier();
  const jobsOf = (list: Prepared[]): CommitJob[] => {
    const jobs: CommitJob[] = [];
    // Accounts interleaved, commit by commit, as a host's stream has them.
    const longest = Math.max(0, ...list.map((a) => a.events.length));
    for (let i = 0; i < longest; i++) {
      for (const a of list) {
        const e = a.events[i];
        if (!e) continue;
        const s = checkStructure(e);
        if (!s.ok) throw new Error(`bench event rejected: ${s.reason}`);
        jobs.push({ ...s.job!, key: a.key, ...(s.proof ? { proof: s.proof } : {}) });
      }
    }
    return jobs;
  };
  // CPU time, not wall time: time-slicing by other processes does not count.
  const pass = (jobs: CommitJob[]): number => {
    const cpu0 = process.cpuUsage();
    for (const job of jobs) {
      const r = checkCommitJob(job, signatures);
      if (!r.ok || !r.signature || r.proof) throw new Error('bench commit job failed');
    }
    const cpu = process.cpuUsage(cpu0);
    return (cpu.user + cpu.system) / jobs.length;
  };
  const half = Math.ceil(accounts.length / 2);
  const warm = jobsOf(accounts.slice(0, half));
  const unseen = jobsOf(accounts.slice(half));
  for (let i = 0; i < 3; i++) pass(warm);
  const once = unseen.length > 0 ? pass(unseen) : 0;
  let best = Infinity;
  for (let i = 0; i < 15; i++) best = Math.min(best, pass(warm));
  return { best: Math.round(best * 10) / 10, once: Math.round(once * 10) / 10, onceJobs: unseen.length };
}

/**
 * Streams the prepared commits through a SyncVerifier (inline or on a worker pool) without pause and measures the
 * steady state after a warm-up (JIT, caches, worker start). The accounts are split between two upstream hosts, each
 * with its own ordered pipeline as in the relay; a host replays its accounts' commits again (their state forgotten)
 * as soon as its previous pass is through, so the stage never drains between passes. Throughput is sampled in
 * 250 ms slices.
 */
export async function benchStage(accounts: Prepared[], workers: number, warmupMs = 2000, measureMs = 4000) {
  const docs = new Map(accounts.map((p) => [p.did, p]));
  const identities = new IdentityCache({
    resolver: {
      async resolve(did) {
        const p = docs.get(did)!;
        return readDocument(did, JSON.stringify({
          id: did,
          verificationMethod: [{ id: '#atproto', type: 'Multikey', publicKeyMultibase: multikeyOf(p.key) }],
          service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: 'https://pds.bench.example' }],
        }));
      },
    },
  });
  const memoryAccounts = createMemoryAccounts();
  const log = pino({ level: 'silent' });
  const pool = workers > 0 ? new VerifyPool({ size: workers, signatures: createFastVerifier(), log }) : null;
  const verifier = new SyncVerifier({
    identities,
    accounts: memoryAccounts,
    signatures: createFastVerifier(),
    ...(pool ? { checker: pool } : {}),
    metrics: createMetrics(),
    log,
    strictness: alwaysStrict,
  });
  const host = { id: 1, hostname: 'pds.bench.example' };
  for (const p of accounts) await identities.get(p.did);
  let verified = 0;
  let failure: Error | null = null;
  let stop = false;
  /** One host: its accounts' commits interleaved as a busy host sends them, replayed pass after pass. */
  const stream = async (mine: Prepared[]) => {
    const all = mine.flatMap((p) => p.events.map((e, i) => ({ e, i }))).sort((a, b) => a.i - b.i).map((x) => x.e);
    while (!stop && !failure) {
      // Inline verification can complete a whole pass in microtasks: let timers (the sampler) run between passes.
      await new Promise((r) => setImmediate(r));
      for (const p of mine) memoryAccounts.forget(p.did);
      await new Promise<void>((resolve) => {
        let released = 0;
        const pipeline = new AccountChains<Verdict>((v) => {
          if (!v.ok) failure ??= new Error(`bench event rejected: ${v.reason} ${v.detail ?? ''}`);
          verified++;
          if (++released === all.length) resolve();
        });
        const verify = async (e: UpstreamEvent): Promise<Verdict> => {
          const v = await verifier.verify(host, e);
          if (v.ok) memoryAccounts.record(v.event);
          return v;
        };
        const failed = (err: unknown): Verdict => {
          failure ??= err as Error;
          return { ok: false, reason: 'internal_error' };
        };
        for (const e of all) pipeline.push(e.did, { run: () => verify(e), failed });
      });
    }
  };
  const t0 = performance.now();
  const half = accounts.length >> 1;
  const streams = Promise.all([stream(accounts.slice(0, half)), stream(accounts.slice(half))]);
  // Start-up: until the first pass of the first host is through.
  while (verified < half * accounts[0]!.events.length && !failure) await new Promise((r) => setTimeout(r, 5));
  const startMs = performance.now() - t0;
  await new Promise((r) => setTimeout(r, warmupMs));
  const slices: number[] = [];
  const cpu0 = process.cpuUsage();
  const v0 = verified;
  const t1 = performance.now();
  let last = verified;
  let lastAt = t1;
  while (performance.now() - t1 < measureMs && !failure) {
    await new Promise((r) => setTimeout(r, 250));
    const now = performance.now();
    slices.push(((verified - last) / (now - lastAt)) * 1000);
    last = verified;
    lastAt = now;
  }
  const commits = verified - v0;
  const ms = performance.now() - t1;
  const cpu = process.cpuUsage(cpu0);
  stop = true;
  await streams;
  await pool?.close();
  if (failure) throw failure;
  slices.sort((a, b) => a - b);
  // Other processes may share this machine: the median and best slices say more than the mean.
  return {
    perSecond: (commits / ms) * 1000,
    median: slices[slices.length >> 1]!,
    best: slices.at(-1)!,
    cpuUs: (cpu.user + cpu.system) / commits,
    startMs,
  };
}

function multikeyOf(key: PublicKey): string {
  return multikey({ curve: key.curve, publicKey: key.compressed, privateKey: new Uint8Array() });
}
