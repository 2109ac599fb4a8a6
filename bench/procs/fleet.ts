// Load generator child process: a fleet of fake PDS hosts (dev-env/) whose accounts and commits come from the
// realistic corpus (bench/lib/corpus.ts), pre-encoded as frames (and cached), and then published at a set rate or
// as fast as their subscribers take them. Driven by the parent over IPC (bench/lib/protocol.ts).
import { decodeFrame, encodeMessageFrame } from '../../src/protocol/frame.ts';
import type { FakePlc } from '../../dev-env/fake-plc.ts';
import { FakePds, type EmittedEvent } from '../../dev-env/fake-pds.ts';
import { statSync } from 'node:fs';
import { generateAccounts, streamAccounts, type AccountHistory, type AccountRequest } from '../lib/corpus.ts';
import { cachedBundle, cachedStream, describeCacheFile, FrameStream, type Bundle, type FrameSink } from '../lib/corpus-cache.ts';
import { TIME_PLACEHOLDER, type FleetCommand, type FleetReply, type FleetSpec } from '../lib/protocol.ts';

const placeholder = Buffer.from(TIME_PLACEHOLDER, 'ascii');
/** Stop writing to a host while this much is queued to its slowest subscriber (max-rate mode). */
const HIGH_WATER = 4 << 20;

interface Prepared {
  ev: EmittedEvent;
  /** Byte offset of the `time` string, patched with the real publish time at send. */
  timeAt: number;
}

interface Host {
  pds: FakePds;
  /** Account creation events, published before the measured commits. */
  announce: Prepared[];
  /** The warm-up commits (the known accounts', and other first-seen accounts' among them), after the announcements. */
  warm: Prepared[];
  queue: Prepared[];
}

/** What the cache keeps of a host: its accounts, and how many of its frames are announcements, then commits. */
interface HostMeta {
  accounts: Array<Pick<AccountHistory, 'did' | 'handle' | 'multikey' | 'records'> & { known: boolean }>;
  announce: number;
  warm: number;
  queue: number;
}

// The PDSes never call the PLC themselves here: DID documents go to the PLC process through the parent. Nor do
// they keep the accounts (a relay never asks a PDS for a repo during a run): only frames are held.
const noPlc = { setDocument() {} } as unknown as FakePlc;
const hosts: Host[] = [];
/** A streaming fleet's commits, read as they are published. */
let stream: FrameStream | null = null;
let spec: FleetSpec;
let fleetIndex = 0;

function send(msg: FleetReply): void {
  process.send!(msg);
}

/** `b`'s items spread evenly among `a`'s, starting with `a`'s first. */
function spread<T>(a: T[], b: T[]): T[] {
  const out: T[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && i * b.length <= j * a.length)) out.push(a[i++]!);
    else out.push(b[j++]!);
  }
  return out;
}

/**
 * Every active host's frames, seq 1 on: the known accounts' #identity, #account and #sync of their imported repo,
 * the warm-up commits, then the measured commits (the known accounts' in turn, and each first-seen account's one
 * commit among them). The warm-up is the known accounts' commits with as many other first-seen accounts among them
 * as the measured phase has, so the first-seen path is warm too, and the measured first-seen accounts still new.
 */
