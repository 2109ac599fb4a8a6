// DID documents, the resolver's status mapping against a real local HTTP server, and the cache's behaviour.
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { p256 } from '@noble/curves/nist.js';
import { base58btc } from 'multiformats/bases/base58';
import { parseDidDocument, IdentityError } from '../../../src/identity/did-doc.ts';
import { createDidResolver, readDocument, retryAfterMs, type DidResolver, type DidResolverOptions } from '../../../src/identity/resolver.ts';
import { createThreadedDidResolver, type ThreadedDidResolver } from '../../../src/identity/resolver-thread.ts';
import { IdentityCache, type IdentityStore } from '../../../src/identity/cache.ts';
import { formatMultikey } from '../../../src/protocol/did-key.ts';

const DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz';

function doc(did: string, opts: { pds?: string; key?: object[] } = {}) {
  const pub = secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true);
  return {
    id: did,
    alsoKnownAs: ['at://Alice.Example.com'],
    verificationMethod: opts.key ?? [{ id: `${did}#atproto`, type: 'Multikey', controller: did, publicKeyMultibase: formatMultikey({ curve: 'k256', compressed: pub }) }],
    service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: opts.pds ?? 'https://pds.example.com' }],
  };
}

describe('parseDidDocument', () => {
  it('reads handle, key and PDS', () => {
    const id = parseDidDocument(DID, doc(DID, { pds: 'https://PDS.example.com:443/' }));
    expect(id.handle).toBe('alice.example.com');
    expect(id.signingKey?.curve).toBe('k256');
    expect(id.pdsHost).toBe('pds.example.com');
    expect(parseDidDocument(DID, doc(DID, { pds: 'http://localhost:2583' })).pdsHost).toBe('localhost:2583');
  });

  it('accepts legacy key types, compressed or not, and skips junk entries', () => {
    const priv = p256.utils.randomSecretKey();
    const legacy = [
      { id: '#other', type: 'Multikey', publicKeyMultibase: 'zzz' },
      { id: `${DID}#atproto`, type: 'Multikey', publicKeyMultibase: 'not-base58' },
      { id: '#atproto', type: 'EcdsaSecp256r1VerificationKey2019', publicKeyMultibase: base58btc.encode(p256.getPublicKey(priv, false)) },
    ];
    const id = parseDidDocument(DID, doc(DID, { key: legacy }));
    expect(id.signingKey?.curve).toBe('p256');
    expect(Buffer.from(id.signingKey!.compressed)).toEqual(Buffer.from(p256.getPublicKey(priv, true)));
  });

  it('rejects a document for another DID and tolerates a missing PDS', () => {
    expect(() => parseDidDocument(DID, doc('did:plc:someoneelse'))).toThrow(IdentityError);
    const noPds = { ...doc(DID), service: [{ id: '#atproto_pds', type: 'Other', serviceEndpoint: 'https://x.example' }] };
    expect(parseDidDocument(DID, noPds).pdsHost).toBeNull();
    const withPath = doc(DID, { pds: 'https://pds.example.com/some/path' });
    expect(parseDidDocument(DID, withPath).pdsHost).toBeNull();
  });
});

const threaded: ThreadedDidResolver[] = [];
afterAll(async () => {
  await Promise.all(threaded.map((r) => r.close()));
});
const kinds: Array<[string, (o: DidResolverOptions) => DidResolver]> = [
  ['in process', createDidResolver],
  [
    'on its own thread',
    (o) => {
      const r = createThreadedDidResolver(o, pino({ level: 'silent' }));
      threaded.push(r);
      return r;
    },
  ],
];

