// Accounts and commits shaped like the network's (issue 14): repo sizes spread log-uniformly over a range (100 to
// 50,000 records by default), records of the kinds and shapes the Bluesky app writes, and commits with the
// network's op mix. A repo is built once, bottom-up (Repo.importRecords), then its commits are generated and the
// repo is dropped: a load generator keeps frames, not repos. Sizes, contents and choices come from a seeded
// generator, so a spec always yields the same ones; keys, signatures and timestamps (now-based TIDs) differ.
import { BytesWrapper, CidLinkWrapper } from '@atcute/cbor';
import { cidToString, CODEC_RAW } from '../../src/protocol/cid.ts';
import { generateKeypair, multikey, type Curve, type Keypair } from '../../dev-env/keys.ts';
import { commitMessageBody, encodeRecord, Repo, type ImportRecord, type RecordBlock, type RecordOp } from '../../dev-env/repo.ts';
import type { BenchLine } from './record.ts';

export interface CorpusSpec {
  /** Records per repo, log-uniform between min and max. */
  records: { min: number; max: number };
  seed: number;
}

const DEFAULT_CORPUS: CorpusSpec = { records: { min: 100, max: 50_000 }, seed: 1 };

/** `--records 100-50000` (a range) or `--records 5000` (every repo that size), `--corpus-seed N`. */
export function corpusFromFlags(flags: Map<string, string>, fallback: CorpusSpec = DEFAULT_CORPUS): CorpusSpec {
  const raw = flags.get('records');
  let records = fallback.records;
  if (raw !== undefined) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(raw);
    const min = Number(m?.[1]);
    const max = Number(m?.[2] ?? m?.[1]);
    if (!m || min < 1 || min > max) throw new Error(`--records must be N or MIN-MAX with 1 <= MIN <= MAX, got ${raw}`);
    records = { min, max };
  }
  const seed = flags.has('corpus-seed') ? Number(flags.get('corpus-seed')) : fallback.seed;
  if (!Number.isInteger(seed)) throw new Error(`--corpus-seed must be an integer, got ${flags.get('corpus-seed')}`);
  return { records, seed };
}

const describeCorpus = (s: CorpusSpec) =>
  s.records.min === s.records.max ? `${s.records.min} records per repo` : `${s.records.min}-${s.records.max} records per repo, log-uniform`;

/** mulberry32: small, fast, and good enough to draw sizes and contents from. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** 0 <= n < below. */
  int(below: number): number {
    return Math.floor(this.next() * below);
  }

  /** lo <= n <= hi. */
  between(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }
}

/** Keys drawn with probabilities proportional to their weights. */
class Mix<K extends string> {
  private readonly keys: K[];
  private readonly cumulative: number[];
  constructor(weights: Readonly<Record<K, number>>) {
    this.keys = Object.keys(weights) as K[];
    let sum = 0;
    this.cumulative = this.keys.map((k) => (sum += weights[k]));
  }

  draw(rng: Rng): K {
    const r = rng.next() * this.cumulative.at(-1)!;
    for (let i = 0; i < this.keys.length; i++) if (r < this.cumulative[i]!) return this.keys[i]!;
    return this.keys.at(-1)!;
  }
}

/** A repo size drawn log-uniformly from the spec's range. */
function repoSize(rng: Rng, spec: CorpusSpec): number {
  const { min, max } = spec.records;
  return Math.round(Math.exp(Math.log(min) + rng.next() * (Math.log(max) - Math.log(min))));
}

// --- records ------------------------------------------------------------------------------------------------

const B32 = 'abcdefghijklmnopqrstuvwxyz234567';
const TID_ALPHABET = '234567abcdefghijklmnopqrstuvwxyz';

/**
 * The TID of `micros` and `clockId`, as src/protocol/tid.ts encodes it, without BigInt: a repo import makes one per
 * record, and the BigInt path costs more than the rest of the record. The low 35 bits (7 characters) and the rest
 * each fit a double exactly.
 */
export function fastTid(micros: number, clockId: number): string {
  let low = (micros % 0x2000000) * 1024 + clockId;
  let high = Math.floor(micros / 0x2000000);
  let out = '';
  for (let i = 0; i < 7; i++, low = Math.floor(low / 32)) out = TID_ALPHABET[low % 32]! + out;
  for (let i = 0; i < 6; i++, high = Math.floor(high / 32)) out = TID_ALPHABET[high % 32]! + out;
  return out;
}

