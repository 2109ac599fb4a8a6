// Crash safety: the relay process is SIGKILLed at random moments (10 times) while fake hosts publish ~2,000 events/s
// and consumers stay connected, resuming from their last seq after each restart. Nothing may be lost, duplicated or
// reordered, and every upstream event must be relayed or rejected with a counted reason.
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../helpers/db.ts';
import { expectEveryEventOnce } from './expect-report.ts';
import { formatReport, killRunningRelays, runChaos } from '../../dev-env/chaos.ts';

afterAll(killRunningRelays);

describe('chaos: SIGKILL', () => {
  it('loses, duplicates and reorders nothing across 10 SIGKILLs under load', { timeout: 600_000 }, async () => {
    const report = await runChaos({
      databaseUrl: await createTestDatabase(),
      redisUrl: process.env.TEST_REDIS_URL ?? null,
      hosts: 3,
      accountsPerHost: 4,
      consumers: 2,
      kills: 10,
      eventsPerLife: 100,
      // Signed ahead and published at ~2,000 events/s while the kills are spread over the publishing window (live
      // signing in this process would manage a few hundred events/s).
      publishPerSecond: 2000,
      pregenerateSeconds: 20,
      spreadOverMs: 20_000,
      drainTimeoutMs: 120_000,
      log: (l) => console.log(`[chaos] ${l}`),
    });
    console.log(formatReport('sigkill', report));
    expect(report.kills).toBe(10);
    expect(report.sent).toBeGreaterThan(30_000);
    expect(report.publishRate).toBeGreaterThan(1500);
    expectEveryEventOnce(report);
    // All of these events are valid: none is rejected.
    expect(report.rejected).toEqual({});
  });
});
