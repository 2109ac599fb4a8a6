// The HTTP surface: XRPC errors, crawl admission under both policies, the admin API's auth, and the CLI against
// a running relay.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { FakePlc } from '../../dev-env/fake-plc.ts';
import { FakePds } from '../../dev-env/fake-pds.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { startTestRelay, requestCrawl, type TestRelay, TEST_ADMIN_PASSWORD } from '../helpers/relay.ts';
import { runRelayCli } from '../../dev-env/process.ts';
import { TestConsumer } from '../helpers/consumer.ts';

let plc: FakePlc;
let pds: FakePds;
let relay: TestRelay;

beforeAll(async () => {
  plc = await FakePlc.start();
  pds = await FakePds.start({ plc });
  relay = await startTestRelay({ databaseUrl: await createTestDatabase(), plcUrl: plc.url, crawlPolicy: 'allowlist' });
});

afterAll(async () => {
  await relay?.stop();
  await pds?.close();
  await plc?.close();
});

function upgradeStatus(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.on('open', () => reject(new Error('upgrade unexpectedly succeeded')));
    ws.on('error', () => {});
  });
}

const cli = (args: string[]) =>
  runRelayCli(args, { RELAY_ADMIN_PASSWORD: TEST_ADMIN_PASSWORD, RELAY_PORT: String(relay.port) });

describe('XRPC surface', () => {
  it('answers unknown methods and bad requests with XRPC JSON errors', async () => {
    const res = await fetch(`${relay.url}/xrpc/com.atproto.sync.noSuchMethod`);
    expect(res.status).toBe(501);
    expect(await res.json()).toMatchObject({ error: 'MethodNotImplemented' });

    const plain = await fetch(`${relay.url}/xrpc/com.atproto.sync.subscribeRepos`);
    expect(plain.status).toBe(426);
    expect(await plain.json()).toMatchObject({ error: 'UpgradeRequired' });

    for (const bad of ['-1', 'abc', '9007199254740993', '1.5']) {
      const r = await upgradeStatus(`${relay.wsUrl}/xrpc/com.atproto.sync.subscribeRepos?cursor=${bad}`);
      expect(r.status, bad).toBe(400);
      expect(JSON.parse(r.body)).toMatchObject({ error: 'InvalidRequest' });
    }
  });

  it('validates requestCrawl input', async () => {
    const res = await requestCrawl(relay.url, 'not a host');
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'InvalidRequest' });
    const empty = await fetch(`${relay.url}/xrpc/com.atproto.sync.requestCrawl`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(empty.status).toBe(400);
  });
});

