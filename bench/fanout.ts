// Fan-out (issue 16), measured on the relay and not on its readers: consumers are raw sockets that read and discard
// bytes after the handshake (spliced to /dev/null by bench/procs/drain.c, or bench/lib/drain.ts without gcc), plus
// one measuring consumer that times every commit from its publish at the fake PDS. Fleets publish realistic commits at --rate (2,000/s).
// 1. Live: phase A with the measuring consumer alone, then --consumers (100,300) drains in turn, --phase seconds each;
//    per phase: publish-to-receipt p50/p99, relay CPU (per consumer: against phase A, same run), bytes/s, drops.
//    Then one more reader stops reading for --pause (60) seconds: it must come back from the log, never dropped.
//    Last, the largest count again on a fan-out-only process (RELAY_ROLE=fanout) beside the ingesting one.
// 2. Catch-up: the log pre-filled with --behind (200,000) events, then --catch-up (10) drains subscribe from its
//    start while live traffic flows: how long until each has caught up and joined live (the admin API says), their
//    replay rate, and the live consumer's latency meanwhile.
import type { BenchLine } from './lib/record.ts';
import { cpuSecondsOf, cpuTimesOf, Harness, sleep, type Consumers, type RelayHandle } from './lib/harness.ts';
import { FIRST_SEQ, prefillLog } from './lib/prefill.ts';
import { num, streamingLive, type Flags } from './scenarios.ts';
import { percentiles, startLive, type Latency } from './live.ts';

const SUBSCRIBE = '/xrpc/com.atproto.sync.subscribeRepos';
const ADMIN_PASSWORD = 'bench-fanout';

/** The measuring consumer's latency histogram so far. */
async function histogram(reader: Consumers): Promise<Map<number, number>> {
  reader.send({ cmd: 'report' });
  return new Map((await reader.next('report')).latencyHistogram);
}

function since(before: Map<number, number>, after: Map<number, number>): Latency {
  const latency = percentiles([...after].map(([ms, n]) => [ms, n - (before.get(ms) ?? 0)] as [number, number]).filter(([, n]) => n > 0));
  // An idle relay would record p99 0 ms: the fleets ran out of pre-built commits (a phase before ran long) or
  // delivery stopped. Neither is a figure.
  if (latency.count === 0) throw new Error('the measuring consumer received no commits in this phase: the fleets ran out of pre-built commits, or the relay stopped delivering');
  return latency;
}

async function metric(h: Harness, relay: RelayHandle, name: string): Promise<number> {
  return h.metric(relay, name);
}

interface ConsumerRow {
  state: string;
  lag: number;
  peakBufferedBytes: number;
}

async function consumersOf(relay: RelayHandle): Promise<ConsumerRow[]> {
  const res = await fetch(`${relay.url}/admin/consumers`, { headers: { authorization: `Bearer ${ADMIN_PASSWORD}` } });
  return ((await res.json()) as { consumers: ConsumerRow[] }).consumers;
}

type Drains = Awaited<ReturnType<Harness['drains']>>;

const cpuOf = (pids: number[]) => pids.reduce((t, pid) => {
  const c = cpuTimesOf(pid);
  return { user: t.user + c.user, system: t.system + c.system };
}, { user: 0, system: 0 });

