// The stores first-seen accounts go through in batches, on PostgreSQL and on the embedded engine: identity documents
// saved many per statement (one JSON parameter) and read back as they were, the last of a DID in a batch winning;
// account states read many per statement (one array parameter), null for DIDs never seen.
import { afterAll, describe, expect, it } from 'vitest';
import { createIdentityStore } from '../../src/storage/identities.ts';
import { loadAccountStates } from '../../src/storage/accounts.ts';
import { accounts, hosts } from '../../src/storage/schema.ts';
import { TestDatabases } from '../helpers/db.ts';

const dbs = new TestDatabases();
afterAll(() => dbs.closeAll());

const doc = (did: string, handle: string) => ({
  '@context': ['https://www.w3.org/ns/did/v1'],
  id: did,
  alsoKnownAs: [`at://${handle}`],
  verificationMethod: [{ id: `${did}#atproto`, type: 'Multikey', controller: did, publicKeyMultibase: 'zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF' }],
  service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: 'https://pds.example' }],
});

describe.each(['postgres', 'embedded'] as const)('%s', (engine) => {
  it('saves identity documents many at a time and loads them back as they were', async () => {
    const d = await dbs.open(engine);
    const store = createIdentityStore(d.db);
    const at = Date.parse('2026-12-04T21:00:00.000Z');
    // Quotes, backslashes and non-ASCII survive; the second document of did:plc:b in the batch wins.
    const odd = { ...doc('did:plc:a', 'a.test'), note: 'say "hi" \\ ünïcødé ✓' };
    await store.saveMany([
      { did: 'did:plc:a', json: JSON.stringify(odd), resolvedAt: at },
      { did: 'did:plc:b', json: JSON.stringify(doc('did:plc:b', 'old.test')), resolvedAt: at },
      { did: 'did:plc:b', json: JSON.stringify(doc('did:plc:b', 'new.test')), resolvedAt: at + 1000 },
    ]);
    expect(await store.loadMany(['did:plc:b', 'did:plc:never', 'did:plc:a'])).toEqual([
      { doc: doc('did:plc:b', 'new.test'), resolvedAt: at + 1000 },
      null,
      { doc: odd, resolvedAt: at },
    ]);
    // Saved again later: replaced.
    await store.saveMany([{ did: 'did:plc:a', json: JSON.stringify(doc('did:plc:a', 'moved.test')), resolvedAt: at + 5000 }]);
    expect(await store.loadMany(['did:plc:a'])).toEqual([{ doc: doc('did:plc:a', 'moved.test'), resolvedAt: at + 5000 }]);
  });

  it('loads account states many at a time, null for accounts never seen', async () => {
    const d = await dbs.open(engine);
    const [host] = await d.db.insert(hosts).values({ hostname: 'pds.test' }).returning({ id: hosts.id });
    await d.db.insert(accounts).values([
      { did: 'did:plc:x', hostId: host!.id, rev: '3l2abc', head: 'bafyhead', data: 'bafydata' },
      { did: 'did:plc:y', hostId: host!.id, upstreamActive: false, upstreamStatus: 'deactivated' },
    ]);
    const states = await loadAccountStates(d.db, ['did:plc:y', 'did:plc:none', 'did:plc:x']);
    expect(states.map((s) => s?.did ?? null)).toEqual(['did:plc:y', null, 'did:plc:x']);
    expect(states[2]!.repo).toEqual({ rev: '3l2abc', head: 'bafyhead', data: 'bafydata' });
    expect(states[0]!.upstream).toEqual({ active: false, status: 'deactivated' });
  });
});
