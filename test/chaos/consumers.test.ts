// Hostile consumers against the real relay process: a thousand connections from twenty addresses (and more
// refused by the per-address cap), sockets that never read, bad cursors, and a connect/disconnect storm. The
// relay's memory stays bounded, the per-address cap holds and is released, and ingest is unaffected: a well-behaved
// consumer receives every upstream event once and in order.
import { connect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakePlc } from '../../dev-env/fake-plc.ts';
import { FakePds, type FakeAccount } from '../../dev-env/fake-pds.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { TestConsumer, eventually } from '../helpers/consumer.ts';
import { bodyKey } from '../../dev-env/compare.ts';
import { freePort, relayTestEnv, spawnRelay, waitForHealth, type RelayProcess } from '../../dev-env/process.ts';
import { metricValue, requestCrawl } from '../helpers/relay.ts';

const PER_IP = 50;
let plc: FakePlc;
let pds: FakePds;
let proc: RelayProcess;
let port: number;
let base: string;
let metricsUrl: string;
let good: TestConsumer;
let account: FakeAccount;
let writing = true;
let writer: Promise<void>;
const sockets: Socket[] = [];

/** The relay process's resident memory (bytes), from /proc. */
function relayRss(): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${proc.child.pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

/**
 * Opens a raw subscribeRepos upgrade from `localAddress` and resolves with the HTTP status the relay answered.
 * `mode`: 'discard' reads and drops everything, 'never' stops reading right after the status line.
 */
function rawSubscribe(query: string, localAddress: string, mode: 'discard' | 'never' | 'close'): Promise<{ status: number; socket: Socket }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress });
    sockets.push(socket);
    socket.once('error', reject);
    socket.on('connect', () => {
      socket.write(
        `GET /xrpc/com.atproto.sync.subscribeRepos${query} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    let head = '';
    const onData = (d: Buffer) => {
      head += d.toString('latin1');
      const line = /^HTTP\/1\.1 (\d{3})/.exec(head);
      if (!line) return;
      socket.off('data', onData);
      socket.on('error', () => {});
      if (mode === 'never') socket.pause();
      else if (mode === 'close') socket.destroy();
      else socket.on('data', () => {});
      resolve({ status: Number(line[1]), socket });
    };
    socket.on('data', onData);
  });
}

async function inBatches<T>(n: number, size: number, f: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i += size) out.push(...(await Promise.all(Array.from({ length: Math.min(size, n - i) }, (_, j) => f(i + j)))));
  return out;
}

beforeAll(async () => {
  plc = await FakePlc.start();
  pds = await FakePds.start({ plc });
  port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const metricsPort = await freePort();
  metricsUrl = `http://127.0.0.1:${metricsPort}`;
  proc = spawnRelay(
    ['serve'],
    relayTestEnv(
      { port, metricsPort, databaseUrl: await createTestDatabase(), plcUrl: plc.url },
      { RELAY_MAX_CONSUMERS_PER_IP: String(PER_IP), RELAY_CONSUMER_MAX_BUFFER_BYTES: String(1 << 20) },
    ),
  );
  await waitForHealth(base, 170_000, proc);
  expect((await requestCrawl(base, pds.hostname)).status).toBe(200);
  await eventually(async () => (await metricValue(metricsUrl, 'relay_upstream_connections')) === 1, 20_000, 'upstream connection');
  good = await TestConsumer.connect(`ws://127.0.0.1:${port}`);
  account = await pds.createAccount();
  writer = (async () => {
    for (let i = 0; writing; i++) {
      await pds.createRecord(account, `while consumers misbehave ${i}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  await good.waitFor((c) => c.events.length >= 20, 60_000, 'first events');
}, 240_000);

afterAll(async () => {
  writing = false;
  await writer;
  for (const s of sockets) s.destroy();
  good?.close();
  proc?.child.kill('SIGKILL');
  await proc?.exited;
  await pds?.close();
  await plc?.close();
});

describe('chaos: hostile consumers', () => {
  it('survives thousands of connections, never-readers, bad cursors and a connect storm', { timeout: 240_000 }, async () => {
    const rssBefore = relayRss();
    const tally: Record<string, number> = {};
    const count = (what: string, n = 1) => (tally[what] = (tally[what] ?? 0) + n);

    // 20 client addresses x 60 attempts: 50 each get in, the rest are refused with 429.
    const mass = await inBatches(20 * 60, 100, (i) => rawSubscribe('', `127.0.0.${10 + (i % 20)}`, 'discard'));
    const accepted = mass.filter((r) => r.status === 101).length;
    count('mass_accepted', accepted);
    count('mass_refused_429', mass.filter((r) => r.status === 429).length);
    expect(accepted).toBe(20 * PER_IP);
    expect(tally.mass_refused_429).toBe(20 * 60 - 20 * PER_IP);

    // Never-reading sockets, live and replaying from the start of the log.
    const never = await inBatches(100, 50, (i) => rawSubscribe(i % 2 === 0 ? '' : '?cursor=0', `127.0.0.${40 + (i % 4)}`, 'never'));
    count('never_reading', never.filter((r) => r.status === 101).length);
    expect(tally.never_reading).toBe(100);

    // Bad cursors: refused before the upgrade with an XRPC error (FutureCursor is an error frame after it).
    for (const q of ['?cursor=abc', '?cursor=-1', '?cursor=1e5', '?cursor=99999999999999999999', '?cursor=0x10', '?cursor=']) {
      const { status } = await rawSubscribe(q, '127.0.0.50', 'close');
      expect(status, q).toBe(400);
      count('bad_cursor_400');
    }
    const future = await TestConsumer.connect(`ws://127.0.0.1:${port}`, 10_000_000);
    await future.waitFor((c) => c.closed, 10_000, 'FutureCursor close');
    expect(future.frames[0]?.frame).toMatchObject({ op: -1, error: 'FutureCursor' });
    count('future_cursor');

    // Connect/disconnect storm from one address: 1,000 upgrades dropped at once. The per-address count must come
    // back down, or the address would be locked out.
    const storm = await inBatches(1000, 50, () => rawSubscribe('', '127.0.0.60', 'close'));
    count('storm_connections', storm.length);
    expect(storm.every((r) => r.status === 101 || r.status === 429)).toBe(true);
    await eventually(async () => {
      const probe = await inBatches(PER_IP, PER_IP, () => rawSubscribe('', '127.0.0.60', 'close'));
      return probe.every((r) => r.status === 101);
    }, 20_000, 'the storming address to get its connections back');

    const rssDuring = relayRss();
    const consumersGauge = await metricValue(metricsUrl, 'relay_consumers');
    // Ingest is unaffected: the upstream connection never dropped, and the good consumer sees every event once.
    writing = false;
    await writer;
    const sent = pds.events.map((e) => bodyKey(e.body));
    await good.waitFor((c) => c.events.length >= sent.length, 60_000, 'every event at the good consumer');
    const got = good.events.map((e) => bodyKey(e.body));
    const lost = sent.filter((k) => !got.includes(k)).length;
    const duplicated = got.length - new Set(got).size;
    const slow = await metricValue(metricsUrl, 'relay_consumers_dropped_total{reason="too_slow"}');
    const perIpRefused = await metricValue(metricsUrl, 'relay_consumers_dropped_total{reason="per_ip_limit"}');
    console.log(
      `[chaos] consumers: sent=${sent.length} relayed=${got.length} lost=${lost} duplicated=${duplicated} ` +
        `${Object.entries(tally).map(([k, v]) => `${k}=${v}`).join(' ')} refused_per_ip(metric)=${perIpRefused} dropped_too_slow=${slow} ` +
        `consumers_open=${consumersGauge} relay_rss_mb before=${Math.round(rssBefore / 1e6)} during=${Math.round(rssDuring / 1e6)}`,
    );
    expect(got).toEqual(sent);
    expect(await metricValue(metricsUrl, 'relay_upstream_connect_failures_total')).toBe(0);
    // ~1,150 open consumers, half of them stuck: bounded by the per-consumer buffer cap, far below one buffer each.
    expect(rssDuring - rssBefore).toBeLessThan(400 * 1024 * 1024);
  });
});
