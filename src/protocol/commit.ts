// Signed repo commits (repo format v3). The signature covers the DRISL encoding of the commit without `sig`; it is
// checked by re-encoding the decoded fields, never by slicing the received bytes.
import { BytesWrapper, CidLinkWrapper, decode, encode } from '@atcute/cbor';
import { cidForBlock, isBlessedCid } from './cid.ts';
import { isDid } from './syntax.ts';
import { isTid } from './tid.ts';
import { ReasonError } from '../core/reason-error.ts';

export interface Commit {
  did: string;
  version: 3;
  /** MST root CID. */
  data: Uint8Array;
  rev: string;
  prev: Uint8Array | null;
  sig: Uint8Array;
}

export type UnsignedCommit = Omit<Commit, 'sig'>;

export class CommitError extends ReasonError {}

export function decodeCommit(bytes: Uint8Array): Commit {
  let obj: unknown;
  try {
    obj = decode(bytes);
  } catch (err) {
    throw new CommitError('bad_commit', `commit block is not valid DRISL: ${(err as Error).message}`);
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new CommitError('bad_commit', 'commit is not a map');
  const c = obj as Record<string, unknown>;
  if (c.version !== 3) throw new CommitError('bad_commit_version', `commit version ${String(c.version)} is not 3`);
  if (!isDid(c.did)) throw new CommitError('bad_commit', 'commit did is invalid');
  if (!isTid(c.rev)) throw new CommitError('bad_commit', 'commit rev is not a TID');
  if (!(c.data instanceof CidLinkWrapper) || !isBlessedCid(c.data.bytes, 0x71)) {
    throw new CommitError('bad_commit', 'commit data is not a dag-cbor CID');
  }
  if (!('prev' in c)) throw new CommitError('bad_commit', 'commit has no prev field');
  if (c.prev !== null && !(c.prev instanceof CidLinkWrapper && isBlessedCid(c.prev.bytes, 0x71))) {
    throw new CommitError('bad_commit', 'commit prev is neither null nor a dag-cbor CID');
  }
  if (!(c.sig instanceof BytesWrapper) || c.sig.buf.length === 0) throw new CommitError('bad_commit', 'commit has no signature');
  return {
    did: c.did,
    version: 3,
    data: c.data.bytes,
    rev: c.rev,
    prev: c.prev === null ? null : (c.prev as CidLinkWrapper).bytes,
    sig: c.sig.buf,
  };
}

function fields(c: UnsignedCommit): Record<string, unknown> {
  return {
    did: c.did,
    version: c.version,
    data: new CidLinkWrapper(c.data),
    rev: c.rev,
    prev: c.prev === null ? null : new CidLinkWrapper(c.prev),
  };
}

/** The bytes the signature covers. */
export function unsignedCommitBytes(c: UnsignedCommit): Uint8Array {
  return encode(fields(c));
}

export function encodeCommit(c: Commit): Uint8Array {
  return encode({ ...fields(c), sig: new BytesWrapper(c.sig) });
}

/** Signs an unsigned commit with `sign` (message bytes -> 64-byte compact signature). */
export function signCommit(
  unsigned: UnsignedCommit,
  sign: (message: Uint8Array) => Uint8Array,
): { commit: Commit; bytes: Uint8Array; cid: Uint8Array } {
  const commit: Commit = { ...unsigned, sig: sign(unsignedCommitBytes(unsigned)) };
  const bytes = encodeCommit(commit);
  return { commit, bytes, cid: cidForBlock(bytes) };
}
