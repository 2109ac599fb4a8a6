// Sync v1.1 commit proofs: the operations of a #commit, applied in reverse to the partial tree its CAR slice
// carries, must lead back to the previous commit's MST root (`prevData`).
import { cidEquals } from '../cid.ts';
import { keyFromString, MstError } from './node.ts';
import { Mst, type BlockSource } from './tree.ts';

export interface RepoOp {
  action: string;
  path: string;
  cid: Uint8Array | null;
  prev?: Uint8Array;
}

/** Checks each op's shape and rejects duplicate paths; returns deletes first, then by path (a stable order). */
export function normalizeOps(ops: RepoOp[]): RepoOp[] {
  const seen = new Set<string>();
  for (const op of ops) {
    if (seen.has(op.path)) throw new MstError('bad_ops', `duplicate path ${op.path} in one commit`);
    seen.add(op.path);
    const ok =
      (op.action === 'create' && op.cid !== null && op.prev === undefined) ||
      (op.action === 'update' && op.cid !== null && op.prev !== undefined) ||
      (op.action === 'delete' && op.cid === null && op.prev !== undefined);
    if (!ok) throw new MstError('bad_ops', `op ${op.action} ${op.path} has an invalid cid/prev combination`);
  }
  return [...ops].sort((a, b) => {
    if ((a.action === 'delete') !== (b.action === 'delete')) return a.action === 'delete' ? -1 : 1;
    return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
  });
}

/**
 * Verifies the ops against the new tree (`newRoot`) and inverts them; returns the MST root before the commit.
 * Throws MstError: 'bad_ops', 'forward_mismatch', 'inversion_mismatch', or 'missing_block' for an absent proof node.
 * `inspect` sees the new tree once the ops are found in it, before it is inverted.
 */
export function invertOps(args: { blocks: BlockSource; newRoot: Uint8Array; ops: RepoOp[]; inspect?: (tree: Mst) => void }): Uint8Array {
  const ops = normalizeOps(args.ops);
  const tree = Mst.load(args.blocks, args.newRoot, { recordBlocks: false });
  for (const op of ops) {
    const found = tree.get(keyFromString(op.path));
    if (op.cid === null ? found !== null : found === null || !cidEquals(found, op.cid)) {
      throw new MstError('forward_mismatch', `${op.action} ${op.path} does not match the new tree`);
    }
  }
  args.inspect?.(tree);
  for (const op of [...ops].reverse()) {
    const key = keyFromString(op.path);
    if (op.action === 'create') {
      const removed = tree.delete(key);
      if (removed === null || !cidEquals(removed, op.cid!)) throw new MstError('inversion_mismatch', `create ${op.path}`);
    } else {
      const replaced = tree.set(key, op.prev!);
      const expected = op.action === 'update' ? op.cid : null;
      if (expected === null ? replaced !== null : replaced === null || !cidEquals(replaced, expected)) {
        throw new MstError('inversion_mismatch', `${op.action} ${op.path}`);
      }
    }
  }
  return tree.rootCid();
}