function buildCorpus(): Bundle<HostMeta[]> {
  const known = spec.accountsPerHost;
  const cold = spec.coldAccountsPerHost;
  const warmup = known > 0 ? (spec.warmupPerHost ?? 0) : 0;
  const warmCold = warmup > 0 ? cold : 0;
  const perHost = known + cold + warmCold;
  const knownPerHost = warmup + spec.eventsPerHost;
  const requests: AccountRequest[] = [];
  for (let h = 0; h < spec.activeHosts; h++) {
    for (let a = 0; a < perHost; a++) {
      const i = requests.length;
      requests.push({ curve: curveOf(i), commits: a < known ? Math.max(0, Math.ceil((knownPerHost - a) / known)) : 1 });
    }
  }
  const { corpus } = spec;
  const histories = generateAccounts(corpus.spec, requests, { stream: fleetIndex, distinctRepos: corpus.distinctRepos });
  const meta: HostMeta[] = [];
  const blobs: Uint8Array[] = [];
  for (let h = 0; h < spec.activeHosts; h++) {
    const mine = histories.slice(h * perHost, (h + 1) * perHost);
    const start = blobs.length;
    const frame = (t: string, body: Record<string, unknown>) => encodeMessageFrame(t, { ...body, seq: blobs.length - start + 1, time: TIME_PLACEHOLDER });
    for (const a of mine.slice(0, known)) {
      blobs.push(frame('#identity', { did: a.did, handle: a.handle }));
      blobs.push(frame('#account', { did: a.did, active: true }));
      blobs.push(frame('#sync', a.sync));
    }
    const announce = blobs.length - start;
    const knownCommits: Array<Record<string, unknown>> = [];
    for (let i = 0; known > 0 && i < knownPerHost; i++) knownCommits.push(mine[i % known]!.commits[Math.floor(i / known)]!);
    const firstCommits = (from: number, to: number) => mine.slice(from, to).map((a) => a.commits[0]!);
    for (const body of spread(firstCommits(known + cold, perHost), knownCommits.slice(0, warmup))) blobs.push(frame('#commit', body));
    for (const body of spread(firstCommits(known, known + cold), knownCommits.slice(warmup))) blobs.push(frame('#commit', body));
    meta.push({
      accounts: mine.map((a, i) => ({ did: a.did, handle: a.handle, multikey: a.multikey, records: a.records, known: i < known })),
      announce,
      warm: warmup + warmCold,
      queue: blobs.length - start - announce - warmup - warmCold,
    });
  }
  return { meta, blobs };
}

function prepared(frame: Uint8Array): Prepared {
  const f = decodeFrame(frame);
  if (f.op !== 1 || typeof f.body.seq !== 'number') throw new Error('corpus frame is not a message with a seq');
  const timeAt = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength).indexOf(placeholder);
  if (timeAt < 0) throw new Error('time placeholder not found in frame');
  return { ev: { seq: f.body.seq, t: f.t, body: f.body, frame }, timeAt };
}

/** The k256 share of `n` accounts, exactly and evenly spread. */
function curveOf(i: number): 'k256' | 'p256' {
  return Math.floor((i + 1) * spec.k256Share) > Math.floor(i * spec.k256Share) ? 'k256' : 'p256';
}

/** What a streamed corpus keeps beside its frames. */
interface StreamMeta {
  accounts: Array<Pick<AccountHistory, 'did' | 'handle' | 'multikey' | 'records'> & { host: number }>;
  /**
   * The first `announce` frames announce the first accounts; the `commits` frames after them are their commits, then
   * each later group's announcements and commits.
   */
  announce: number;
  commits: number;
  /** Every 64th commit frame's size. */
  frameSizes: number[];
}

/** Commits per account before a new group of accounts takes over: a repo keeps every block it has had. */
const COMMITS_PER_GROUP = 1000;

/**
 * A streaming fleet's corpus, written to disk as it is made (a long run's frames would not fit in memory) and read
 * back as it is published: each active host's accounts are announced, then commit in turn. Every
 * COMMITS_PER_GROUP commits per account a new group of accounts is built and announced in the stream, and the old
 * one is let go, so memory stays bounded however long the run.
 */
function buildStream(sink: FrameSink): StreamMeta {
  const perHost = spec.accountsPerHost;
  const meta: StreamMeta = { accounts: [], announce: 0, commits: 0, frameSizes: [] };
  const seqs = new Array<number>(spec.activeHosts).fill(0);
  const write = (h: number, t: string, body: Record<string, unknown>) => {
    const frame = encodeMessageFrame(t, { ...body, seq: ++seqs[h]!, time: TIME_PLACEHOLDER });
    sink.write(h, frame);
    if (meta.announce > 0 || t === '#commit') meta.commits++;
    return frame;
  };
  for (let i = 0, group = 0; i < spec.eventsPerHost; group++) {
    const curves = Array.from({ length: spec.activeHosts * perHost }, (_, k) => curveOf(k));
    const accounts = streamAccounts(spec.corpus.spec, curves, { stream: fleetIndex + 1000 * group, distinctRepos: spec.corpus.distinctRepos });
    accounts.forEach((a, k) => {
      const h = Math.floor(k / perHost);
      meta.accounts.push({ did: a.did, handle: a.handle, multikey: a.multikey, records: a.records, host: h });
      write(h, '#identity', { did: a.did, handle: a.handle });
      write(h, '#account', { did: a.did, active: true });
      write(h, '#sync', a.sync);
    });
    if (group === 0) meta.announce = seqs.reduce((n, s) => n + s, 0);
    for (const end = Math.min(spec.eventsPerHost, i + COMMITS_PER_GROUP * perHost); i < end; i++) {
      for (let h = 0; h < spec.activeHosts; h++) {
        const frame = write(h, '#commit', accounts[h * perHost + (i % perHost)]!.commit());
        if (meta.commits % 64 === 0) meta.frameSizes.push(frame.length);
      }
    }
  }
  return meta;
}

