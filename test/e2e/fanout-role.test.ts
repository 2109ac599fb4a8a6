// RELAY_ROLE=fanout: a process that crawls nothing serves the full firehose and Jetstream from the shared database,
// byte for byte what the ingesting process serves, live and on replay; hosts it is told of are crawled elsewhere.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakePlc } from '../../dev-env/fake-plc.ts';
import { FakePds } from '../../dev-env/fake-pds.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { startTestRelay, requestCrawl, type TestRelay } from '../helpers/relay.ts';
import { TestConsumer, eventually } from '../helpers/consumer.ts';
import { JetstreamClient } from '../helpers/jetstream.ts';

let plc: FakePlc;
let pds: FakePds;
let ingest: TestRelay;
let fanout: TestRelay;

beforeAll(async () => {
  plc = await FakePlc.start();
  pds = await FakePds.start({ plc });
  const databaseUrl = await createTestDatabase();
  ingest = await startTestRelay({ databaseUrl, plcUrl: plc.url });
  fanout = await startTestRelay({ databaseUrl, plcUrl: plc.url, role: 'fanout' });
});

afterAll(async () => {
  await fanout?.stop();
  await ingest?.stop();
  await pds?.close();
  await plc?.close();
});

const b64 = (c: TestConsumer) => c.events.map((e) => Buffer.from(e.bytes).toString('base64'));

describe('a fan-out-only process', () => {
  it('crawls nothing and serves the same streams as the ingesting process', async () => {
    expect(await (await fetch(`${fanout.url}/_health`)).json()).toMatchObject({ role: 'fanout' });
    // Asked through the fan-out process, the host is admitted and crawled by the ingesting one.
    expect((await requestCrawl(fanout.url, pds.hostname)).status).toBe(200);
    await eventually(() => ingest.relay.ctx.crawler.hostIds.length === 1 && ingest.relay.ctx.crawler.isConnected(ingest.relay.ctx.crawler.hostIds[0]!), 20_000, 'crawled by the ingesting process');

    const fromIngest = await TestConsumer.connect(ingest.wsUrl);
    const fromFanout = await TestConsumer.connect(fanout.wsUrl);
    const jsIngest = await JetstreamClient.connect(ingest.wsUrl);
    const jsFanout = await JetstreamClient.connect(fanout.wsUrl);
    const accounts = [await pds.createAccount(), await pds.createAccount()];
    for (let i = 0; i < 40; i++) await pds.createRecord(accounts[i % 2]!, `post ${i}`);
    const expected = pds.events.length;
    await fromIngest.waitFor((c) => c.events.length === expected, 20_000, 'ingesting process stream');
    await fromFanout.waitFor((c) => c.events.length === expected, 20_000, 'fan-out process stream');
    expect(b64(fromFanout)).toEqual(b64(fromIngest));
    const messages = pds.events.filter((e) => e.t !== '#sync').length;
    await jsFanout.waitFor((c) => c.events.length === messages, 20_000, 'fan-out Jetstream');
    await jsIngest.waitFor((c) => c.events.length === messages, 20_000, 'ingesting Jetstream');
    expect(jsFanout.raw.map((r) => r.json)).toEqual(jsIngest.raw.map((r) => r.json));

    // Replay from the fan-out process, from a cursor, is the same too.
    const cursor = fromIngest.events[10]!.seq;
    const replay = await TestConsumer.connect(fanout.wsUrl, cursor);
    await replay.waitFor((c) => c.lastSeq === fromIngest.lastSeq, 20_000, 'replay from the fan-out process');
    expect(b64(replay)).toEqual(b64(fromIngest).slice(11));

    // It never claimed the host, whatever its scans would have found.
    expect(fanout.relay.ctx.crawler.hostIds).toEqual([]);
    for (const c of [fromIngest, fromFanout, replay]) c.close();
    for (const c of [jsIngest, jsFanout]) c.close();
  });
});
