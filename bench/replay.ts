// Replay: the events table is pre-filled with a realistic commit frame repeated under consecutive seqs (SQL, not
// ingest), then one consumer subscribes from a cursor that far back and reads until it is caught up.
import { encodeMessageFrame } from '../src/protocol/frame.ts';
import { TidClock } from '../src/protocol/tid.ts';
import { generateKeypair } from '../dev-env/keys.ts';
import { commitMessageBody, Repo } from '../dev-env/repo.ts';
import type { BenchLine } from './lib/record.ts';
import { Harness, cpuSecondsOf, machineBusy, rssOf, sleep } from './lib/harness.ts';
import { num, type Flags } from './scenarios.ts';

/** Seqs start here so every seq takes CBOR's 4-byte form and one frame template fits them all. */
const FIRST_SEQ = 1 << 16;
const SEQ_MARK = 0x10000000;

/** A commit frame split around its seq: prefix || 0x1a || u32(seq) || suffix. */
function frameTemplate(): { did: string; prefix: Buffer; suffix: Buffer; size: number } {
  const clock = new TidClock();
  const did = 'did:plc:replaybenchaaaaaaaaaaaaaa';
  const repo = new Repo(did, generateKeypair('k256'));
  repo.commit(clock.next(), []);
  repo.commit(clock.next(), Array.from({ length: 30 }, (_, i) => ({ action: 'create' as const, collection: 'app.bsky.feed.post', rkey: clock.next(), record: { text: `seed ${i}` } })));
  const c = repo.commit(clock.next(), [
    { action: 'create', collection: 'app.bsky.feed.post', rkey: clock.next(), record: { text: 'a post of ordinary length, about a hundred characters, like most of them are', langs: ['en'], createdAt: new Date().toISOString() } },
    { action: 'create', collection: 'app.bsky.feed.like', rkey: clock.next(), record: { subject: { uri: `at://${did}/app.bsky.feed.post/3k`, cid: 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm' }, createdAt: new Date().toISOString() } },
  ]);
  const frame = Buffer.from(
    encodeMessageFrame('#commit', { ...commitMessageBody(did, c), seq: SEQ_MARK, time: new Date().toISOString() }),
  );
  const mark = Buffer.from([0x63, 0x73, 0x65, 0x71, 0x1a, 0x10, 0, 0, 0]);
  const at = frame.indexOf(mark);
  if (at < 0 || frame.indexOf(mark, at + 1) >= 0) throw new Error('seq mark not found exactly once in the template frame');
  return { did, prefix: frame.subarray(0, at + 4), suffix: frame.subarray(at + mark.length), size: frame.length };
}

export async function benchReplay(flags: Flags): Promise<BenchLine[]> {
  const total = num(flags, 'events', 300_000);
  const log = (m: string) => console.error(`  [${new Date().toISOString().slice(11, 19)}] ${m}`);
  const h = new Harness();
  try {
    const [backgroundBusy] = await Promise.all([machineBusy(1000), h.services()]);
    await h.migrate(h.databaseUrl);
    const t = frameTemplate();
    const last = FIRST_SEQ + total - 1;
    const t0 = performance.now();
    // One partition for the pre-filled range, recorded as the relay's partitioner records its own.
    await h.query(`CREATE TABLE events_${FIRST_SEQ} PARTITION OF events FOR VALUES FROM (${FIRST_SEQ}) TO (${last + 1})`);
    await h.query('INSERT INTO event_partitions (name, from_seq, to_seq) VALUES ($1, $2, $3)', [`events_${FIRST_SEQ}`, FIRST_SEQ, last + 1]);
    for (let from = FIRST_SEQ; from <= last; from += 100_000) {
      const to = Math.min(last, from + 99_999);
      await h.query(
        `INSERT INTO events (seq, did, kind, frame, host_id, upstream_seq)
         SELECT g, $1, 'commit', $2::bytea || '\\x1a'::bytea || int4send(g::int) || $3::bytea, 1, g FROM generate_series($4::bigint, $5::bigint) g`,
        [t.did, t.prefix, t.suffix, from, to],
      );
    }
    await h.query('UPDATE relay_seq SET seq = $1 WHERE id = 1', [last]);
    await h.query('ANALYZE events');
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
