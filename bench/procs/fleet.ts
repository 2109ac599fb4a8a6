// Load generator child process: a fleet of fake PDS hosts (dev-env/) that pre-generate realistic signed commits
// and then publish them at a set rate or as fast as their subscribers take them. Driven by the parent over IPC
// (see bench/lib/fleet-client.ts for the protocol).
import { randomBytes } from 'node:crypto';
import { BytesWrapper } from '@atcute/cbor';
import { encodeMessageFrame } from '../../src/protocol/frame.ts';
import { TidClock } from '../../src/protocol/tid.ts';
import type { FakePlc } from '../../dev-env/fake-plc.ts';
import { FakePds, type EmittedEvent, type FakeAccount } from '../../dev-env/fake-pds.ts';
import { generateKeypair, type Curve } from '../../dev-env/keys.ts';
import { commitMessageBody, Repo, type RecordOp } from '../../dev-env/repo.ts';
import { TIME_PLACEHOLDER, type FleetCommand, type FleetReply, type FleetSpec } from '../lib/protocol.ts';

const B32 = 'abcdefghijklmnopqrstuvwxyz234567';
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
  accounts: FakeAccount[];
  /** Account creation events, published before the measured commits. */
  announce: Prepared[];
  queue: Prepared[];
  next: number;
}

// The PDSes never call the PLC themselves here: DID documents go to the PLC process through the parent.
const noPlc = { setDocument() {} } as unknown as FakePlc;
const clock = new TidClock();
const hosts: Host[] = [];
let spec: FleetSpec;

function send(msg: FleetReply): void {
  process.send!(msg);
}

function randomDid(): string {
  let s = '';
  for (const b of randomBytes(24)) s += B32[b & 31];
  return `did:plc:${s}`;
}

function prepare(host: Host, t: string, body: Record<string, unknown>): Prepared {
  const seq = host.pds.seq + host.announce.length + host.queue.length + 1;
  const full = { ...body, seq, time: TIME_PLACEHOLDER };
  const frame = encodeMessageFrame(t, full);
  const timeAt = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength).indexOf(placeholder);
  if (timeAt < 0) throw new Error('time placeholder not found in frame');
  return { ev: { seq, t, body: full, frame }, timeAt };
}

function publish(host: Host, p: Prepared): void {
  Buffer.from(p.ev.frame.buffer, p.ev.frame.byteOffset + p.timeAt, placeholder.length).write(new Date().toISOString(), 'ascii');
  host.pds.publishPrepared(p.ev);
}

function makeAccounts(host: Host, n: number): Array<[string, object]> {
  const docs: Array<[string, object]> = [];
  for (let i = 0; i < n; i++) {
    const curve: Curve = Math.random() < spec.k256Share ? 'k256' : 'p256';
    const did = randomDid();
    const key = generateKeypair(curve);
    const account: FakeAccount = { did, handle: `u${did.slice(8, 18)}.test`, curve, key, repo: new Repo(did, key), active: true, status: null };
    host.pds.accounts.set(did, account);
    host.accounts.push(account);
    docs.push([did, host.pds.didDocument(account)]);
  }
  return docs;
}

/** What createAccount emits: #identity, #account, and #sync of an empty first commit. */
function announceAccounts(host: Host): void {
  for (const a of host.accounts) {
    a.repo.commit(clock.next(), []);
    for (const [t, body] of [
      ['#identity', { did: a.did, handle: a.handle }],
      ['#account', { did: a.did, active: true }],
      ['#sync', { did: a.did, blocks: new BytesWrapper(a.repo.commitOnlyCar()), rev: a.repo.rev! }],
    ] as const) {
      host.announce.push(prepare(host, t, body));
    }
  }
}

