// Hostile and broken upstreams, through the real path: while a good host publishes valid commits without pause,
// other hosts send garbage of every kind, hang, flood past their quota, or come back wiped. Every bad thing is
// rejected with a counted reason (connections dropped where the spec says so), the good host's events all arrive,
// and the relay's memory stays bounded.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BytesWrapper, encode } from '@atcute/cbor';
import { readCar, writeCar } from '../../src/protocol/car.ts';
import { encodeMessageFrame } from '../../src/protocol/frame.ts';
import { FakePlc } from '../../dev-env/fake-plc.ts';
import { FakePds, type FakeAccount } from '../../dev-env/fake-pds.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { adminPost, crawlAndConnect, metricValue, startTestRelay, TEST_ADMIN_PASSWORD, type TestRelay } from '../helpers/relay.ts';
import { TestConsumer, eventually } from '../helpers/consumer.ts';
import { bodyKey } from '../../dev-env/compare.ts';

let plc: FakePlc;
let relay: TestRelay;
let good: FakePds;
let goodAccount: FakeAccount;
let consumer: TestConsumer;
let writing = true;
let writer: Promise<void>;
const counts: Record<string, number> = {};

const rejected = (reason: string) => metricValue(relay.metricsUrl, `relay_events_rejected_total{reason="${reason}"}`);

async function hostView(hostname: string) {
  const res = await fetch(`${relay.url}/admin/hosts`, { headers: { authorization: `Bearer ${TEST_ADMIN_PASSWORD}` } });
  const { hosts } = (await res.json()) as { hosts: Array<{ hostname: string; status: string; connected: boolean }> };
  return hosts.find((h) => h.hostname === hostname);
}

/** Waits until `reason` was counted `n` more times than `before`, and records it for the report. */
async function counted(reason: string, before: number, n = 1): Promise<void> {
  await eventually(async () => (await rejected(reason)) >= before + n, 20_000, `${reason} to be counted`);
  counts[reason] = (counts[reason] ?? 0) + ((await rejected(reason)) - before);
}

