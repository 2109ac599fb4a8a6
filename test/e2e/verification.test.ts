// Every rejection reason through the real path: a fake PDS sends a bad event between good ones; the relay drops it,
// counts it under its reason, shows it for the host, and relays the good events around it.
import type { RejectionReason } from '../../src/core/rejections.ts';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BytesWrapper, CidLinkWrapper } from '@atcute/cbor';
import { cidForBlock } from '../../src/protocol/cid.ts';
import { tidFromParts } from '../../src/protocol/tid.ts';
import { startWorld, type World } from '../helpers/world.ts';
import type { FakePds, FakeAccount } from '../../dev-env/fake-pds.ts';
import { generateKeypair } from '../../dev-env/keys.ts';
import { metricValue, type TestRelay, TEST_ADMIN_PASSWORD } from '../helpers/relay.ts';
import { TestConsumer, eventually } from '../helpers/consumer.ts';

let world: World;
let pdsA: FakePds;
let pdsB: FakePds;
let relay: TestRelay;
let consumer: TestConsumer;
let alice: FakeAccount;

async function hostView(hostname: string) {
  const res = await fetch(`${relay.url}/admin/hosts`, { headers: { authorization: `Bearer ${TEST_ADMIN_PASSWORD}` } });
  const { hosts } = (await res.json()) as {
    hosts: Array<{ hostname: string; connected: boolean; recentRejections: Array<{ reason: string; did: string }> }>;
  };
  return hosts.find((h) => h.hostname === hostname);
}

const rejected = (reason: RejectionReason) => metricValue(relay.metricsUrl, `relay_events_rejected_total{reason="${reason}"}`);

const commitsOf = (did: string) => consumer.events.filter((e) => e.t === '#commit' && e.body.repo === did);

/**
 * Runs `bad` (which must make the host emit exactly one bad event) between two good commits, and checks the bad
 * event was dropped for `reason` while both good ones arrived.
 */
async function expectDropped(reason: RejectionReason, bad: () => Promise<unknown>, opts: { pds?: FakePds } = {}) {
  const pds = opts.pds ?? pdsA;
  const before = await rejected(reason);
  const start = commitsOf(alice.did).length;
  await pdsA.createRecord(alice, `before ${reason}`);
  const badEvent = await bad();
  await pdsA.createRecord(alice, `after ${reason}`);
  await eventually(async () => (await rejected(reason)) === before + 1, 10_000, `${reason} to be counted`);
  await eventually(() => commitsOf(alice.did).length >= start + 2, 10_000, 'the good commits around it');
  const view = await hostView(pds.hostname);
  expect(view!.recentRejections.map((r) => r.reason)).toContain(reason);
  // The bad event is not on the firehose: a commit with its rev appears exactly as often as good ones were sent (once
  // for a replayed or copied commit, its original; never for a forged, future, tampered or oversized one).
  const rev = (badEvent as { body?: { rev?: unknown } } | null)?.body?.rev;
  if (rev) {
    const originals = [...pdsA.events, ...pdsB.events].filter((e) => e !== badEvent && e.t === '#commit' && e.body.rev === rev).length;
    expect(consumer.events.filter((e) => e.t === '#commit' && e.body.rev === rev)).toHaveLength(originals);
  }
}

beforeAll(async () => {
  world = await startWorld({ hosts: 2 });
  ({ relay } = world);
  [pdsA, pdsB] = world.hosts as [FakePds, FakePds];
  consumer = await TestConsumer.connect(relay.wsUrl);
  alice = await pdsA.createAccount();
  await pdsA.createRecord(alice, 'first');
  await consumer.waitFor(() => commitsOf(alice.did).length === 1, 10_000, 'first commit');
});

afterAll(async () => {
  consumer?.close();
  await world?.close();
});

