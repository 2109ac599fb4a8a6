// Soak (issue 15): sustained ingest at a fixed rate for a long time with a short replay window, so retention drops
// partitions all along. Fleets publish realistic commits made ahead onto disk (too many to hold in memory), the relay
// keeps a 2-minute window in 15-second partitions, and one consumer checks every seq. Sampled every few seconds:
// what the consumer received, the log's partitions and bytes on disk, WAL written, and the log tables' deleted and
// dead rows. Reported: delivered throughput over the first and last thirds, the log's size once the window is full
// (flat or not), bytes on disk and WAL per event, and whether every event came once.
import type { BenchLine } from './lib/record.ts';
import { sizeStats } from './lib/corpus.ts';
import { cpuSecondsOf, Harness, rssOf, sleep } from './lib/harness.ts';
import { live, num, type Flags } from './scenarios.ts';
import { percentiles, startLive } from './live.ts';

interface Sample {
  /** Seconds since publishing began. */
  t: number;
  delivered: number;
  logBytes: number;
  partitions: number;
  /** Events in the partitions kept. */
  kept: number;
  wal: number;
  deleted: number;
  dead: number;
}

/**
 * Flags: --minutes 15 (publishing), --rate 2000 (events/s over all hosts), --window 120 and --partition 15 (seconds),
 * --sample 10 (seconds between samples), and the live flags (--hosts and --accounts-per-host per fleet process,
 * --fleets, --records ...; repos default to 1,000-10,000 records).
 */
