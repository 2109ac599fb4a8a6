// The CPU-heavy, stateless part of verifying a #commit or #sync: CAR parse with block CID checks, commit decode and
// its match with the message, the signature against a given key, and the commit proof (record blocks present, MST
// inversion to prevData). It needs no identity lookup and no account state, so it can run on a worker thread; the
// verifier decides with its result in the spec's checklist order.
import { readCar, CarError } from '../protocol/car.ts';
import { cidEquals, cidToString } from '../protocol/cid.ts';
import { decodeCommit, unsignedCommitBytes, CommitError, type Commit } from '../protocol/commit.ts';
import type { PublicKey } from '../protocol/did-key.ts';
import { invertOps, keyFromString, MstError, type Mst, type RepoOp } from '../protocol/mst/index.ts';
import { isNsid } from '../protocol/syntax.ts';
import type { CollectionChange } from '../core/accounts.ts';
import type { SignatureVerifier } from '../protocol/signature.ts';
import { refuse, type EventRejection, type Refusal, type Sync11Check } from '../core/rejections.ts';

export interface CommitJob {
  kind: 'commit' | 'sync';
  did: string;
  rev: string;
  /** The message's `blocks` (CAR slice). */
  blocks: Uint8Array;
  /** CID bytes of the message's `commit` field, null when it is not a link; absent when there is no such field. */
  commitCid?: Uint8Array | null;
  /** Key to check the signature with; absent = do not check it. */
  key?: PublicKey;
  /** Present = check the commit proof (#commit only). */
  proof?: CommitProofInput;
}

export interface CommitProofInput {
  legacyFlags: boolean;
  ops: RepoOp[];
  /** `prevData` CID bytes; null when absent. */
  prevData: Uint8Array | null;
  /** `prevData` is present but not a link. */
  prevDataInvalid: boolean;
}

/** A commit proof that does not hold (a Sync v1.1 check). */
export interface Problem {
  reason: Sync11Check;
  detail?: string;
}

export type CommitCheck =
  | Refusal<EventRejection>
  | {
      ok: true;
      rev: string;
      /** Commit CID and MST root CID, as strings. */
      head: string;
      data: string;
      /** Signature result; null when no key was given. */
      signature: boolean | null;
      /** First proof problem; null = proven; 'no_prev_data' = nothing to invert (first commit); undefined = not checked. */
      proof?: Problem | null | 'no_prev_data';
      /** What the commit does to the repo's collections (when the proof was checked). */
      collections?: CollectionChange;
    };

/**
 * `later`: the commit of an account the relay has not seen before. When jobs queue, such jobs wait behind those of
 * known accounts (still taking a share of every batch), so a burst of first-seen accounts does not delay the rest.
 */
export type CheckPriority = 'now' | 'later';

/** Runs commit jobs: inline, or on a worker pool (pool.ts). */
export interface CommitChecker {
  check(job: CommitJob, priority?: CheckPriority): Promise<CommitCheck> | CommitCheck;
}

const problem = (reason: Sync11Check, detail?: string): Problem => (detail === undefined ? { reason } : { reason, detail });
const fail = refuse<EventRejection>;

export function checkCommitJob(job: CommitJob, signatures: SignatureVerifier): CommitCheck {
  let car;
  try {
    car = readCar(job.blocks);
  } catch (err) {
    if (err instanceof CarError) return fail('bad_car', err.message);
    throw err;
  }
  const root = car.roots[0]!;
  if (job.commitCid !== undefined && !(job.commitCid !== null && cidEquals(job.commitCid, root))) {
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
  if (commit.did !== job.did) return fail('repo_mismatch', `commit is for ${commit.did}`);
  if (commit.rev !== job.rev) return fail('rev_mismatch', `commit rev is ${commit.rev}`);
  const signature = job.key ? signatures.verify(job.key, unsignedCommitBytes(commit), commit.sig) : null;
  const out: CommitCheck = { ok: true, rev: commit.rev, head: cidToString(root), data: cidToString(commit.data), signature };
  if (job.proof) {
    const presence = new CollectionPresence(job.proof.ops);
    out.proof = checkProof(job, job.proof, commit, car.blocks, presence);
    out.collections = presence.change();
  }
  return out;
}

/**
 * Which collections a commit leaves the repo holding records of. Creates and updates leave theirs present. For a
 * delete, keys of one collection are contiguous in key order, so the collection still has records after it exactly
 * when a key beside the deleted one has its prefix; the proof carries the path to each deleted key, which shows those
 * neighbours in most cases. Where it does not (a subtree left out, or the proof was not checked) it is unknown.
 */
export class CollectionPresence {
  private readonly present = new Set<string>();
  /** Deleted keys by collection, for the collections no op writes. */
  private readonly deleted = new Map<string, string[]>();
  private readonly absent: string[] = [];
  private readonly unknown: string[] = [];
  private settled = false;

  constructor(ops: readonly RepoOp[]) {
    for (const op of ops) {
      const slash = op.path.indexOf('/');
      const collection = slash > 0 ? op.path.slice(0, slash) : '';
      if (!isNsid(collection)) continue;
      if (op.action !== 'delete') this.present.add(collection);
      else {
        const keys = this.deleted.get(collection);
        if (keys) keys.push(op.path);
        else this.deleted.set(collection, [op.path]);
      }
    }
    for (const c of this.present) this.deleted.delete(c);
  }

  /** Reads each deleted collection's presence off the new tree (where the ops were found to hold). */
  inspect(tree: Mst): void {
    for (const [c, paths] of this.deleted) {
      const prefix = `${c}/`;
      let seen = false;
      let absent = false;
      for (const path of paths) {
        const { before, after, complete } = tree.neighbours(keyFromString(path));
        if (before?.startsWith(prefix) || after?.startsWith(prefix)) seen = true;
        else if (complete) absent = true;
      }
      if (seen) this.present.add(c);
      else if (absent) this.absent.push(c);
      else this.unknown.push(c);
    }
    this.settled = true;
  }

  change(): CollectionChange {
    return {
      present: [...this.present],
      absent: this.settled ? this.absent : [],
      unknown: this.settled ? this.unknown : [...this.deleted.keys()],
    };
  }
}

function checkProof(
  job: CommitJob,
  p: CommitProofInput,
  commit: Commit,
  blocks: { has(cid: Uint8Array): boolean; get(cid: Uint8Array): Uint8Array | undefined },
  presence: CollectionPresence,
): Problem | null | 'no_prev_data' {
  if (p.legacyFlags) return problem('legacy_flags', 'tooBig or rebase is set');
  if (job.blocks.length === 0) return problem('empty_blocks');
  if (p.prevDataInvalid) return problem('bad_field', 'prevData is not a link');
  for (const op of p.ops) {
    if (op.cid && !blocks.has(op.cid)) return problem('missing_record_block', op.path);
  }
  if (!p.prevData) return 'no_prev_data';
  try {
    const inverted = invertOps({ blocks, newRoot: commit.data, ops: p.ops, inspect: (tree) => presence.inspect(tree) });
    if (!cidEquals(inverted, p.prevData)) return problem('inversion_mismatch', 'ops do not invert to prevData');
  } catch (err) {
    if (!(err instanceof MstError)) throw err;
    const reason = err.reason === 'missing_block' ? 'missing_proof_block' : err.reason === 'bad_node' ? 'bad_mst' : err.reason === 'forward_mismatch' ? 'op_mismatch' : 'bad_ops';
    return problem(reason, err.message);
  }
  return null;
}