function prepareStream(): FleetReply {
  const t0 = performance.now();
  const { hosts: _all, corpus, ...shape } = spec;
  const key = { kind: 'fleet-stream', index: fleetIndex, ...shape, corpus: corpus.spec, distinctRepos: corpus.distinctRepos };
  const loaded = cachedStream(key, buildStream, { cache: corpus.cache, sources: [import.meta.url] });
  console.error(`  fleet${fleetIndex}: streamed corpus ${loaded.cached ? 'found' : 'written'} in ${loaded.seconds.toFixed(1)} s (${(statSync(loaded.file).size / (1 << 20)).toFixed(0)} MB, ${loaded.file})`);
  const { meta } = loaded;
  stream = new FrameStream(loaded.file);
  for (let k = 0; k < meta.announce; k++) {
    const { host, frame } = stream.next()!;
    hosts[host]!.announce.push(prepared(frame));
  }
  const docs = meta.accounts.map((a): [string, object] => [a.did, hosts[a.host]!.pds.didDocument(a)]);
  return {
    type: 'prepared',
    docs,
    known: meta.accounts.map((a) => a.did),
    commits: meta.commits,
    announced: meta.announce,
    warmup: 0,
    frameSizes: meta.frameSizes,
    repoSizes: meta.accounts.map((a) => a.records),
    cached: loaded.cached,
    ms: performance.now() - t0,
  };
}

function prepare(): FleetReply {
  if (spec.stream) return prepareStream();
  const t0 = performance.now();
  const { hosts: _all, corpus, ...shape } = spec;
  const key = { kind: 'fleet', index: fleetIndex, ...shape, corpus: corpus.spec, distinctRepos: corpus.distinctRepos };
  const loaded = cachedBundle(key, buildCorpus, { cache: corpus.cache, sources: [import.meta.url] });
  console.error(`  fleet${fleetIndex}: corpus ${describeCacheFile(loaded)}`);
  const docs: Array<[string, object]> = [];
  const known: string[] = [];
  const frameSizes: number[] = [];
  const repoSizes: number[] = [];
  let at = 0;
  loaded.meta.forEach((m, h) => {
    const host = hosts[h]!;
    for (const a of m.accounts) {
      docs.push([a.did, host.pds.didDocument(a)]);
      if (a.known) known.push(a.did);
      repoSizes.push(a.records);
    }
    host.announce = loaded.blobs.slice(at, (at += m.announce)).map(prepared);
    host.warm = loaded.blobs.slice(at, (at += m.warm)).map(prepared);
    host.queue = loaded.blobs.slice(at, (at += m.queue)).map(prepared);
    for (const p of host.queue) frameSizes.push(p.ev.frame.length);
  });
  const commits = hosts.reduce((n, h) => n + h.queue.length, 0);
  const announced = hosts.reduce((n, h) => n + h.announce.length, 0);
  const warmup = hosts.reduce((n, h) => n + h.warm.length, 0);
  return { type: 'prepared', docs, known, commits, announced, warmup, frameSizes, repoSizes, cached: loaded.cached, ms: performance.now() - t0 };
}

function publish(host: Host, p: Prepared): void {
  Buffer.from(p.ev.frame.buffer, p.ev.frame.byteOffset + p.timeAt, placeholder.length).write(new Date().toISOString(), 'ascii');
  host.pds.publishPrepared(p.ev);
}

/**
 * A streaming fleet's measured phase: its commits from disk, in the order they were made, at `ratePerHost` times the
 * active hosts (hosts take turns in the file, so each gets about its rate).
 */
