// Sync v1.1 strictness per host, through fake PDS hosts, real sockets and PostgreSQL: in auto a host that never
// sends prevData is relayed (leniently, counted) and never ratchets; one that has sent enough valid Sync 1.1 commits
// is held to every check for good; operators pin hosts strict or lenient; the mode survives a restart and is the
// same in every relay process; and a consumer validating with @atproto/sync accepts the whole stream.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CidLinkWrapper } from '@atcute/cbor';
import { FakePlc } from '../../dev-env/fake-plc.ts';
import { FakePds, type FakeAccount } from '../../dev-env/fake-pds.ts';
import { relayAdmin } from '../../dev-env/relay-client.ts';
import { runRelayCli } from '../../dev-env/process.ts';
import { adminApi, type AdminHost } from '../../src/services/contract.ts';
import { cidForBlock } from '../../src/protocol/cid.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { crawlAndConnect, metricValue, startTestRelay, TEST_ADMIN_PASSWORD, type TestRelay } from '../helpers/relay.ts';
import { TestConsumer, eventually } from '../helpers/consumer.ts';
import { verifyingFirehose } from '../helpers/atproto-sync.ts';

const RATCHET = 3;
let plc: FakePlc;
let legacy: FakePds;
let modern: FakePds;
let pinned: FakePds;
let databaseUrl: string;
let relay: TestRelay;
let consumer: TestConsumer;
const relays: TestRelay[] = [];

const start = async () => {
  const r = await startTestRelay({ databaseUrl, plcUrl: plc.url, syncRatchetCommits: RATCHET });
  relays.push(r);
  return r;
};
const noPrevData = { tamper: (b: Record<string, unknown>) => void delete b.prevData };
const badInversion = { tamper: (b: Record<string, unknown>) => void (b.prevData = new CidLinkWrapper(cidForBlock(new Uint8Array([9, 9, 9])))) };
const commitsOf = (did: string) => consumer.events.filter((e) => e.t === '#commit' && e.body.repo === did);

async function hostView(r: TestRelay, pds: FakePds): Promise<AdminHost> {
  const { hosts } = await relayAdmin(r.url, TEST_ADMIN_PASSWORD)(adminApi.listHosts, {});
  return hosts.find((h) => h.hostname === pds.hostname)!;
}

beforeAll(async () => {
  plc = await FakePlc.start();
  [legacy, modern, pinned] = await Promise.all([FakePds.start({ plc }), FakePds.start({ plc }), FakePds.start({ plc })]);
  databaseUrl = await createTestDatabase();
  relay = await start();
  for (const h of [legacy, modern, pinned]) await crawlAndConnect(relay, h.hostname);
  consumer = await TestConsumer.connect(relay.wsUrl);
});

afterAll(async () => {
  consumer?.close();
  for (const r of relays) await r.stop();
  for (const h of [legacy, modern, pinned]) await h?.close();
  await plc?.close();
});

