// Memory of the per-account caches (issue 14): the identity cache and the account registry filled, through their
// own APIs, to the entry counts the default budgets give (RELAY_IDENTITY_CACHE_MB and RELAY_ACCOUNT_CACHE_MB over
// the per-entry figures relay.ts divides them by), with entries shaped as the relay makes them: DID documents as the
// PLC directory serves them, parsed, and account states as verification leaves them. Reported: heap and RSS per
// entry and per million accounts, measured after a full GC, against the constants the budgets assume.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { IDENTITY_ENTRY_BYTES, IdentityCache } from '../src/identity/cache.ts';
import { readDocument } from '../src/identity/resolver.ts';
import { ACCOUNT_ENTRY_BYTES, AccountRegistry } from '../src/accounts/registry.ts';
import { afterVerify } from '../src/accounts/transitions.ts';
import { blankAccount } from '../src/core/accounts.ts';
import { systemClock as clock } from '../src/core/clock.ts';
import { createMetrics } from '../src/metrics.ts';
import { generateKeypair, multikey } from '../dev-env/keys.ts';
import { Rng } from './lib/corpus.ts';
import type { BenchLine } from './lib/record.ts';
import { num, type Flags } from './scenarios.ts';
import pino from 'pino';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const MiB = 1 << 20;
const B32 = 'abcdefghijklmnopqrstuvwxyz234567';

function settle(): { heap: number; rss: number } {
  for (let i = 0; i < 3; i++) gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, rss: m.rss };
}

/** `n` base32 characters as one flat string (a string built by appending is a rope that costs many times more). */
function base32(rng: Rng, n: number): string {
  const chars = new Array<string>(n);
  for (let i = 0; i < n; i++) chars[i] = B32[rng.int(32)]!;
  return chars.join('');
}

/** A did:plc as the directory mints them: 24 base32 characters. */
const did = (rng: Rng): string => `did:plc:${base32(rng, 24)}`;

/** A CID string like a commit's or an MST root's (bafyrei + 52 base32 characters). */
const cid = (rng: Rng): string => `bafyrei${base32(rng, 52)}`;

/** Flags: --identity-mb and --account-mb (the defaults, 512 each), --entries N (overrides both counts). */
export async function benchMemory(flags: Flags): Promise<BenchLine[]> {
  const log = (m: string) => console.error(`  [${new Date().toISOString().slice(11, 19)}] ${m}`);
  const identityCount = num(flags, 'entries', Math.floor((num(flags, 'identity-mb', 512) * MiB) / IDENTITY_ENTRY_BYTES));
  const accountCount = num(flags, 'entries', Math.floor((num(flags, 'account-mb', 512) * MiB) / ACCOUNT_ENTRY_BYTES));
  const rng = new Rng(7);
  // Real keys (a parsed key is checked to be on its curve); a few thousand distinct ones, each document its own string.
  const keys = Array.from({ length: 2000 }, (_, i) => multikey(generateKeypair(i % 5 === 4 ? 'p256' : 'k256')));
  const base = settle();
  // Counted with the identities: an event's DID string is the key of both caches.
  const dids = Array.from({ length: Math.max(identityCount, accountCount) }, () => did(rng));

  const identities = new IdentityCache({
    maxEntries: identityCount,
    resolver: {
      // Read from JSON text as the resolver does, so its strings are flat as the relay's are.
      resolve: async (d) => readDocument(d, JSON.stringify({
        '@context': ['https://www.w3.org/ns/did/v1', 'https://w3id.org/security/multikey/v1', 'https://w3id.org/security/suites/secp256k1-2019/v1'],
        id: d,
        alsoKnownAs: [`at://${d.slice(8, 20)}.bsky.social`],
        verificationMethod: [{ id: `${d}#atproto`, type: 'Multikey', controller: d, publicKeyMultibase: keys[rng.int(keys.length)]! }],
        service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: `https://${base32(rng, 2)}.us-east.host.bsky.network` }],
      })),
    },
  });
  const t0 = performance.now();
  for (let i = 0; i < identityCount; i += 10_000) {
    await Promise.all(dids.slice(i, Math.min(identityCount, i + 10_000)).map((d) => identities.get(d)));
  }
  const afterIdentities = settle();
  log(`${identities.size} identities cached in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  const accounts = new AccountRegistry({
    maxEntries: accountCount,
    clock,
    metrics: createMetrics(),
    log: pino({ level: 'silent' }),
    // The relay's store answers from PostgreSQL; these accounts are seen for the first time.
    store: { loadMany: async (ds) => ds.map(() => null), countSlots: async () => 0, held: async () => [] },
  });
  const t1 = performance.now();
  for (let i = 0; i < accountCount; i += 10_000) {
    const chunk = dids.slice(i, Math.min(accountCount, i + 10_000));
    await Promise.all(chunk.map((d) => accounts.get(d)));
    for (const d of chunk) {
      const event = { did: d, kind: 'commit' as const, body: {}, received: null, repo: { rev: `3l${base32(rng, 11)}`, head: cid(rng), data: cid(rng) } };
      accounts.apply(afterVerify(accounts.current(d) ?? blankAccount(d), 1 + rng.int(1000), event, clock.now(), null));
    }
  }
  const afterAccounts = settle();
  log(`${accounts.size} account states cached in ${((performance.now() - t1) / 1000).toFixed(1)} s`);

  const identityHeap = (afterIdentities.heap - base.heap) / identityCount;
  const accountHeap = (afterAccounts.heap - afterIdentities.heap) / accountCount;
  const rssGrowth = afterAccounts.rss - base.rss;
  const perMillion = ((identityHeap + accountHeap) * 1e6) / MiB;
  return [
    { name: 'identities cached', value: identities.size, unit: `entries (${Math.round((identityCount * IDENTITY_ENTRY_BYTES) / MiB)} MiB budget at ${IDENTITY_ENTRY_BYTES} bytes each)` },
    { name: 'heap per cached identity', value: Math.round(identityHeap), unit: `bytes (the budget assumes ${IDENTITY_ENTRY_BYTES})` },
    { name: 'account states cached', value: accounts.size, unit: `entries (${Math.round((accountCount * ACCOUNT_ENTRY_BYTES) / MiB)} MiB budget at ${ACCOUNT_ENTRY_BYTES} bytes each)` },
    { name: 'heap per cached account state', value: Math.round(accountHeap), unit: `bytes (the budget assumes ${ACCOUNT_ENTRY_BYTES})` },
    { name: 'heap per million cached accounts (identity and state)', value: Math.round(perMillion), unit: 'MiB' },
    { name: 'RSS growth with both caches full', value: Math.round(rssGrowth / MiB), unit: `MiB (process RSS ${Math.round(afterAccounts.rss / MiB)} MiB)`, target: { op: '<', value: 2048 } },
  ];
}
