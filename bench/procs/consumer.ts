// Firehose consumer child process: opens N subscribeRepos connections and, per connection, counts events, checks
// that seqs are contiguous, and measures latency from the upstream publish time (the `time` field the fake PDS
// stamps at send) to receipt. Frames are read with a byte scan for `seq` and `time` (a full CBOR decode of every
// frame would make the consumers, not the relay, the bottleneck); every 256th frame is fully decoded to check the
// scan. Commits of DIDs given with a `track` command are tallied and timed apart from the others (their repo DID
// is scanned for the same way).
import WebSocket from 'ws';
import { decodeFrame } from '../../src/protocol/frame.ts';
import type { ConnectionStats, ConsumerCommand, ConsumerReply, ConsumerSpec } from '../lib/protocol.ts';

const spec = JSON.parse(process.argv[2]!) as ConsumerSpec;
const send = (m: ConsumerReply) => process.send!(m);
const SEQ_KEY = Buffer.from([0x63, 0x73, 0x65, 0x71]);
const TIME_KEY = Buffer.from([0x64, 0x74, 0x69, 0x6d, 0x65, 0x78, 0x18]);
const COMMIT_T = Buffer.from('#commit', 'ascii');
/** The key `repo`; its value is a text string. */
const REPO_KEY = Buffer.from([0x64, 0x72, 0x65, 0x70, 0x6f]);
/** Latency histograms in whole milliseconds (the publish time has ms resolution): all commits, tracked ones. */
const histogram = new Uint32Array(120_001);
const trackedHistogram = new Uint32Array(120_001);
let tracked = new Set<string>();

function readUint(buf: Buffer, at: number): number {
  const info = buf[at]! & 0x1f;
  if (buf[at]! >> 5 !== 0) return -1;
  if (info < 24) return info;
  if (info === 24) return buf[at + 1]!;
  if (info === 25) return buf.readUInt16BE(at + 1);
  if (info === 26) return buf.readUInt32BE(at + 1);
  if (info === 27) return Number(buf.readBigUInt64BE(at + 1));
  return -1;
}

/**
 * The commit's repo DID. In a #commit body `repo` is the first key that can hold a DID (keys sort by length, and
 * `ops`, `rev` and `seq` come before it), so the first match is it unless a record path contains those bytes.
 */
function repoOf(buf: Buffer): string | null {
  const at = buf.indexOf(REPO_KEY);
  if (at < 0) return null;
  const head = buf[at + REPO_KEY.length]!;
  if (head >> 5 !== 3) return null;
  const short = (head & 0x1f) < 24;
  const length = short ? head & 0x1f : (head & 0x1f) === 24 ? buf[at + REPO_KEY.length + 1]! : -1;
  if (length < 0) return null;
  const start = at + REPO_KEY.length + (short ? 1 : 2);
  return buf.toString('utf8', start, start + length);
}

function tally(t: ConnectionStats['tracked'], now: number): void {
  t.commits++;
  if (t.firstAt === 0) t.firstAt = now;
  t.lastAt = now;
}

function connect(): Promise<ConnectionStats> {
  const stats: ConnectionStats = {
    events: 0, commits: 0, gaps: 0, firstSeq: 0, lastSeq: 0, firstCommitAt: 0, lastCommitAt: 0,
    tracked: { commits: 0, firstAt: 0, lastAt: 0 }, untracked: { commits: 0, firstAt: 0, lastAt: 0 },
    scanMismatches: 0, errorFrames: [], closeCode: null,
  };
  const url = `${spec.url}/xrpc/com.atproto.sync.subscribeRepos${spec.cursor === null ? '' : `?cursor=${spec.cursor}`}`;
  const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 8 << 20 });
  ws.on('message', (data: Buffer) => {
    const now = Date.now();
    const seqAt = data.indexOf(SEQ_KEY);
    if (seqAt < 0) {
      const f = decodeFrame(new Uint8Array(data));
      stats.errorFrames.push(f.op === -1 ? f.error : `no seq in ${f.op === 1 ? f.t : 'frame'}`);
      return;
    }
    let seq = readUint(data, seqAt + SEQ_KEY.length);
    if (stats.firstSeq !== 0 && seq !== stats.lastSeq + 1) {
      // The scan can hit the key's bytes earlier in the frame (an rkey in `ops` containing "cseq"): only a full
      // decode may call it a gap.
      const f = decodeFrame(new Uint8Array(data));
      if (f.op === 1 && typeof f.body.seq === 'number') seq = f.body.seq;
    }
    stats.events++;
    if (stats.firstSeq === 0) stats.firstSeq = seq;
    else if (seq !== stats.lastSeq + 1) stats.gaps++;
    stats.lastSeq = seq;
    // The header ({op, t}) comes first and is short: `#commit` within it marks a commit.
    const isCommit = data.subarray(0, 16).indexOf(COMMIT_T) >= 0;
    const timeAt = data.indexOf(TIME_KEY);
    const published = timeAt >= 0 ? Date.parse(data.toString('ascii', timeAt + TIME_KEY.length, timeAt + TIME_KEY.length + 24)) : NaN;
    const repo = isCommit && tracked.size > 0 ? repoOf(data) : null;
    if (isCommit) {
      stats.commits++;
      if (stats.firstCommitAt === 0) stats.firstCommitAt = now;
      stats.lastCommitAt = now;
      const isTracked = repo !== null && tracked.has(repo);
      if (tracked.size > 0) tally(isTracked ? stats.tracked : stats.untracked, now);
      if (Number.isFinite(published)) {
        const ms = Math.min(histogram.length - 1, Math.max(0, now - published));
        histogram[ms]!++;
        if (isTracked) trackedHistogram[ms]!++;
      }
    }
    if (stats.events % 256 === 1) {
      const f = decodeFrame(new Uint8Array(data));
      const ok =
        f.op === 1 &&
        f.body.seq === seq &&
        (f.t === '#commit') === isCommit &&
        (typeof f.body.time !== 'string' || Date.parse(f.body.time) === published) &&
        (repo === null || f.body.repo === repo);
      if (!ok) stats.scanMismatches++;
    }
  });
  ws.on('close', (code) => (stats.closeCode = code));
  return new Promise((resolve, reject) => {
    ws.once('open', () => {
      if (spec.mode === 'stall') (ws as unknown as { _socket: { pause(): void } })._socket.pause();
      resolve(stats);
    });
    ws.once('error', reject);
  });
}

const all: ConnectionStats[] = [];
try {
  for (let i = 0; i < spec.connections; i++) all.push(await connect());
  send({ type: 'connected' });
} catch (err) {
  send({ type: 'error', message: (err as Error).message });
}

function sparse(h: Uint32Array): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let ms = 0; ms < h.length; ms++) if (h[ms]) out.push([ms, h[ms]!]);
  return out;
}

process.on('message', (msg: ConsumerCommand) => {
  if (msg.cmd === 'exit') process.exit(0);
  if (msg.cmd === 'track') {
    tracked = new Set(msg.dids);
    send({ type: 'tracking', dids: tracked.size });
    return;
  }
  if (msg.cmd === 'reset') {
    for (const c of all) {
      Object.assign(c, { commits: 0, firstCommitAt: 0, lastCommitAt: 0, tracked: { commits: 0, firstAt: 0, lastAt: 0 }, untracked: { commits: 0, firstAt: 0, lastAt: 0 } });
    }
    histogram.fill(0);
    trackedHistogram.fill(0);
    send({ type: 'reset' });
    return;
  }
  send({ type: 'report', connections: all, latencyHistogram: sparse(histogram), trackedLatencyHistogram: sparse(trackedHistogram) });
});
