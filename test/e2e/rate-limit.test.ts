// Public endpoints are rate-limited per client address on the shared counters, with RateLimit headers on every
// response and 429 + Retry-After past the limit; requestCrawl has its own, tighter budget.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../helpers/db.ts';
import { requestCrawl, startTestRelay, type TestRelay } from '../helpers/relay.ts';

let relay: TestRelay;

beforeAll(async () => {
  relay = await startTestRelay({ databaseUrl: await createTestDatabase(), rateLimitReadsPer5Min: 5, rateLimitCrawlsPerHour: 2 });
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
    expect((await fetch(`${relay.url}/metrics`)).status).toBe(200);
  });

  it('gives requestCrawl its own tighter budget', async () => {
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await requestCrawl(relay.url, 'not a hostname')).status);
    expect(statuses).toEqual([400, 400, 429]);
  });
});
