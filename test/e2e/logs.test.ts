// The relay's own log through a real start: access lines at debug (a server error at warn), one start-up summary at
// info that says what an operator would otherwise have to guess, and a warning for a misspelt RELAY_* variable.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../helpers/db.ts';
import { startTestRelay, type TestRelay } from '../helpers/relay.ts';
import { loadConfig } from '../../src/config/config.ts';

interface Entry {
  level: number;
  msg: string;
  [k: string]: unknown;
}

let relay: TestRelay;
const lines: string[] = [];
const entries = () => lines.map((l) => JSON.parse(l) as Entry);

beforeAll(async () => {
  relay = await startTestRelay(
    {
      databaseUrl: await createTestDatabase(),
      logLevel: 'debug',
      logFormat: 'json',
      adminPassword: null,
      unknownVariables: loadConfig({ RELAY_TRUSTED_HOST: '*.example.com' }).unknownVariables,
    },
    { logDestination: { write: (l) => void lines.push(l) } },
  );
});
afterAll(() => relay?.stop());

describe('relay log', () => {
  it('summarises the start at info, saying the admin API is off and why', () => {
    const summary = entries().find((e) => e.msg.startsWith('relay started'));
    expect(summary).toBeDefined();
    expect(summary!.level).toBe(30);
    expect(summary).toMatchObject({
      role: 'all',
      address: relay.url,
      store: expect.stringMatching(/^PostgreSQL at 127\.0\.0\.1:\d+$/),
      counters: process.env.TEST_REDIS_URL ? expect.stringMatching(/^Redis at /) : 'in-process (one relay process only)',
      crawlPolicy: 'open',
      limits: { eventsPerHour: 1_000_000, eventsPerDay: 10_000_000, accounts: 1_000_000 },
      trustedHosts: expect.stringContaining('none'),
      adminApi: 'disabled: RELAY_ADMIN_PASSWORD is unset',
      signatures: expect.any(String),
      hashes: 'OpenSSL in Node (native/sha256.c)',
      verifyWorkers: 0,
    });
    expect(JSON.stringify(summary)).not.toContain('postgres://');
  });

  it('warns of a RELAY_* variable no setting reads, with the one meant', () => {
    const warning = entries().find((e) => e.msg.startsWith('RELAY_TRUSTED_HOST '));
    expect(warning).toMatchObject({ level: 40, msg: 'RELAY_TRUSTED_HOST is not a setting (did you mean RELAY_TRUSTED_HOSTS?)' });
  });

  it('logs requests at debug, not info, and carries no machine hostname', async () => {
    const before = lines.length;
    expect((await fetch(`${relay.url}/_health`)).status).toBe(200);
    expect((await fetch(`${relay.url}/no/such/page`)).status).toBe(404);
    expect((await fetch(`${relay.url}/admin/hosts`)).status).toBeGreaterThanOrEqual(400);
    await new Promise((r) => setTimeout(r, 100));
    const after = entries().slice(before);
    const requests = after.filter((e) => e.req !== undefined);
    expect(requests.map((e) => [e.msg, (e.res as { statusCode: number }).statusCode, e.level])).toEqual([
      ['request completed', 200, 20],
      ['request completed', 404, 20],
      ['request completed', expect.any(Number), 20],
    ]);
    expect(after.filter((e) => e.level === 30 && /request/i.test(e.msg))).toEqual([]);
    for (const e of entries()) expect(e).not.toHaveProperty('hostname');
  });
});
