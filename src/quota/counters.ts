// Quota counters shared by every relay process: fixed windows aligned to the epoch (so "hour" and "day" are UTC
// calendar hours and days), taken atomically so concurrent processes can never admit more than a limit allows.
// Redis when REDIS_URL is set; otherwise an in-process store with the same semantics.
import { Redis } from 'ioredis';

export interface WindowLimit {
  name: string;
  /** Window length; windows start at multiples of it since the epoch. */
  ms: number;
  limit: number;
}

export interface WindowState {
  name: string;
  count: number;
  limit: number;
  /** When this window ends and its count starts again from zero (epoch ms). */
  resetAt: number;
}

export interface Grant {
  /** Units taken (0 when any window is full). */
  granted: number;
  windows: WindowState[];
}

export interface CounterStore {
  readonly kind: 'redis' | 'memory';
  /** Whether the counters can be reached now (Redis connected); while not, hosts are held. */
  available(): boolean;
  /** Takes up to `want` units from every window of `scope` at once, without passing any window's limit. */
  take(scope: string, want: number, windows: WindowLimit[], now: number): Promise<Grant>;
  /** Several takes in one round trip (each with its own scope, all with the same windows). */
  takeMany(requests: Array<{ scope: string; want: number }>, windows: WindowLimit[], now: number): Promise<Grant[]>;
  /** Returns units taken but not used (e.g. a reservation left over when a host disconnects). */
  give(scope: string, amount: number, windows: WindowLimit[], now: number): Promise<void>;
  close(): Promise<void>;
}

const windowStart = (w: WindowLimit, now: number) => Math.floor(now / w.ms) * w.ms;
const keyPrefix = (prefix: string) => `${prefix}quota:`;
const keySuffix = (w: WindowLimit, now: number) => `:${w.name}:${windowStart(w, now)}`;
const key = (prefix: string, scope: string, w: WindowLimit, now: number) => keyPrefix(prefix) + scope + keySuffix(w, now);
/** Keys outlive their window by a minute so a late reader still sees the final count. */
const ttlMs = (w: WindowLimit, now: number) => windowStart(w, now) + w.ms - now + 60_000;

// Takes for several scopes in one script (one round trip and one command, however many accounts a batch holds).
// ARGV: W (windows per scope); then per window its limit, time-to-live (ms) and key suffix; then the key prefix;
// then the scope and the wanted units of each take. Returns, per take: granted, then the count of each window.
// The script puts each key together (prefix, scope, suffix): sent whole, a key per window and scope, they made a
// call's arguments several times longer, and the relay's CPU per take ~40 % more (docs/perf-journal.md, session 19).
// A relative TTL keeps the relay's clock, not Redis's, in charge of when windows end.
// Each window is added to first and given back what it may not keep: a take within its limits, nearly every one,
// is then one INCRBY a window (the TTL is set only by the take that made the key) where reading first cost a GET,
// an INCRBY and a PEXPIRE, and Redis ~8 us a take against ~5 (docs/perf-journal.md, session 26). The script runs
// whole before any other command, so no one sees the count it gives back.
const TAKES_PER_CALL = 500;
const TAKE_SCRIPT = `
local w = tonumber(ARGV[1])
local prefix = ARGV[3 * w + 2]
local out = {}
local keys = {}
local counts = {}
for j = 3 * w + 3, #ARGV - 1, 2 do
  local scope = prefix .. ARGV[j]
  local want = tonumber(ARGV[j + 1])
  local grant = want
  for i = 1, w do
    local k = scope .. ARGV[3 * i + 1]
    keys[i] = k
    local c = redis.call('INCRBY', k, want)
    if c == want then redis.call('PEXPIRE', k, ARGV[3 * i]) end
    counts[i] = c
    local room = tonumber(ARGV[3 * i - 1]) - (c - want)
    if room < grant then grant = room end
  end
  if grant < 0 then grant = 0 end
  if grant < want then
    for i = 1, w do counts[i] = redis.call('DECRBY', keys[i], want - grant) end
  end
  out[#out + 1] = grant
  for i = 1, w do out[#out + 1] = counts[i] end
end
return out
`;

