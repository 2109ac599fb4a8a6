// A host that was admitted but never connected is not `active` anywhere, and why it fails reaches every surface:
// a relay process (`relay serve`) crawls a fake PDS that answers describeServer but refuses the WebSocket upgrade
// (502), as a PDS behind a reverse proxy that does not pass WebSockets on does. The CLI, the admin API, the public
// status, getHostStatus (in the lexicon's words), /metrics and the info log all say so, with the cause.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lexicons } from '@atproto/api';
import { FakePlc } from '../../dev-env/fake-plc.ts';
import { FakePds } from '../../dev-env/fake-pds.ts';
import { freePort, relayTestEnv, runRelayCli, spawnRelay, waitForHealth, type RelayProcess } from '../../dev-env/process.ts';
import { relayAdmin } from '../../dev-env/relay-client.ts';
import { adminApi, type AdminHost } from '../../src/services/contract.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { metricValue, TEST_ADMIN_PASSWORD } from '../helpers/relay.ts';
import { eventually } from '../helpers/consumer.ts';

let plc: FakePlc;
let halfUp: FakePds;
let host: string;
let relay: RelayProcess;
let url: string;
let metricsUrl: string;
let env: Record<string, string>;

beforeAll(async () => {
  plc = await FakePlc.start();
  halfUp = await FakePds.start({ plc });
  halfUp.refuseUpgrades(502);
  host = halfUp.hostname;
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  const metricsPort = await freePort();
  metricsUrl = `http://127.0.0.1:${metricsPort}`;
  env = {
    ...relayTestEnv({ port, metricsPort, databaseUrl: await createTestDatabase(), plcUrl: plc.url }, { RELAY_LOG_LEVEL: 'info', RELAY_RECONNECT_MAX_DELAY: '1s' }),
    RELAY_ADMIN_PASSWORD: TEST_ADMIN_PASSWORD,
  };
  relay = spawnRelay(['serve'], env);
  await waitForHealth(url, 30_000, relay);
});

afterAll(async () => {
  relay?.child.kill('SIGTERM');
  await relay?.exited;
  await halfUp?.close();
  await plc?.close();
});

const cli = (args: string[]) => runRelayCli(args, env);
const admin = () => relayAdmin(url, TEST_ADMIN_PASSWORD);
const view = async (): Promise<AdminHost | undefined> => (await admin()(adminApi.listHosts, {})).hosts.find((h) => h.hostname === host);

describe('a host that never connected', () => {
  it('is admitted as connecting, not active', async () => {
    const added = await cli(['hosts', 'add', host]);
    expect(added.code, added.output).toBe(0);
    expect(added.output).toContain(`${host}: connecting`);
    expect(added.output).not.toContain(': active');
  });

  it('keeps its last connection error, with the HTTP cause, on every surface', async () => {
    await eventually(async () => (await view())?.lastError != null, 20_000, 'a failed dial recorded');
    const h = (await view())!;
    expect(h).toMatchObject({ status: 'connecting', connected: false, lastConnectedAt: null });
    expect(h.lastError).toMatch(/^HTTP: Unexpected server response: 502/);
    expect(Date.parse(h.lastErrorAt!)).toBeGreaterThan(Date.now() - 60_000);

    const listed = await cli(['hosts', 'list']);
    const row = listed.output.split('\n').find((l) => l.startsWith(host))!;
    expect(row).toContain('connecting');
    expect(row).toContain('HTTP: Unexpected server response: 502');

    // The public status page's data: ours, with the cause for the PDS admin to fix.
    const pub = (await (await fetch(`${url}/api/host-status?hostname=${host}`)).json()) as Record<string, unknown>;
    expect(pub).toMatchObject({ status: 'connecting', lastConnectedAt: null, lastError: expect.stringContaining('502') });

    // The sync API knows no `connecting`: not subscribed is offline there.
    const sync = (await (await fetch(`${url}/xrpc/com.atproto.sync.getHostStatus?hostname=${host}`)).json()) as Record<string, unknown>;
    lexicons.assertValidXrpcOutput('com.atproto.sync.getHostStatus', sync);
    expect(sync.status).toBe('offline');
    const list = (await (await fetch(`${url}/xrpc/com.atproto.sync.listHosts`)).json()) as { hosts: Array<{ status: string }> };
    expect(list.hosts.map((x) => x.status)).toEqual(['offline']);

    expect(await metricValue(metricsUrl, 'relay_hosts{status="connecting"}')).toBe(1);
    expect(await metricValue(metricsUrl, 'relay_hosts{status="active"}')).toBe(0);

    // The info log names the cause, not only the close code.
    const line = relay.output().split('\n').find((l) => l.includes('could not connect to upstream'));
    expect(line, relay.output().slice(-2000)).toBeDefined();
    const logged = JSON.parse(line!) as { level: number; host: string; error: string };
    expect(logged).toMatchObject({ level: 30, host, error: expect.stringContaining('502') });
  });

  it('a typo is refused at `hosts add`, never shown as active', async () => {
    // .invalid never resolves (RFC 6761).
    const typo = await cli(['hosts', 'add', 'pds.typo.invalid']);
    expect(typo.code).toBe(1);
    expect(typo.output).toContain('HostNotFound');
    expect(typo.output).toContain('pds.typo.invalid does not resolve');
    expect((await admin()(adminApi.listHosts, {})).hosts.map((h) => h.hostname)).toEqual([host]);
  });

  it('is active once it connects, its last error kept as history', async () => {
    halfUp.refuseUpgrades(null);
    await eventually(async () => (await view())?.status === 'active', 20_000, 'subscribed');
    const h = (await view())!;
    expect(h.connected).toBe(true);
    expect(h.lastConnectedAt).not.toBeNull();
    expect(h.lastError).toContain('502');
    const sync = (await (await fetch(`${url}/xrpc/com.atproto.sync.getHostStatus?hostname=${host}`)).json()) as Record<string, unknown>;
    expect(sync.status).toBe('active');
    expect(await metricValue(metricsUrl, 'relay_hosts{status="active"}')).toBe(1);
    expect(await metricValue(metricsUrl, 'relay_hosts{status="connecting"}')).toBe(0);
  });
});
