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

  it('dials the probes through the address check, so a name that rebinds to loopback after it is refused', async () => {
    // The first answer is public, every later one loopback: the probes must not reach anything.
    let asked = 0;
    const relay = await startTestRelay(
      { databaseUrl: await createTestDatabase(), allowInsecureHosts: false, crawlPolicy: 'open' },
      { lookup: async () => (asked++ === 0 ? ['93.184.216.34'] : ['127.0.0.1']) },
    );
    try {
      const res = await requestCrawl(relay.url, 'rebind.example.com');
      expect(res.status).toBe(400);
      const body = (await res.json()) as { error: string; message: string };
      expect(body.error).toBe('HostNotFound');
      expect(body.message).toMatch(/127\.0\.0\.1, which is not a public address/);
      expect(asked).toBeGreaterThan(1);
    } finally {
      await relay.stop();
    }
  });
});
