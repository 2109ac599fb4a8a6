// Replay: the events table is pre-filled with a realistic commit frame repeated under consecutive seqs (SQL, not
// ingest), then one consumer subscribes from a cursor that far back and reads until it is caught up.
import { FIRST_SEQ, prefillLog } from './lib/prefill.ts';
import type { BenchLine } from './lib/record.ts';
import { Harness, cpuSecondsOf, machineBusy, rssOf, sleep } from './lib/harness.ts';
import { num, type Flags } from './scenarios.ts';

export async function benchReplay(flags: Flags): Promise<BenchLine[]> {
  const total = num(flags, 'events', 300_000);
  const log = (m: string) => console.error(`  [${new Date().toISOString().slice(11, 19)}] ${m}`);
  const h = new Harness();
  try {
    const [backgroundBusy] = await Promise.all([machineBusy(1000), h.services()]);
    await h.migrate(h.databaseUrl);
    const t0 = performance.now();
    const t = await prefillLog(h, total);
    const last = FIRST_SEQ + total - 1;
    log(`pre-filled ${total} events of ${t.size} bytes in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    // No upstream in this scenario: the PLC URL is never dialled.
    const relay = await h.relay({ plcUrl: 'http://127.0.0.1:9', cpuProfDir: flags.get('cpu-prof') });
    const pid = relay.proc.pid!;
    const cpu0 = cpuSecondsOf(pid);
    const consumer = await h.consumers(0, { url: relay.wsUrl, connections: 1, mode: 'read', cursor: FIRST_SEQ - 1 });
    let peakRss = rssOf(pid);
    let stats;
    let prev = -1;
    let prevAt = Date.now();
    for (;;) {
      consumer.send({ cmd: 'report' });
      stats = (await consumer.next('report')).connections[0]!;
      peakRss = Math.max(peakRss, rssOf(pid));
      if (stats.lastSeq >= last) break;
      if (stats.events !== prev) {
        prev = stats.events;
        prevAt = Date.now();
      } else if (Date.now() - prevAt > 15_000) break;
      await sleep(250);
    }
    const seconds = (stats.lastCommitAt - stats.firstCommitAt) / 1000;
    const relayCpu = cpuSecondsOf(pid) - cpu0;
    const consumerCpu = cpuSecondsOf(consumer.proc.pid!);
    return [
      { name: 'replay rate from a cursor far back', value: Math.round(stats.commits / Math.max(0.001, seconds)), unit: `events/s over ${total} events`, target: { op: '>=', value: 50_000 } },
      { name: 'events received', value: stats.events, unit: `of ${total}` },
      { name: 'seq gaps seen by the consumer', value: stats.gaps + stats.scanMismatches, unit: 'gaps' },
      { name: 'frame size', value: t.size, unit: 'bytes' },
      { name: 'relay CPU', value: Math.round((relayCpu / Math.max(0.001, seconds)) * 100), unit: '% of one core while replaying' },
      { name: 'consumer process CPU', value: Math.round((consumerCpu / Math.max(0.001, seconds)) * 100), unit: '% of one core (includes its start-up)' },
      { name: 'relay RSS peak', value: Math.round(peakRss / (1 << 20)), unit: 'MB' },
      { name: 'background machine load before the run', value: Math.round(backgroundBusy * 100), unit: '% of all cores busy' },
    ];
  } finally {
    await h.close();
  }
}
