// Side by side on one machine in one run, two ways.
// End to end: a live run (bench/live.ts) of the realistic corpus, some accounts first seen in it, its directory
// 50 ms away: the relay's rate is verified, committed and delivered to a consumer; then the official consumer
// (@atproto/sync's Firehose, bench/procs/atproto-sync.ts) reads the same commits from the relay's log with
// verification on and resolves each account's key from the same directory, alone on the machine.
// The stage alone: the same pre-generated commit corpus through the relay's verification stage (SyncVerifier: structure, CAR + CIDs, signature, MST
// inversion against prevData, rev continuity) and through @atproto/sync's authenticated commit parsing
// (parseCommitAuthenticated: signature + per-op MST proofs, then the record blocks read back), which is what its
// Firehose class runs per #commit with verification on.
// Frames are decoded ahead of time for both; only verification is timed. Identities are served from memory for both.
import { memoryAccounts as createMemoryAccounts } from './lib/memory-accounts.ts';
import { decode as dagCborDecode } from '@ipld/dag-cbor';
import { decodeFirst } from '@atcute/cbor';
import { parseCommitAuthenticated } from '@atproto/sync';
import pino from 'pino';
import { IdentityCache } from '../src/identity/cache.ts';
import { readDocument } from '../src/identity/resolver.ts';
import { createMetrics } from '../src/metrics.ts';
import { decodeFrame, encodeMessageFrame } from '../src/protocol/frame.ts';
import { createFastVerifier } from '../src/protocol/signature.ts';
import type { UpstreamEvent } from '../src/core/events.ts';
import { SyncVerifier } from '../src/verify/verifier.ts';
import { alwaysStrict } from '../src/verify/strictness.ts';
import type { Curve } from '../dev-env/keys.ts';
import { corpusLines } from './lib/corpus.ts';
import { cachedAccounts, corpusOptions, describeCacheFile, type CorpusOptions } from './lib/corpus-cache.ts';
import type { BenchLine } from './lib/record.ts';
import { live, num, warmupPerHost, type Flags } from './scenarios.ts';
import { runLive } from './live.ts';
import { untilStill } from './lib/harness.ts';

interface CorpusEvent {
  did: string;
  frame: Uint8Array;
}

/** The realistic corpus's accounts (~k256Share of them k256), their commits interleaved as a firehose carries them. */
function corpus(accounts: number, commitsPer: number, k256Share: number, o: CorpusOptions) {
  const curves = Array.from({ length: accounts }, (_, a): Curve => (a % 10 < k256Share * 10 ? 'k256' : 'p256'));
  const { accounts: list, loaded } = cachedAccounts(curves, commitsPer, o);
  console.error(`  compare: corpus ${describeCacheFile(loaded)}`);
  const keys = new Map(list.map((a) => [a.did, a.multikey]));
  // Each account's commits stay in order.
  const events: CorpusEvent[] = [];
  for (let c = 0; c < commitsPer; c++) for (const a of list) events.push({ did: a.did, frame: a.frames[c]! });
  events.forEach((e, i) => {
    const f = decodeFrame(e.frame);
    if (f.op !== 1) throw new Error('corpus frame is not a message');
    e.frame = encodeMessageFrame('#commit', { ...f.body, seq: i + 1 });
  });
  return { events, keys, loaded, repoSizes: list.map((a) => a.records) };
}

async function relayPass(events: CorpusEvent[], keys: Map<string, string>): Promise<{ seconds: number; cpuUs: number }> {
  const identities = new IdentityCache({
    resolver: {
      async resolve(did) {
        return readDocument(did, JSON.stringify({
          id: did,
          verificationMethod: [{ id: '#atproto', type: 'Multikey', publicKeyMultibase: keys.get(did)! }],
          service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: 'https://pds.bench.example' }],
        }));
      },
    },
  });
  const memoryAccounts = createMemoryAccounts();
  const verifier = new SyncVerifier({ identities, accounts: memoryAccounts, signatures: createFastVerifier(), metrics: createMetrics(), log: pino({ level: 'silent' }), strictness: alwaysStrict });
  for (const did of keys.keys()) await identities.get(did);
  const host = { id: 1, hostname: 'pds.bench.example' };
  const decoded: UpstreamEvent[] = events.map((e) => {
    const f = decodeFrame(e.frame);
    if (f.op !== 1) throw new Error('not a message');
    return { t: f.t, seq: f.body.seq as number, did: e.did, body: f.body, received: f.received, frameBytes: e.frame.length };
  });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (const e of decoded) {
    const v = await verifier.verify(host, e);
    if (!v.ok) throw new Error(`relay rejected a corpus event: ${v.reason} ${v.detail ?? ''}`);
    memoryAccounts.record(v.event);
  }
  const cpu = process.cpuUsage(cpu0);
  return { seconds: (performance.now() - t0) / 1000, cpuUs: (cpu.user + cpu.system) / events.length };
}

