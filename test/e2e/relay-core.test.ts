// The relay core end to end: fake PDS hosts over real WebSockets, the relay in-process on a real PostgreSQL, and
// consumers on the relay's firehose.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorld, type World } from '../helpers/world.ts';
import type { FakePds, FakeAccount } from '../../dev-env/fake-pds.ts';
import type { TestRelay } from '../helpers/relay.ts';
import { TestConsumer, eventually } from '../helpers/consumer.ts';
import { expectStrictlyIncreasing, perDid } from '../../dev-env/compare.ts';

let world: World;
let pdsA: FakePds;
let pdsB: FakePds;
let relay: TestRelay;

/** Upstream events of both hosts since `fromSeq` per host. */
function upstream(from: Map<FakePds, number> = new Map()) {
  return [pdsA, pdsB].flatMap((p) => p.events.filter((e) => e.seq > (from.get(p) ?? 0)));
}

async function writeMany(accounts: Array<{ pds: FakePds; account: FakeAccount }>, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const { pds, account } = accounts[i % accounts.length]!;
    await pds.createRecord(account, `post ${i}`);
  }
}

beforeAll(async () => {
  world = await startWorld({ hosts: 2 });
  ({ relay } = world);
  [pdsA, pdsB] = world.hosts as [FakePds, FakePds];
});

afterAll(async () => {
  await world?.close();
});

describe('relay core', () => {
  it('relays every event of two hosts exactly once, in order, with bodies unchanged but for seq', async () => {
    const consumer = await TestConsumer.connect(relay.wsUrl);
    const accounts: Array<{ pds: FakePds; account: FakeAccount }> = [];
    for (const pds of [pdsA, pdsB]) {
      for (let i = 0; i < 3; i++) accounts.push({ pds, account: await pds.createAccount({ curve: i === 2 ? 'p256' : 'k256' }) });
    }
    await Promise.all([
      writeMany(accounts.filter((a) => a.pds === pdsA), 100),
      writeMany(accounts.filter((a) => a.pds === pdsB), 100),
    ]);
    const expected = upstream();
    expect(expected.filter((e) => e.t === '#commit')).toHaveLength(200);
    await consumer.waitFor((c) => c.events.length >= expected.length, 30_000, 'all events');
    await new Promise((r) => setTimeout(r, 200));
    const got = consumer.events;
    expect(got).toHaveLength(expected.length);
    expectStrictlyIncreasing(got.map((e) => e.seq));
    expect(perDid(got)).toEqual(perDid(expected));
    consumer.close();
  });

  it('replays exactly the events after a cursor, then streams live, while writes continue', async () => {
    const live = await TestConsumer.connect(relay.wsUrl);
    const start = new Map([
      [pdsA, pdsA.seq],
      [pdsB, pdsB.seq],
    ]);
    const accounts = [
      { pds: pdsA, account: await pdsA.createAccount() },
      { pds: pdsB, account: await pdsB.createAccount() },
    ];
    let writing = true;
    const writer = (async () => {
      let i = 0;
      while (writing) {
        const { pds, account } = accounts[i++ % 2]!;
        await pds.createRecord(account, `continuous ${i}`);
        if (i % 10 === 0) await new Promise((r) => setTimeout(r, 5));
      }
    })();
    await live.waitFor((c) => c.events.length >= 60, 30_000, 'first events');
    const cursor = live.events[30]!.seq;
    const late = await TestConsumer.connect(relay.wsUrl, cursor);
    await live.waitFor((c) => c.events.length >= 300, 30_000, 'more events');
    writing = false;
    await writer;
    const expected = upstream(start);
    await live.waitFor((c) => c.events.length >= expected.length, 30_000, 'live consumer to finish');
    const head = live.lastSeq;
    await late.waitFor((c) => c.lastSeq >= head, 30_000, 'late consumer to catch up');
    await new Promise((r) => setTimeout(r, 200));

    const afterCursor = live.events.filter((e) => e.seq > cursor);
    expect(late.events.map((e) => e.seq)).toEqual(afterCursor.map((e) => e.seq));
    expect(late.events.map((e) => Buffer.from(e.bytes).toString('base64'))).toEqual(
      afterCursor.map((e) => Buffer.from(e.bytes).toString('base64')),
    );
    expect(perDid(live.events)).toEqual(perDid(expected));
    live.close();
    late.close();
  });

  it('reconnects to a restarted host and resumes from its cursor with nothing lost', async () => {
    const consumer = await TestConsumer.connect(relay.wsUrl);
    const account = await pdsA.createAccount();
    const start = pdsA.seq - 3; // the account's own creation events are part of it
    await pdsA.createRecord(account, 'before restart');
    await consumer.waitFor((c) => c.events.some((e) => e.body.repo === account.did), 20_000, 'first commit');
    await pdsA.stop();
    // While the host is down it keeps publishing into its own backfill.
    for (let i = 0; i < 20; i++) await pdsA.createRecord(account, `while down ${i}`);
    await pdsA.restart();
    for (let i = 0; i < 5; i++) await pdsA.createRecord(account, `after restart ${i}`);
    const expected = pdsA.events.filter((e) => e.seq > start);
    const mine = () => consumer.events.filter((e) => (e.t === '#commit' ? e.body.repo : e.body.did) === account.did);
    await eventually(() => mine().length >= expected.length, 30_000, 'events after restart');
    await new Promise((r) => setTimeout(r, 200));
    const got = perDid(mine()).get(account.did)!;
    // identity, account, sync, then 26 commits
    expect(got).toEqual(perDid(expected).get(account.did));
    expect(got).toHaveLength(29);
    consumer.close();
  });
});
