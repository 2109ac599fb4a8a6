// A tiny run of the cold scenario through the real path (relay process, PostgreSQL, Redis, fleet, PLC with latency
// and a rate limit, consumer): every first-seen account's commit and every known account's commit must arrive, the
// directory must have turned some lookups away, and the scenario's figures must be there (the known accounts' delay
// from runs with and without the first-seen accounts among them). Nothing is recorded and
// the corpus is not cached; no performance figure is asserted.
import { describe, expect, it } from 'vitest';
import { benchCold } from '../../bench/cold.ts';

describe('bench cold smoke run', () => {
  it('delivers the first-seen and the known accounts commits through a slow, rate-limited directory', async () => {
    const flags = new Map([
      ['fleets', '1'],
      ['hosts', '2'],
      ['accounts-per-host', '20'],
      ['warm-share', '0.25'],
      ['events-per-host', '10'],
      ['records', '10-300'],
      ['distinct-repos', '6'],
      ['no-corpus-cache', 'true'],
      ['plc-latency-ms', '20'],
      ['plc-rate', '10'],
      ['warmup-per-host', '20'],
    ]);
    const lines = await benchCold(flags);
    const value = (name: string) => {
      const line = lines.find((l) => l.name === name);
      if (!line) throw new Error(`no figure ${name}`);
      return line.value;
    };
    expect(value('first-seen accounts delivered')).toBe(30);
    expect(value('commits published')).toBe(30 + 20);
    expect(value('consumers that received every commit')).toBe(1);
    expect(value('seq gaps seen by consumers')).toBe(0);
    expect(value('events rejected by the relay')).toBe(0);
    expect(value('first-seen accounts per second (verified, committed, delivered)')).toBeGreaterThan(0);
    expect(value("first publish to the first first-seen account's commit at the consumer")).toBeGreaterThan(0);
    expect(lines.find((l) => l.name === 'known accounts in the cold burst: commit latency p99 among the first-seen accounts')!.unit).toContain('20 commits');
    // The same known commits again with no first-seen account on the hosts, and the delay between the two.
    expect(lines.find((l) => l.name === 'known accounts in the cold burst: commit latency p99 alone (no first-seen accounts on the hosts)')!.unit).toContain('20 commits');
    const delay = lines.find((l) => l.name === 'known accounts in the cold burst: delayed by the first-seen accounts, at p99')!;
    expect(delay.value).toBe(value('known accounts in the cold burst: commit latency p99 among the first-seen accounts') - value('known accounts in the cold burst: commit latency p99 alone (no first-seen accounts on the hosts)'));
    expect(lines.some((l) => l.name.endsWith('first-seen accounts/s: known accounts: delayed by the first-seen accounts, at p99'))).toBe(true);
    expect(lines.find((l) => l.name === 'PLC directory requests')!.unit).not.toMatch(/^requests, 0 answered 429/);
    expect(value('commit frame size p50')).toBeGreaterThan(500);
    // Per host: 20 of the known accounts' commits, and as many other first-seen accounts as the measured phase has.
    expect(lines.find((l) => l.name.startsWith('warm-up before the measured phase'))!.unit).toContain('70 commits');
  }, 180_000);
});
