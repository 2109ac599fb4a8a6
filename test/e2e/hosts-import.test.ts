// `relay hosts import --from <relay>` against a relay stand-in (a loopback server serving listHosts pages) listing
// 2,000 hosts: a few real PDS stand-ins that pass admission, hosts listed as banned there, names that resolve to no
// address and ports where nothing listens (refused by the relay's own admission check). The CLI pages, paces its
// admissions, and after a SIGKILL resumes at the page it had not finished.
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../helpers/db.ts';
import { startTestRelay, TEST_ADMIN_PASSWORD, type TestRelay } from '../helpers/relay.ts';
import { freePort, runRelayCli, spawnRelay } from '../../dev-env/process.ts';
import { relayAdmin } from '../../dev-env/relay-client.ts';
import { adminApi } from '../../src/services/contract.ts';

const TOTAL = 2000;
const RATE = 300;

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
}

let relay: TestRelay;
let pdsServers: Server[] = [];
let standIn: Server;
let standInUrl: string;
const listed: Array<{ hostname: string; status: string }> = [];
/** The cursor (null: none) of every listHosts request the stand-in answered, in order. */
const requests: Array<string | null> = [];
const admissible: string[] = [];
const closedPorts: string[] = [];

beforeAll(async () => {
  relay = await startTestRelay({ databaseUrl: await createTestDatabase() }, { lookup: async () => [] });
  // PDS stand-ins: describeServer answers, listHosts does not (not a relay).
  pdsServers = Array.from({ length: 20 }, () =>
    createServer((req, res) => {
      if (req.url?.startsWith('/xrpc/com.atproto.server.describeServer')) {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ did: 'did:web:pds.test', availableUserDomains: [] }));
      } else res.writeHead(404).end();
    }),
  );
  for (const s of pdsServers) admissible.push(`localhost:${await listen(s)}`);
  for (let i = 0; i < 3; i++) closedPorts.push(`localhost:${await freePort()}`);
  for (let i = 0; i < TOTAL; i++) {
    if (i % 100 === 7) listed.push({ hostname: admissible[(i - 7) / 100]!, status: 'active' });
    else if (i % 50 === 3) listed.push({ hostname: `banned${i}.import.test`, status: i % 100 === 3 ? 'banned' : 'takendown' });
    else if (i % 700 === 11) listed.push({ hostname: closedPorts[(i - 11) / 700]!, status: 'offline' });
    else listed.push({ hostname: `pds${i}.import.test`, status: 'active' });
  }
  standIn = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== '/xrpc/com.atproto.sync.listHosts') return void res.writeHead(404).end();
    const cursor = url.searchParams.get('cursor');
    requests.push(cursor);
    const limit = Math.min(1000, Number(url.searchParams.get('limit') ?? 200));
    const from = cursor === null ? 0 : Number(cursor);
    const hosts = listed.slice(from, from + limit).map((h, i) => ({ ...h, seq: from + i, accountCount: 1 }));
    const next = from + limit < listed.length ? { cursor: String(from + limit) } : {};
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ...next, hosts }));
  });
  standInUrl = `http://127.0.0.1:${await listen(standIn)}`;
}, 60_000);

afterAll(async () => {
  await relay?.stop();
  for (const s of [...pdsServers, standIn]) s?.close();
});

describe('relay hosts import', () => {
  it('pages through 2,000 hosts, paced, admits only admissible ones, and resumes after SIGKILL', async () => {
    const admin = relayAdmin(relay.url, TEST_ADMIN_PASSWORD);
    const args = ['hosts', 'import', '--from', standInUrl, '--rate', String(RATE), '--url', relay.url, '--password', TEST_ADMIN_PASSWORD];

    // First run: killed once it has saved a page and is into the next.
    const first = spawnRelay(args, {});
    let saved: string | null = null;
    const deadline = Date.now() + 60_000;
    for (;;) {
      saved = (await admin(adminApi.getHostImport, { params: { source: standInUrl } })).cursor;
      if (saved !== null && requests.length >= 2) break;
      if (Date.now() > deadline) throw new Error(`the import saved no page:\n${first.output()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    first.child.kill('SIGKILL');
    await first.exited;
    expect(requests.slice(0, 2)).toEqual([null, '500']);
    // Saved after the page it finished; the page it was in is read again.
    const resumeAt = (await admin(adminApi.getHostImport, { params: { source: standInUrl } })).cursor;
    expect(resumeAt).toBe(saved);
    const before = requests.length;

    const started = Date.now();
    const second = await runRelayCli(args, {});
    const elapsed = (Date.now() - started) / 1000;
    expect(second.code, second.output).toBe(0);
    expect(second.output).toContain(`relay: resuming the import from ${standInUrl}`);
    const resumed = requests.slice(before);
    expect(resumed[0]).toBe(resumeAt);
    expect(resumed).toEqual(['500', '1000', '1500'].slice(['500', '1000', '1500'].indexOf(resumeAt!)));

    // Only hosts that passed admission are known to the relay; banned and taken-down ones were never tried.
    const { hosts } = await admin(adminApi.listHosts, {});
    expect(hosts.map((h) => h.hostname).sort()).toEqual([...admissible].sort());
    const state = await admin(adminApi.getHostImport, { params: { source: standInUrl } });
    expect(state).toMatchObject({ finished: true, cursor: null });

    // Refusals are listed, not fatal: names with no address, and ports where nothing listens.
    const refused = second.output.split('\n').filter((l) => l.startsWith('  '));
    const fromResume = listed.slice(Number(resumeAt));
    const expectRefused = fromResume.filter((h) => h.hostname.startsWith('pds') || closedPorts.includes(h.hostname));
    expect(refused).toHaveLength(expectRefused.length);
    const unresolved = expectRefused.find((h) => h.hostname.startsWith('pds'))!.hostname;
    expect(refused).toContain(`  ${unresolved}: HostNotFound: ${unresolved} does not resolve`);
    for (const port of closedPorts.filter((p) => fromResume.some((h) => h.hostname === p))) {
      expect(refused.find((l) => l.startsWith(`  ${port}:`))).toMatch(/HostNotFound: could not reach/);
    }
    expect(refused.some((l) => l.includes('banned'))).toBe(false);

    // Paced: every host tried in the second run waited its turn at RATE a second (less the first one's burst).
    const tried = expectRefused.length + fromResume.filter((h) => admissible.includes(h.hostname)).length;
    expect(elapsed).toBeGreaterThanOrEqual((tried - 1) / RATE);
  }, 120_000);
});