function randomDid(rng: Rng): string {
  let s = 'did:plc:';
  for (let i = 0; i < 24; i++) s += B32[rng.int(32)];
  return s;
}

/** Other accounts' posts and DIDs, drawn from a pool, as a user's likes and follows point at a few thousand. */
class Subjects {
  private readonly dids: string[];
  private readonly posts: Array<{ uri: string; cid: string }>;
  constructor(rng: Rng) {
    this.dids = Array.from({ length: 2048 }, () => randomDid(rng));
    const now = Date.now() * 1000;
    this.posts = Array.from({ length: 4096 }, () => {
      const rkey = fastTid(now - rng.int(2 ** 45), rng.int(1024));
      const cid = new Uint8Array([0x01, 0x71, 0x12, 0x20, ...rng.bytes(32)]);
      return { uri: `at://${rng.pick(this.dids)}/app.bsky.feed.post/${rkey}`, cid: cidToString(cid) };
    });
  }

  did(rng: Rng): string {
    return rng.pick(this.dids);
  }

  /** A strongRef: {uri, cid}. */
  post(rng: Rng): { uri: string; cid: string } {
    return rng.pick(this.posts);
  }
}

const WORDS = (
  'the a to and of is in it you that for this on with be just so my have are not but at like me was what all can ' +
  'out one today now new people think know good time really love got about more get how would day up if your when ' +
  'they want see great still going thread here back first post some need make year thanks feel much right also ' +
  'bluesky feed folks honestly morning coffee weekend music reading photo tonight finally'
).split(' ');
const JA = [...'きょうはいいてんきですねありがとうございますおつかれさまでした'];
const FACETS = new Mix({ link: 0.5, mention: 0.3, tag: 0.2 });

/** Post text lengths: many short replies, most posts a sentence or two, a quarter long (140 to the limit of 300). */
function postText(rng: Rng, ja: boolean): string {
  const bucket = rng.next();
  const target = bucket < 0.35 ? rng.between(2, 40) : bucket < 0.75 ? rng.between(40, 140) : rng.between(140, 300);
  if (ja) return Array.from({ length: Math.ceil(target / 3) }, () => rng.pick(JA)).join('');
  let text = '';
  while (text.length < target) text += (text ? ' ' : '') + rng.pick(WORDS);
  return text.slice(0, target).trimEnd();
}

function blob(rng: Rng, mimeType: string, size: number): object {
  return { $type: 'blob', ref: new CidLinkWrapper(new Uint8Array([0x01, CODEC_RAW, 0x12, 0x20, ...rng.bytes(32)])), mimeType, size };
}

function post(rng: Rng, subjects: Subjects, createdAt: string): object {
  const ja = rng.chance(0.08);
  let text = postText(rng, ja);
  const out: Record<string, unknown> = { createdAt, langs: [ja ? 'ja' : 'en'] };
  if (!ja && rng.chance(0.15)) {
    // A link, a mention or a hashtag at the end of the text, with its byte range (ASCII text: bytes = characters).
    const kind = FACETS.draw(rng);
    const did = subjects.did(rng);
    const tail = kind === 'link' ? `https://example.com/${fastTid(rng.int(2 ** 50), 0)}` : kind === 'mention' ? `@${did.slice(8, 18)}.bsky.social` : `#${rng.pick(WORDS)}`;
    text = `${text.slice(0, 300 - tail.length - 1)} `;
    const feature =
      kind === 'link'
        ? { $type: 'app.bsky.richtext.facet#link', uri: tail }
        : kind === 'mention'
          ? { $type: 'app.bsky.richtext.facet#mention', did }
          : { $type: 'app.bsky.richtext.facet#tag', tag: tail.slice(1) };
    out.facets = [{ index: { byteStart: text.length, byteEnd: text.length + tail.length }, features: [feature] }];
    text += tail;
  }
  out.text = text;
  if (rng.chance(0.35)) {
    const parent = subjects.post(rng);
    out.reply = { root: rng.chance(0.5) ? parent : subjects.post(rng), parent };
  }
  const embed = rng.next();
  if (embed < 0.12) {
    out.embed = {
      $type: 'app.bsky.embed.images',
      images: Array.from({ length: rng.chance(0.7) ? 1 : rng.between(2, 4) }, () => ({
        alt: rng.chance(0.4) ? postText(rng, false).slice(0, 120) : '',
        image: blob(rng, 'image/jpeg', rng.between(80_000, 950_000)),
        aspectRatio: { width: rng.pick([1000, 1200, 2000]), height: rng.pick([750, 1000, 1500]) },
      })),
    };
  } else if (embed < 0.18) {
    out.embed = {
      $type: 'app.bsky.embed.external',
      external: {
        uri: `https://news.example.org/${rng.pick(WORDS)}/${fastTid(rng.int(2 ** 50), 0)}`,
        title: postText(rng, false).slice(0, 90),
        description: postText(rng, false).slice(0, 200),
        ...(rng.chance(0.7) ? { thumb: blob(rng, 'image/jpeg', rng.between(20_000, 400_000)) } : {}),
      },
    };
  } else if (embed < 0.23) {
    out.embed = { $type: 'app.bsky.embed.record', record: subjects.post(rng) };
  }
  return out;
}

