// The quota counters on a real Redis and in process: same semantics, atomic under concurrency.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createMemoryCounterStore, createRedisCounterStore, type CounterStore } from '../../src/quota/counters.ts';
import { HostQuota } from '../../src/quota/host-quota.ts';

const redisUrl = process.env.TEST_REDIS_URL;
if (!redisUrl) throw new Error('TEST_REDIS_URL is not set: run the suite with `npm test`, which starts Redis');
const stores: CounterStore[] = [];
const redis = (prefix: string) => {
  const s = createRedisCounterStore(redisUrl, prefix);
  stores.push(s);
  return s;
};

afterAll(async () => {
  for (const s of stores) await s.close();
});

const HOUR = 3_600_000;
const windows = [
  { name: 'hour', ms: HOUR, limit: 10 },
  { name: 'day', ms: 24 * HOUR, limit: 15 },
];

for (const kind of ['redis', 'memory'] as const) {
  describe(`${kind} counters`, () => {
    const make = () => (kind === 'redis' ? redis(`t-${randomBytes(4).toString('hex')}:`) : createMemoryCounterStore());

    it('grants up to the tightest window, reports counts and reset times, and takes back unused units', async () => {
      const store = make();
      const now = Date.UTC(2026, 10, 22, 15, 30);
      expect((await store.take('host:1', 4, windows, now)).granted).toBe(4);
      const g = await store.take('host:1', 10, windows, now);
      expect(g.granted).toBe(6);
      expect(g.windows).toEqual([
        { name: 'hour', count: 10, limit: 10, resetAt: Date.UTC(2026, 10, 22, 16) },
        { name: 'day', count: 10, limit: 15, resetAt: Date.UTC(2026, 10, 23) },
      ]);
      expect((await store.take('host:1', 1, windows, now)).granted).toBe(0);
      await store.give('host:1', 3, windows, now);
      expect((await store.take('host:1', 5, windows, now)).granted).toBe(3);
      // The next hour starts from zero, but the day keeps counting.
      const next = await store.take('host:1', 10, windows, now + HOUR);
      expect(next.granted).toBe(5);
      expect(next.windows[1]!.count).toBe(15);
      // Other scopes are independent.
      expect((await store.take('host:2', 10, windows, now)).granted).toBe(10);
    });

    it('takes for many scopes at once as if one by one, in order, across calls of any size', async () => {
      const store = make();
      const now = Date.UTC(2026, 10, 22, 15, 30);
      // 1,300 takes over 400 accounts (more than one script call's worth), each account asked 3-4 times for 4.
      const requests = Array.from({ length: 1300 }, (_, i) => ({ scope: `account:${i % 400}`, want: 4 }));
      const grants = await store.takeMany(requests, windows, now);
      const seen = new Map<string, number>();
      grants.forEach((g, i) => {
        const before = seen.get(requests[i]!.scope) ?? 0;
        // 4, 4, then 2 (the hour's limit of 10), then nothing.
        expect(g.granted).toBe(Math.max(0, Math.min(4, 10 - before)));
        seen.set(requests[i]!.scope, before + g.granted);
        expect(g.windows.map((w) => w.count)).toEqual([before + g.granted, before + g.granted]);
      });
      expect(await store.takeMany([], windows, now)).toEqual([]);
    });
  });
}

describe('shared counters', () => {
  it('never admit more than the limit, however many processes take at once', async () => {
    const prefix = `t-${randomBytes(4).toString('hex')}:`;
    const processes = [redis(prefix), redis(prefix), redis(prefix), redis(prefix)];
    const limit = [{ name: 'hour', ms: HOUR, limit: 1000 }];
    const now = Date.now();
    const grants = await Promise.all(
      Array.from({ length: 200 }, (_, i) => processes[i % 4]!.take('host:9', 7, limit, now).then((g) => g.granted)),
    );
    expect(grants.reduce((a, b) => a + b, 0)).toBe(1000);
  });

  it('give every key they make a time to live: refused takes, and units given back into a window no take made', async () => {
    const prefix = `t-${randomBytes(4).toString('hex')}:`;
    const store = redis(prefix);
    const now = Date.now();
    const limit = [{ name: 'hour', ms: HOUR, limit: 3 }];
    expect((await store.takeMany([{ scope: 'a', want: 2 }, { scope: 'a', want: 2 }, { scope: 'b', want: 5 }, { scope: 'c', want: 0 }], limit, now)).map((g) => g.granted)).toEqual([2, 1, 3, 0]);
    expect((await store.take('d', 4, limit, now)).windows[0]!.count).toBe(3);
    await store.give('e', 2, limit, now);
    const raw = new Redis(redisUrl);
    try {
      const keys = (await raw.keys(`${prefix}*`)).sort();
      expect(keys.map((k) => k.slice(prefix.length).split(':').slice(0, 2).join(':'))).toEqual(['quota:a', 'quota:b', 'quota:c', 'quota:d', 'quota:e']);
      for (const k of keys) expect(await raw.pttl(k)).toBeGreaterThan(60_000);
      expect(await Promise.all(keys.map((k) => raw.get(k)))).toEqual(['3', '3', '0', '3', '-2']);
    } finally {
      raw.disconnect();
    }
  });

  it('HostQuota reserves in chunks and reports the reset when a window is full', async () => {
    let now = Date.UTC(2030, 0, 1, 10, 0);
    const quota = new HostQuota({ store: redis(`t-${randomBytes(4).toString('hex')}:`), hostId: 1, limits: () => ({ perHour: 100, perDay: 150, accountLimit: 10 }), clock: { now: () => now, at: () => () => {} } });
    /** Takes events until the quota says stop; returns how many passed and when it resets. */
    const drain = async () => {
      let passed = 0;
      for (;;) {
        if (quota.tryTake()) {
          passed++;
          continue;
        }
        const r = await quota.refill();
        if (!r.ok) return { passed, resetAt: r.resetAt };
      }
    };
    expect(await drain()).toEqual({ passed: 100, resetAt: Date.UTC(2030, 0, 1, 11, 0) });
    now += 3_600_000;
    const { passed, resetAt } = await drain();
    expect(resetAt).toBe(Date.UTC(2030, 0, 2));
    expect(passed).toBe(50);
  });
});