describe('admin API', () => {
  it('refuses requests without the right password', async () => {
    for (const auth of [undefined, 'Bearer wrong', `Basic ${Buffer.from('admin:wrong').toString('base64')}`]) {
      const res = await fetch(`${relay.url}/admin/hosts`, { headers: auth ? { authorization: auth } : {} });
      expect(res.status, String(auth)).toBe(401);
      expect(await res.json()).toMatchObject({ error: 'AuthenticationRequired' });
    }
    const post = await fetch(`${relay.url}/admin/hosts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ hostname: pds.hostname }),
    });
    expect(post.status).toBe(401);
    const basic = await fetch(`${relay.url}/admin/hosts`, {
      headers: { authorization: `Basic ${Buffer.from(`admin:${TEST_ADMIN_PASSWORD}`).toString('base64')}` },
    });
    expect(basic.status).toBe(200);
  });

  it('guards every admin route', async () => {
    const routes: Array<[string, string]> = [
      ['GET', '/admin/hosts'],
      ['POST', '/admin/hosts'],
      ['POST', '/admin/hosts/x.example.com/limits'],
      ['POST', '/admin/hosts/x.example.com/tier'],
      ['POST', '/admin/hosts/x.example.com/ban'],
      ['POST', '/admin/hosts/x.example.com/unban'],
      ['GET', '/admin/domain-bans'],
      ['POST', '/admin/domain-bans'],
      ['DELETE', '/admin/domain-bans/x.example.com'],
      ['GET', '/admin/crawl-requests'],
      ['GET', '/admin/consumers'],
      ['GET', '/admin/stats'],
      ['POST', '/admin/accounts/did:plc:abc/takedown'],
      ['POST', '/admin/accounts/did:plc:abc/restore'],
    ];
    for (const [method, path] of routes) {
      for (const headers of [{ authorization: 'Bearer wrong' }, {} as Record<string, string>]) {
        const res = await fetch(`${relay.url}${path}`, { method, headers });
        expect(res.status, `${method} ${path}`).toBe(401);
      }
    }
  });

  it('queues crawl requests under the allowlist policy until an operator approves them with the CLI', async () => {
    expect((await requestCrawl(relay.url, pds.hostname)).status).toBe(200);
    expect((await requestCrawl(relay.url, pds.hostname)).status).toBe(200);

    const pending = await cli(['hosts', 'requests']);
    expect(pending.code).toBe(0);
    expect(pending.output).toContain(pds.hostname);
    const listed = await cli(['hosts', 'list', '--json']);
    expect(JSON.parse(listed.output)).toMatchObject({ hosts: [], total: 0 });

    const approved = await cli(['hosts', 'approve', pds.hostname]);
    expect(approved.output).toContain(`${pds.hostname}: connecting`);
    const after = JSON.parse((await cli(['hosts', 'list', '--json'])).output) as { hosts: Array<{ hostname: string }> };
    expect(after.hosts.map((h) => h.hostname)).toEqual([pds.hostname]);
    expect((await cli(['hosts', 'requests'])).output).not.toContain(pds.hostname);
  });

  it('sets a host’s event quota from the CLI, and restores the default', async () => {
    const set = await cli(['hosts', 'limits', pds.hostname, '--hour', '50', '--day', '400']);
    expect(set.output).toContain(`${pds.hostname}: 50/hour, 400/day`);
    const accounts = await cli(['hosts', 'limits', pds.hostname, '--accounts', '7']);
    expect(accounts.output).toContain(`${pds.hostname}: 50/hour, 400/day, 7 accounts`);
    const listed = JSON.parse((await cli(['hosts', 'list', '--json'])).output) as {
      hosts: Array<{ hostname: string; tier: string; limits: { perHour: number; perDay: number; custom: boolean } }>;
    };
    const row = listed.hosts.find((h) => h.hostname === pds.hostname)!;
    expect(row.limits).toEqual({ perHour: 50, perDay: 400, accountLimit: 7, custom: true });
    expect(row.tier).toBe('new');
    const trusted = await cli(['hosts', 'tier', pds.hostname, 'trusted']);
    // Per-host overrides win over the tier's defaults.
    expect(trusted.output).toContain(`${pds.hostname}: trusted (50/hour, 400/day, 7 accounts)`);
    expect((await cli(['hosts', 'tier', pds.hostname, 'new'])).output).toContain(`${pds.hostname}: new`);
    expect((await cli(['hosts', 'tier', pds.hostname, 'royal'])).code).toBe(1);
    const back = await cli(['hosts', 'limits', pds.hostname, '--hour', 'default', '--day', 'default', '--accounts', 'default']);
    expect(back.output).toContain(`${pds.hostname}: ${relay.relay.ctx.config.hostEventsPerHour}/hour`);
    const bad = await cli(['hosts', 'limits', pds.hostname, '--hour', '-3']);
    expect(bad.code).toBe(1);
    const unknown = await cli(['hosts', 'limits', 'nowhere.example.com', '--hour', '5']);
    expect(unknown.output).toContain('HostNotFound');
  });

  it('lists connected firehose consumers', async () => {
    const consumer = await TestConsumer.connect(relay.wsUrl);
    const listed = JSON.parse((await cli(['consumers', '--json'])).output) as { consumers: Array<Record<string, unknown>> };
    expect(listed.consumers).toHaveLength(1);
    expect(listed.consumers[0]).toMatchObject({ remoteAddress: '127.0.0.1', state: 'live', lag: 0 });
    expect((await cli(['consumers'])).output).toContain('127.0.0.1');
    consumer.close();
  });

  it('reports CLI errors clearly', async () => {
    const noPassword = await runRelayCli(['hosts', 'list'], { RELAY_PORT: String(relay.port) });
    expect(noPassword.code).toBe(1);
    expect(noPassword.output).toContain('RELAY_ADMIN_PASSWORD');
    const wrong = await runRelayCli(['hosts', 'list'], { RELAY_PORT: String(relay.port), RELAY_ADMIN_PASSWORD: 'nope' });
    expect(wrong.code).toBe(1);
    expect(wrong.output).toContain('AuthenticationRequired');
    const unknown = await cli(['frobnicate']);
    expect(unknown.code).toBe(1);
    expect(unknown.output).toContain('unknown command');
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    for (const c of ['serve', 'migrate', 'hosts list']) expect(help.output).toContain(c);
    const production = await runRelayCli(['serve'], { NODE_ENV: 'production', RELAY_PORT: '0' });
    expect(production.code).toBe(1);
    expect(production.output).toContain('RELAY_ADMIN_PASSWORD');
    const badConfig = await runRelayCli(['migrate'], { RELAY_PORT: 'x', DATABASE_URL: 'nope' });
    expect(badConfig.code).toBe(1);
    expect(badConfig.output).toContain('RELAY_PORT');
    expect(badConfig.output).toContain('DATABASE_URL');
  });
});

describe('open crawl policy', () => {
  it('refuses a host that does not answer describeServer', async () => {
    const open = await startTestRelay({ databaseUrl: await createTestDatabase(), crawlPolicy: 'open' });
    try {
      const res = await requestCrawl(open.url, 'localhost:1');
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error: 'HostNotFound' });
      const ok = await requestCrawl(open.url, pds.hostname);
      expect(ok.status).toBe(200);
    } finally {
      await open.stop();
    }
  });
});
