// Generated corpora on disk under .tmp/bench-corpus/ (gitignored), keyed by everything that shapes them: a second
// run with the same parameters reads its frames back in a fraction of a second instead of building thousands of
// repos again. The key includes the source of the modules that make a corpus, so editing the generator, the repo
// fixture or the wire encoding never serves a stale one. Delete the folder (or pass --fresh-corpus) to start over;
// --no-corpus-cache neither reads nor writes it.
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, renameSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT } from '../../dev-env/process.ts';
import { encodeMessageFrame } from '../../src/protocol/frame.ts';
import type { Curve } from '../../dev-env/keys.ts';
import { corpusFromFlags, generateAccounts, type AccountRequest, type CorpusSpec } from './corpus.ts';

export const CORPUS_CACHE_DIR = join(REPO_ROOT, '.tmp', 'bench-corpus');

const MAGIC = 'RCORPUS1';

/** Modules whose code decides a corpus's bytes, besides the caller's. */
const SHAPING = ['bench/lib/corpus.ts', 'bench/lib/corpus-cache.ts', 'dev-env/repo.ts', 'dev-env/keys.ts', 'src/protocol/frame.ts', 'src/protocol/car.ts', 'src/protocol/commit.ts', 'src/protocol/cid.ts', 'src/protocol/mst/node.ts'];

/** What a corpus is stored as: JSON metadata and byte strings (frames). */
export interface Bundle<M> {
  meta: M;
  blobs: Uint8Array[];
}

export interface Loaded<M> extends Bundle<M> {
  /** Wall time to build it, or to read it back. */
  seconds: number;
  cached: boolean;
  /** Where it is cached; null when the cache is off. */
  file: string | null;
}

/** How a scenario's corpus is made, from its flags. */
export interface CorpusOptions {
  spec: CorpusSpec;
  /** Repos to build; accounts beyond that fork one of them (generateAccounts). 0 = one per account. */
  distinctRepos: number;
  /**
   * use: read it if cached, else build and store it; rebuild (--fresh-corpus): build and store; off
   * (--no-corpus-cache): build only.
   */
  cache: CacheMode;
}

export type CacheMode = 'use' | 'rebuild' | 'off';

export function corpusOptions(flags: Map<string, string>, defaults: { distinctRepos?: number } = {}): CorpusOptions {
  const raw = flags.get('distinct-repos');
  const distinctRepos = raw === undefined ? (defaults.distinctRepos ?? 0) : Number(raw);
  if (!Number.isInteger(distinctRepos) || distinctRepos < 0) throw new Error(`--distinct-repos must be a whole number, got ${raw}`);
  const cache = flags.has('no-corpus-cache') ? 'off' : flags.has('fresh-corpus') ? 'rebuild' : 'use';
  return { spec: corpusFromFlags(flags), distinctRepos, cache };
}

function cacheFile(key: object, sources: string[]): string {
  const h = createHash('sha256').update(JSON.stringify(key));
  for (const path of [...SHAPING.map((p) => join(REPO_ROOT, p)), ...sources.map((url) => fileURLToPath(url))]) h.update(readFileSync(path));
  return join(CORPUS_CACHE_DIR, `${h.digest('hex').slice(0, 24)}.bin`);
}

/**
 * The bundle cached for `key`, or else the one `build` makes, which is then cached. `sources` are the URLs of
 * further modules whose code shapes the bundle (a caller that lays out frames passes its import.meta.url).
 */
export function cachedBundle<M>(key: object, build: () => Bundle<M>, o: { cache: CacheMode; sources?: string[] }): Loaded<M> {
  const file = cacheFile(key, o.sources ?? []);
  const t0 = performance.now();
  if (o.cache === 'use') {
    const stored = readBundle<M>(file);
    if (stored) return { ...stored, seconds: (performance.now() - t0) / 1000, cached: true, file };
  }
  const bundle = build();
  const seconds = (performance.now() - t0) / 1000;
  if (o.cache === 'off') return { ...bundle, seconds, cached: false, file: null };
  writeBundle(file, bundle);
  return { ...bundle, seconds, cached: false, file };
}

/** Where a streamed corpus's frames go as they are made, each tagged with the host that publishes it. */
export interface FrameSink {
  write(host: number, frame: Uint8Array): void;
}

/**
 * A corpus too large to hold in memory (npm run bench soak): `build` writes its frames to a file as it makes them
 * ([u8 host][u32 length][frame], repeated) and returns its metadata, kept beside it; read back with FrameStream. With
 * the cache off it is built again (it cannot live in memory either way).
 */