async function runStream(ratePerHost: number): Promise<void> {
  if (!(ratePerHost > 0)) throw new Error('a streaming fleet publishes at a set rate');
  const active = hosts.filter((h) => h.announce.length > 0 || h.pds.seq > 0);
  const rate = ratePerHost * active.length;
  const t0 = performance.now();
  const startedAt = Date.now();
  let sent = 0;
  for (let next = stream!.next(); next; ) {
    const due = Math.floor(rate * ((performance.now() - t0) / 1000));
    for (; next && sent < due; next = stream!.next(), sent++) {
      const timeAt = Buffer.from(next.frame.buffer, next.frame.byteOffset, next.frame.byteLength).indexOf(placeholder);
      const host = hosts[next.host]!;
      // Only the frame goes out; its type and body are not read again here.
      publish(host, { ev: { seq: host.pds.seq + 1, t: '#commit', body: {}, frame: next.frame }, timeAt });
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  const ms = performance.now() - t0;
  send({ type: 'published', sent, ms, startedAt, hostsWithoutSubscriber: active.filter((h) => h.pds.subscriberStats().count === 0).length });
}

/** Publishes each host's `frames` of it, at `ratePerHost` (0: as fast as subscribers take them). */
async function run(ratePerHost: number, frames: (h: Host) => Prepared[]): Promise<{ sent: number; ms: number; startedAt: number }> {
  const lanes = hosts.map((host) => ({ host, frames: frames(host), next: 0 })).filter((l) => l.frames.length > 0);
  const t0 = performance.now();
  const startedAt = Date.now();
  let sent = 0;
  const total = lanes.reduce((n, l) => n + l.frames.length, 0);
  while (sent < total) {
    const elapsed = (performance.now() - t0) / 1000;
    const before = sent;
    for (const l of lanes) {
      let budget = ratePerHost > 0 ? Math.floor(ratePerHost * elapsed) - l.next : 256;
      while (budget-- > 0 && l.next < l.frames.length) {
        if (ratePerHost === 0 && l.host.pds.subscriberStats().maxBufferedBytes > HIGH_WATER) break;
        publish(l.host, l.frames[l.next++]!);
        sent++;
      }
    }
    // Rate mode ticks every few ms. Max-rate mode yields so socket writes progress, and sleeps while every host is
    // held by its subscriber's backlog: turning at once, it spun a core against the relay it measures (150 µs of
    // generator CPU an event when the relay was the slower side).
    await new Promise((r) => (ratePerHost > 0 || sent === before ? setTimeout(r, ratePerHost > 0 ? 5 : 2) : setImmediate(r)));
  }
  return { sent, ms: performance.now() - t0, startedAt };
}

process.on('message', (msg: FleetCommand) => {
  void (async () => {
    switch (msg.cmd) {
      case 'start': {
        spec = msg.spec;
        fleetIndex = msg.index;
        for (let i = 0; i < spec.hosts; i++) {
          // A streaming fleet publishes for as long as it is asked: it keeps only what a reconnect may ask again.
          const keepEvents = spec.stream ? 10_000 : undefined;
          hosts.push({ pds: await FakePds.start({ plc: noPlc, backfillLimit: 100, keepEvents }), announce: [], warm: [], queue: [] });
        }
        send({ type: 'listening', hostnames: hosts.map((h) => h.pds.hostname) });
        return;
      }
      case 'subscribers': {
        send({ type: 'subscribers', connected: hosts.filter((h) => h.pds.subscriberStats().count > 0).length });
        return;
      }
      case 'prepare':
        send(prepare());
        return;
      case 'announce': {
        let events = 0;
        for (const h of hosts) {
          for (const p of h.announce) publish(h, p);
          events += h.announce.length;
          h.announce.length = 0;
        }
        send({ type: 'announced', events });
        return;
      }
      case 'warmup': {
        const { sent } = await run(0, (h) => h.warm);
        send({ type: 'warmed', sent });
        return;
      }
      case 'publish': {
        if (spec.stream) return runStream(msg.ratePerHost);
        const r = await run(msg.ratePerHost, (h) => h.queue);
        send({ type: 'published', ...r, hostsWithoutSubscriber: hosts.filter((h) => h.queue.length > 0 && h.pds.subscriberStats().count === 0).length });
        return;
      }
      case 'exit':
        for (const h of hosts) await h.pds.close();
        process.exit(0);
    }
  })().catch((err: unknown) => {
    send({ type: 'error', message: (err as Error).stack ?? String(err) });
  });
});
send({ type: 'ready' });
