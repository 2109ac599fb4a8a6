// Jetstream (issue 17): what the /subscribe stream costs and how fast it is.
// 1. In process, on realistic commits from the corpus: µs per event to make its messages (decode, CAR, records to
//    JSON), µs per message to compress with the standard dictionary (the system libzstd binding and node:zlib), and
//    bytes per message with and without compression.
// 2. Live: fleets publish realistic commits at --rate (2,000/s) through a relay process; for --phase seconds only a
//    firehose reader is connected (A), then 100 Jetstream subscribers with mixed filters (a third unfiltered, half of
//    them compressed; a third one collection; a third 100 DIDs) drain their sockets and one more measures, for
//    another --phase (B). Relay CPU per subscriber is (B - A) / subscribers, from the same run; latency is from the
//    commit's publish at the fake PDS to the Jetstream message's receipt.
import type { BenchLine } from './lib/record.ts';
import { cachedAccounts, corpusOptions } from './lib/corpus-cache.ts';
import { cpuSecondsOf, Harness, sleep } from './lib/harness.ts';
import { num, streamingLive, type Flags } from './scenarios.ts';
import { percentiles, startLive } from './live.ts';
import { jetstreamMessages } from '../src/jetstream/message.ts';
import { DICTIONARY_PATH, systemCompressor, zlibCompressor } from '../src/jetstream/compression.ts';
import type { CommittedEvent } from '../src/core/events.ts';
import { readFileSync } from 'node:fs';

function conversionLines(flags: Flags): BenchLine[] {
  const { accounts } = cachedAccounts(new Array(40).fill('k256'), 50, corpusOptions(flags, { distinctRepos: 8 }));
  const events: CommittedEvent[] = accounts.flatMap((a) => a.frames.map((frame, i) => ({ seq: i + 1, did: a.did, kind: 'commit' as const, frame, timeUs: 1_700_000_000_000_000 + i * 10 })));
  const time = (fn: () => number): { us: number; n: number } => {
    fn();
    const t0 = performance.now();
    let n = 0;
    let rounds = 0;
    while (performance.now() - t0 < 2000 || rounds < 2) {
      n += fn();
      rounds++;
    }
    return { us: ((performance.now() - t0) * 1000) / n, n };
  };
  const messages = events.flatMap((ev) => jetstreamMessages(ev));
  const convert = time(() => {
    for (const ev of events) jetstreamMessages(ev);
    return events.length;
  });
  const dictionary = readFileSync(DICTIONARY_PATH);
  const native = systemCompressor(dictionary);
  const zlib = zlibCompressor(dictionary);
  const compressWith = (c: { compress(b: Uint8Array): Uint8Array }) => time(() => {
    for (const m of messages) c.compress(m.json);
    return messages.length;
  });
  const jsonBytes = messages.reduce((n, m) => n + m.json.length, 0) / messages.length;
  const zstdBytes = messages.reduce((n, m) => n + (native ?? zlib).compress(m.json).length, 0) / messages.length;
  const lines: BenchLine[] = [
    { name: 'messages per commit event (corpus)', value: round(messages.length / events.length, 2), unit: 'messages' },
    { name: 'conversion cost per event (decode, CAR, records to JSON)', value: round(convert.us, 1), unit: 'µs' },
    { name: 'uncompressed message size (mean)', value: Math.round(jsonBytes), unit: 'bytes' },
    { name: 'compressed message size (mean, standard dictionary)', value: Math.round(zstdBytes), unit: 'bytes' },
    { name: 'compressed size / uncompressed', value: round(zstdBytes / jsonBytes, 3), unit: 'ratio' },
  ];
  if (native) lines.push({ name: 'compression cost per message, libzstd binding (dictionary digested once)', value: round(compressWith(native).us, 1), unit: 'µs' });
  lines.push({ name: 'compression cost per message, node:zlib (dictionary digested per message)', value: round(compressWith(zlib).us, 1), unit: 'µs' });
  return lines;
}

const round = (v: number, digits: number) => Number(v.toFixed(digits));