export function cachedStream<M>(key: object, build: (sink: FrameSink) => M, o: { cache: CacheMode; sources?: string[] }): { meta: M; file: string; cached: boolean; seconds: number } {
  const file = cacheFile(key, o.sources ?? []).replace(/\.bin$/, '.frames');
  const metaFile = `${file}.json`;
  const t0 = performance.now();
  if (o.cache === 'use' && existsSync(file) && existsSync(metaFile)) {
    return { meta: JSON.parse(readFileSync(metaFile, 'utf8')) as M, file, cached: true, seconds: (performance.now() - t0) / 1000 };
  }
  mkdirSync(CORPUS_CACHE_DIR, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w');
  let chunk = Buffer.allocUnsafe(8 << 20);
  let used = 0;
  const flush = () => {
    writeSync(fd, chunk, 0, used);
    used = 0;
  };
  const meta = build({
    write(host, frame) {
      if (used + 5 + frame.length > chunk.length) flush();
      if (5 + frame.length > chunk.length) chunk = Buffer.allocUnsafe(5 + frame.length);
      chunk[used] = host;
      chunk.writeUInt32LE(frame.length, used + 1);
      chunk.set(frame, used + 5);
      used += 5 + frame.length;
    },
  });
  flush();
  closeSync(fd);
  // Frames, then metadata, each written aside and renamed: a stopped run leaves nothing that looks complete.
  renameSync(tmp, file);
  writeFileSync(`${metaFile}.tmp`, JSON.stringify(meta));
  renameSync(`${metaFile}.tmp`, metaFile);
  return { meta, file, cached: false, seconds: (performance.now() - t0) / 1000 };
}

/** Reads a streamed corpus's frames back in order, a few megabytes at a time. */
export class FrameStream {
  private readonly fd: number;
  private buf = Buffer.alloc(0);
  private at = 0;
  private eof = false;

  constructor(file: string) {
    this.fd = openSync(file, 'r');
  }

  next(): { host: number; frame: Uint8Array } | null {
    if (!this.fill(5)) return null;
    const length = this.buf.readUInt32LE(this.at + 1);
    if (!this.fill(5 + length)) throw new Error('streamed corpus ends inside a frame');
    const host = this.buf[this.at]!;
    const frame = this.buf.subarray(this.at + 5, this.at + 5 + length);
    this.at += 5 + length;
    return { host, frame };
  }

  close(): void {
    closeSync(this.fd);
  }

  /** Whether `n` bytes are buffered from `at` on, reading more as needed. */
  private fill(n: number): boolean {
    while (this.buf.length - this.at < n && !this.eof) {
      const next = Buffer.allocUnsafe(Math.max(8 << 20, n));
      const left = this.buf.length - this.at;
      this.buf.copy(next, 0, this.at);
      const got = readSync(this.fd, next, left, next.length - left, null);
      if (got === 0) this.eof = true;
      this.buf = next.subarray(0, left + got);
      this.at = 0;
    }
    return this.buf.length - this.at >= n;
  }
}

function readBundle<M>(file: string): Bundle<M> | null {
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch {
    return null;
  }
  if (buf.toString('latin1', 0, MAGIC.length) !== MAGIC) return null;
  let at = MAGIC.length;
  const u32 = () => {
    const v = buf.readUInt32LE(at);
    at += 4;
    return v;
  };
  const metaLength = u32();
  const meta = JSON.parse(buf.toString('utf8', at, at + metaLength)) as M;
  at += metaLength;
  const blobs: Uint8Array[] = new Array(u32());
  for (let i = 0; i < blobs.length; i++) {
    const n = u32();
    blobs[i] = new Uint8Array(buf.buffer, buf.byteOffset + at, n);
    at += n;
  }
  return { meta, blobs };
}

function writeBundle(file: string, b: Bundle<unknown>): void {
  const meta = Buffer.from(JSON.stringify(b.meta), 'utf8');
  const parts: Uint8Array[] = [Buffer.from(MAGIC, 'latin1'), u32(meta.length), meta, u32(b.blobs.length)];
  for (const blob of b.blobs) parts.push(u32(blob.length), blob);
  mkdirSync(CORPUS_CACHE_DIR, { recursive: true });
  // Written aside and renamed: a run stopped half-way leaves no truncated corpus behind.
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, Buffer.concat(parts));
  renameSync(tmp, file);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

export function describeCacheFile(l: Loaded<unknown>): string {
  const where = l.file ? ` (${(statSync(l.file).size / (1 << 20)).toFixed(1)} MB, ${l.file.slice(REPO_ROOT.length)})` : ' (not cached)';
  return `${l.cached ? 'read' : 'generated'} in ${l.seconds.toFixed(1)} s${where}`;
}

export interface CorpusAccount {
  did: string;
  curve: Curve;
  multikey: string;
  records: number;
  /** Its #commit frames in order, seq 1, 2, ... (the time is the generation's). */
  frames: Uint8Array[];
}

/**
 * Accounts with their commits as frames, for the stage benches (verify, compare): made by generateAccounts, cached
 * per curve mix, size and corpus options.
 */
export function cachedAccounts(curves: Curve[], commitsPer: number, o: CorpusOptions): { accounts: CorpusAccount[]; loaded: Loaded<unknown> } {
  type Meta = Array<Omit<CorpusAccount, 'frames'>>;
  const key = { kind: 'accounts', curves, commitsPer, spec: o.spec, distinctRepos: o.distinctRepos };
  const loaded = cachedBundle<Meta>(
    key,
    () => {
      const requests: AccountRequest[] = curves.map((curve) => ({ curve, commits: commitsPer }));
      const histories = generateAccounts(o.spec, requests, { distinctRepos: o.distinctRepos });
      const blobs = histories.flatMap((h) => h.commits.map((body, i) => encodeMessageFrame('#commit', { ...body, seq: i + 1, time: new Date().toISOString() })));
      return { meta: histories.map(({ did, curve, multikey, records }) => ({ did, curve, multikey, records })), blobs };
    },
    { cache: o.cache },
  );
  const accounts = loaded.meta.map((a, i) => ({ ...a, frames: loaded.blobs.slice(i * commitsPer, (i + 1) * commitsPer) }));
  return { accounts, loaded };
}
