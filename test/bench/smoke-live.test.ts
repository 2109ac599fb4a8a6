// A tiny run of the benchmark harness through the real path (relay process, PostgreSQL, Redis, fleet, PLC and
// consumer processes): it must complete with consistent counts. No performance figure is asserted.
import { describe, expect, it } from 'vitest';
import { runLive } from '../../bench/live.ts';

describe('bench harness smoke run', () => {
  it('delivers every pre-generated commit to every reader, in seq order, with latencies measured', async () => {
    const r = await runLive({
      fleets: 1,
      spec: {
        hosts: 2,
        activeHosts: 2,
        accountsPerHost: 4,
        eventsPerHost: 60,
        warmupPerHost: 30,
        coldAccountsPerHost: 0,
        k256Share: 0.8,
        corpus: { spec: { records: { min: 3, max: 40 }, seed: 1 }, distinctRepos: 0, cache: 'off' },
      },
      ratePerHost: 0,
      readers: { processes: 1, connections: 2 },
      stalled: 1,
      drainTimeoutMs: 60_000,
    });
    expect(r.commitsPublished).toBe(120);
    // The warm-up went through first, and the readers counted again after it.
    expect(r.warmup.commits).toBe(60);
    expect(r.warmup.lastSeq).toBeGreaterThanOrEqual(60);
    expect(r.rejected).toBe(0);
    expect(r.readers).toHaveLength(2);
    for (const c of r.readers) {
      expect(c.commits).toBe(120);
      expect(c.gaps).toBe(0);
      expect(c.scanMismatches).toBe(0);
      expect(c.errorFrames).toEqual([]);
    }
    // Both readers saw the same seq range.
    expect(new Set(r.readers.map((c) => `${c.firstSeq}-${c.lastSeq}`)).size).toBe(1);
    expect(r.latency.count).toBe(240);
    // Every reader read the warm-up before the measured commits.
    for (const c of r.readers) expect(c.firstSeq).toBeLessThanOrEqual(r.warmup.lastSeq);
    expect(r.stalledConnections).toHaveLength(1);
    expect(r.relayRssPeak).toBeGreaterThan(0);
  }, 120_000);
});