export async function benchSoak(flags: Flags): Promise<BenchLine[]> {
  const minutes = num(flags, 'minutes', 15);
  const rate = num(flags, 'rate', 2000);
  const windowS = num(flags, 'window', 120);
  const partitionS = num(flags, 'partition', 15);
  const sampleS = Math.max(1, num(flags, 'sample', 10));
  const withRecords = flags.has('records') ? flags : new Map([...flags, ['records', '1000-10000']]);
  const o = live(withRecords, {
    fleets: 2,
    spec: { hosts: 4, activeHosts: 4, accountsPerHost: 25, eventsPerHost: 0, coldAccountsPerHost: 0, k256Share: 0.8, distinctRepos: 16 },
    ratePerHost: 0,
    readers: { processes: 1, connections: 1 },
    stalled: 0,
  });
  const hosts = o.spec.activeHosts * o.fleets;
  const ratePerHost = rate / hosts;
  const seconds = minutes * 60;
  // Made ahead and read from disk as published: making them live would cost the machine as much as verifying them.
  o.spec.stream = true;
  o.spec.eventsPerHost = Math.ceil(ratePerHost * seconds);
  const log = o.log!;
  const h = new Harness();
  try {
    // A few accounts write at the network's rate: their budgets are lifted (the checks still run), not the quotas' point.
    const setup = await startLive(h, o, {
      RELAY_REPLAY_WINDOW: `${windowS}s`,
      RELAY_EVENT_LOG_PARTITION: `${partitionS}s`,
      RELAY_ACCOUNT_POINTS_PER_HOUR: '1000000000',
      RELAY_ACCOUNT_POINTS_PER_DAY: '1000000000',
    });
    const { relay, fleets, readers, announced } = setup;
    const reader = readers[0]!;
    const pid = relay.proc.pid!;
    const report = async () => {
      reader.send({ cmd: 'report' });
      return reader.next('report');
    };
    const sample = async (t: number): Promise<Sample> => {
      const [db] = await h.query<{ bytes: string; partitions: string; kept: string; lsn: string; deleted: string; dead: string }>(`
        SELECT
          (SELECT COALESCE(sum(pg_total_relation_size(quote_ident(name))), 0) FROM event_partitions) AS bytes,
          (SELECT count(*) FROM event_partitions) AS partitions,
          (SELECT COALESCE((SELECT seq FROM relay_seq WHERE id = 1) - min(from_seq) + 1, 0) FROM event_partitions) AS kept,
          pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0') AS lsn,
          (SELECT COALESCE(sum(n_tup_del), 0) FROM pg_stat_user_tables WHERE relname LIKE 'events%') AS deleted,
          (SELECT COALESCE(sum(n_dead_tup), 0) FROM pg_stat_user_tables WHERE relname LIKE 'events%') AS dead`);
      const r = await report();
      return {
        t,
        delivered: r.connections[0]!.events - announced,
        logBytes: Number(db!.bytes),
        partitions: Number(db!.partitions),
        kept: Number(db!.kept),
        wal: Number(db!.lsn),
        deleted: Number(db!.deleted),
        dead: Number(db!.dead),
      };
    };

    const relayRssStart = rssOf(pid);
    const cpu0 = cpuSecondsOf(pid);
    const fleetCpu0 = fleets.reduce((n, f) => n + cpuSecondsOf(f.proc.pid!), 0);
    let relayRssPeak = relayRssStart;
    const samples: Sample[] = [await sample(0)];
    const p0 = performance.now();
    for (const f of fleets) f.send({ cmd: 'publish', ratePerHost });
    log(`publishing ${rate} events/s on ${hosts} hosts for ${minutes} min (window ${windowS} s, partitions ${partitionS} s)`);
    const published = Promise.all(fleets.map((f) => f.next('published', (seconds + 600) * 1000)));
    let done = false;
    void published.then(() => (done = true));
    while (!done) {
      await sleep(sampleS * 1000);
      const s = await sample((performance.now() - p0) / 1000);
      relayRssPeak = Math.max(relayRssPeak, rssOf(pid));
      samples.push(s);
      if (samples.length % Math.max(1, Math.round(60 / sampleS)) === 0) {
        log(`${Math.round(s.t)} s: ${s.delivered} delivered, log ${(s.logBytes / (1 << 20)).toFixed(0)} MB in ${s.partitions} partitions (${s.kept} events), dead rows ${s.dead}`);
      }
    }
    const fleetsDone = await published;
    const publishSeconds = (performance.now() - p0) / 1000;
    const sent = fleetsDone.reduce((n, f) => n + f.sent, 0);
    const generatorCpu = fleets.reduce((n, f) => n + cpuSecondsOf(f.proc.pid!), 0) - fleetCpu0;
    log(`published ${sent} commits in ${publishSeconds.toFixed(0)} s; waiting for the consumer`);
    let final = await report();
    for (let last = -1, lastAt = Date.now(); ; ) {
      final = await report();
      const got = final.connections[0]!.events - announced;
      if (got >= sent) break;
      if (got !== last) [last, lastAt] = [got, Date.now()];
      else if (Date.now() - lastAt > 15_000) break;
      await sleep(250);
    }
    const end = await sample((performance.now() - p0) / 1000);
    const relayCpu = cpuSecondsOf(pid) - cpu0;
    const conn = final.connections[0]!;
    const rejected = await h.metric(relay, 'relay_events_rejected_total');

    // Throughput over the first and last thirds of the publishing time, from the samples taken during it.
    const during = samples.filter((s) => s.t <= publishSeconds);
    const rateBetween = (from: number, to: number) => {
      const a = during.reduce((best, s) => (Math.abs(s.t - from) < Math.abs(best.t - from) ? s : best));
      const b = during.reduce((best, s) => (Math.abs(s.t - to) < Math.abs(best.t - to) ? s : best));
      return b.t > a.t ? (b.delivered - a.delivered) / (b.t - a.t) : 0;
    };
    const third = publishSeconds / 3;
    const firstThird = rateBetween(0, third);
    const lastThird = rateBetween(2 * third, publishSeconds);
    // The log once the window is full (window plus two partitions in): how far its size strays from its mean.
    const full = during.filter((s) => s.t >= windowS + 2 * partitionS);
    const sizes = full.map((s) => s.logBytes);
    const meanSize = sizes.length > 0 ? sizes.reduce((a, b) => a + b, 0) / sizes.length : 0;
    const bytesPerEvent = full.length > 0 ? full.reduce((n, s) => n + s.logBytes / Math.max(1, s.kept), 0) / full.length : end.logBytes / Math.max(1, end.kept);
    const committed = end.delivered - samples[0]!.delivered;
    const frames = sizeStats(setup.corpus.frameSizes);
    const lat = percentiles(final.latencyHistogram);
    const MB = 1 << 20;
    return [
      { name: 'offered rate', value: Math.round(sent / publishSeconds), unit: `events/s over ${Math.round(publishSeconds)} s (${sent} commits)` },
      { name: 'delivered rate, first third', value: Math.round(firstThird), unit: 'events/s' },
      { name: 'delivered rate, last third', value: Math.round(lastThird), unit: 'events/s' },
      { name: 'last third / first third', value: Math.round((lastThird / Math.max(1, firstThird)) * 1000) / 1000, unit: 'ratio', target: { op: '>=', value: 0.95 } },
      { name: 'events delivered to the checking consumer', value: conn.events - announced, unit: `of ${sent} (every one once: seq gaps or repeats ${conn.gaps + conn.scanMismatches})` },
      { name: 'seq gaps or repeats seen by the consumer', value: conn.gaps + conn.scanMismatches, unit: 'gaps', target: { op: '<', value: 1 } },
      { name: 'events rejected by the relay', value: rejected, unit: 'events' },
      { name: 'log on disk once the window is full (mean)', value: Math.round(meanSize / MB), unit: `MB (min ${Math.round(Math.min(...sizes, 0) / MB || 0)}, max ${Math.round(Math.max(...sizes, 0) / MB)}, ${full.length} samples)` },
      { name: 'log size spread once the window is full', value: meanSize > 0 ? Math.round(((Math.max(...sizes) - Math.min(...sizes)) / meanSize) * 1000) / 10 : 0, unit: '% of the mean (max - min)' },
      { name: 'partitions kept at the end', value: end.partitions, unit: `partitions (${end.kept} events)` },
      { name: 'log on disk per event kept', value: Math.round(bytesPerEvent), unit: 'bytes (partitions, TOAST and indexes)' },
      { name: 'WAL per event', value: Math.round((end.wal - samples[0]!.wal) / Math.max(1, committed)), unit: 'bytes (everything the relay wrote, over the events it committed)' },
      { name: 'rows deleted from the log', value: end.deleted, unit: 'rows (pg_stat_user_tables.n_tup_del)', target: { op: '<', value: 1 } },
      { name: 'dead rows in the log (peak)', value: Math.max(...samples.map((s) => s.dead), end.dead), unit: 'rows (n_dead_tup)' },
      { name: 'frame size', value: frames.mean, unit: `bytes mean (p50 ${frames.p50}, p90 ${frames.p90}, p99 ${frames.p99})` },
      { name: 'latency p50 (upstream publish to consumer receipt)', value: lat.p50, unit: 'ms' },
      { name: 'latency p99', value: lat.p99, unit: 'ms' },
      { name: 'relay RSS start / peak / end', value: Math.round(relayRssPeak / MB), unit: `MB peak (start ${Math.round(relayRssStart / MB)}, end ${Math.round(rssOf(pid) / MB)})` },
      { name: 'relay CPU', value: Math.round((relayCpu / Math.max(0.001, publishSeconds)) * 100), unit: '% of one core while publishing' },
      { name: 'generator CPU per event', value: Math.round((generatorCpu / Math.max(1, sent)) * 1e6), unit: 'µs (frames read from disk and sent)' },
      { name: 'background machine load before the run', value: Math.round(setup.backgroundBusy * 100), unit: '% of all cores busy' },
    ];
  } finally {
    await h.close();
  }
}