beforeAll(async () => {
  plc = await FakePlc.start();
  relay = await startTestRelay(
    { databaseUrl: await createTestDatabase(), plcUrl: plc.url, upstreamIdleTimeoutMs: 1000, reconnectMaxDelayMs: 500 },
    { reconnectBaseMs: 50 },
  );
  good = await FakePds.start({ plc });
  await crawlAndConnect(relay, good.hostname);
  consumer = await TestConsumer.connect(relay.wsUrl);
  goodAccount = await good.createAccount();
  writer = (async () => {
    for (let i = 0; writing; i++) {
      await good.createRecord(goodAccount, `steady ${i}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
});

afterAll(async () => {
  writing = false;
  await writer;
  consumer?.close();
  await relay?.stop();
  await good?.close();
  await plc?.close();
});

describe('chaos: hostile upstreams', () => {
  it('rejects, counts and survives every kind of bad frame while another host flows on', async () => {
    const evil = await FakePds.start({ plc });
    await crawlAndConnect(relay, evil.hostname);
    const mallory = await evil.createAccount();
    await evil.createRecord(mallory, 'first');
    const connectFailures = () => metricValue(relay.metricsUrl, 'relay_upstream_connect_failures_total');

    // Frames that break framing: each drops the connection; the relay reconnects from its cursor.
    const dropping: Array<[string, () => void]> = [
      ['bad_cbor', () => evil.emitRaw(Uint8Array.from([0x1c, ...randomBytes(64)]))], // reserved CBOR additional info
      ['bad_cbor', () => evil.emitRaw(encodeMessageFrame('#commit', { seq: 1 }).subarray(0, 9))], // truncated
      ['bad_cbor', () => evil.emitRaw(Uint8Array.from([0xa2, 0x62, 0x6f, 0x70, 0x01, 0x61, 0x74, 0x5b, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff]))], // 1 TB byte string declared
      ['bad_cbor', () => evil.emitRaw(new Uint8Array([...encode({ op: 1, t: '#x' }), ...new Uint8Array(200_000).fill(0x81)]))], // 200k-deep arrays
      ['bad_header', () => evil.emitRaw(Uint8Array.from([0x01, 0xa0]))], // header is not a map
      ['text_frame', () => evil.emitText('{"op":1,"t":"#commit"}')],
      ['frame_too_large', () => evil.emitRaw(new Uint8Array(5_000_001))],
      // A WebSocket frame header declaring a 2^62-byte payload: refused from the header, nothing is allocated.
      ['frame_too_large', () => evil.writeToSockets(Uint8Array.from([0x82, 0x7f, 0x40, 0, 0, 0, 0, 0, 0, 0]))],
      ['bad_websocket_frame', () => evil.writeToSockets(Uint8Array.from([0x83, 0x00]))], // reserved opcode
    ];
    for (const [reason, send] of dropping) {
      const before = await rejected(reason);
      const failures = await connectFailures();
      send();
      await counted(reason, before);
      await eventually(async () => (await connectFailures()) > failures, 10_000, `connection drop after ${reason}`);
      await eventually(async () => (await hostView(evil.hostname))?.connected === true, 20_000, `reconnect after ${reason}`);
    }
    const heap = process.memoryUsage();

    // Events that are well framed but wrong: each is dropped alone, the connection stays.
    const other = await good.createAccount();
    const foreign = await good.createRecord(other, 'belongs to the good host');
    const old = await evil.createRecord(mallory, 'will be replayed');
    const tamperCar = (edit: (blocks: Array<{ cid: Uint8Array; bytes: Uint8Array }>) => void) => (body: Record<string, unknown>) => {
      const car = readCar((body.blocks as BytesWrapper).buf);
      const blocks = [...car.blocks.entries()].map(({ cid, bytes }) => ({ cid, bytes: Uint8Array.from(bytes) }));
      edit(blocks);
      body.blocks = new BytesWrapper(writeCar(car.roots, blocks));
    };
    const single: Array<[string, () => Promise<unknown> | unknown]> = [
      ['bad_field', () => evil.createRecord(mallory, 'rev is a number', { tamper: (b) => (b.rev = 42) })],
      ['bad_field', () => evil.createRecord(mallory, 'blocks is text', { tamper: (b) => (b.blocks = 'not bytes') })],
      ['bad_car', () => evil.createRecord(mallory, 'bad cid', { tamper: tamperCar((bl) => (bl.at(-1)!.bytes[3]! ^= 0xff)) })],
      ['missing_record_block', () => evil.createRecord(mallory, 'no record', { tamper: tamperCar((bl) => bl.pop()) })],
      ['wrong_host', () => evil.emitEvent('#commit', { ...foreign.body, seq: undefined })],
      ['stale_rev', () => evil.emitEvent('#commit', { ...old.body, seq: undefined })],
    ];
    for (const [reason, send] of single) {
      const before = await rejected(reason);
      const failures = await connectFailures();
      await send();
      await evil.createRecord(mallory, `after ${reason}`);
      await counted(reason, before);
      expect(await connectFailures(), `${reason} must not drop the connection`).toBe(failures);
    }
    // The evil host's own valid commits all made it, once each, around the garbage: 'first', the one replayed
    // later, and the one after each bad event.
    const malloryCommits = () => consumer.events.filter((e) => e.t === '#commit' && e.body.repo === mallory.did);
    await eventually(() => malloryCommits().length >= 2 + single.length, 20_000, 'the evil host’s valid commits');
    const keys = malloryCommits().map((e) => bodyKey(e.body));
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys).toHaveLength(2 + single.length);
    console.log(`[chaos] heap after oversize frames: ${Math.round(heap.heapUsed / 1e6)} MB used, rss ${Math.round(heap.rss / 1e6)} MB`);
    // Bounded: a 5 MB frame, a 2^62-byte header and a 1 TB declared string cost no more than a few frames' worth.
    expect(heap.heapUsed).toBeLessThan(1_000_000_000);
    await evil.close();
  });

  it('drops a host that goes silent (no frames, no pongs) and resumes when it answers again', async () => {
    const quiet = await FakePds.start({ plc });
    await crawlAndConnect(relay, quiet.hostname);
    const a = await quiet.createAccount();
    const before = await rejected('upstream_idle');
    quiet.goSilent();
    await counted('upstream_idle', before);
    // Hung again on the redial; then the host recovers and what it wrote meanwhile arrives.
    await quiet.createRecord(a, 'written while hung');
    await counted('upstream_idle', before, 2);
    quiet.wake();
    await quiet.createRecord(a, 'after waking');
    await consumer.waitFor((c) => c.events.filter((e) => e.body.repo === a.did && e.t === '#commit').length === 2, 20_000, 'commits after the host woke');
    await quiet.close();
  });

  it('restarts a wiped host (seq back to 1) from its first event', async () => {
    const wiped = await FakePds.start({ plc });
    await crawlAndConnect(relay, wiped.hostname);
    const a = await wiped.createAccount();
    for (let i = 0; i < 5; i++) await wiped.createRecord(a, `before wipe ${i}`);
    await consumer.waitFor((c) => c.events.filter((e) => e.body.repo === a.did).length === 5, 20_000, 'commits before the wipe');
    const before = await rejected('host_seq_reset');
    wiped.wipe();
    const after: string[] = [];
    for (let i = 0; i < 3; i++) after.push(bodyKey((await wiped.createRecord(a, `after wipe ${i}`)).body));
    expect(wiped.seq).toBe(3);
    await counted('host_seq_reset', before);
    await consumer.waitFor((c) => c.events.filter((e) => e.body.repo === a.did).length === 8, 20_000, 'commits after the wipe');
    expect(consumer.events.filter((e) => e.body.repo === a.did).slice(5).map((e) => bodyKey(e.body))).toEqual(after);
    expect((await hostView(wiped.hostname))?.status).toBe('active');
    await wiped.close();
  });

  it('throttles a host that floods past its quota', { timeout: 120_000 }, async () => {
    const flood = await FakePds.start({ plc });
    await crawlAndConnect(relay, flood.hostname);
    expect((await adminPost(relay.url, `/admin/hosts/${flood.hostname}/limits`, { perHour: 40 })).status).toBe(200);
    // The crawler picks the new limit up on its next scan: wait until the host's quota reserves by the new limit.
    const res = await fetch(`${relay.url}/admin/hosts`, { headers: { authorization: `Bearer ${TEST_ADMIN_PASSWORD}` } });
    const id = ((await res.json()) as { hosts: Array<{ id: number; hostname: string }> }).hosts.find((h) => h.hostname === flood.hostname)!.id;
    await eventually(() => relay.relay.ctx.crawler.crawlOf(id)?.quota.chunk === 2, 10_000, 'the new limit to apply');
    const throttles = await metricValue(relay.metricsUrl, 'relay_host_throttles_total');
    const a = await flood.createAccount();
    for (let i = 0; i < 200; i++) await flood.createRecord(a, `flood ${i}`);
    await eventually(async () => (await hostView(flood.hostname))?.status === 'throttled', 60_000, 'throttled status');
    counts.throttled = (await metricValue(relay.metricsUrl, 'relay_host_throttles_total')) - throttles;
    expect(counts.throttled).toBeGreaterThanOrEqual(1);
    const relayed = consumer.events.filter((e) => e.body.repo === a.did || e.body.did === a.did).length;
    expect(relayed).toBeLessThanOrEqual(40);
    await flood.close();
  });

  it('relayed every event of the good host, once and in order, throughout', async () => {
    writing = false;
    await writer;
    const sent = good.events.filter((e) => e.body.repo === goodAccount.did || e.body.did === goodAccount.did).map((e) => bodyKey(e.body));
    await consumer.waitFor((c) => c.events.filter((e) => e.body.repo === goodAccount.did || e.body.did === goodAccount.did).length >= sent.length, 20_000, 'good host events');
    const got = consumer.events.filter((e) => e.body.repo === goodAccount.did || e.body.did === goodAccount.did).map((e) => bodyKey(e.body));
    const lost = sent.filter((k) => !got.includes(k)).length;
    const duplicated = got.length - new Set(got).size;
    const rejectedText = Object.entries(counts).map(([k, v]) => `${k}=${v}`).join(' ');
    console.log(`[chaos] upstream: good host sent=${sent.length} relayed=${got.length} lost=${lost} duplicated=${duplicated}; hostile rejected{${rejectedText}}`);
    expect(got).toEqual(sent);
  });
});