async function atprotoPass(events: CorpusEvent[], keys: Map<string, string>): Promise<{ seconds: number; cpuUs: number }> {
  const idResolver = { did: { resolveAtprotoKey: async (did: string) => `did:key:${keys.get(did)!}` } };
  const decoded = events.map((e) => decodeBody(e.frame));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (const evt of decoded) {
    const out = await parseCommitAuthenticated(idResolver as never, evt as never);
    if (out.length !== (evt.ops as unknown[]).length) throw new Error(`@atproto/sync verified ${out.length} of ${(evt.ops as unknown[]).length} ops`);
  }
  const cpu = process.cpuUsage(cpu0);
  return { seconds: (performance.now() - t0) / 1000, cpuUs: (cpu.user + cpu.system) / events.length };
}

/** A frame's body decoded with @ipld/dag-cbor (the CID and bytes types @atproto/* expect). */
function decodeBody(frame: Uint8Array): Record<string, unknown> {
  const [, body] = decodeFirst(frame);
  return dagCborDecode(body) as Record<string, unknown>;
}

/**
 * The end-to-end pair. Flags as in the live scenarios (hosts, accounts and commits per host of each of two fleets);
 * --first-seen-per-host 150 (accounts each publishing one commit the relay has not seen before), --plc-latency-ms 50.
 * Both sides are warmed up first (the relay by the live run's warm-up, the official consumer by the last of those
 * commits), so neither is timed while it compiles (docs/perf-journal.md, sessions 19, 20 and 22). First-seen
 * accounts stay ~5 % of the measured commits.
 */
/** Warm-up commits the official consumer reads before its measured ones. */
const OFFICIAL_WARMUP = 4000;

async function endToEnd(flags: Flags): Promise<BenchLine[]> {
  const plc = { latencyMs: num(flags, 'plc-latency-ms', 50), jitter: 0.2, maxPerSecond: 0 };
  let official: Extract<import('./lib/protocol.ts').OfficialConsumerReply, { type: 'report' }> | undefined;
  let droppedByRelay = 0;
  const o = live(flags, {
    fleets: 2,
    spec: { hosts: 4, activeHosts: 4, accountsPerHost: 150, eventsPerHost: 3000, warmupPerHost: warmupPerHost(8), coldAccountsPerHost: num(flags, 'first-seen-per-host', 150), k256Share: 0.8 },
    ratePerHost: 0,
    readers: { processes: 1, connections: 1 },
    stalled: 0,
    plc,
    afterDelivery: async (h, relay, plcUrl, { commits, warmup }) => {
      const child = await h.officialConsumer();
      const dropped0 = await h.metric(relay, 'relay_consumers_dropped_total');
      // It reads the last of the warm-up's commits first, and is timed from the measured commits on: a commit costs
      // it more than ten times the relay's CPU, so 4,000 of them are about as much running as the relay's 48,000.
      const cursor = Math.max(0, warmup.lastSeq - Math.min(OFFICIAL_WARMUP, warmup.commits));
      child.send({ cmd: 'start', url: relay.wsUrl, plcUrl, cursor, measureAfterSeq: warmup.lastSeq, commits });
      // Until it has every commit, or nothing has come for 20 s (then what it has is reported, and the run fails).
      const { last, done } = await untilStill(
        async () => {
          child.send({ cmd: 'report' });
          return child.next('report');
        },
        { done: (r) => r.commits >= commits, progress: (r) => r.commits, stillMs: 20_000, everyMs: 500 },
      );
      official = last;
      droppedByRelay = (await h.metric(relay, 'relay_consumers_dropped_total')) - dropped0;
      if (!done) throw new Error(`@atproto/sync stopped at ${last.commits} of ${commits} commits (${last.errorCount} errors: ${last.errors.join('; ')})`);
    },
  });
  const r = await runLive(o);
  if (!official) throw new Error('the official consumer did not finish');
  if (official.errorCount > 0) throw new Error(`@atproto/sync reported ${official.errorCount} errors on the relay's stream: ${official.errors.join('; ')}`);
  // Its subscription reconnects by itself (its heartbeat, or the relay dropping it) and hands ops over again: the
  // time and CPU that took would flatter the ratio (one such run gave 35x, 28 % of its ops twice), so the run fails.
  if (official.redelivered > 0) throw new Error(`@atproto/sync was handed ${official.redelivered} ops again after reconnecting (the relay dropped it ${droppedByRelay} times): not a fair comparison, run again`);
  const officialRate = (official.commits / Math.max(1, official.lastAt - official.firstAt)) * 1000;
  const firstSeen = o.fleets * o.spec.activeHosts * o.spec.coldAccountsPerHost;
  return [
    { name: 'end to end: relay / @atproto/sync Firehose', value: Math.round((r.consumerRate / officialRate) * 100) / 100, unit: `x (relay verified, committed, delivered; ${firstSeen} of the accounts first seen in the run, directory ${plc.latencyMs} ms away)`, target: { op: '>=', value: 30 } },
    { name: 'end to end: relay (verified, committed, delivered)', value: Math.round(r.consumerRate), unit: `commits/s (${r.commitsPublished} commits, relay CPU ${Math.round((r.relayCpuSeconds * 1e6) / Math.max(1, r.commitsPublished))} µs a commit, all threads)` },
    { name: 'end to end: @atproto/sync Firehose, verifying, from the relay', value: Math.round(officialRate), unit: `commits/s (${official.commits} commits, ${official.ops} ops, ${Math.round(official.cpuUs / Math.max(1, official.commits))} µs CPU a commit, ${official.lookupRetries} directory look-ups tried again, ${official.redelivered} ops delivered again)` },
    { name: 'end to end: commits the relay delivered', value: Math.min(...r.readers.map((c) => c.commits)), unit: `of ${r.commitsPublished}` },
  ];
}

