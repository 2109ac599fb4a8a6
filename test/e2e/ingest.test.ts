// Upstream connection behaviour: seq ordering on a connection, broken framing, and the offline/reconnect cycle.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakePlc } from '../../dev-env/fake-plc.ts';
import { FakePds } from '../../dev-env/fake-pds.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { startTestRelay, crawlAndConnect, metricValue, type TestRelay, TEST_ADMIN_PASSWORD } from '../helpers/relay.ts';
import { TestConsumer, eventually } from '../helpers/consumer.ts';

let plc: FakePlc;
let relay: TestRelay;

interface HostView {
  hostname: string;
  status: string;
  connected: boolean;
  failedAttempts: number;
  recentRejections: Array<{ reason: string }>;
}

async function host(hostname: string): Promise<HostView | undefined> {
  const res = await fetch(`${relay.url}/admin/hosts`, { headers: { authorization: `Bearer ${TEST_ADMIN_PASSWORD}` } });
  return ((await res.json()) as { hosts: HostView[] }).hosts.find((h) => h.hostname === hostname);
}

const rejected = (reason: string) => metricValue(relay.metricsUrl, `relay_events_rejected_total{reason="${reason}"}`);

const crawled = (pds: FakePds) => crawlAndConnect(relay, pds.hostname);

beforeAll(async () => {
  plc = await FakePlc.start();
  relay = await startTestRelay(
    { databaseUrl: await createTestDatabase(), plcUrl: plc.url, hostOfflineAfterFailures: 3, reconnectMaxDelayMs: 400 },
    { reconnectBaseMs: 50 },
  );
});

afterAll(async () => {
  await relay?.stop();
  await plc?.close();
});

describe('upstream ingest', () => {
  it('drops repeated and older seqs on a connection, counts them, and keeps relaying', async () => {
    const pds = await FakePds.start({ plc });
    await crawled(pds);
    const consumer = await TestConsumer.connect(relay.wsUrl);
    const account = await pds.createAccount();
    await pds.createRecord(account, 'one');
    const before = await rejected('seq_not_increasing');
    pds.emitEvent('#identity', { did: account.did, time: new Date().toISOString(), seq: 2 });
    pds.emitEvent('#identity', { did: account.did, time: new Date().toISOString(), seq: pds.seq });
    await pds.createRecord(account, 'two');
    await consumer.waitFor((c) => c.events.filter((e) => e.t === '#commit').length === 2, 10_000, 'both commits');
    expect(consumer.events.map((e) => e.t)).toEqual(['#identity', '#account', '#sync', '#commit', '#commit']);
    await eventually(async () => (await rejected('seq_not_increasing')) === before + 2, 5000, 'rejections counted');
    expect((await host(pds.hostname))!.recentRejections[0]!.reason).toBe('seq_not_increasing');
    consumer.close();
    await pds.close();
  });

  it('drops the connection on broken framing and resumes from the cursor without losing events', async () => {
    const pds = await FakePds.start({ plc });
    await crawled(pds);
    const consumer = await TestConsumer.connect(relay.wsUrl);
    const account = await pds.createAccount();
    pds.emitRaw(Uint8Array.from([0xa1, 0x61, 0x74])); // truncated CBOR
    for (let i = 0; i < 5; i++) await pds.createRecord(account, `after garbage ${i}`);
    await consumer.waitFor((c) => c.events.filter((e) => e.t === '#commit').length === 5, 15_000, 'commits after reconnect');
    expect(consumer.events.filter((e) => e.body.did === account.did || e.body.repo === account.did)).toHaveLength(8);
    expect(await rejected('bad_cbor')).toBeGreaterThanOrEqual(1);
    consumer.close();
    await pds.close();
  });

  it('marks a host that stays down offline, keeps probing it, and resumes when it returns', async () => {
    const pds = await FakePds.start({ plc });
    await crawled(pds);
    const consumer = await TestConsumer.connect(relay.wsUrl);
    const account = await pds.createAccount();
    await pds.stop();
    await eventually(async () => (await host(pds.hostname))?.status === 'offline', 20_000, 'offline status');
    expect((await host(pds.hostname))!.failedAttempts).toBeGreaterThanOrEqual(3);
    await pds.createRecord(account, 'written while offline');
    await pds.restart();
    await eventually(async () => (await host(pds.hostname))?.status === 'active', 20_000, 'active again');
    await consumer.waitFor((c) => c.events.some((e) => e.t === '#commit' && e.body.repo === account.did), 10_000, 'commit');
    expect(consumer.events.map((e) => e.t)).toEqual(['#identity', '#account', '#sync', '#commit']);
    consumer.close();
    await pds.close();
  });
});