let rkeys = 0;
function opsFor(account: FakeAccount): RecordOp[] {
  const n = 1 + Math.floor(Math.random() * 3);
  const ops: RecordOp[] = [];
  const existing = [...account.repo.records.keys()];
  for (let i = 0; i < n; i++) {
    // Mostly creates (posts, likes, follows), some deletes of earlier records, as the network mix is.
    if (existing.length > 20 && Math.random() < 0.1) {
      const path = existing.splice(Math.floor(Math.random() * existing.length), 1)[0]!;
      const [collection, rkey] = path.split('/') as [string, string];
      ops.push({ action: 'delete', collection, rkey });
      continue;
    }
    const kind = Math.random();
    const rkey = clock.next() + String(rkeys++ % 10);
    if (kind < 0.5) ops.push({ action: 'create', collection: 'app.bsky.feed.like', rkey, record: { subject: { uri: `at://${account.did}/app.bsky.feed.post/${rkey}`, cid: 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm' }, createdAt: '2025-01-01T00:00:00.000Z' } });
    else if (kind < 0.8) ops.push({ action: 'create', collection: 'app.bsky.feed.post', rkey, record: { text: `post ${rkey} `.repeat(1 + (rkeys % 8)), langs: ['en'], createdAt: '2025-01-01T00:00:00.000Z' } });
    else ops.push({ action: 'create', collection: 'app.bsky.graph.follow', rkey, record: { subject: randomDid(), createdAt: '2025-01-01T00:00:00.000Z' } });
  }
  return ops;
}

function pregenerate(host: Host, count: number): void {
  // Seed each repo with records so the MST has depth, as a real account's does (not published: it predates the run).
  for (const a of host.accounts) {
    const seed: RecordOp[] = [];
    for (let i = 0; i < spec.seedRecords; i++) seed.push({ action: 'create', collection: 'app.bsky.feed.post', rkey: clock.next(), record: { text: `seed ${i}` } });
    if (seed.length > 0) a.repo.commit(clock.next(), seed);
  }
  if (spec.seedRecords > 0) {
    // The relay must see the seeded head: announce it as a #sync, as a PDS does after an import.
    for (const a of host.accounts) host.announce.push(prepare(host, '#sync', { did: a.did, blocks: new BytesWrapper(a.repo.commitOnlyCar()), rev: a.repo.rev! }));
  }
  for (let i = 0; i < count; i++) {
    const a = host.accounts[i % host.accounts.length]!;
    const c = a.repo.commit(clock.next(), opsFor(a));
    host.queue.push(prepare(host, '#commit', commitMessageBody(a.did, c)));
  }
}

async function run(ratePerHost: number): Promise<void> {
  const active = hosts.filter((h) => h.queue.length > 0);
  const t0 = performance.now();
  let sent = 0;
  const total = active.reduce((n, h) => n + h.queue.length, 0);
  while (sent < total) {
    const elapsed = (performance.now() - t0) / 1000;
    for (const h of active) {
      let budget = ratePerHost > 0 ? Math.floor(ratePerHost * elapsed) - h.next : 256;
      while (budget-- > 0 && h.next < h.queue.length) {
        if (ratePerHost === 0 && h.pds.subscriberStats().maxBufferedBytes > HIGH_WATER) break;
        publish(h, h.queue[h.next++]!);
        sent++;
      }
    }
    // Rate mode ticks every few ms; max-rate mode yields so socket writes progress.
    await new Promise((r) => (ratePerHost > 0 ? setTimeout(r, 5) : setImmediate(r)));
  }
  const ms = performance.now() - t0;
  send({ type: 'published', sent, ms, hostsWithoutSubscriber: active.filter((h) => h.pds.subscriberStats().count === 0).length });
}

process.on('message', (msg: FleetCommand) => {
  void (async () => {
    switch (msg.cmd) {
      case 'start': {
        spec = msg.spec;
        for (let i = 0; i < spec.hosts; i++) {
          hosts.push({ pds: await FakePds.start({ plc: noPlc, backfillLimit: 100 }), accounts: [], announce: [], queue: [], next: 0 });
        }
        send({ type: 'listening', hostnames: hosts.map((h) => h.pds.hostname) });
        return;
      }
      case 'subscribers': {
        send({ type: 'subscribers', connected: hosts.filter((h) => h.pds.subscriberStats().count > 0).length });
        return;
      }
      case 'accounts': {
        const docs = hosts.slice(0, spec.activeHosts).flatMap((h) => makeAccounts(h, spec.accountsPerHost));
        send({ type: 'docs', docs });
        return;
      }
      case 'prepare': {
        const t0 = performance.now();
        const active = hosts.slice(0, spec.activeHosts);
        for (const h of active) announceAccounts(h);
        for (const h of active) pregenerate(h, spec.eventsPerHost);
        const announced = active.reduce((n, h) => n + h.announce.length, 0);
        send({ type: 'prepared', commits: active.reduce((n, h) => n + h.queue.length, 0), announced, ms: performance.now() - t0 });
        return;
      }
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
      case 'publish':
        await run(msg.ratePerHost);
        return;
      case 'exit':
        for (const h of hosts) await h.pds.close();
        process.exit(0);
    }
  })().catch((err: unknown) => {
    send({ type: 'error', message: (err as Error).stack ?? String(err) });
  });
});
send({ type: 'ready' });