/**
 * The end-to-end pair `--pairs` times (default 3), the lines of the pair with the median ratio: the machine's speed
 * drifts by a fifth and more within minutes, and the two sides of a pair run one after the other (one run of the same
 * tree gave 29.6x, the next 23.5x, docs/perf-journal.md, session 27).
 */
async function endToEndPairs(flags: Flags): Promise<BenchLine[]> {
  const pairs = num(flags, 'pairs', 3);
  if (!(pairs >= 1)) throw new Error(`--pairs must be at least 1, got ${pairs}`);
  const runs: BenchLine[][] = [];
  for (let i = 0; i < pairs; i++) runs.push(await endToEnd(flags));
  const ratio = (lines: BenchLine[]) => lines[0]!.value;
  const sorted = [...runs].sort((a, b) => ratio(a) - ratio(b));
  const median = sorted[Math.floor((sorted.length - 1) / 2)]!;
  if (pairs === 1) return median;
  const [head, ...rest] = median;
  return [{ ...head!, unit: `${head!.unit}; the median of ${pairs} pairs: ${runs.map(ratio).join(', ')}` }, ...rest];
}

export async function benchCompare(flags: Flags): Promise<BenchLine[]> {
  return [...(await endToEndPairs(flags)), ...(await stageAlone(flags))];
}

/** The verification stages alone, one thread each, identities from memory. */
async function stageAlone(flags: Flags): Promise<BenchLine[]> {
  const accounts = num(flags, 'accounts', 300);
  const commitsPer = num(flags, 'commits-per-account', 4);
  const o = corpusOptions(flags);
  const { events, keys, loaded, repoSizes } = corpus(accounts, commitsPer, 0.8, o);
  // A warm-up pass each (JIT, caches), then the measured pass; each pass starts from empty account state.
  await relayPass(events, keys);
  await atprotoPass(events.slice(0, 200), keys);
  const relay = await relayPass(events, keys);
  const atproto = await atprotoPass(events, keys);
  const relayRate = events.length / relay.seconds;
  const atprotoRate = events.length / atproto.seconds;
  return [
    { name: 'corpus', value: events.length, unit: `commits (${accounts} accounts, ~80% k256)` },
    { name: 'relay verification stage (SyncVerifier, 1 thread)', value: Math.round(relayRate), unit: `commits/s (${Math.round(relay.cpuUs)} µs CPU/commit)` },
    { name: '@atproto/sync parseCommitAuthenticated (1 thread)', value: Math.round(atprotoRate), unit: `commits/s (${Math.round(atproto.cpuUs)} µs CPU/commit)` },
    { name: 'ratio relay / @atproto/sync', value: Math.round((relayRate / atprotoRate) * 100) / 100, unit: 'x' },
    ...corpusLines({ spec: o.spec, distinctRepos: o.distinctRepos, frameSizes: events.map((e) => e.frame.length), repoSizes, seconds: loaded.seconds, cached: loaded.cached }),
  ];
}
