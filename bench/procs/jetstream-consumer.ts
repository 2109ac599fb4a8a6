// Jetstream subscriber child process (npm run bench jetstream): drain connections that read and discard bytes on the
// raw socket after the WebSocket handshake, and one measuring subscriber that parses every message and times each
// commit op from its publish time (the `time` the fake PDS stamps at send), read off the firehose by a connection in
// this process: publish-to-receipt, the figure a feed generator feels.
import WebSocket from 'ws';
import { decodeFrame } from '../../src/protocol/frame.ts';
import type { JetstreamConsumerCommand, JetstreamConsumerReply, JetstreamConsumerSpec } from '../lib/protocol.ts';
import { drain, type DrainStats } from '../lib/drain.ts';

const send = (m: JetstreamConsumerReply) => process.send!(m);
const histogram = new Uint32Array(120_001);
let spec: JetstreamConsumerSpec;

/** When each commit (repo and rev) was published, from the firehose; and Jetstream ops waiting for theirs. */
const published = new Map<string, number>();
const waiting = new Map<string, number[]>();
const measured = { messages: 0, commits: 0, matched: 0, bytes: 0, closed: false };

function record(ms: number): void {
  histogram[Math.max(0, Math.min(histogram.length - 1, Math.round(ms)))]!++;
  measured.matched++;
}

function firehose(): Promise<void> {
  const ws = new WebSocket(`${spec.url}/xrpc/com.atproto.sync.subscribeRepos`, { perMessageDeflate: false, maxPayload: 8 << 20 });
  ws.on('message', (data: Buffer) => {
    const f = decodeFrame(new Uint8Array(data));
    if (f.op !== 1 || f.t !== '#commit') return;
    const key = `${f.body.repo as string} ${f.body.rev as string}`;
    const at = Date.parse(f.body.time as string);
    const early = waiting.get(key);
    if (early) {
      waiting.delete(key);
      for (const t of early) record(t - at);
    } else published.set(key, at);
  });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
}

function measuring(): Promise<void> {
  const ws = new WebSocket(`${spec.url}/subscribe`, { perMessageDeflate: false, maxPayload: 8 << 20 });
  ws.on('message', (data: Buffer) => {
    const now = Date.now();
    measured.messages++;
    measured.bytes += data.length;
    const ev = JSON.parse(data.toString()) as { did: string; kind: string; commit?: { rev: string } };
    if (ev.kind !== 'commit') return;
    measured.commits++;
    const key = `${ev.did} ${ev.commit!.rev}`;
    const at = published.get(key);
    if (at !== undefined) {
      // Ops of one commit share its key; the entry stays for them and is dropped by the sweep.
      record(now - at);
    } else {
      const list = waiting.get(key);
      if (list) list.push(now);
      else waiting.set(key, [now]);
    }
  });
  ws.on('close', () => (measured.closed = true));
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
}

// Published times are kept a minute: long enough for any op to match, bounded memory.
setInterval(() => {
  const old = Date.now() - 60_000;
  for (const [k, at] of published) {
    if (at >= old) break;
    published.delete(k);
  }
}, 5000).unref();

async function start(): Promise<void> {
  await firehose();
  await measuring();
  for (const q of spec.drains) drains.push((await drain(spec.url, `/subscribe${q ? `?${q}` : ''}`)).stats);
  send({ type: 'connected' });
}

const drains: DrainStats[] = [];
process.on('message', (cmd: JetstreamConsumerCommand) => {
  if (cmd.cmd === 'exit') process.exit(0);
  if (cmd.cmd === 'start') {
    spec = cmd.spec;
    start().catch((err: unknown) => send({ type: 'error', message: (err as Error).message }));
    return;
  }
  const hist: Array<[number, number]> = [];
  histogram.forEach((c, ms) => c > 0 && hist.push([ms, c]));
  send({ type: 'report', drains, measured, latencyHistogram: hist });
});
send({ type: 'ready' });
