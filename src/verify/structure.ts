// Message-level checks that need no identity or stored state: field types, size limits, and that the commit block
// in `blocks` is the one the message names, for the same repo and rev.
import { BytesWrapper, CidLinkWrapper } from '@atcute/cbor';
import { readCar, CarError, type Car } from '../protocol/car.ts';
import { cidEquals, cidToString } from '../protocol/cid.ts';
import { decodeCommit, CommitError, type Commit } from '../protocol/commit.ts';
import { isDatetime, isDid } from '../protocol/syntax.ts';
import { isTid } from '../protocol/tid.ts';
import type { AcceptedEvent } from '../sequencer/types.ts';
import type { UpstreamEvent } from './types.ts';

export const MAX_COMMIT_BLOCKS_BYTES = 2_000_000;
export const MAX_SYNC_BLOCKS_BYTES = 10_000;
export const MAX_OPS = 200;
const ACTIONS = new Set(['create', 'update', 'delete']);

export type StructureResult =
  | { ok: true; event: AcceptedEvent; commit?: Commit; blocks?: Car }
  | { ok: false; reason: string; detail?: string };

const fail = (reason: string, detail?: string): { ok: false; reason: string; detail?: string } =>
  detail === undefined ? { ok: false, reason } : { ok: false, reason, detail };

function loadCommit(evt: UpstreamEvent, blocksField: unknown, maxBytes: number, commitField?: unknown) {
  if (!(blocksField instanceof BytesWrapper)) return fail('bad_field', 'blocks is not bytes');
  const bytes = blocksField.buf;
  if (bytes.length > maxBytes) return fail('blocks_too_large', `blocks is ${bytes.length} bytes (max ${maxBytes})`);
  let car;
  try {
    car = readCar(bytes);
  } catch (err) {
    if (err instanceof CarError) return fail('bad_car', err.message);
    throw err;
  }
  const root = car.roots[0]!;
  if (commitField !== undefined && !(commitField instanceof CidLinkWrapper && cidEquals(commitField.bytes, root))) {
    return fail('commit_not_root', 'commit CID is not the CAR root');
  }
  const block = car.blocks.get(root);
  if (!block) return fail('missing_commit_block', 'commit block is not in blocks');
  let commit: Commit;
  try {
    commit = decodeCommit(block);
  } catch (err) {
    if (err instanceof CommitError) return fail('bad_commit', err.message);
    throw err;
  }
  if (commit.did !== evt.did) return fail('repo_mismatch', `commit is for ${commit.did}`);
  if (commit.rev !== evt.body.rev) return fail('rev_mismatch', `commit rev is ${commit.rev}`);
  return { ok: true as const, car, root, commit };
}

function repoEvent(
  evt: UpstreamEvent,
  kind: 'commit' | 'sync',
  loaded: { car: Car; root: Uint8Array; commit: Commit },
): StructureResult {
  const { commit, root, car } = loaded;
  return {
    ok: true,
    commit,
    blocks: car,
    event: {
      did: evt.did,
      kind,
      body: evt.body,
      repo: { rev: commit.rev, head: cidToString(root), data: cidToString(commit.data) },
    },
  };
}

export function checkStructure(evt: UpstreamEvent): StructureResult {
  const { body, did } = evt;
  if (!isDid(did)) return fail('bad_did', `invalid DID ${JSON.stringify(did).slice(0, 100)}`);
  if (typeof body.time !== 'string' || !isDatetime(body.time)) return fail('bad_field', 'time is not a datetime');
  switch (evt.t) {
    case '#commit': {
      if (typeof body.rev !== 'string' || !isTid(body.rev)) return fail('bad_field', 'rev is not a TID');
      if (body.since !== null && (typeof body.since !== 'string' || !isTid(body.since))) {
        return fail('bad_field', 'since is not a TID or null');
      }
      if (typeof body.rebase !== 'boolean' || typeof body.tooBig !== 'boolean') {
        return fail('bad_field', 'rebase and tooBig must be booleans');
      }
      const ops = body.ops;
      if (!Array.isArray(ops)) return fail('bad_field', 'ops is not an array');
      if (ops.length > MAX_OPS) return fail('too_many_ops', `${ops.length} ops (max ${MAX_OPS})`);
      for (const op of ops as unknown[]) {
        const o = op as Record<string, unknown>;
        if (typeof o !== 'object' || o === null || typeof o.action !== 'string' || !ACTIONS.has(o.action)) {
          return fail('bad_op', 'op has no known action');
        }
        if (typeof o.path !== 'string') return fail('bad_op', 'op path is not a string');
        if (o.cid !== null && !(o.cid instanceof CidLinkWrapper)) return fail('bad_op', 'op cid is not a link or null');
      }
      const loaded = loadCommit(evt, body.blocks, MAX_COMMIT_BLOCKS_BYTES, body.commit);
      return loaded.ok ? repoEvent(evt, 'commit', loaded) : loaded;
    }
    case '#sync': {
      if (typeof body.rev !== 'string' || !isTid(body.rev)) return fail('bad_field', 'rev is not a TID');
      const loaded = loadCommit(evt, body.blocks, MAX_SYNC_BLOCKS_BYTES);
      return loaded.ok ? repoEvent(evt, 'sync', loaded) : loaded;
    }
    case '#identity': {
      if (body.handle !== undefined && typeof body.handle !== 'string') return fail('bad_field', 'handle is not a string');
      return { ok: true, event: { did, kind: 'identity', body } };
    }
    case '#account': {
      if (typeof body.active !== 'boolean') return fail('bad_field', 'active is not a boolean');
      if (body.status !== undefined && typeof body.status !== 'string') return fail('bad_field', 'status is not a string');
      const status = typeof body.status === 'string' ? body.status : null;
      return { ok: true, event: { did, kind: 'account', body, status: { active: body.active, status } } };
    }
    default:
      return fail('unsupported_type', evt.t);
  }
}
