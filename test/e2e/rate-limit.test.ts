// Public endpoints are rate-limited per client address on the shared counters, with RateLimit headers on every
// response and 429 + Retry-After past the limit; requestCrawl has its own, tighter budget.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../helpers/db.ts';
import WebSocket from 'ws';
import { requestCrawl, startTestRelay, type TestRelay } from '../helpers/relay.ts';
import { TestConsumer, eventually } from '../helpers/consumer.ts';

let relay: TestRelay;

beforeAll(async () => {
  relay = await startTestRelay({
    databaseUrl: await createTestDatabase(),
    rateLimitReadsPer5Min: 5,
    rateLimitCrawlsPerHour: 2,
    maxConsumersPerIp: 3,
  });
});

afterAll(async () => {
  await relay?.stop();
});

describe('rate limits', () => {
  it('counts down, then answers 429 with Retry-After; health and metrics are exempt', async () => {
    const remaining: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${relay.url}/xrpc/com.atproto.sync.listHosts`);
      expect(res.status).toBe(200);
      expect(res.headers.get('ratelimit-limit')).toBe('5');
      remaining.push(res.headers.get('ratelimit-remaining')!);
      expect(Number(res.headers.get('ratelimit-reset'))).toBeGreaterThan(0);
    }
    expect(remaining).toEqual(['4', '3', '2', '1', '0']);
    const limited = await fetch(`${relay.url}/xrpc/com.atproto.sync.listRepos`);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await limited.json()).toMatchObject({ error: 'RateLimitExceeded' });
    expect((await fetch(`${relay.url}/_health`)).status).toBe(200);
  });

  it('gives requestCrawl its own tighter budget', async () => {
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await requestCrawl(relay.url, 'not a hostname')).status);
    expect(statuses).toEqual([400, 400, 429]);
  });
});

describe('firehose connections per client', () => {
  it('refuses connections past the per-address cap with 429, and frees the slot on close', async () => {
    const open = await Promise.all([0, 1, 2].map(() => TestConsumer.connect(relay.wsUrl)));
    const refused = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`${relay.wsUrl}/xrpc/com.atproto.sync.subscribeRepos`);
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => resolve(101));
      ws.on('error', () => {});
    });
    expect(refused).toBe(429);
    open[0]!.close();
    await eventually(() => relay.relay.ctx.firehose.consumers.size === 2, 5000, 'slot freed');
    const again = await TestConsumer.connect(relay.wsUrl);
    expect(again.closed).toBe(false);
    for (const c of [...open.slice(1), again]) c.close();
  });
});