describe('verification rejects, counts and shows', () => {
  beforeEach(async () => {
    // Let the previous test's events settle.
    await new Promise((r) => setTimeout(r, 50));
  });

  it('a forged signature', async () => {
    await expectDropped('bad_signature', async () => {
      const real = alice.repo.key;
      alice.repo.key = generateKeypair(alice.curve);
      try {
        return await pdsA.createRecord(alice, 'forged');
      } finally {
        alice.repo.key = real;
      }
    });
  });

  it('a commit from a host that is not the account’s PDS', async () => {
    await expectDropped(
      'wrong_host',
      async () => {
        const copy = pdsA.events.filter((e) => e.t === '#commit').at(-1)!;
        const { seq: _seq, ...body } = copy.body;
        return pdsB.emitEvent('#commit', body);
      },
      { pds: pdsB },
    );
  });

  it('an #account event from a non-authoritative host', async () => {
    await expectDropped(
      'wrong_host',
      async () => pdsB.emitEvent('#account', { did: alice.did, active: false, status: 'takendown', time: new Date().toISOString() }),
      { pds: pdsB },
    );
    const status = await (await fetch(`${relay.url}/xrpc/com.atproto.sync.getRepoStatus?did=${alice.did}`)).json();
    expect(status).toMatchObject({ active: true });
  });

  it('a rev from the future', async () => {
    await expectDropped('future_rev', () =>
      pdsA.createRecord(alice, 'future', { rev: tidFromParts((Date.now() + 3_600_000) * 1000, 1) }),
    );
  });

  it('a stale (replayed) commit', async () => {
    const old = commitsOf(alice.did)[0]!;
    await expectDropped('stale_rev', async () => {
      const { seq: _seq, ...body } = pdsA.events.find((e) => e.t === '#commit' && e.body.rev === old.body.rev)!.body;
      return pdsA.emitEvent('#commit', body);
    });
  });

  it('a commit without prevData (strict mode)', async () => {
    await expectDropped('missing_prev_data', () =>
      pdsA.createRecord(alice, 'no prevData', {
        tamper: (b) => {
          delete b.prevData;
        },
      }),
    );
  });

  it('ops that do not invert to prevData', async () => {
    await expectDropped('inversion_mismatch', () =>
      pdsA.createRecord(alice, 'bad prevData', {
        tamper: (b) => {
          b.prevData = new CidLinkWrapper(cidForBlock(new Uint8Array([9, 9, 9])));
        },
      }),
    );
  });

  it('oversized blocks', async () => {
    await expectDropped('blocks_too_large', () =>
      pdsA.createRecord(alice, 'huge', {
        tamper: (b) => {
          b.blocks = new BytesWrapper(new Uint8Array(2_000_001));
        },
      }),
    );
  });

  it('too many ops', async () => {
    await expectDropped('too_many_ops', () =>
      pdsA.createRecord(alice, 'many ops', {
        tamper: (b) => {
          const op = (b.ops as unknown[])[0];
          b.ops = Array.from({ length: 201 }, () => op);
        },
      }),
    );
  });

  it('a malformed CAR', async () => {
    await expectDropped('bad_car', () =>
      pdsA.createRecord(alice, 'bad car', {
        tamper: (b) => {
          b.blocks = new BytesWrapper(Uint8Array.from([0x0a, 0xa1, 0x01, 0x02, 0x03]));
        },
      }),
    );
  });

  it('malformed CBOR (the connection is dropped and resumed from the cursor)', async () => {
    await expectDropped('bad_cbor', async () => {
      pdsA.emitRaw(Uint8Array.from([0xa2, 0x61, 0x74, 0x67]));
      return null;
    });
  });
});

describe('identity changes', () => {
  it('refreshes a rotated key once: old-key commits fail, new-key commits pass', async () => {
    const bob = await pdsA.createAccount({ curve: 'p256' });
    await pdsA.createRecord(bob, 'with the first key');
    await consumer.waitFor(() => commitsOf(bob.did).length === 1, 10_000, 'bob first');
    const oldKey = pdsA.rotateKey(bob, { announce: false });
    await pdsA.createRecord(bob, 'with the new key, unannounced');
    await consumer.waitFor(() => commitsOf(bob.did).length === 2, 10_000, 'new key accepted after refresh');
    const before = await rejected('bad_signature');
    const newKey = bob.repo.key;
    bob.repo.key = oldKey;
    await pdsA.createRecord(bob, 'with the old key');
    bob.repo.key = newKey;
    await pdsA.createRecord(bob, 'new key again');
    await consumer.waitFor(() => commitsOf(bob.did).length === 3, 10_000, 'third');
    expect(await rejected('bad_signature')).toBe(before + 1);
    expect(commitsOf(bob.did).map((e) => e.body.rev)).not.toContain(
      pdsA.events.filter((e) => e.t === '#commit' && e.body.repo === bob.did)[2]!.body.rev,
    );
  });

  it('relays an account migration between two hosts', async () => {
    const carol = await pdsA.createAccount();
    await pdsA.createRecord(carol, 'on A');
    await consumer.waitFor(() => commitsOf(carol.did).length === 1, 10_000, 'carol on A');
    const wrongHostBefore = await rejected('wrong_host');
    pdsA.migrateAccount(carol, pdsB);
    await pdsB.createRecord(carol, 'on B');
    await consumer.waitFor(() => commitsOf(carol.did).length === 2, 10_000, 'carol on B');
    const mine = consumer.events.filter((e) => (e.body.repo ?? e.body.did) === carol.did).map((e) => `${e.t}${e.t === '#account' ? `:${String(e.body.active)}` : ''}`);
    expect(mine).toEqual(['#identity', '#account:true', '#sync', '#commit', '#identity', '#account:true', '#sync', '#commit']);
    // The old host's "deactivated" is not authoritative any more.
    await eventually(async () => (await rejected('wrong_host')) === wrongHostBefore + 1, 10_000, 'old host #account dropped');
    const status = (await (await fetch(`${relay.url}/xrpc/com.atproto.sync.getRepoStatus?did=${carol.did}`)).json()) as Record<string, unknown>;
    expect(status).toEqual({ did: carol.did, active: true, rev: carol.repo.rev });
    const hosts = (await (await fetch(`${relay.url}/xrpc/com.atproto.sync.listHosts`)).json()) as { hosts: Array<{ hostname: string; accountCount: number }> };
    expect(hosts.hosts.find((h) => h.hostname === pdsB.hostname)!.accountCount).toBe(1);
  });
});
