// Verification on worker threads, through the real path (fake PDS -> relay -> firehose consumer): bad commits are
// rejected and counted while the good ones around them are relayed in upstream order, and a worker that dies
// mid-stream is replaced without losing or reordering an event.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CidLinkWrapper } from '@atcute/cbor';
import { cidForBlock } from '../../src/protocol/cid.ts';
import { startWorld, type World } from '../helpers/world.ts';
import type { FakePds, FakeAccount } from '../../dev-env/fake-pds.ts';
import { generateKeypair } from '../../dev-env/keys.ts';
import { metricValue, type TestRelay } from '../helpers/relay.ts';
import { TestConsumer } from '../helpers/consumer.ts';
import type { VerifyPool } from '../../src/verify/pool.ts';

let world: World;
let pds: FakePds;
let relay: TestRelay;
let pool: VerifyPool;
let consumer: TestConsumer;
let accounts: FakeAccount[];

const rejected = (reason: string) => metricValue(relay.metricsUrl, `relay_events_rejected_total{reason="${reason}"}`);
const relayedRevs = (did: string) => consumer.events.filter((e) => e.t === '#commit' && e.body.repo === did).map((e) => e.body.rev as string);
const emittedRevs = (did: string) => pds.events.filter((e) => e.t === '#commit' && e.body.repo === did).map((e) => e.body.rev as string);

beforeAll(async () => {
  world = await startWorld({ hosts: 1, config: { verifyWorkers: 2 } });
  ({ relay } = world);
  pds = world.hosts[0]!;
  pool = relay.relay.ctx.verifyPool!;
  consumer = await TestConsumer.connect(relay.wsUrl);
  accounts = [await pds.createAccount({ curve: 'k256' }), await pds.createAccount({ curve: 'p256' }), await pds.createAccount({ curve: 'k256' })];
  for (const a of accounts) await pds.createRecord(a, 'first');
  await consumer.waitFor(() => accounts.every((a) => relayedRevs(a.did).length === 1), 20_000, 'first commits');
});

afterAll(async () => {
  consumer?.close();
  await world?.close();
});

describe('verification on worker threads', () => {
  it('is on: the relay runs the configured number of workers', () => {
    expect(pool).toBeTruthy();
    expect(pool.workers.length).toBe(2);
  });

  it('rejects and counts a forged signature and a commit that does not invert, relays the rest in order', async () => {
    const [a, b, c] = accounts as [FakeAccount, FakeAccount, FakeAccount];
    const sigBefore = await rejected('bad_signature');
    const invBefore = await rejected('inversion_mismatch');
    const bad = new Set<string>();
    for (let i = 0; i < 12; i++) {
      for (const acct of [a, b, c]) await pds.createRecord(acct, `burst ${i}`);
      if (i === 4) {
        const real = b.repo.key;
        b.repo.key = generateKeypair(b.curve);
        bad.add((await pds.createRecord(b, 'forged')).body.rev as string);
        b.repo.key = real;
      }
      if (i === 7) {
        const tampered = await pds.createRecord(c, 'wrong prevData', {
          tamper: (body) => {
            body.prevData = new CidLinkWrapper(cidForBlock(new Uint8Array([1, 2, 3])));
          },
        });
        bad.add(tampered.body.rev as string);
      }
    }
    await consumer.waitFor(
      () => [a, b, c].every((acct) => relayedRevs(acct.did).length === emittedRevs(acct.did).filter((r) => !bad.has(r)).length),
      30_000,
      'every good commit',
    );
    expect(await rejected('bad_signature')).toBe(sigBefore + 1);
    expect(await rejected('inversion_mismatch')).toBe(invBefore + 1);
    for (const acct of [a, b, c]) expect(relayedRevs(acct.did)).toEqual(emittedRevs(acct.did).filter((r) => !bad.has(r)));
  });

  it('replaces a worker that dies mid-stream and loses no event', async () => {
    const exitsBefore = await metricValue(relay.metricsUrl, 'relay_verify_worker_exits_total');
    const internalBefore = await rejected('internal_error');
    const writes: Array<Promise<unknown>> = [];
    for (let i = 0; i < 15; i++) for (const acct of accounts) writes.push(pds.createRecord(acct, `during a crash ${i}`));
    await Promise.all(writes);
    // The relay is busy with the burst: kill a worker under it.
    await pool.workers[0]!.terminate();
    for (const acct of accounts) await pds.createRecord(acct, 'after the crash');
    await consumer.waitFor(
      () => accounts.every((acct) => relayedRevs(acct.did).at(-1) === emittedRevs(acct.did).at(-1)),
      30_000,
      'the commits after the crash',
    );
    expect(await metricValue(relay.metricsUrl, 'relay_verify_worker_exits_total')).toBe(exitsBefore + 1);
    expect(await rejected('internal_error')).toBe(internalBefore);
    for (const acct of accounts) {
      const relayed = relayedRevs(acct.did);
      // Every commit of the burst and after it, once each and in upstream order.
      const tail = emittedRevs(acct.did).slice(-16);
      expect(relayed.slice(-16)).toEqual(tail);
      expect(new Set(relayed).size).toBe(relayed.length);
    }
    expect(pool.workers.length).toBe(2);
  });
});
