// The Jetstream v1 messages of one logged event: one per op of a #commit, one for an #identity or #account, none
// for a #sync (v1 does not send it). Built from the frame as it stands in the log, so a record is the one the relay
// verified in the commit's CAR slice, never fetched; DAG-CBOR values become the atproto JSON data model through
// the decoder's wrappers (links as {"$link"}, bytes as {"$bytes"}, blobs as their map with the ref as a link).
import { BytesWrapper, decode } from '@atcute/cbor';
import { CidLinkWrapper } from '@atcute/cid';
import { readCar } from '../protocol/car.ts';
import { decodeFrame } from '../protocol/frame.ts';
import type { CommittedEvent } from '../core/events.ts';

export interface JetstreamMessage {
  /** The relay seq of the event it comes from. */
  seq: number;
  timeUs: number;
  did: string;
  /** The op's collection (commit messages only; identity and account messages pass collection filters). */
  collection: string | null;
  /** The message as sent uncompressed (UTF-8 JSON). */
  json: Buffer;
}

const ACTIONS: ReadonlySet<string> = new Set(['create', 'update', 'delete']);

/** Why an event gave fewer messages than it should (counted; a logged event was verified, so none is expected). */
export type ConversionLoss = 'undecodable' | 'missing_record';

export function jetstreamMessages(ev: CommittedEvent, lost: (why: ConversionLoss) => void = () => {}): JetstreamMessage[] {
  if (ev.kind === 'sync') return [];
  let frame;
  try {
    frame = decodeFrame(ev.frame);
  } catch {
    lost('undecodable');
    return [];
  }
  if (frame.op !== 1) return [];
  const { body } = frame;
  if (ev.kind === 'identity' || ev.kind === 'account') {
    const json = JSON.stringify({ did: ev.did, time_us: ev.timeUs, kind: ev.kind, [ev.kind]: body });
    return [{ seq: ev.seq, timeUs: ev.timeUs, did: ev.did, collection: null, json: Buffer.from(json) }];
  }
  return commitMessages(ev, body, lost);
}

function commitMessages(ev: CommittedEvent, body: Record<string, unknown>, lost: (why: ConversionLoss) => void): JetstreamMessage[] {
  const ops = Array.isArray(body.ops) ? (body.ops as Array<Record<string, unknown>>) : [];
  if (!(body.blocks instanceof BytesWrapper) || typeof body.rev !== 'string') {
    lost('undecodable');
    return [];
  }
  let blocks;
  try {
    blocks = readCar(body.blocks.buf, { verified: true }).blocks;
  } catch {
    lost('undecodable');
    return [];
  }
  const out: JetstreamMessage[] = [];
  // The event's last microsecond is ev.timeUs; op i of n has ev.timeUs - (n - 1 - i), as the sequencer spaced them.
  const first = ev.timeUs - Math.max(1, ops.length) + 1;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    const path = typeof op.path === 'string' ? op.path : '';
    const slash = path.indexOf('/');
    const action = op.action;
    if (slash <= 0 || typeof action !== 'string' || !ACTIONS.has(action)) continue;
    const commit: Record<string, unknown> = { rev: body.rev, operation: action, collection: path.slice(0, slash), rkey: path.slice(slash + 1) };
    if (action !== 'delete') {
      const cid = op.cid instanceof CidLinkWrapper ? op.cid : null;
      const bytes = cid ? blocks.get(cid.bytes) : undefined;
      if (!cid || !bytes) {
        lost('missing_record');
        continue;
      }
      commit.record = decode(bytes);
      commit.cid = cid.$link;
    }
    const timeUs = first + i;
    const json = JSON.stringify({ did: ev.did, time_us: timeUs, kind: 'commit', commit });
    out.push({ seq: ev.seq, timeUs, did: ev.did, collection: commit.collection as string, json: Buffer.from(json) });
  }
  return out;
}