type Kind = 'like' | 'follow' | 'post' | 'repost';

const COLLECTION: Record<Kind, string> = {
  like: 'app.bsky.feed.like',
  follow: 'app.bsky.graph.follow',
  post: 'app.bsky.feed.post',
  repost: 'app.bsky.feed.repost',
};

/** What accounts create, and so what their repos hold: mostly likes and follows, then posts and reposts. */
const CREATE_MIX = new Mix<Kind>({ like: 0.52, follow: 0.2, post: 0.16, repost: 0.12 });
/** Ops in commits: creates in CREATE_MIX's proportions, ~10% deletes, a few profile updates. */
const OP_MIX = new Mix({ create: 0.89, delete: 0.1, update: 0.01 });

function record(rng: Rng, subjects: Subjects, kind: Kind, createdAt: string): object {
  switch (kind) {
    case 'like':
    case 'repost':
      return { subject: subjects.post(rng), createdAt };
    case 'follow':
      return { subject: subjects.did(rng), createdAt };
    case 'post':
      return post(rng, subjects, createdAt);
  }
}

/**
 * Records for repos' existing contents. Those never reach a relay (only their CIDs do, inside MST nodes), so an
 * import draws them from a few thousand realistic blocks rather than encoding and hashing tens of thousands anew.
 */
class RecordPool {
  private readonly blocks: Record<Kind, RecordBlock[]>;
  constructor(rng: Rng, subjects: Subjects) {
    const make = (kind: Kind) =>
      Array.from({ length: 1024 }, () => encodeRecord(COLLECTION[kind], record(rng, subjects, kind, new Date(Date.now() - rng.int(900 * 86_400_000)).toISOString())));
    this.blocks = { like: make('like'), follow: make('follow'), post: make('post'), repost: make('repost') };
  }

  draw(rng: Rng, kind: Kind): RecordBlock {
    return rng.pick(this.blocks[kind]);
  }
}

function profile(rng: Rng): object {
  return {
    displayName: rng.pick(WORDS) + ' ' + rng.pick(WORDS),
    description: postText(rng, false).slice(0, 200),
    avatar: blob(rng, 'image/jpeg', rng.between(30_000, 900_000)),
    createdAt: new Date(Date.now() - rng.int(900) * 86_400_000).toISOString(),
  };
}

// --- accounts -----------------------------------------------------------------------------------------------

/** A repo being written to: its live record paths (for deletes) and a rev clock past every record in it. */
class Account {
  readonly repo: Repo;
  private readonly paths: string[];
  private micros = Date.now() * 1000;
  private readonly clockId: number;

  private readonly rng: Rng;
  private readonly subjects: Subjects;
  private constructor(rng: Rng, subjects: Subjects, repo: Repo, paths: string[]) {
    this.rng = rng;
    this.subjects = subjects;
    this.repo = repo;
    this.paths = paths;
    this.clockId = rng.int(1024);
  }