function states(windows: WindowLimit[], counts: number[], now: number): WindowState[] {
  return windows.map((w, i) => ({ name: w.name, count: counts[i] ?? 0, limit: w.limit, resetAt: windowStart(w, now) + w.ms }));
}

export function createRedisCounterStore(url: string, prefix = 'relay:'): CounterStore {
  const redis = new Redis(url, { maxRetriesPerRequest: 2, enableOfflineQueue: true, lazyConnect: false }) as Redis & {
    takeQuota(...args: Array<string | number>): Promise<unknown>;
  };
  redis.on('error', () => {}); // reconnects by itself; callers see failed commands
  // EVALSHA with the script loaded once (ioredis reloads it after a Redis restart), not its source per call.
  redis.defineCommand('takeQuota', { lua: TAKE_SCRIPT });
  const takeChunk = async (requests: Array<{ scope: string; want: number }>, windows: WindowLimit[], now: number): Promise<Grant[]> => {
    const args: Array<string | number> = [0, windows.length];
    for (const w of windows) args.push(w.limit, ttlMs(w, now), keySuffix(w, now));
    args.push(keyPrefix(prefix));
    for (const r of requests) args.push(r.scope, r.want);
    const res = ((await redis.takeQuota(...args)) as number[]).map(Number);
    const per = windows.length + 1;
    return requests.map((_, j) => ({ granted: res[j * per]!, windows: states(windows, res.slice(j * per + 1, (j + 1) * per), now) }));
  };
  const takeMany: CounterStore['takeMany'] = async (requests, windows, now) => {
    // Chunks keep each call's argument list well inside what a JS call and one Redis script should carry.
    const chunks: Array<Promise<Grant[]>> = [];
    for (let i = 0; i < requests.length; i += TAKES_PER_CALL) chunks.push(takeChunk(requests.slice(i, i + TAKES_PER_CALL), windows, now));
    return (await Promise.all(chunks)).flat();
  };
  return {
    kind: 'redis',
    available: () => redis.status === 'ready',
    async take(scope, want, windows, now) {
      return (await takeMany([{ scope, want }], windows, now))[0]!;
    },
    takeMany,
    async give(scope, amount, windows, now) {
      if (amount <= 0) return;
      const pipeline = redis.pipeline();
      // A window that began since the take has no key yet: the one DECRBY makes needs a TTL too, as the takes set
      // one only on the key they make.
      for (const w of windows) pipeline.decrby(key(prefix, scope, w, now), amount).pexpire(key(prefix, scope, w, now), ttlMs(w, now));
      await pipeline.exec();
    },
    async close() {
      redis.disconnect();
    },
  };
}

export function createMemoryCounterStore(prefix = 'relay:'): CounterStore {
  const counts = new Map<string, { n: number; expires: number }>();
  const get = (k: string, now: number) => {
    const e = counts.get(k);
    return e && e.expires > now ? e.n : 0;
  };
  return {
    kind: 'memory',
    available: () => true,
    async take(scope, want, windows, now) {
      const keys = windows.map((w) => key(prefix, scope, w, now));
      let grant = want;
      const current = keys.map((k) => get(k, now));
      windows.forEach((w, i) => (grant = Math.min(grant, w.limit - current[i]!)));
      grant = Math.max(0, grant);
      if (grant > 0) {
        windows.forEach((w, i) => {
          current[i]! += grant;
          counts.set(keys[i]!, { n: current[i]!, expires: windowStart(w, now) + w.ms + 60_000 });
        });
      }
      if (counts.size > 100_000) for (const [k, e] of counts) if (e.expires <= now) counts.delete(k);
      return { granted: grant, windows: states(windows, current, now) };
    },
    async takeMany(requests, windows, now) {
      const out: Grant[] = [];
      for (const r of requests) out.push(await this.take(r.scope, r.want, windows, now));
      return out;
    },
    async give(scope, amount, windows, now) {
      for (const w of windows) {
        const k = key(prefix, scope, w, now);
        const e = counts.get(k);
        if (e) e.n = Math.max(0, e.n - amount);
      }
    },
    async close() {},
  };
}

export function createCounterStore(redisUrl: string | null, prefix: string): CounterStore {
  return redisUrl ? createRedisCounterStore(redisUrl, prefix) : createMemoryCounterStore(prefix);
}