describe.each(kinds)('resolver %s', (name, createResolver) => {
  let server: Server;
  let base: string;
  let requests = 0;
  beforeAll(async () => {
    server = createServer((req, res) => {
      requests++;
      const path = req.url ?? '/';
      if (path.includes('notfound')) return res.writeHead(404).end();
      if (path.includes('gone')) return res.writeHead(410).end();
      if (path.includes('broken')) return res.writeHead(500).end();
      if (path.includes('moved')) return res.writeHead(302, { location: '/elsewhere' }).end();
      if (path.includes('slow')) return setTimeout(() => res.end('{}'), 500);
      // Headers and the start of a document at once, the rest too late: the deadline covers the whole document.
      if (path.includes('drip')) {
        res.writeHead(200, { 'content-type': 'application/json' }).write('{"id":');
        return setTimeout(() => res.end('"did:plc:drip"}'), 500);
      }
      if (path.includes('huge')) return res.end(`{"id":"${'x'.repeat(100_000)}"}`);
      if (path.includes('notjson')) return res.end('<html>');
      if (path.includes('limited')) return res.writeHead(429, { 'retry-after': '3' }).end();
      if (path.includes('impostor')) return res.end(JSON.stringify(doc('did:plc:someoneelse')));
      if (path.includes('p256key')) {
        const pub = p256.getPublicKey(p256.utils.randomSecretKey(), true);
        return res.end(JSON.stringify(doc(decodeURIComponent(path.slice(1)), { key: [{ id: '#atproto', type: 'Multikey', publicKeyMultibase: formatMultikey({ curve: 'p256', compressed: pub }) }] })));
      }
      const did = decodeURIComponent(path.slice(1).replace('/.well-known/did.json', ''));
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(doc(did.startsWith('did:') ? did : `did:web:${encodeURIComponent(req.headers.host!)}`)));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const reason = async (p: Promise<unknown>) => p.then(() => 'ok', (e: IdentityError) => e.reason);

  it('maps statuses and failures to reasons', async () => {
    const r = createResolver({ plcUrl: base, timeoutMs: 200 });
    expect(await reason(r.resolve('did:plc:aaaaaaaaaaaaaaaaaaaaaaaa'))).toBe('ok');
    expect(await reason(r.resolve('did:plc:notfound'))).toBe('not_found');
    expect(await reason(r.resolve('did:plc:gone'))).toBe('tombstoned');
    expect(await reason(r.resolve('did:plc:broken'))).toBe('resolution_failed');
    expect(await reason(r.resolve('did:plc:moved'))).toBe('resolution_failed');
    expect(await reason(r.resolve('did:plc:slow'))).toBe('timeout');
    expect(await reason(r.resolve('did:plc:drip'))).toBe('timeout');
    expect(await reason(r.resolve('did:plc:huge'))).toBe('bad_document');
    expect(await reason(r.resolve('did:plc:notjson'))).toBe('bad_document');
    const limited = await r.resolve('did:plc:limited').catch((e: IdentityError) => e);
    expect(limited).toMatchObject({ reason: 'rate_limited', retryAfterMs: 3000 });
    expect(await reason(r.resolve('did:example:123'))).toBe('unsupported_method');
    expect(await reason(r.resolve('not a did'))).toBe('bad_syntax');
  });

  it('answers the document read where it was fetched: its text as it came, the key checked and in both encodings', async () => {
    const r = createResolver({ plcUrl: base });
    const did = 'did:plc:p256key';
    const { identity, json } = await r.resolve(did);
    expect((JSON.parse(json) as { id: string }).id).toBe(did);
    expect(identity).toMatchObject({ did, handle: 'alice.example.com', pdsHost: 'pds.example.com' });
    const key = identity.signingKey!;
    expect(key.curve).toBe('p256');
    expect(key.compressed).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(key.uncompressed)).toEqual(Buffer.from(p256.Point.fromBytes(key.compressed).toBytes(false)));
    // A document for another DID is no document for this one, wherever it is read.
    expect(await reason(r.resolve('did:plc:impostor'))).toBe('bad_document');
  });

  it('resolves did:web on localhost only in insecure mode', async () => {
    const port = new URL(base).port;
    const did = `did:web:localhost%3A${port}`;
    expect(await reason(createResolver({ plcUrl: base }).resolve(did))).toBe('bad_syntax');
    const d = await createResolver({ plcUrl: base, allowInsecureWeb: true }).resolve(did);
    expect(d.identity.did).toBe(did);
    expect((JSON.parse(d.json) as { id: string }).id).toBe(did);
  });

  it.runIf(name === 'on its own thread')('fails what a dead thread was fetching as a passing failure, and answers again from a new one', async () => {
    const r = createResolver({ plcUrl: base, timeoutMs: 2000 }) as ThreadedDidResolver;
    expect(await reason(r.resolve('did:plc:aaaaaaaaaaaaaaaaaaaaaaaa'))).toBe('ok');
    const lost = r.resolve('did:plc:slow');
    await new Promise((done) => setTimeout(done, 50));
    await r.thread!.terminate();
    expect(await reason(lost)).toBe('resolution_failed');
    expect(await reason(r.resolve('did:plc:bbbbbbbbbbbbbbbbbbbbbbbb'))).toBe('ok');
  });
});

it('reads Retry-After in seconds or as a date', () => {
  expect(retryAfterMs('120')).toBe(120_000);
  expect(retryAfterMs(new Date(10_000).toUTCString(), 4_000)).toBe(6_000);
  expect(retryAfterMs('soon')).toBeUndefined();
  expect(retryAfterMs(null)).toBeUndefined();
});

describe('IdentityCache', () => {
  function fakeResolver(opts: { delayMs?: number; fail?: Set<string>; transient?: Set<string>; limited?: Set<string> } = {}) {
    let calls = 0;
    let inFlight = 0;
    let maxInFlight = 0;
    return {
      get calls() {
        return calls;
      },
      get maxInFlight() {
        return maxInFlight;
      },
      async resolve(did: string) {
        calls++;
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        try {
          if (opts.delayMs) await new Promise((r) => setTimeout(r, opts.delayMs));
          if (opts.fail?.has(did)) throw new IdentityError('not_found', 'no');
          if (opts.transient?.has(did)) throw new IdentityError('timeout', 'slow');
          if (opts.limited?.delete(did)) throw new IdentityError('rate_limited', 'HTTP 429', 200);
          return readDocument(did, JSON.stringify(doc(did)));
        } finally {
          inFlight--;
        }
      },
    };
  }

  it('shares one request among concurrent callers and caches the answer', async () => {
    const resolver = fakeResolver({ delayMs: 20 });
    const cache = new IdentityCache({ resolver });
    const all = await Promise.all(Array.from({ length: 10 }, () => cache.get(DID)));
    expect(new Set(all).size).toBe(1);
    await cache.get(DID);
    expect(resolver.calls).toBe(1);
  });

  it('serves stale entries while refreshing, and expires them', async () => {
    let now = 0;
    const resolver = fakeResolver();
    const cache = new IdentityCache({ resolver, now: () => now, staleAfterMs: 100, expireAfterMs: 1000 });
    const first = await cache.get(DID);
    now = 150;
    expect(await cache.get(DID)).toBe(first);
    await new Promise((r) => setTimeout(r, 5));
    expect(resolver.calls).toBe(2);
    now = 5000;
    await cache.get(DID);
    expect(resolver.calls).toBe(3);
  });

  it('answers from memory at once (hit) what get would, counted the same, and nothing else', async () => {
    let now = 0;
    const resolver = fakeResolver({ fail: new Set(['did:plc:missing']) });
    const cache = new IdentityCache({ resolver, now: () => now, staleAfterMs: 100, expireAfterMs: 1000 });
    expect(cache.hit(DID)).toBeNull();
    expect([resolver.calls, cache.counters.misses]).toEqual([0, 0]);
    const first = await cache.get(DID);
    expect(cache.hit(DID)).toBe(first);
    expect([cache.counters.hits, cache.counters.misses]).toEqual([1, 1]);
    now = 150;
    expect(cache.hit(DID)).toBe(first);
    await new Promise((r) => setTimeout(r, 5));
    expect([resolver.calls, cache.counters.staleHits]).toEqual([2, 1]);
    now = 5000;
    expect(cache.hit(DID)).toBeNull();
    await expect(cache.get('did:plc:missing')).rejects.toThrow(IdentityError);
    expect(cache.hit('did:plc:missing')).toBeNull();
  });

  it('caches definitive failures for a while but not passing ones', async () => {
    let now = 0;
    const resolver = fakeResolver({ fail: new Set(['did:plc:missing']), transient: new Set(['did:plc:flaky']) });
    const cache = new IdentityCache({ resolver, now: () => now, errorTtlMs: 100 });
    await expect(cache.get('did:plc:missing')).rejects.toThrow(IdentityError);
    await expect(cache.get('did:plc:missing')).rejects.toThrow(IdentityError);
    expect(resolver.calls).toBe(1);
    now = 200;
    await expect(cache.get('did:plc:missing')).rejects.toThrow(IdentityError);
    expect(resolver.calls).toBe(2);
    await expect(cache.get('did:plc:flaky')).rejects.toThrow(IdentityError);
    await expect(cache.get('did:plc:flaky')).rejects.toThrow(IdentityError);
    expect(resolver.calls).toBe(4);
  });

  it('rate-limits forced refreshes per DID', async () => {
    let now = 0;
    const resolver = fakeResolver();
    const cache = new IdentityCache({ resolver, now: () => now, refreshMinIntervalMs: 1000 });
    await cache.get(DID);
    expect(await cache.refresh(DID, 'signature_failure')).not.toBeNull();
    expect(await cache.refresh(DID, 'signature_failure')).toBeNull();
    now = 2000;
    expect(await cache.refresh(DID, 'host_mismatch')).not.toBeNull();
    expect(resolver.calls).toBe(3);
  });

  it('evicts the least recently used entries beyond its bound', async () => {
    const resolver = fakeResolver();
    const cache = new IdentityCache({ resolver, maxEntries: 2 });
    await cache.get('did:plc:a');
    await cache.get('did:plc:b');
    await cache.get('did:plc:a');
    await cache.get('did:plc:c');
    expect(cache.size).toBe(2);
    await cache.get('did:plc:a');
    expect(resolver.calls).toBe(3);
    await cache.get('did:plc:b');
    expect(resolver.calls).toBe(4);
  });

  function memoryStore(saved: Map<string, { doc: unknown; resolvedAt: number }>) {
    const calls = { loads: 0, saves: 0 };
    const store: IdentityStore = {
      loadMany: async (dids) => {
        calls.loads++;
        return dids.map((did) => saved.get(did) ?? null);
      },
      saveMany: async (entries) => {
        calls.saves++;
        for (const e of entries) saved.set(e.did, { doc: JSON.parse(e.json) as unknown, resolvedAt: e.resolvedAt });
      },
    };
    return { store, calls };
  }

  it('starts warm from its store and bounds requests in flight', async () => {
    const saved = new Map<string, { doc: unknown; resolvedAt: number }>([[DID, { doc: doc(DID), resolvedAt: Date.now() }]]);
    const { store } = memoryStore(saved);
    const resolver = fakeResolver({ delayMs: 30 });
    const cache = new IdentityCache({ resolver, store, concurrency: { plc: 2, web: 1 } });
    expect((await cache.get(DID)).pdsHost).toBe('pds.example.com');
    expect(resolver.calls).toBe(0);
    const order: string[] = [];
    const slow = Promise.all(['a', 'b', 'c', 'd', 'e'].map((x) => cache.get(`did:plc:${x}`))).then(() => order.push('uncached'));
    // A cached DID answers while the uncached ones queue for a slot.
    await cache.get(DID).then(() => order.push('cached'));
    await slow;
    expect(order).toEqual(['cached', 'uncached']);
    expect(resolver.maxInFlight).toBe(2);
    // Written behind, not on the lookup's path.
    await new Promise((r) => setTimeout(r, 20));
    expect(saved.has('did:plc:e')).toBe(true);
  });

  it('reads and writes its store many identities per round trip', async () => {
    const { store, calls } = memoryStore(new Map());
    const cache = new IdentityCache({ resolver: fakeResolver(), store });
    await Promise.all(Array.from({ length: 50 }, (_, i) => cache.get(`did:plc:burst${i}`)));
    await new Promise((r) => setTimeout(r, 20));
    expect(calls.loads).toBe(1);
    expect(calls.saves).toBeLessThanOrEqual(2);
    expect(cache.size).toBe(50);
  });

  it('limits requests per directory: a did:web host does not hold up the PLC directory', async () => {
    let webInFlight = 0;
    let webMax = 0;
    const resolver = {
      async resolve(did: string) {
        if (did.startsWith('did:web:')) {
          webMax = Math.max(webMax, ++webInFlight);
          await new Promise((r) => setTimeout(r, 100));
          webInFlight--;
        }
        return readDocument(did, JSON.stringify(doc(did)));
      },
    };
    const cache = new IdentityCache({ resolver, concurrency: { plc: 8, web: 1 } });
    const web = Promise.all(['a', 'b', 'c'].map((x) => cache.get(`did:web:slow.example.com:${x}`).catch(() => null)));
    const started = Date.now();
    await cache.get('did:plc:quick');
    expect(Date.now() - started).toBeLessThan(80);
    await web;
    expect(webMax).toBe(1);
  });

  it('pauses a directory that refuses, as long as it asks, and reports it', async () => {
    const resolver = fakeResolver({ limited: new Set(['did:plc:first']) });
    const cache = new IdentityCache({ resolver });
    await expect(cache.get('did:plc:first')).rejects.toMatchObject({ reason: 'rate_limited' });
    expect(cache.paused()).toEqual(['plc']);
    const started = Date.now();
    await cache.get('did:plc:second');
    // Held (not refused) until the directory's Retry-After passed.
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    expect(cache.paused()).toEqual([]);
    // A rate-limited lookup is not remembered as a failure.
    expect((await cache.get('did:plc:first')).did).toBe('did:plc:first');
  });
});