  /** A repo of `records` records (a profile and creates of CREATE_MIX), imported as one commit. */
  static build(rng: Rng, subjects: Subjects, pool: RecordPool, did: string, key: Keypair, records: number): Account {
    const account = new Account(rng, subjects, new Repo(did, key), []);
    // The records span the account's life (a month to two and a half years) up to an hour ago, so neighbouring
    // keys share as much of their TID prefix as a real repo's do.
    const now = Date.now() * 1000;
    const span = rng.between(30, 900) * 86_400e6;
    const times = new Float64Array(Math.max(0, records - 1));
    for (let i = 0; i < times.length; i++) times[i] = Math.floor(now - 3_600e6 - rng.next() * span);
    times.sort();
    // Each collection's records in time order, collections in name order: the import's sort then finds them sorted.
    const byCollection = new Map<string, ImportRecord[]>([['app.bsky.actor.profile', []], ...Object.values(COLLECTION).sort().map((c) => [c, []] as [string, ImportRecord[]])]);
    if (records > 0) byCollection.get('app.bsky.actor.profile')!.push({ path: 'app.bsky.actor.profile/self', ...encodeRecord('app.bsky.actor.profile', profile(rng)) });
    let last = 0;
    for (let i = 0; i < times.length; i++) {
      last = Math.max(times[i]!, last + 1);
      const kind = CREATE_MIX.draw(rng);
      const path = `${COLLECTION[kind]}/${fastTid(last, account.clockId)}`;
      byCollection.get(COLLECTION[kind])!.push({ path, ...pool.draw(rng, kind) });
      account.paths.push(path);
    }
    const imported = [...byCollection.values()].flat();
    account.repo.importRecords(account.tid(), imported);
    return account;
  }

  /** Another account with this one's records as they are now (Repo.fork). */
  fork(did: string, key: Keypair): Account {
    const other = new Account(this.rng, this.subjects, this.repo.fork(did, key, this.tid()), [...this.paths]);
    // Its revs must follow the import's, taken from this account's clock.
    other.micros = this.micros;
    return other;
  }

  private tid(): string {
    this.micros = Math.max(this.micros + 1, Date.now() * 1000);
    return fastTid(this.micros, this.clockId);
  }

  /** One op of the mix; deletes only once the repo has records to spare. */
  private op(kind?: Kind): RecordOp {
    const rng = this.rng;
    const action = kind ? 'create' : OP_MIX.draw(rng);
    if (action === 'delete' && this.paths.length > 1) {
      const i = rng.int(this.paths.length);
      const path = this.paths[i]!;
      this.paths[i] = this.paths.at(-1)!;
      this.paths.pop();
      const slash = path.indexOf('/');
      return { action: 'delete', collection: path.slice(0, slash), rkey: path.slice(slash + 1) };
    }
    if (action === 'update' && this.repo.records.has('app.bsky.actor.profile/self')) {
      return { action: 'update', collection: 'app.bsky.actor.profile', rkey: 'self', record: profile(rng) };
    }
    const k = kind ?? CREATE_MIX.draw(rng);
    const rkey = this.tid();
    this.paths.push(`${COLLECTION[k]}/${rkey}`);
    return { action: 'create', collection: COLLECTION[k], rkey, record: record(rng, this.subjects, k, new Date().toISOString()) };
  }

  /** Most commits write one record; some a few; a few are a batch of follows (a starter pack's "follow all"). */
  commit(): Record<string, unknown> {
    const rng = this.rng;
    const shape = rng.next();
    const ops: RecordOp[] = [];
    const seen = new Set<string>();
    const add = (op: RecordOp) => {
      // One commit touches a path once (a record created and then drawn for deletion is left alone).
      const path = `${op.collection}/${op.rkey}`;
      if (!seen.has(path)) ops.push(op);
      seen.add(path);
    };
    if (shape < 0.9) add(this.op());
    else if (shape < 0.98) for (let i = rng.between(2, 3); i > 0; i--) add(this.op());
    else for (let i = rng.between(4, 10); i > 0; i--) add(this.op('follow'));
    return commitMessageBody(this.repo.did, this.repo.commit(this.tid(), ops));
  }
}

export interface AccountRequest {
  curve: Curve;
  /** Commits to make after the import. */
  commits: number;
}

export interface AccountHistory {
  did: string;
  handle: string;
  curve: Curve;
  /** The signing key, multibase-encoded as the DID document carries it. */
  multikey: string;
  /** Records in the repo before its first commit here. */
  records: number;
  /** #sync body announcing the imported repo (without seq and time). */
  sync: Record<string, unknown>;
  /** #commit bodies after the import, in order (without seq and time). */
  commits: Array<Record<string, unknown>>;
}

/** A corpus account whose commits are made as they are asked for (its repo stays in memory). */
export interface LiveAccount extends Omit<AccountHistory, 'commits'> {
  commit(): Record<string, unknown>;
}

/**
 * The accounts of `curves`, one by one in build order (`stream` tells apart generators of one seed that must not make
 * the same DIDs, e.g. one per fleet process). Every account gets its own repo, of a size drawn from the spec, unless
 * `distinctRepos` (0: no limit) is below the number of accounts: then account i forks repo i mod distinctRepos
 * (Repo.fork), which a relay seeing only commits can not tell, and building costs that many repos. The caller makes
 * an account's commits before asking for the next, so a spec always yields the same ones.
 */
