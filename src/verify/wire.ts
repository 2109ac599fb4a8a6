// Commit jobs as they cross to a worker thread: a whole batch is written into one ArrayBuffer that is transferred,
// not cloned. Structured cloning of job objects cost more per commit than the copy; and cloning a view would copy
// its whole backing buffer, which for a frame read off a socket is often the socket's entire read chunk
// (transferring the frame itself is impossible: its body is rebroadcast after verification).
import type { RepoOp } from '../protocol/mst/index.ts';
import type { CommitJob } from './commit-check.ts';

const ACTIONS = ['create', 'update', 'delete'] as const;

// Job flags.
const SYNC = 1;
const HAS_COMMIT_FIELD = 2;
const COMMIT_IS_LINK = 4;
const HAS_KEY = 8;
const P256 = 16;
const HAS_PROOF = 32;
const LEGACY_FLAGS = 64;
const PREV_DATA_INVALID = 128;
// Op and proof flags.
const HAS_CID = 1;
const HAS_PREV = 2;

class Writer {
  private buf = new Uint8Array(64 * 1024);
  private view = new DataView(this.buf.buffer);
  pos = 0;

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(n: number): void {
    this.room(1);
    this.buf[this.pos++] = n;
  }

  u32(n: number): void {
    this.room(4);
    this.view.setUint32(this.pos, n);
    this.pos += 4;
  }

  bytes(b: Uint8Array): void {
    this.u32(b.length);
    this.room(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** UTF-8 with a 32-bit length. Strings here are DIDs, TIDs and record paths: ASCII is written byte by byte. */
  str(s: string): void {
    this.room(4 + s.length * 3);
    const start = this.pos + 4;
    let i = 0;
    for (; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      this.buf[start + i] = c;
    }
    const n = i === s.length ? i : Buffer.from(this.buf.buffer, start).write(s, 'utf8');
    this.view.setUint32(this.pos, n);
    this.pos = start + n;
  }

  /** A copy of what was written; the writer is then empty and keeps its buffer for the next batch. */
  finish(): ArrayBuffer {
    const out = this.buf.buffer.slice(0, this.pos);
    this.pos = 0;
    return out;
  }
}

const writer = new Writer();

class Reader {
  private readonly view: DataView;
  private pos = 0;

  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  u8(): number {
    return this.buf[this.pos++]!;
  }

  u32(): number {
    const n = this.view.getUint32(this.pos);
    this.pos += 4;
    return n;
  }

  /** A view into the batch buffer (no copy). */
  bytes(): Uint8Array {
    const n = this.u32();
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  str(): string {
    const n = this.u32();
    const start = this.pos;
    this.pos += n;
    let out = '';
    for (let i = start; i < start + n; i++) {
      const c = this.buf[i]!;
      if (c >= 0x80) return Buffer.from(this.buf.buffer, this.buf.byteOffset + start, n).toString('utf8');
      out += String.fromCharCode(c);
    }
    return out;
  }
}

export function packJobs(jobs: CommitJob[]): ArrayBuffer {
  const w = writer;
  w.u32(jobs.length);
  for (const job of jobs) {
    let flags = job.kind === 'sync' ? SYNC : 0;
    if (job.commitCid !== undefined) flags |= HAS_COMMIT_FIELD | (job.commitCid !== null ? COMMIT_IS_LINK : 0);
    if (job.key) flags |= HAS_KEY | (job.key.curve === 'p256' ? P256 : 0);
    const proof = job.proof;
    if (proof) flags |= HAS_PROOF | (proof.legacyFlags ? LEGACY_FLAGS : 0) | (proof.prevDataInvalid ? PREV_DATA_INVALID : 0);
    w.u8(flags);
    w.str(job.did);
    w.str(job.rev);
    w.bytes(job.blocks);
    if (job.commitCid) w.bytes(job.commitCid);
    if (job.key) {
      w.bytes(job.key.compressed);
      w.bytes(job.key.uncompressed);
    }
    if (proof) {
      w.u8(proof.prevData ? HAS_CID : 0);
      if (proof.prevData) w.bytes(proof.prevData);
      w.u32(proof.ops.length);
      for (const op of proof.ops) {
        w.u8(ACTIONS.indexOf(op.action as (typeof ACTIONS)[number]));
        w.str(op.path);
        w.u8((op.cid ? HAS_CID : 0) | (op.prev !== undefined ? HAS_PREV : 0));
        if (op.cid) w.bytes(op.cid);
        if (op.prev !== undefined) w.bytes(op.prev);
      }
    }
  }
  return w.finish();
}

export function unpackJobs(buffer: ArrayBuffer): CommitJob[] {
  const r = new Reader(new Uint8Array(buffer));
  const jobs: CommitJob[] = new Array(r.u32());
  for (let i = 0; i < jobs.length; i++) {
    const flags = r.u8();
    const job: CommitJob = { kind: flags & SYNC ? 'sync' : 'commit', did: r.str(), rev: r.str(), blocks: r.bytes() };
    if (flags & HAS_COMMIT_FIELD) job.commitCid = flags & COMMIT_IS_LINK ? r.bytes() : null;
    if (flags & HAS_KEY) job.key = { curve: flags & P256 ? 'p256' : 'k256', compressed: r.bytes(), uncompressed: r.bytes() };
    if (flags & HAS_PROOF) {
      const prevData = r.u8() & HAS_CID ? r.bytes() : null;
      const ops: RepoOp[] = new Array(r.u32());
      for (let k = 0; k < ops.length; k++) {
        const action = ACTIONS[r.u8()]!;
        const path = r.str();
        const opFlags = r.u8();
        const op: RepoOp = { action, path, cid: opFlags & HAS_CID ? r.bytes() : null };
        if (opFlags & HAS_PREV) op.prev = r.bytes();
        ops[k] = op;
      }
      job.proof = { legacyFlags: (flags & LEGACY_FLAGS) !== 0, prevDataInvalid: (flags & PREV_DATA_INVALID) !== 0, prevData, ops };
    }
    jobs[i] = job;
  }
  return jobs;
}