async function livePhases(flags: Flags, rate: number, phaseS: number, sizes: number[], pauseS: number, fanoutProcess: boolean): Promise<BenchLine[]> {
  const { o, ratePerHost } = streamingLive(flags, phaseS * (sizes.length + 2) + pauseS * 2 + 60, rate);
  const log = o.log!;
  const h = new Harness();
  const lines: BenchLine[] = [];
  const env = { RELAY_ACCOUNT_POINTS_PER_HOUR: '1000000000', RELAY_ACCOUNT_POINTS_PER_DAY: '1000000000', RELAY_ADMIN_PASSWORD: ADMIN_PASSWORD, ...relayEnvFlag(flags) };
  try {
    const { relay, fleets, readers, plc } = await startLive(h, o, env);
    for (const f of fleets) f.send({ cmd: 'publish', ratePerHost });
    await sleep(5000);
    /** One phase: latency at `reader`, CPU of the relay processes (user and kernel) and of the drains. */
    const measure = async (reader: Consumers, pids: number[], drains: Drains[]) => {
      const hist = await histogram(reader);
      const before = await reportAll(drains);
      const cpu = cpuOf(pids);
      const drainCpu = cpuOf(drains.map((d) => d.readerPid));
      await sleep(phaseS * 1000);
      const c = cpuOf(pids);
      const dc = cpuOf(drains.map((d) => d.readerPid));
      const after = await reportAll(drains);
      return {
        latency: since(hist, await histogram(reader)),
        cores: (c.user + c.system - cpu.user - cpu.system) / phaseS,
        kernel: (c.system - cpu.system) / phaseS,
        drainCores: (dc.user + dc.system - drainCpu.user - drainCpu.system) / phaseS,
        bytes: after.reduce((s, d, i) => s + d.bytes - (before[i]?.bytes ?? 0), 0) / Math.max(1, after.length) / phaseS,
        closed: after.filter((d) => d.closed).length,
      };
    };
    const readerKind = (d: Drains) => (d.readerPid === d.proc.pid ? 'Node readers' : 'C readers, spliced');
    log(`publishing ${rate} commits/s; phase A: the measuring consumer alone`);
    const a = await measure(readers[0]!, [relay.proc.pid!], []);
    lines.push(
      { name: 'phase A (measuring consumer only): publish-to-receipt p99', value: a.latency.p99, unit: 'ms' },
      { name: 'phase A: relay CPU', value: round(a.cores, 3), unit: `cores (${round(a.kernel, 3)} in the kernel)` },
    );
    const drains: Drains[] = [];
    let open = 0;
    for (const n of sizes) {
      drains.push(await h.drains(drains.length, relay.wsUrl, new Array(n - open).fill(SUBSCRIBE)));
      open = n;
      log(`phase: ${n} drain consumers + the measuring one`);
      await sleep(2000);
      const m = await measure(readers[0]!, [relay.proc.pid!], drains);
      log(`${n} consumers: p50 ${m.latency.p50} ms, p99 ${m.latency.p99} ms; relay ${m.cores.toFixed(2)} cores (${m.kernel.toFixed(2)} kernel), readers ${m.drainCores.toFixed(2)}; ${m.closed} closed`);
      lines.push(
        { name: `${n} consumers: publish-to-receipt p50`, value: m.latency.p50, unit: 'ms' },
        { name: `${n} consumers: publish-to-receipt p99`, value: m.latency.p99, unit: 'ms', target: { op: '<', value: n <= 100 ? 100 : 250 } },
        { name: `${n} consumers: relay CPU`, value: round(m.cores, 3), unit: `cores (${round(m.kernel, 3)} in the kernel)` },
        { name: `${n} consumers: relay CPU per consumer (against phase A)`, value: round(((m.cores - a.cores) / n) * 1000, 2), unit: 'ms CPU/s' },
        { name: `${n} consumers: bytes/s per consumer`, value: Math.round(m.bytes), unit: 'bytes/s' },
        // What receiving costs on this machine's loopback, beside the relay on the same two cores.
        { name: `${n} consumers: drain readers' CPU (the load generator)`, value: round(m.drainCores, 3), unit: `cores (${readerKind(drains[0]!)})` },
        { name: `${n} consumers: consumers closed or dropped`, value: m.closed, unit: 'consumers', target: { op: '<', value: 1 } },
      );
    }
    lines.push(
      { name: 'consumers sent back to the log (catch-ups), live phases', value: await metric(h, relay, 'relay_consumer_catch_ups_total'), unit: 'times' },
      { name: 'consumers dropped by the relay, live phases', value: await metric(h, relay, 'relay_consumers_dropped_total'), unit: 'consumers' },
    );
    if (pauseS > 0) lines.push(...(await pausedReader(h, relay, pauseS, log)));
    if (fanoutProcess && sizes.length > 0) {
      // The deployment docs/operations.md gives for many consumers: they read from a fan-out-only process (NOTIFY and
      // log reads from the shared PostgreSQL), so the ingesting process's event loop never waits on their sockets.
      for (const d of drains) d.send({ cmd: 'exit' });
      const n = sizes.at(-1)!;
      const fan = await h.relay({ plcUrl: plc.url, cpuProfDir: o.cpuProfDir, env: { ...env, RELAY_ROLE: 'fanout' } });
      const reader = await h.consumers(7, { url: fan.wsUrl, connections: 1, mode: 'read', cursor: null });
      const moved = [await h.drains(50, fan.wsUrl, new Array(n).fill(SUBSCRIBE))];
      log(`phase: ${n} drain consumers + a measuring one on a fan-out-only process`);
      await sleep(2000);
      const m = await measure(reader, [relay.proc.pid!, fan.proc.pid!], moved);
      log(`${n} consumers on a fan-out process: p50 ${m.latency.p50} ms, p99 ${m.latency.p99} ms; both relay processes ${m.cores.toFixed(2)} cores (${m.kernel.toFixed(2)} kernel), readers ${m.drainCores.toFixed(2)}; ${m.closed} closed`);
      lines.push(
        { name: `${n} consumers on a fan-out-only process: publish-to-receipt p50`, value: m.latency.p50, unit: 'ms' },
        // The same target as on the ingesting process, though here a second process on the same two cores adds no
        // capacity (it is for other machines).
        { name: `${n} consumers on a fan-out-only process: publish-to-receipt p99`, value: m.latency.p99, unit: 'ms (both processes on the same 2 cores)', target: { op: '<', value: n <= 100 ? 100 : 250 } },
        { name: `${n} consumers on a fan-out-only process: both relay processes' CPU`, value: round(m.cores, 3), unit: `cores (${round(m.kernel, 3)} in the kernel)` },
        { name: `${n} consumers on a fan-out-only process: bytes/s per consumer`, value: Math.round(m.bytes), unit: 'bytes/s' },
        { name: `${n} consumers on a fan-out-only process: consumers closed or dropped`, value: m.closed, unit: 'consumers', target: { op: '<', value: 1 } },
        { name: `${n} consumers on a fan-out-only process: sent back to the log (catch-ups)`, value: await metric(h, fan, 'relay_consumer_catch_ups_total'), unit: 'times' },
      );
    }
    return lines;
  } finally {
    await h.close();
  }
}

