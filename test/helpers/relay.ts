// Starts a relay in-process on a random loopback port against a given database.
import { randomBytes } from 'node:crypto';
import { loadConfig, type RelayConfig } from '../../src/config/config.ts';
import { createRelay, type Relay, type RelayOverrides } from '../../src/relay.ts';

export const TEST_ADMIN_PASSWORD = 'test-admin-password';

export interface TestRelay {
  relay: Relay;
  url: string;
  wsUrl: string;
  port: number;
  stop(): Promise<void>;
}

export async function startTestRelay(
  config: Partial<RelayConfig> & { databaseUrl: string | null },
  overrides: RelayOverrides = {},
): Promise<TestRelay> {
  const full = loadConfig(
    {},
    {
      port: 0,
      bindHost: '127.0.0.1',
      allowInsecureHosts: true,
      crawlPolicy: 'open',
      logLevel: process.env.TEST_LOG_LEVEL ?? 'silent',
      adminPassword: TEST_ADMIN_PASSWORD,
      batchMaxDelayMs: 2,
      // The suite's Redis is shared by every test file: each relay gets its own key space.
      redisUrl: process.env.TEST_REDIS_URL ?? null,
      redisPrefix: `test-${randomBytes(4).toString('hex')}:`,
      // Quotas are tested on their own; elsewhere they must not interfere.
      hostEventsPerHour: 1_000_000,
      hostEventsPerDay: 10_000_000,
      ...config,
    },
  );
  const relay = await createRelay(full, { scanIntervalMs: 200, reconnectBaseMs: 100, ...overrides });
  const address = await relay.start();
  const port = Number(new URL(address).port);
  return {
    relay,
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}`,
    port,
    stop: () => relay.stop(),
  };
}

export async function adminPost(relayUrl: string, path: string, body: unknown): Promise<Response> {
  return fetch(`${relayUrl}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TEST_ADMIN_PASSWORD}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

export async function requestCrawl(relayUrl: string, hostname: string): Promise<Response> {
  return fetch(`${relayUrl}/xrpc/com.atproto.sync.requestCrawl`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ hostname }),
  });
}
