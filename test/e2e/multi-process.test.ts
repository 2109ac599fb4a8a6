// Two relay instances sharing one PostgreSQL: each host is crawled by exactly one of them, seqs are global, and a
// consumer of either gets the same stream (firehose and Jetstream). When one instance stops, the other takes over its hosts from the
// committed cursor.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakePlc } from '../../dev-env/fake-plc.ts';
import { FakePds } from '../../dev-env/fake-pds.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { startTestRelay, requestCrawl, type TestRelay } from '../helpers/relay.ts';
import { TestConsumer, eventually } from '../helpers/consumer.ts';
import { JetstreamClient } from '../helpers/jetstream.ts';
import { expectStrictlyIncreasing, perDid } from '../../dev-env/compare.ts';

let plc: FakePlc;
let hosts: FakePds[];
let one: TestRelay;
let two: TestRelay;

beforeAll(async () => {
  plc = await FakePlc.start();
  hosts = [await FakePds.start({ plc }), await FakePds.start({ plc }), await FakePds.start({ plc })];
  const databaseUrl = await createTestDatabase();
  one = await startTestRelay({ databaseUrl, plcUrl: plc.url });
  two = await startTestRelay({ databaseUrl, plcUrl: plc.url });
});

afterAll(async () => {
  await one?.stop();
  await two?.stop();
  for (const h of hosts ?? []) await h.close();
  await plc?.close();
});

const crawledBy = (r: TestRelay) => r.relay.ctx.crawler.hostIds;

describe('several relay processes on one database', () => {
  it('split the hosts, share one sequence, and serve identical firehoses; a survivor takes over', async () => {
    for (const h of hosts) expect((await requestCrawl(one.url, h.hostname)).status).toBe(200);
    await eventually(
      () => crawledBy(one).length + crawledBy(two).length === 3 && [...crawledBy(one), ...crawledBy(two)].every((id) => one.relay.ctx.crawler.isConnected(id) || two.relay.ctx.crawler.isConnected(id)),
      20_000,
      'all hosts crawled',
    );
    // Exactly one instance per host.
    expect(new Set([...crawledBy(one), ...crawledBy(two)]).size).toBe(3);

    const c1 = await TestConsumer.connect(one.wsUrl);
    const c2 = await TestConsumer.connect(two.wsUrl);
    const j1 = await JetstreamClient.connect(one.wsUrl);
    const j2 = await JetstreamClient.connect(two.wsUrl);
    const accounts = await Promise.all(hosts.map(async (h) => ({ h, a: await h.createAccount() })));
    for (let i = 0; i < 60; i++) {
      const { h, a } = accounts[i % 3]!;
      await h.createRecord(a, `post ${i}`);
    }
    const expected = hosts.flatMap((h) => h.events);
    await c1.waitFor((c) => c.events.length >= expected.length, 20_000, 'consumer of one');
    await c2.waitFor((c) => c.events.length >= expected.length, 20_000, 'consumer of two');
    expectStrictlyIncreasing(c1.events.map((e) => e.seq));
    expect(c2.events.map((e) => e.seq)).toEqual(c1.events.map((e) => e.seq));
    expect(c2.events.map((e) => Buffer.from(e.bytes).toString('base64'))).toEqual(c1.events.map((e) => Buffer.from(e.bytes).toString('base64')));
    expect(perDid(c1.events)).toEqual(perDid(expected));
    // Jetstream: both processes send the same messages; times are unique and increasing across the two writers.
    const messages = expected.filter((e) => e.t !== '#sync').length;
    await j1.waitFor((c) => c.events.length >= messages, 20_000, 'Jetstream of one');
    await j2.waitFor((c) => c.events.length >= messages, 20_000, 'Jetstream of two');
    expect(j2.raw.map((r) => r.json)).toEqual(j1.raw.map((r) => r.json));
    expectStrictlyIncreasing(j1.events.map((e) => e.time_us));
    j1.close();
    j2.close();

    // Stop whichever instance crawls more hosts; the other picks them up and nothing is lost.
    const [leaving, staying, stayingConsumer] = crawledBy(one).length >= crawledBy(two).length ? [one, two, c2] : [two, one, c1];
    c1.close();
    c2.close();
    const resume = stayingConsumer.lastSeq;
    await leaving.stop();
    for (let i = 0; i < 30; i++) {
      const { h, a } = accounts[i % 3]!;
      await h.createRecord(a, `after stop ${i}`);
    }
    await eventually(() => crawledBy(staying).length === 3, 20_000, 'survivor claims every host');
    const after = await TestConsumer.connect(staying.wsUrl, resume);
    const total = hosts.flatMap((h) => h.events);
    await after.waitFor((c) => c.events.length >= total.length - expected.length, 20_000, 'events after the stop');
    expect(perDid(after.events)).toEqual(perDid(total.filter((e) => !expected.includes(e))));
    after.close();
  });
});