/** One more reader stops reading for `pauseS` while the others flow: it must come back from the log, never dropped. */
async function pausedReader(h: Harness, relay: RelayHandle, pauseS: number, log: (m: string) => void): Promise<BenchLine[]> {
  const before = (await consumersOf(relay)).length;
  const paused = await h.drains(99, relay.wsUrl, [SUBSCRIBE]);
  const dropped0 = await metric(h, relay, 'relay_consumers_dropped_total');
  paused.send({ cmd: 'pause', ms: pauseS * 1000 });
  log(`one reader paused for ${pauseS} s`);
  let peak = 0;
  let lagAtResume = 0;
  const t0 = performance.now();
  for (;;) {
    await sleep(1000);
    const rows = await consumersOf(relay);
    const row = rows.length > before ? rows.at(-1)! : null;
    const elapsed = (performance.now() - t0) / 1000;
    if (!row) break;
    peak = Math.max(peak, row.peakBufferedBytes);
    if (elapsed < pauseS) lagAtResume = row.lag;
    else if (row.state === 'live') break;
    if (elapsed > pauseS + 300) break;
  }
  const seconds = (performance.now() - t0) / 1000;
  paused.send({ cmd: 'report' });
  const [stats] = (await paused.next('report')).drains;
  const dropped = (await metric(h, relay, 'relay_consumers_dropped_total')) - dropped0;
  log(`paused reader back live ${(seconds - pauseS).toFixed(1)} s after resuming; ${dropped} dropped`);
  return [
    { name: `reader paused ${pauseS} s: events behind when it resumed`, value: lagAtResume, unit: 'events' },
    { name: `reader paused ${pauseS} s: back live after resuming`, value: round(seconds - pauseS, 1), unit: 's' },
    { name: `reader paused ${pauseS} s: most bytes queued for it`, value: peak, unit: 'bytes' },
    { name: `reader paused ${pauseS} s: dropped or closed`, value: dropped + (stats?.closed ? 1 : 0), unit: 'consumers', target: { op: '<', value: 1 } },
  ];
}

async function reportAll(drains: Drains[]) {
  const out = [];
  for (const d of drains) {
    d.send({ cmd: 'report' });
    out.push(...(await d.next('report')).drains);
  }
  return out;
}

