// Starts a relay in-process on a random loopback port against a given database.
import { randomBytes } from 'node:crypto';
import { loadConfig, type RelayConfig } from '../../src/config/config.ts';
import { createRelay, type Relay, type RelayOverrides } from '../../src/relay.ts';
import { relayAdmin, requestCrawl } from '../../dev-env/relay-client.ts';
import { adminApi } from '../../src/services/contract.ts';

export { requestCrawl };

export const TEST_ADMIN_PASSWORD = 'test-admin-password';

export interface TestRelay {
  relay: Relay;
  url: string;
  wsUrl: string;
  port: number;
  /** Base URL of the metrics port (GET /metrics). */
  metricsUrl: string;
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
      metricsPort: 0,
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
      hostAccountLimit: 1_000_000,
      accountPointsPerHour: 0,
      accountPointsPerDay: 0,
      rateLimitReadsPer5Min: 1_000_000,
      rateLimitCrawlsPerHour: 1_000_000,
      // The day's cap on new hosts is tested on its own (test/e2e/crawl-policy.test.ts).
      newHostsPerDay: 0,
      // Worker threads cost a start-up per relay; the tests that cover them turn them on.
      verifyWorkers: 0,
      // A host is held to every Sync 1.1 check after its first valid Sync 1.1 commit: the tests of rejections send
      // good commits first. (test/e2e/sync-mode.test.ts covers the ratchet itself.)
      syncRatchetCommits: 1,
      // Partitions of the event log a second long, so the tests of short replay windows see them pruned.
      eventLogPartitionMs: 1000,
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
    metricsUrl: relay.metricsUrl!,
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

/**
 * Asks the relay to crawl a fake PDS and waits until it is subscribed and its row says so (`active`; new hosts start
 * at the live head).
 */
export async function crawlAndConnect(relay: TestRelay, hostname: string): Promise<void> {
  const res = await requestCrawl(relay.url, hostname);
  if (res.status !== 200) throw new Error(`requestCrawl ${hostname}: ${res.status} ${await res.text()}`);
  const { crawler } = relay.relay.ctx;
  const admin = relayAdmin(relay.url, TEST_ADMIN_PASSWORD);
  const deadline = Date.now() + 20_000;
  for (;;) {
    const { hosts: list } = await admin(adminApi.listHosts, {});
    const host = list.find((h) => h.hostname === hostname);
    if (host && crawler.isConnected(host.id) && host.status === 'active') return;
    if (Date.now() > deadline) throw new Error(`relay did not connect to ${hostname}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A counter's value from the metrics port's /metrics (0 when the series does not exist yet). */
export async function metricValue(metricsUrl: string, series: string): Promise<number> {
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}
