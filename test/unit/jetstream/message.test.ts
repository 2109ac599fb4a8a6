// Logged events as Jetstream messages: one per op with its own time, records in the atproto JSON data model, the
// relay's seq in identity and account messages, nothing for #sync, and a counted loss where a record is missing.
import { describe, expect, it } from 'vitest';
import { BytesWrapper, CidLinkWrapper } from '@atcute/cbor';
import { CID } from 'multiformats/cid';
import { encodeMessageFrame } from '../../../src/protocol/frame.ts';
import { writeCar } from '../../../src/protocol/car.ts';
import { jetstreamMessages, type ConversionLoss } from '../../../src/jetstream/message.ts';
import { encodeRecord } from '../../../dev-env/repo.ts';
import type { CommittedEvent } from '../../../src/core/events.ts';

const did = 'did:plc:messages';
const post = encodeRecord('app.bsky.feed.post', { text: 'hi', tags: ['a'], bytes: new BytesWrapper(new Uint8Array([255, 0])) });
const like = encodeRecord('app.bsky.feed.like', { subject: new CidLinkWrapper(post.cid) });
const link = (cid: Uint8Array) => new CidLinkWrapper(cid);

function commit(ops: Array<Record<string, unknown>>, blocks = [post, like]): CommittedEvent {
  const car = writeCar([post.cid], blocks);
  const frame = encodeMessageFrame('#commit', { seq: 42, repo: did, rev: '3l3qo2vutsw2b', ops, blocks: new BytesWrapper(car), time: '2024-01-01T00:00:00Z' });
  return { seq: 42, did, kind: 'commit', frame, timeUs: 1_000_010 };
}

describe('Jetstream messages', () => {
  it('makes one message per op, each at its own microsecond, the last at the event time', () => {
    const ev = commit([
      { action: 'create', path: 'app.bsky.feed.post/1', cid: link(post.cid) },
      { action: 'update', path: 'app.bsky.feed.like/2', cid: link(like.cid), prev: link(post.cid) },
      { action: 'delete', path: 'app.bsky.feed.like/3', cid: null },
    ]);
    const out = jetstreamMessages(ev).map((m) => ({ ...m, json: JSON.parse(m.json.toString()) }));
    expect(out.map((m) => [m.seq, m.timeUs, m.collection])).toEqual([
      [42, 1_000_008, 'app.bsky.feed.post'],
      [42, 1_000_009, 'app.bsky.feed.like'],
      [42, 1_000_010, 'app.bsky.feed.like'],
    ]);
    expect(out[0]!.json).toEqual({
      did,
      time_us: 1_000_008,
      kind: 'commit',
      commit: {
        rev: '3l3qo2vutsw2b',
        operation: 'create',
        collection: 'app.bsky.feed.post',
        rkey: '1',
        record: { $type: 'app.bsky.feed.post', text: 'hi', tags: ['a'], bytes: { $bytes: '/wA' } },
        cid: CID.decode(post.cid).toString(),
      },
    });
    expect(out[1]!.json.commit).toMatchObject({ operation: 'update', record: { subject: { $link: CID.decode(post.cid).toString() } } });
    expect(out[2]!.json.commit).toEqual({ rev: '3l3qo2vutsw2b', operation: 'delete', collection: 'app.bsky.feed.like', rkey: '3' });
  });

  it('counts an op whose record is not in the slice, and an event it cannot read, and sends the rest', () => {
    const lost: ConversionLoss[] = [];
    const ev = commit([
      { action: 'create', path: 'app.bsky.feed.post/1', cid: link(post.cid) },
      { action: 'create', path: 'app.bsky.feed.like/2', cid: link(like.cid) },
    ], [post]);
    expect(jetstreamMessages(ev, (w) => lost.push(w)).map((m) => m.collection)).toEqual(['app.bsky.feed.post']);
    expect(jetstreamMessages({ ...ev, frame: new Uint8Array([1, 2, 3]) }, (w) => lost.push(w))).toEqual([]);
    expect(lost).toEqual(['missing_record', 'undecodable']);
  });

  it('carries identity and account bodies with the relay seq, and sends nothing for #sync', () => {
    const identity = encodeMessageFrame('#identity', { seq: 7, did, handle: 'a.test', time: '2024-01-01T00:00:00Z' });
    const [m] = jetstreamMessages({ seq: 7, did, kind: 'identity', frame: identity, timeUs: 5 });
    expect(JSON.parse(m!.json.toString())).toEqual({ did, time_us: 5, kind: 'identity', identity: { seq: 7, did, handle: 'a.test', time: '2024-01-01T00:00:00Z' } });
    expect(m!.collection).toBeNull();
    const account = encodeMessageFrame('#account', { seq: 8, did, active: false, status: 'takendown', time: '2024-01-01T00:00:00Z' });
    expect(JSON.parse(jetstreamMessages({ seq: 8, did, kind: 'account', frame: account, timeUs: 6 })[0]!.json.toString()).account).toEqual({ seq: 8, did, active: false, status: 'takendown', time: '2024-01-01T00:00:00Z' });
    const sync = encodeMessageFrame('#sync', { seq: 9, did, blocks: new BytesWrapper(new Uint8Array()), rev: 'x', time: 'y' });
    expect(jetstreamMessages({ seq: 9, did, kind: 'sync', frame: sync, timeUs: 7 })).toEqual([]);
  });
});