async function catchUp(flags: Flags, rate: number, behind: number, count: number): Promise<BenchLine[]> {
  // Long enough for the readers to catch up at the replay rate, and no longer: a corpus is made ahead in memory.
  const { o, ratePerHost } = streamingLive(flags, Math.max(60, (behind * count) / 40_000), rate);
  const log = o.log!;
  const h = new Harness();
  try {
    let frameSize = 0;
    const setup = await startLive(
      h,
      o,
      { RELAY_ACCOUNT_POINTS_PER_HOUR: '1000000000', RELAY_ACCOUNT_POINTS_PER_DAY: '1000000000', RELAY_ADMIN_PASSWORD: ADMIN_PASSWORD, ...relayEnvFlag(flags) },
      async () => {
        await h.migrate(h.databaseUrl);
        frameSize = (await prefillLog(h, behind)).size;
        log(`log pre-filled with ${behind} events of ${frameSize} bytes`);
      },
    );
    const { relay, fleets, readers } = setup;
    const pid = relay.proc.pid!;
    const reader = readers[0]!;
    for (const f of fleets) f.send({ cmd: 'publish', ratePerHost });
    await sleep(5000);
    const hist = await histogram(reader);
    const cpu = cpuSecondsOf(pid);
    const t0 = performance.now();
    await h.drains(0, relay.wsUrl, new Array(count).fill(`${SUBSCRIBE}?cursor=${FIRST_SEQ - 1}`));
    log(`${count} consumers reading from ${behind}+ events back while ${rate} commits/s flow`);
    const joined: number[] = [];
    for (;;) {
      const consumers = await consumersOf(relay);
      const behindOnes = consumers.filter((c) => c.state !== 'live').length;
      // The measuring consumer is live from the start; each drain counts once it is live too.
      while (joined.length < consumers.length - 1 - behindOnes) joined.push((performance.now() - t0) / 1000);
      if (behindOnes === 0 && consumers.length === count + 1) break;
      if (performance.now() - t0 > 600_000) {
        log(`warning: ${behindOnes} consumers still behind after 10 minutes`);
        break;
      }
      await sleep(500);
    }
    const seconds = (performance.now() - t0) / 1000;
    const cores = (cpuSecondsOf(pid) - cpu) / seconds;
    const latency = since(hist, await histogram(reader));
    const head = await metric(h, relay, 'relay_last_seq');
    const perConsumer = (head - FIRST_SEQ) / (joined.at(-1) ?? seconds);
    // A series with its label: h.metric sums every series of a bare name.
    const shared = await metric(h, relay, 'relay_replay_pages_total{from="shared"}');
    const fromLog = await metric(h, relay, 'relay_replay_pages_total{from="log"}');
    log(`all caught up in ${seconds.toFixed(1)} s; live p99 meanwhile ${latency.p99} ms`);
    return [
      { name: `catch-up: ${count} consumers from ${behind} events back, until the last joined live`, value: round(joined.at(-1) ?? seconds, 1), unit: 's' },
      { name: 'catch-up: first consumer joined live after', value: round(joined[0] ?? seconds, 1), unit: 's' },
      { name: 'catch-up: replay rate per consumer (events read until it joined)', value: Math.round(perConsumer), unit: 'events/s' },
      { name: 'catch-up: replay rate, all consumers together', value: Math.round(perConsumer * count), unit: 'events/s' },
      { name: 'catch-up: live consumer publish-to-receipt p99 meanwhile', value: latency.p99, unit: 'ms', target: { op: '<', value: 100 } },
      { name: 'catch-up: pages of the log shared (read once for several readers)', value: Math.round((100 * shared) / Math.max(1, shared + fromLog)), unit: '% of pages taken' },
      { name: 'catch-up: relay CPU meanwhile', value: round(cores, 3), unit: 'cores' },
      { name: 'catch-up: consumers dropped', value: await metric(h, relay, 'relay_consumers_dropped_total'), unit: 'consumers', target: { op: '<', value: 1 } },
      { name: 'catch-up: frame size of the pre-filled events', value: frameSize, unit: 'bytes' },
    ];
  } finally {
    await h.close();
  }
}

/** --relay-env KEY=VALUE[,KEY=VALUE]: settings for the relay processes of the live phases (A/B runs). */
function relayEnvFlag(flags: Flags): Record<string, string> {
  const pairs = (flags.get('relay-env') ?? '').split(',').filter(Boolean);
  return Object.fromEntries(pairs.map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)]));
}

const round = (v: number, digits: number) => Number(v.toFixed(digits));

/**
 * Flags: --rate 2000, --phase 20 (s), --consumers 100,300, --pause 60 (s; 0: skip), --fanout-process 1 (the largest
 * consumer count once more, on a fan-out-only process beside the ingesting one; 0: skip), --behind 200000,
 * --catch-up 10 (0: skip; --consumers 0 --pause 0 runs it alone), --relay-env KEY=VALUE[,...] (the relays' settings), and the live flags.
 */
export async function benchFanout(flags: Flags): Promise<BenchLine[]> {
  const rate = num(flags, 'rate', 2000);
  const phaseS = num(flags, 'phase', 20);
  const sizes = (flags.get('consumers') ?? '100,300').split(',').map(Number).filter((n) => n > 0).sort((x, y) => x - y);
  const pauseS = num(flags, 'pause', 60);
  // --consumers 0 --pause 0: the catch-up alone.
  const lines = sizes.length > 0 || pauseS > 0 ? await livePhases(flags, rate, phaseS, sizes, pauseS, num(flags, 'fanout-process', 1) > 0) : [];
  const count = num(flags, 'catch-up', 10);
  if (count > 0) lines.push(...(await catchUp(flags, rate, num(flags, 'behind', 200_000), count)));
  return lines;
}