describe('Sync v1.1 strictness per host', () => {
  let oldTimer: FakeAccount;
  let upgraded: FakeAccount;

  it('relays a host that never sends prevData, counting each lenient pass, and never ratchets it', async () => {
    oldTimer = await legacy.createAccount();
    for (let i = 0; i < RATCHET + 2; i++) await legacy.createRecord(oldTimer, `no prevData ${i}`, noPrevData);
    await consumer.waitFor(() => commitsOf(oldTimer.did).length === RATCHET + 2, 10_000, 'every commit of the old PDS');
    const view = await hostView(relay, legacy);
    expect(view.sync).toMatchObject({ setting: 'auto', mode: 'lenient', provenCommits: 0, strictSince: null, lenientPasses: { missing_prev_data: RATCHET + 2 } });
    expect(await metricValue(relay.metricsUrl, 'relay_verify_warnings_total{check="missing_prev_data"}')).toBe(RATCHET + 2);
    // A PDS admin reads why, in a sentence.
    const status = (await (await fetch(`${relay.url}/api/host-status?hostname=${legacy.hostname}`)).json()) as { sync: { explanation: string } };
    expect(status.sync.explanation).toMatch(/relays this host's commits leniently.*missing_prev_data.*prevData/);
  });

  it('holds a host to every check for good once it has sent enough valid Sync 1.1 commits', async () => {
    upgraded = await modern.createAccount();
    for (let i = 0; i < RATCHET; i++) await modern.createRecord(upgraded, `valid ${i}`);
    await eventually(async () => (await hostView(relay, modern)).sync.mode === 'strict', 10_000, 'the ratchet');
    expect((await hostView(relay, modern)).sync).toMatchObject({ setting: 'auto', provenCommits: RATCHET, strictSince: expect.any(String) });
    await consumer.waitFor(() => commitsOf(upgraded.did).length === RATCHET, 10_000, 'the valid commits');
    const before = commitsOf(upgraded.did).length;
    const missing = await modern.createRecord(upgraded, 'no prevData after the ratchet', noPrevData);
    const broken = await modern.createRecord(upgraded, 'bad inversion after the ratchet', badInversion);
    await modern.createRecord(upgraded, 'valid again');
    await consumer.waitFor(() => commitsOf(upgraded.did).length === before + 1, 10_000, 'the valid commit after them');
    const relayedRevs = commitsOf(upgraded.did).map((e) => e.body.rev);
    expect(relayedRevs).not.toContain(missing.body.rev);
    expect(relayedRevs).not.toContain(broken.body.rev);
    const reasons = (await hostView(relay, modern)).recentRejections.map((r) => r.reason);
    expect(reasons).toEqual(expect.arrayContaining(['missing_prev_data', 'inversion_mismatch']));
  });

  it('lets operators pin a host strict (refused from the first commit) or lenient (never ratchets)', async () => {
    const cli = (args: string[]) => runRelayCli(args, { RELAY_ADMIN_PASSWORD: TEST_ADMIN_PASSWORD, RELAY_PORT: String(relay.port) });
    expect((await cli(['hosts', 'mode', pinned.hostname, 'strict'])).output).toContain(`${pinned.hostname}: strict (pinned)`);
    await eventually(async () => (await hostView(relay, pinned)).sync.setting === 'strict', 10_000, 'the pin where the host is crawled');
    const account = await pinned.createAccount();
    const refused = await pinned.createRecord(account, 'no prevData while pinned strict', noPrevData);
    await pinned.createRecord(account, 'valid while pinned strict');
    await consumer.waitFor(() => commitsOf(account.did).length === 1, 10_000, 'the valid commit');
    expect(commitsOf(account.did).map((e) => e.body.rev)).not.toContain(refused.body.rev);

    expect((await cli(['hosts', 'mode', pinned.hostname, 'lenient'])).output).toContain(`${pinned.hostname}: lenient (pinned)`);
    await eventually(async () => (await hostView(relay, pinned)).sync.setting === 'lenient', 10_000, 'the new pin');
    for (let i = 0; i < RATCHET + 1; i++) await pinned.createRecord(account, `valid while pinned lenient ${i}`);
    await pinned.createRecord(account, 'no prevData while pinned lenient', noPrevData);
    await consumer.waitFor(() => commitsOf(account.did).length === RATCHET + 3, 10_000, 'every commit, leniently');
    expect((await hostView(relay, pinned)).sync).toMatchObject({ setting: 'lenient', mode: 'lenient', strictSince: null });
    const listed = await cli(['hosts', 'list']);
    expect(listed.output).toMatch(new RegExp(`${pinned.hostname.replace('.', '\\.')}\\s+active\\s+\\S+\\s+lenient \\(pinned\\)`));
  });

  it('keeps the mode across a restart, the same in every relay process', async () => {
    const second = await start();
    // Another process sees what the first one ratcheted and what the operator pinned.
    expect((await hostView(second, modern)).sync).toMatchObject({ mode: 'strict', strictSince: (await hostView(relay, modern)).sync.strictSince });
    expect((await hostView(second, pinned)).sync).toMatchObject({ setting: 'lenient', mode: 'lenient' });
    expect((await hostView(second, legacy)).sync).toMatchObject({ mode: 'lenient' });
    // The first process stops; the second crawls the hosts from their cursors and holds the ratcheted host strict.
    consumer.close();
    await relay.stop();
    consumer = await TestConsumer.connect(second.wsUrl);
    await eventually(() => second.relay.ctx.crawler.hostIds.length === 3, 15_000, 'the second process crawls every host');
    const refused = await modern.createRecord(upgraded, 'no prevData, after the restart', noPrevData);
    await modern.createRecord(upgraded, 'valid, after the restart');
    await legacy.createRecord(oldTimer, 'still no prevData, after the restart', noPrevData);
    await consumer.waitFor(() => commitsOf(upgraded.did).length === 1 && commitsOf(oldTimer.did).length === 1, 15_000, 'commits after the restart');
    expect(commitsOf(upgraded.did).map((e) => e.body.rev)).not.toContain(refused.body.rev);
    relay = second;
  });

  it('makes a stream a validating @atproto/sync consumer accepts whole', async () => {
    const { firehose, events, errors } = verifyingFirehose(relay.wsUrl, plc.url);
    try {
      // Every relayed commit of every host, the lenient ones included, comes through as its record operation.
      const log = await TestConsumer.connect(relay.wsUrl, 0);
      const head = (await (await fetch(`${relay.url}/_health`)).json()) as { seq: number };
      await log.waitFor((c) => c.lastSeq === head.seq, 10_000, 'the whole log');
      log.close();
      const relayedCommits = log.events.filter((e) => e.t === '#commit').length;
      expect(relayedCommits).toBeGreaterThanOrEqual(2 * RATCHET + 6);
      const creates = () => new Set(events.filter((e) => e.event === 'create').map((e) => e.seq)).size;
      await eventually(() => creates() === relayedCommits, 30_000, 'the consumer to accept every commit');
      expect(errors).toEqual([]);
    } finally {
      await firehose.destroy();
    }
  });
});
