// A replay window filled by SQL, not ingest: a realistic commit frame repeated under consecutive seqs, from FIRST_SEQ,
// in one partition recorded as the relay's partitioner records its own, with relay_seq at the last. For the
// scenarios that read far back (replay, fanout's catch-up).
import { encodeMessageFrame } from '../../src/protocol/frame.ts';
import { TidClock } from '../../src/protocol/tid.ts';
import { generateKeypair } from '../../dev-env/keys.ts';
import { commitMessageBody, Repo } from '../../dev-env/repo.ts';
import type { Harness } from './harness.ts';

/** Seqs start here so every seq takes CBOR's 4-byte form and one frame template fits them all. */
export const FIRST_SEQ = 1 << 16;
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

/** Writes `total` events into a migrated, empty log; returns the frame's account and size. */
export async function prefillLog(h: Harness, total: number): Promise<{ did: string; size: number }> {
  const t = frameTemplate();
  const last = FIRST_SEQ + total - 1;
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
  return { did: t.did, size: t.size };
}