function* buildAccounts(spec: CorpusSpec, curves: Curve[], o: { stream?: number; distinctRepos?: number }): Generator<{ i: number; account: Account; history: Omit<AccountHistory, 'commits'> }> {
  const rng = new Rng(spec.seed * 0x9e3779b1 + (o.stream ?? 0));
  const subjects = new Subjects(rng);
  const pool = new RecordPool(rng, subjects);
  const distinct = Math.max(1, Math.min(curves.length, o.distinctRepos || curves.length));
  for (let slot = 0; slot < distinct; slot++) {
    const records = repoSize(rng, spec);
    let base: Account | null = null;
    for (let i = slot; i < curves.length; i += distinct) {
      const curve = curves[i]!;
      const did = randomDid(rng);
      const key = generateKeypair(curve);
      const account: Account = base ? base.fork(did, key) : Account.build(rng, subjects, pool, did, key, records);
      base ??= account;
      const repo = account.repo;
      const sync = { did, blocks: new BytesWrapper(repo.commitOnlyCar()), rev: repo.rev! };
      yield { i, account, history: { did, handle: `u${did.slice(8, 18)}.test`, curve, multikey: multikey(key), records, sync } };
    }
  }
}

/** One history per request, in order; repos are built one at a time and dropped once their commits are made. */
export function generateAccounts(spec: CorpusSpec, requests: AccountRequest[], o: { stream?: number; distinctRepos?: number } = {}): AccountHistory[] {
  const out: AccountHistory[] = new Array(requests.length);
  for (const { i, account, history } of buildAccounts(spec, requests.map((r) => r.curve), o)) {
    out[i] = { ...history, commits: Array.from({ length: requests[i]!.commits }, () => account.commit()) };
  }
  return out;
}

/** Accounts that make their commits on demand, for corpora written out as they are made (npm run bench soak). */
export function streamAccounts(spec: CorpusSpec, curves: Curve[], o: { stream?: number; distinctRepos?: number } = {}): LiveAccount[] {
  const out: LiveAccount[] = new Array(curves.length);
  for (const { i, account, history } of buildAccounts(spec, curves, o)) out[i] = { ...history, commit: () => account.commit() };
  return out;
}

// --- figures ------------------------------------------------------------------------------------------------

export interface SizeStats {
  count: number;
  p10: number;
  p50: number;
  p90: number;
  p99: number;
  mean: number;
}

export function sizeStats(values: Iterable<number>): SizeStats {
  const sorted = Float64Array.from(values).sort();
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
  const mean = sorted.reduce((n, v) => n + v, 0) / Math.max(1, sorted.length);
  return { count: sorted.length, p10: at(0.1), p50: at(0.5), p90: at(0.9), p99: at(0.99), mean: Math.round(mean) };
}

/** The corpus a scenario ran on: how it was made, its repo sizes and its #commit frame sizes. */
export function corpusLines(o: {
  spec: CorpusSpec;
  frameSizes: Iterable<number>;
  /** Each account's records. */
  repoSizes: Iterable<number>;
  /** Repos built, when accounts forked them (generateAccounts); 0 = one per account. */
  distinctRepos: number;
  seconds: number;
  cached: boolean;
}): BenchLine[] {
  const f = sizeStats(o.frameSizes);
  const r = sizeStats(o.repoSizes);
  const repos = o.distinctRepos > 0 && o.distinctRepos < r.count ? `${r.count} accounts forking ${o.distinctRepos} repos` : `${r.count} repos`;
  return [
    { name: 'corpus generation', value: Math.round(o.seconds * 10) / 10, unit: o.cached ? 's (read from .tmp/bench-corpus)' : 's (generated)' },
    { name: 'corpus repo size p50', value: r.p50, unit: `records (p10 ${r.p10}, p90 ${r.p90}, mean ${r.mean}; ${repos}, ${describeCorpus(o.spec)})` },
    { name: 'commit frame size p10', value: f.p10, unit: 'bytes' },
    { name: 'commit frame size p50', value: f.p50, unit: 'bytes' },
    { name: 'commit frame size p90', value: f.p90, unit: 'bytes' },
    { name: 'commit frame size p99', value: f.p99, unit: 'bytes' },
    { name: 'commit frame size mean', value: f.mean, unit: `bytes over ${f.count} #commit frames` },
  ];
}
