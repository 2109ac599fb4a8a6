// Public requestCrawl can be capped (RELAY_NEW_HOSTS_PER_DAY, one count for every relay process, in the shared
// counters) and closed (RELAY_CRAWL_POLICY=closed); operators still add hosts either way.
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../helpers/db.ts';
import { adminPost, requestCrawl, startTestRelay, TEST_ADMIN_PASSWORD, type TestRelay } from '../helpers/relay.ts';
import { relayAdmin } from '../../dev-env/relay-client.ts';
import { adminApi } from '../../src/services/contract.ts';

const pdsServers: Server[] = [];
const pds: string[] = [];

beforeAll(async () => {
  for (let i = 0; i < 4; i++) {
    const server = createServer((req, res) => {
      if (req.url?.startsWith('/xrpc/com.atproto.server.describeServer')) res.writeHead(200, { 'content-type': 'application/json' }).end('{"did":"did:web:pds.test"}');
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    pdsServers.push(server);
    pds.push(`localhost:${(server.address() as { port: number }).port}`);
  }
});

afterAll(() => {
  for (const s of pdsServers) s.close();
});

describe('the day cap on new hosts', () => {
  let a: TestRelay;
  let b: TestRelay;
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
  });

  it('admits RELAY_NEW_HOSTS_PER_DAY new hosts a day across processes, then answers 429 until the day ends', async () => {
    expect(process.env.TEST_REDIS_URL, 'the cap is shared through Redis').toBeTruthy();
    const databaseUrl = await createTestDatabase();
    const shared = { databaseUrl, newHostsPerDay: 2, redisPrefix: `test-${randomBytes(4).toString('hex')}:` };
    a = await startTestRelay(shared);
    b = await startTestRelay(shared);
    expect((await requestCrawl(a.url, pds[0]!)).status).toBe(200);
    expect((await requestCrawl(b.url, pds[1]!)).status).toBe(200);
    for (const relay of [a, b]) {
      const res = await requestCrawl(relay.url, pds[2]!);
      expect(res.status).toBe(429);
      const retryAfter = Number(res.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThan(0);
      expect(retryAfter).toBeLessThanOrEqual(86_400);
      expect(await res.json()).toEqual({
        error: 'RateLimitExceeded',
        message: `this relay admits 2 new hosts a day and today's are taken; retry in ${retryAfter} s`,
      });
    }
    // A known host asking again is not new; an operator is not capped.
    expect((await requestCrawl(a.url, pds[0]!)).status).toBe(200);
    expect((await adminPost(a.url, '/admin/hosts', { hostname: pds[3] })).status).toBe(200);
    const { hosts: list } = await relayAdmin(a.url, TEST_ADMIN_PASSWORD)(adminApi.listHosts, {});
    const hosts = list.map((h) => h.hostname).sort();
    expect(hosts).toEqual([pds[0], pds[1], pds[3]].sort());
  });
});

describe('closed requestCrawl', () => {
  it('refuses every crawl request with a clear error; operators still add hosts', async () => {
    const relay = await startTestRelay({ databaseUrl: await createTestDatabase(), crawlPolicy: 'closed' });
    try {
      const res = await requestCrawl(relay.url, pds[0]!);
      expect(res.status).toBe(403);
      expect(await res.json()).toEqual({ error: 'CrawlRequestsClosed', message: 'this relay does not take crawl requests; its operator adds hosts' });
      expect((await adminPost(relay.url, '/admin/hosts', { hostname: pds[0] })).status).toBe(200);
    } finally {
      await relay.stop();
    }
  });
});
