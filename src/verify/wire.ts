// Commit jobs as they cross to a worker thread: every byte field of a batch is copied once into one ArrayBuffer
// that is transferred, not cloned. Cloning a view would copy its whole backing buffer, which for a frame read off a
// socket is often the socket's entire read chunk; transferring the frame itself is impossible because its body is
// rebroadcast after verification.
import type { Curve } from '../protocol/did-key.ts';
import type { RepoOp } from '../protocol/mst/index.ts';
import type { CommitJob } from './commit-check.ts';

/** [offset, length] in the batch buffer; -1 = null. */
type Span = [number, number] | -1;

export interface WireOp {
  action: string;
  path: string;
  cid: Span;
  prev?: Span;
}

export interface WireJob {
  kind: 'commit' | 'sync';
  did: string;
  rev: string;
  blocks: Span;
  commitCid?: Span;
  key?: { curve: Curve; compressed: Span };
  proof?: { legacyFlags: boolean; ops: WireOp[]; prevData: Span; prevDataInvalid: boolean };
}

export interface WireBatch {
  id: number;
  buffer: ArrayBuffer;
  jobs: WireJob[];
}

function size(b: Uint8Array | null | undefined): number {
  return b ? b.length : 0;
}

function jobBytes(job: CommitJob): number {
  let n = job.blocks.length + size(job.commitCid) + size(job.key?.compressed);
  if (job.proof) {
    n += size(job.proof.prevData);
    for (const op of job.proof.ops) n += size(op.cid) + size(op.prev);
  }
  return n;
}

export function packBatch(id: number, jobs: CommitJob[]): WireBatch {
  let total = 0;
  for (const job of jobs) total += jobBytes(job);
  const bytes = new Uint8Array(total);
  let at = 0;
  const put = (b: Uint8Array | null): Span => {
    if (b === null) return -1;
    bytes.set(b, at);
    const span: Span = [at, b.length];
    at += b.length;
    return span;
  };
  const wire = jobs.map((job): WireJob => {
    const w: WireJob = { kind: job.kind, did: job.did, rev: job.rev, blocks: put(job.blocks) };
    if (job.commitCid !== undefined) w.commitCid = put(job.commitCid);
    if (job.key) w.key = { curve: job.key.curve, compressed: put(job.key.compressed) };
    if (job.proof) {
      const p = job.proof;
      w.proof = {
        legacyFlags: p.legacyFlags,
        prevData: put(p.prevData),
        prevDataInvalid: p.prevDataInvalid,
        ops: p.ops.map((op) => {
          const o: WireOp = { action: op.action, path: op.path, cid: put(op.cid) };
          if (op.prev !== undefined) o.prev = put(op.prev);
          return o;
        }),
      };
    }
    return w;
  });
  return { id, buffer: bytes.buffer, jobs: wire };
}

export function unpackJobs(batch: WireBatch): CommitJob[] {
  const bytes = new Uint8Array(batch.buffer);
  const view = (s: Span): Uint8Array | null => (s === -1 ? null : bytes.subarray(s[0], s[0] + s[1]));
  return batch.jobs.map((w): CommitJob => {
    const job: CommitJob = { kind: w.kind, did: w.did, rev: w.rev, blocks: view(w.blocks)! };
    if (w.commitCid !== undefined) job.commitCid = view(w.commitCid);
    if (w.key) job.key = { curve: w.key.curve, compressed: view(w.key.compressed)! };
    if (w.proof) {
      const p = w.proof;
      job.proof = {
        legacyFlags: p.legacyFlags,
        prevData: view(p.prevData),
        prevDataInvalid: p.prevDataInvalid,
        ops: p.ops.map((o): RepoOp => {
          const op: RepoOp = { action: o.action, path: o.path, cid: view(o.cid) };
          if (o.prev !== undefined) op.prev = view(o.prev)!;
          return op;
        }),
      };
    }
    return job;
  });
}