/** Flags: --rate 2000 (commits/s over all hosts), --phase 30 (seconds per phase), --subscribers 100, and the live flags. */
export async function benchJetstream(flags: Flags): Promise<BenchLine[]> {
  const lines = conversionLines(flags);
  const rate = num(flags, 'rate', 2000);
  const phaseS = num(flags, 'phase', 30);
  const subscribers = Math.max(3, num(flags, 'subscribers', 100));
  // Both phases, the settling between them, and a margin.
  const { o, ratePerHost } = streamingLive(flags, 2 * phaseS, rate);
  const hosts = o.spec.activeHosts * o.fleets;
  const log = o.log!;
  const h = new Harness();
  try {
    const setup = await startLive(h, o, { RELAY_ACCOUNT_POINTS_PER_HOUR: '1000000000', RELAY_ACCOUNT_POINTS_PER_DAY: '1000000000' });
    const { relay, fleets, dids } = setup;
    const pid = relay.proc.pid!;
    for (const f of fleets) f.send({ cmd: 'publish', ratePerHost });
    log(`publishing ${rate} commits/s on ${hosts} hosts; phase A: firehose reader only`);
    await sleep(5000);
    const a0 = cpuSecondsOf(pid);
    await sleep(phaseS * 1000);
    const cpuA = (cpuSecondsOf(pid) - a0) / phaseS;

    const third = Math.floor((subscribers - 1) / 3);
    const drains: string[] = [];
    for (let i = 0; i < third; i++) drains.push(i % 2 === 0 ? '' : 'compress=true');
    for (let i = 0; i < third; i++) drains.push('wantedCollections=app.bsky.feed.like');
    for (let i = 0; i < subscribers - 1 - 2 * third; i++) {
      const start = (i * 37) % Math.max(1, dids.length - 100);
      drains.push(dids.slice(start, start + 100).map((d) => `wantedDids=${encodeURIComponent(d)}`).join('&'));
    }
    const js = await h.jetstreamConsumers({ url: relay.wsUrl, drains });
    log(`phase B: ${subscribers} Jetstream subscribers (${third} unfiltered, ${third} one collection, ${subscribers - 1 - 2 * third} with 100 DIDs, 1 measuring)`);
    await sleep(3000);
    js.send({ cmd: 'report' });
    const before = await js.next('report');
    const b0 = cpuSecondsOf(pid);
    await sleep(phaseS * 1000);
    const cpuB = (cpuSecondsOf(pid) - b0) / phaseS;
    js.send({ cmd: 'report' });
    const after = await js.next('report');
    const drops = await h.metric(relay, 'relay_jetstream_drops_total');
    const catchUps = await h.metric(relay, 'relay_jetstream_catch_ups_total');
    const closed = after.drains.filter((d) => d.closed).length + (after.measured.closed ? 1 : 0);
    const latency = percentiles(after.latencyHistogram);
    const bytesPerSecond = (kind: (q: string) => boolean) => {
      const picked = after.drains.map((d, i) => ({ d, b: before.drains[i]! })).filter(({ d }) => kind(d.path.slice('/subscribe?'.length)));
      return picked.length === 0 ? 0 : picked.reduce((n, { d, b }) => n + d.bytes - b.bytes, 0) / picked.length / phaseS;
    };
    const commitsPerSecond = (after.measured.commits - before.measured.commits) / phaseS;
    log(`latency p50 ${latency.p50} ms, p99 ${latency.p99} ms over ${latency.count} ops; relay CPU ${cpuA.toFixed(2)} -> ${cpuB.toFixed(2)} cores`);
    lines.push(
      { name: `publish-to-receipt p50, ${subscribers} subscribers at ${rate} commits/s`, value: latency.p50, unit: 'ms' },
      { name: `publish-to-receipt p99, ${subscribers} subscribers at ${rate} commits/s`, value: latency.p99, unit: 'ms', target: { op: '<', value: 150 } },
      { name: 'ops timed', value: latency.count, unit: 'ops' },
      { name: 'commit messages/s at the measuring subscriber', value: Math.round(commitsPerSecond), unit: 'messages/s' },
      { name: 'relay CPU, firehose reader only (phase A)', value: round(cpuA, 3), unit: 'cores' },
      { name: `relay CPU with ${subscribers} Jetstream subscribers (phase B)`, value: round(cpuB, 3), unit: 'cores' },
      { name: 'relay CPU per Jetstream subscriber ((B - A) / subscribers)', value: round(((cpuB - cpuA) / subscribers) * 1000, 2), unit: 'ms CPU/s' },
      { name: 'bytes/s to an unfiltered subscriber (JSON)', value: Math.round(bytesPerSecond((q) => q === '')), unit: 'bytes/s' },
      { name: 'bytes/s to an unfiltered subscriber (zstd)', value: Math.round(bytesPerSecond((q) => q === 'compress=true')), unit: 'bytes/s' },
      { name: 'bytes/s to a one-collection subscriber', value: Math.round(bytesPerSecond((q) => q.startsWith('wantedCollections'))), unit: 'bytes/s' },
      { name: 'bytes/s to a 100-DID subscriber', value: Math.round(bytesPerSecond((q) => q.startsWith('wantedDids'))), unit: 'bytes/s' },
      { name: 'subscribers dropped or closed', value: drops + closed, unit: 'subscribers', target: { op: '<', value: 1 } },
      { name: 'subscribers sent back to the log (catch-ups)', value: catchUps, unit: 'times' },
    );
    return lines;
  } finally {
    await h.close();
  }
}
