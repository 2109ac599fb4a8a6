// requestCrawl may only make the relay dial public addresses: a hostname that resolves to loopback, private,
// link-local or other special ranges is refused before any connection is made.
import { describe, expect, it } from 'vitest';
import { createTestDatabase } from '../helpers/db.ts';
import { requestCrawl, startTestRelay } from '../helpers/relay.ts';

describe('requestCrawl address checks', () => {
  it('refuses hosts that resolve to loopback, private or link-local addresses', async () => {
    const addresses: Record<string, string[]> = {
      'internal.example.com': ['10.1.2.3'],
      'metadata.example.com': ['169.254.169.254'],
      'sneaky.example.com': ['93.184.216.34', '::ffff:127.0.0.1'],
    };
    const strict = await startTestRelay(
      { databaseUrl: await createTestDatabase(), allowInsecureHosts: false, crawlPolicy: 'open' },
      { lookup: async (h) => addresses[h] ?? [] },
    );
    try {
      for (const host of [...Object.keys(addresses), 'nowhere.example.com']) {
        const res = await requestCrawl(strict.url, host);
        expect(res.status, host).toBe(400);
        expect(await res.json()).toMatchObject({ error: 'HostNotFound' });
      }
      // Development hosts are refused outright without RELAY_ALLOW_INSECURE_HOSTS.
      expect((await requestCrawl(strict.url, 'localhost:2583')).status).toBe(400);
    } finally {
      await strict.stop();
    }
  });
});
