// Side by side on one machine in one run: the same pre-generated commit corpus through the relay's verification
// stage (SyncVerifier: structure, CAR + CIDs, signature, MST inversion against prevData, rev continuity) and through
// @atproto/sync's authenticated commit parsing (parseCommitAuthenticated: signature + per-op MST proofs, then the
// record blocks read back), which is what its Firehose class runs per #commit with verification on.
// Frames are decoded ahead of time for both; only verification is timed. Identities are served from memory for both.
import { memoryAccounts as createMemoryAccounts } from './lib/memory-accounts.ts';
import { decode as dagCborDecode } from '@ipld/dag-cbor';
import { decodeFirst } from '@atcute/cbor';
import { parseCommitAuthenticated } from '@atproto/sync';
import pino from 'pino';
import { IdentityCache } from '../src/identity/cache.ts';
import { createMetrics } from '../src/metrics.ts';
import { decodeFrame, encodeMessageFrame } from '../src/protocol/frame.ts';
import { createFastVerifier } from '../src/protocol/signature.ts';
import { TidClock } from '../src/protocol/tid.ts';
import type { UpstreamEvent } from '../src/core/events.ts';
import { SyncVerifier } from '../src/verify/verifier.ts';
import { alwaysStrict } from '../src/verify/strictness.ts';
import { generateKeypair, multikey, type Curve } from '../dev-env/keys.ts';
import { commitMessageBody, Repo } from '../dev-env/repo.ts';
import type { BenchLine } from './lib/record.ts';
import { num, type Flags } from './scenarios.ts';

interface CorpusEvent {
  did: string;
  frame: Uint8Array;
}

function corpus(accounts: number, commitsPer: number, k256Share: number): { events: CorpusEvent[]; keys: Map<string, string> } {
  const clock = new TidClock();
  const keys = new Map<string, string>();
  const perAccount: CorpusEvent[][] = [];
  for (let a = 0; a < accounts; a++) {
    const curve: Curve = a % 10 < k256Share * 10 ? 'k256' : 'p256';
    const kp = generateKeypair(curve);
    const did = `did:plc:cmp${String(a).padStart(21, '0')}`;
    keys.set(did, multikey(kp));
    const repo = new Repo(did, kp);
    repo.commit(clock.next(), []);
    repo.commit(clock.next(), Array.from({ length: 30 }, (_, i) => ({ action: 'create' as const, collection: 'app.bsky.feed.post', rkey: clock.next(), record: { text: `seed ${i}` } })));
    const list: CorpusEvent[] = [];
    for (let c = 0; c < commitsPer; c++) {
      const ops = Array.from({ length: 1 + ((a + c) % 3) }, () => ({
        action: 'create' as const,
        collection: 'app.bsky.feed.like',
        rkey: clock.next(),
        record: { subject: { uri: `at://${did}/app.bsky.feed.post/3k`, cid: 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm' }, createdAt: new Date().toISOString() },
      }));
      const r = repo.commit(clock.next(), ops);
      const body = { ...commitMessageBody(did, r), seq: 0, time: new Date().toISOString() };
      list.push({ did, frame: encodeMessageFrame('#commit', body) });
    }
    perAccount.push(list);
  }
  // Interleave accounts, as a firehose does; each account's commits stay in order.
  const events: CorpusEvent[] = [];
  for (let c = 0; c < commitsPer; c++) for (const list of perAccount) events.push(list[c]!);
  events.forEach((e, i) => {
    const f = decodeFrame(e.frame);
    if (f.op !== 1) throw new Error('corpus frame is not a message');
    e.frame = encodeMessageFrame('#commit', { ...f.body, seq: i + 1 });
  });
  return { events, keys };
}

async function relayPass(events: CorpusEvent[], keys: Map<string, string>): Promise<{ seconds: number; cpuUs: number }> {
  const identities = new IdentityCache({
    resolver: {
      async resolve(did) {
        return {
          id: did,
          verificationMethod: [{ id: '#atproto', type: 'Multikey', publicKeyMultibase: keys.get(did)! }],
          service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: 'https://pds.bench.example' }],
        };
      },
    },
  });
  const memoryAccounts = createMemoryAccounts();
  const verifier = new SyncVerifier({ identities, accounts: memoryAccounts, signatures: createFastVerifier(), metrics: createMetrics(), log: pino({ level: 'silent' }), strictness: alwaysStrict });
  for (const did of keys.keys()) await identities.get(did);
  const host = { id: 1, hostname: 'pds.bench.example' };
  const decoded: UpstreamEvent[] = events.map((e) => {
    const f = decodeFrame(e.frame);
    if (f.op !== 1) throw new Error('not a message');
    return { t: f.t, seq: f.body.seq as number, did: e.did, body: f.body, received: f.received, frameBytes: e.frame.length };
  });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (const e of decoded) {
    const v = await verifier.verify(host, e);
    if (!v.ok) throw new Error(`relay rejected a corpus event: ${v.reason} ${v.detail ?? ''}`);
    memoryAccounts.record(v.event);
  }
  const cpu = process.cpuUsage(cpu0);
  return { seconds: (performance.now() - t0) / 1000, cpuUs: (cpu.user + cpu.system) / events.length };
}

async function atprotoPass(events: CorpusEvent[], keys: Map<string, string>): Promise<{ seconds: number; cpuUs: number }> {
  const idResolver = { did: { resolveAtprotoKey: async (did: string) => `did:key:${keys.get(did)!}` } };
  const decoded = events.map((e) => decodeBody(e.frame));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (const evt of decoded) {
    const out = await parseCommitAuthenticated(idResolver as never, evt as never);
    if (out.length !== (evt.ops as unknown[]).length) throw new Error(`@atproto/sync verified ${out.length} of ${(evt.ops as unknown[]).length} ops`);
  }
  const cpu = process.cpuUsage(cpu0);
  return { seconds: (performance.now() - t0) / 1000, cpuUs: (cpu.user + cpu.system) / events.length };
}

/** A frame's body decoded with @ipld/dag-cbor (the CID and bytes types @atproto/* expect). */
function decodeBody(frame: Uint8Array): Record<string, unknown> {
  const [, body] = decodeFirst(frame);
  return dagCborDecode(body) as Record<string, unknown>;
}

export async function benchCompare(flags: Flags): Promise<BenchLine[]> {
  const accounts = num(flags, 'accounts', 300);
  const commitsPer = num(flags, 'commits-per-account', 4);
  const { events, keys } = corpus(accounts, commitsPer, 0.8);
  // A warm-up pass each (JIT, caches), then the measured pass; each pass starts from empty account state.
  await relayPass(events, keys);
  await atprotoPass(events.slice(0, 200), keys);
  const relay = await relayPass(events, keys);
  const atproto = await atprotoPass(events, keys);
  const relayRate = events.length / relay.seconds;
  const atprotoRate = events.length / atproto.seconds;
  return [
    { name: 'corpus', value: events.length, unit: `commits (${accounts} accounts, ~80% k256, 1-3 ops each)` },
    { name: 'relay verification stage (SyncVerifier, 1 thread)', value: Math.round(relayRate), unit: `commits/s (${Math.round(relay.cpuUs)} µs CPU/commit)` },
    { name: '@atproto/sync parseCommitAuthenticated (1 thread)', value: Math.round(atprotoRate), unit: `commits/s (${Math.round(atproto.cpuUs)} µs CPU/commit)` },
    { name: 'ratio relay / @atproto/sync', value: Math.round((relayRate / atprotoRate) * 100) / 100, unit: 'x' },
  ];
}
