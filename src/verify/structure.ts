// Message-level checks that need no identity or stored state: field types and size limits. For #commit and #sync
// the CAR slice and the commit block inside it are checked by the commit job this builds (commit-check.ts), which
// may run on a worker thread.
import { BytesWrapper, CidLinkWrapper } from '@atcute/cbor';
import type { RepoOp } from '../protocol/mst/index.ts';
import { isDatetime, isDid } from '../protocol/syntax.ts';
import { isTid } from '../protocol/tid.ts';
import type { AcceptedEvent, UpstreamEvent } from '../core/events.ts';
import { refuse, type EventRejection, type Refusal } from '../core/rejections.ts';
import type { CommitJob, CommitProofInput } from './commit-check.ts';

export const MAX_COMMIT_BLOCKS_BYTES = 2_000_000;
export const MAX_SYNC_BLOCKS_BYTES = 10_000;
export const MAX_OPS = 200;
const ACTIONS = new Set(['create', 'update', 'delete']);

export type StructureResult = { ok: true; event: AcceptedEvent; job?: CommitJob; proof?: CommitProofInput } | Refusal<EventRejection>;

const fail = refuse<EventRejection>;

function blocksOf(blocksField: unknown, maxBytes: number): Uint8Array | Refusal<EventRejection> {
  if (!(blocksField instanceof BytesWrapper)) return fail('bad_field', 'blocks is not bytes');
  const bytes = blocksField.buf;
  if (bytes.length > maxBytes) return fail('blocks_too_large', `blocks is ${bytes.length} bytes (max ${maxBytes})`);
  return bytes;
}

function opsOf(ops: Array<Record<string, unknown>>): RepoOp[] {
  return ops.map((o) => {
    const op: RepoOp = { action: o.action as string, path: o.path as string, cid: o.cid instanceof CidLinkWrapper ? o.cid.bytes : null };
    if (o.prev instanceof CidLinkWrapper) op.prev = o.prev.bytes;
    return op;
  });
}

export function checkStructure(evt: UpstreamEvent): StructureResult {
  const { body, did, received } = evt;
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
      const blocks = blocksOf(body.blocks, MAX_COMMIT_BLOCKS_BYTES);
      if (!(blocks instanceof Uint8Array)) return blocks;
      const job: CommitJob = { kind: 'commit', did, rev: body.rev, blocks };
      if (body.commit !== undefined) job.commitCid = body.commit instanceof CidLinkWrapper ? body.commit.bytes : null;
      const prevData = body.prevData instanceof CidLinkWrapper ? body.prevData.bytes : null;
      return {
        ok: true,
        event: { did, kind: 'commit', body, received },
        job,
        proof: {
          legacyFlags: body.tooBig === true || body.rebase === true,
          ops: opsOf(ops as Array<Record<string, unknown>>),
          prevData,
          prevDataInvalid: body.prevData !== undefined && prevData === null,
        },
      };
    }
    case '#sync': {
      if (typeof body.rev !== 'string' || !isTid(body.rev)) return fail('bad_field', 'rev is not a TID');
      const blocks = blocksOf(body.blocks, MAX_SYNC_BLOCKS_BYTES);
      if (!(blocks instanceof Uint8Array)) return blocks;
      return { ok: true, event: { did, kind: 'sync', body, received }, job: { kind: 'sync', did, rev: body.rev, blocks } };
    }
    case '#identity': {
      if (body.handle !== undefined && typeof body.handle !== 'string') return fail('bad_field', 'handle is not a string');
      return { ok: true, event: { did, kind: 'identity', body, received } };
    }
    case '#account': {
      if (typeof body.active !== 'boolean') return fail('bad_field', 'active is not a boolean');
      if (body.status !== undefined && typeof body.status !== 'string') return fail('bad_field', 'status is not a string');
      const status = typeof body.status === 'string' ? body.status : null;
      return { ok: true, event: { did, kind: 'account', body, received, status: { active: body.active, status } } };
    }
    default:
      return fail('unsupported_type', evt.t);
  }
}
