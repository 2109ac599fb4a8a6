// The bench orchestrator's building blocks: services (PostgreSQL and Redis from the environment, or private ones
// started with scripts/services.sh), the relay as a real `bin/relay.js serve` process, and the PLC, fleet and
// consumer child processes. Everything started here is stopped by `Harness.close()`.
import { execFile, fork, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import type { PlcBehaviour } from '../../dev-env/fake-plc.ts';
import { freePort, relayTestEnv } from '../../dev-env/process.ts';
import pg from 'pg';
import type { ConsumerReply, ConsumerSpec, FleetReply, FleetSpec, PlcReply } from './protocol.ts';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const exec = promisify(execFile);
export { freePort };


export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits for `check` to return a value other than undefined; throws with `what` after the deadline. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs: number, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

/**
 * Polls `report` every `everyMs` until `done` says so, its `progress` has not moved for `stillMs`, or `timeoutMs`
 * passed; returns the last report and whether it ended done (a caller reports what arrived either way).
 */
export async function untilStill<T>(
  report: () => Promise<T>,
  o: { done: (r: T) => boolean; progress: (r: T) => number; stillMs: number; everyMs: number; timeoutMs?: number },
): Promise<{ last: T; done: boolean }> {
  const deadline = Date.now() + (o.timeoutMs ?? Infinity);
  let last = await report();
  let seen = o.progress(last);
  let movedAt = Date.now();
  for (;;) {
    if (o.done(last)) return { last, done: true };
    if (Date.now() - movedAt > o.stillMs || Date.now() > deadline) return { last, done: false };
    await sleep(o.everyMs);
    last = await report();
    if (o.progress(last) !== seen) [seen, movedAt] = [o.progress(last), Date.now()];
  }
}

/** A forked TypeScript child with typed replies awaited by type. */
export class Child<Reply extends { type: string }, Command> {
  private readonly inbox: Reply[] = [];
  private readonly waiters: Array<() => void> = [];
  exited = false;

  readonly name: string;
  readonly proc: ChildProcess;
  constructor(
    name: string,
    proc: ChildProcess,
  ) {
    this.name = name;
    this.proc = proc;
    proc.on('message', (m: Reply) => {
      if (m.type === 'error') {
        console.error(`${name}: ${(m as unknown as { message: string }).message}`);
      }
      this.inbox.push(m);
      for (const w of this.waiters.splice(0)) w();
    });
    proc.on('exit', () => {
      this.exited = true;
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static fork<R extends { type: string }, C>(name: string, script: string, args: string[] = []): Child<R, C> {
    const proc = fork(fileURLToPath(new URL(`../procs/${script}`, import.meta.url)), args, {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    return new Child<R, C>(name, proc);
  }

  send(cmd: Command): void {
    this.proc.send(cmd as object);
  }

  async next<T extends Reply['type']>(type: T, timeoutMs = 120_000): Promise<Extract<Reply, { type: T }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.inbox.findIndex((m) => m.type === type || m.type === 'error');
      if (i >= 0) {
        const m = this.inbox.splice(i, 1)[0]!;
        if (m.type === 'error') throw new Error(`${this.name} failed: ${(m as unknown as { message: string }).message}`);
        return m as Extract<Reply, { type: T }>;
      }
      if (this.exited) throw new Error(`${this.name} exited while waiting for ${type}`);
      if (Date.now() > deadline) throw new Error(`${this.name}: no ${type} within ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    try {
      this.proc.send({ cmd: 'exit' });
    } catch {
      // channel already closed
    }
    const exited = new Promise((r) => this.proc.once('exit', r));
    if ((await Promise.race([exited, sleep(5000).then(() => 'late')])) === 'late') this.proc.kill('SIGKILL');
  }
}

export type Fleet = Child<FleetReply, import('./protocol.ts').FleetCommand>;
export type Plc = Child<PlcReply, import('./protocol.ts').PlcCommand>;
export type Consumers = Child<ConsumerReply, import('./protocol.ts').ConsumerCommand>;

export interface RelayHandle {
  proc: ChildProcess;
  url: string;
  wsUrl: string;
  /** Base URL of the relay's metrics port. */
  metricsUrl: string;
  output: () => string;
  exited: Promise<number | null>;
}

/** Resident set size of a process from /proc, in bytes (0 when it is gone). */
export function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** CPU seconds (user + system) a process has used so far, from /proc. */
export function cpuSecondsOf(pid: number): number {
  const t = cpuTimesOf(pid);
  return t.user + t.system;
}

/** Thread names (Linux keeps 15 characters) the relay's threads go by, and the group each is counted under. */
const THREAD_GROUPS: Array<[prefix: string, group: ThreadGroup]> = [
  ['MainThread', 'main'],
  ['relay-verify', 'verify'],
  ['relay-did-resol', 'resolver'],
];
export type ThreadGroup = 'main' | 'verify' | 'resolver' | 'other';

/**
 * CPU seconds (user and kernel) a process's threads spent, by group: the main thread, the verify workers, the DID
 * resolver thread, and the rest (V8's GC helpers, libuv's pool). Threads that ended are not counted.
 */
export function threadCpuOf(pid: number): Record<ThreadGroup, number> {
  const out: Record<ThreadGroup, number> = { main: 0, verify: 0, resolver: 0, other: 0 };
  let tasks: string[] = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tasks) {
    try {
      const comm = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      const fields = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      const group = THREAD_GROUPS.find(([prefix]) => comm.startsWith(prefix))?.[1] ?? 'other';
      out[group] += (Number(fields[11]) + Number(fields[12])) / 100;
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return out;
}

/** CPU seconds a process spent in user space and in the kernel (0 when it is gone). */
export function cpuTimesOf(pid: number): { user: number; system: number } {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return { user: Number(fields[11]) / 100, system: Number(fields[12]) / 100 };
  } catch {
    return { user: 0, system: 0 };
  }
}

/** Machine-wide busy share of all cores over `ms`, from /proc/stat. */
export async function machineBusy(ms: number): Promise<number> {
  const a = cpuTicks();
  await sleep(ms);
  return busyShare(a, cpuTicks());
}

/** The machine's CPU time so far, all cores (/proc/stat), for busyShare. */
export function cpuTicks(): { idle: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return { idle: f[3]! + f[4]!, total: f.reduce((a, b) => a + b, 0) };
}

/** The busy share of all cores between two cpuTicks. */
export function busyShare(a: { idle: number; total: number }, b: { idle: number; total: number }): number {
  return 1 - (b.idle - a.idle) / Math.max(1, b.total - a.total);
}

export class Harness {
  private readonly children: Array<Child<{ type: string }, unknown>> = [];
  private readonly relayProcs: RelayHandle[] = [];
  private databaseName: string | null = null;
  private readonly databaseNames: string[] = [];
  private baseDbUrl = '';
  private redisUrl = '';
  private servicesEnv: Record<string, string> | null = null;
  readonly redisPrefix = `bench:${randomBytes(4).toString('hex')}:`;

  /** PostgreSQL and Redis: DATABASE_URL / REDIS_URL (or the TEST_ variants), else private ones via services.sh. */
  async services(): Promise<void> {
    this.baseDbUrl = process.env.DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? '';
    this.redisUrl = process.env.REDIS_URL ?? process.env.TEST_REDIS_URL ?? '';
    if (!this.baseDbUrl || !this.redisUrl) {
      const { stdout } = await exec('bash', ['-c', 'source scripts/services.sh && env | grep -E "^(TEST_DATABASE_URL|TEST_REDIS_URL|SERVICES_DIR|PG_BIN|PG_DATA)="'], {
        cwd: ROOT,
        env: { ...process.env, ...(this.baseDbUrl ? { TEST_DATABASE_URL: this.baseDbUrl } : {}), ...(this.redisUrl ? { TEST_REDIS_URL: this.redisUrl } : {}) },
      });
      this.servicesEnv = Object.fromEntries(stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
      this.baseDbUrl = this.servicesEnv.TEST_DATABASE_URL!;
      this.redisUrl = this.servicesEnv.TEST_REDIS_URL!;
    }
    this.databaseName = await this.createDatabase();
  }

  get databaseUrl(): string {
    return this.urlOf(this.databaseName!);
  }

  /** Another fresh database on the same server (dropped on close), for scenarios that compare set-ups side by side. */
  async database(): Promise<string> {
    return this.urlOf(await this.createDatabase());
  }

  /** Applies the relay's migrations to a database, as an operator would (`relay migrate`). */
  migrate(databaseUrl: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const p = spawn(process.execPath, ['bin/relay.js', 'migrate'], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', DATABASE_URL: databaseUrl, RELAY_LOG_LEVEL: 'warn' }, stdio: 'inherit' });
      p.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`relay migrate exited ${code}`))));
    });
  }

  private async createDatabase(): Promise<string> {
    const name = `relay_bench_${randomBytes(5).toString('hex')}`;
    await this.adminQuery(`CREATE DATABASE ${name}`);
    this.databaseNames.push(name);
    return name;
  }

  private urlOf(name: string): string {
    const url = new URL(this.baseDbUrl);
    url.pathname = `/${name}`;
    return url.toString();
  }

  private async adminQuery(text: string): Promise<void> {
    const client = new pg.Client({ connectionString: this.baseDbUrl });
    await client.connect();
    try {
      await client.query(text);
    } finally {
      await client.end();
    }
  }

  /** Runs SQL against this run's database. */
  async query<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
    const client = new pg.Client({ connectionString: this.databaseUrl });
    await client.connect();
    try {
      return (await client.query<R>(text, values)).rows;
    } finally {
      await client.end();
    }
  }

  async plc(behaviour: Partial<PlcBehaviour> = {}): Promise<{ child: Plc; url: string }> {
    const child = Child.fork<PlcReply, import('./protocol.ts').PlcCommand>('plc', 'plc.ts', [JSON.stringify(behaviour)]);
    this.children.push(child as never);
    const ready = await child.next('ready');
    return { child, url: ready.url };
  }

  async fleet(index: number, spec: FleetSpec): Promise<{ child: Fleet; hostnames: string[] }> {
    const child = Child.fork<FleetReply, import('./protocol.ts').FleetCommand>(`fleet${index}`, 'fleet.ts');
    this.children.push(child as never);
    await child.next('ready');
    child.send({ cmd: 'start', spec, index });
    return { child, hostnames: (await child.next('listening')).hostnames };
  }

  async consumers(index: number, spec: ConsumerSpec): Promise<Consumers> {
    const child = Child.fork<ConsumerReply, import('./protocol.ts').ConsumerCommand>(`consumers${index}`, 'consumer.ts', [JSON.stringify(spec)]);
    this.children.push(child as never);
    await child.next('connected');
    return child;
  }

  async jetstreamConsumers(spec: import('./protocol.ts').JetstreamConsumerSpec): Promise<Child<import('./protocol.ts').JetstreamConsumerReply, import('./protocol.ts').JetstreamConsumerCommand>> {
    const child = Child.fork<import('./protocol.ts').JetstreamConsumerReply, import('./protocol.ts').JetstreamConsumerCommand>('jetstream-consumers', 'jetstream-consumer.ts');
    this.children.push(child as never);
    await child.next('ready');
    // Sent over IPC: a hundred DIDs per filtered subscriber is more than a command line holds.
    child.send({ cmd: 'start', spec });
    await child.next('connected', 60_000);
    return child;
  }

  /** The official @atproto/sync consumer (bench/procs/atproto-sync.ts), idle until it is sent `start`. */
  async officialConsumer(): Promise<Child<import('./protocol.ts').OfficialConsumerReply, import('./protocol.ts').OfficialConsumerCommand>> {
    const child = Child.fork<import('./protocol.ts').OfficialConsumerReply, import('./protocol.ts').OfficialConsumerCommand>('atproto-sync', 'atproto-sync.ts');
    this.children.push(child as never);
    await child.next('ready');
    return child;
  }

  /** Drain readers at `paths` (bench/procs/drain.ts), in one child process; readerPid is the process that reads. */
  async drains(index: number, url: string, paths: string[]): Promise<Child<import('./protocol.ts').DrainReply, import('./protocol.ts').DrainCommand> & { readerPid: number }> {
    const child = Child.fork<import('./protocol.ts').DrainReply, import('./protocol.ts').DrainCommand>(`drains${index}`, 'drain.ts');
    this.children.push(child as never);
    await child.next('ready');
    child.send({ cmd: 'start', url, paths });
    const { pid } = await child.next('connected', 120_000);
    return Object.assign(child, { readerPid: pid });
  }

  /** Starts `bin/relay.js serve` with bench settings (open crawling, loopback hosts allowed, quotas out of the way). */
  async relay(opts: { plcUrl: string; cpuProfDir?: string; env?: Record<string, string> }): Promise<RelayHandle> {
    const port = await freePort();
    const metricsPort = await freePort();
    const execArgv = opts.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${opts.cpuProfDir}`] : [];
    const proc = spawn(process.execPath, [...execArgv, 'bin/relay.js', 'serve'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', NODE_ENV: 'development', ...benchRelayEnv({ databaseUrl: this.databaseUrl, redisUrl: this.redisUrl, redisPrefix: this.redisPrefix, port, metricsPort, ...opts }) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const keep = (d: Buffer) => {
      out += d.toString();
      if (out.length > 200_000) out = out.slice(-100_000);
    };
    proc.stdout!.on('data', keep);
    proc.stderr!.on('data', keep);
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    const url = `http://127.0.0.1:${port}`;
    const handle: RelayHandle = { proc, url, wsUrl: `ws://127.0.0.1:${port}`, metricsUrl: `http://127.0.0.1:${metricsPort}`, output: () => out, exited };
    this.relayProcs.push(handle);
    await waitFor(
      'relay health',
      async () => {
        if (proc.exitCode !== null) throw new Error(`relay exited: ${out}`);
        try {
          return (await fetch(`${url}/_health`)).ok ? true : undefined;
        } catch {
          return undefined;
        }
      },
      60_000,
    );
    return handle;
  }

  /** Asks the relay to crawl every host, a few requests at a time. */
  async requestCrawl(relay: RelayHandle, hostnames: string[]): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < hostnames.length) {
        const hostname = hostnames[next++]!;
        const res = await fetch(`${relay.url}/xrpc/com.atproto.sync.requestCrawl`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ hostname }),
        });
        if (!res.ok) throw new Error(`requestCrawl ${hostname}: HTTP ${res.status} ${await res.text()}`);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
  }

  /** One Prometheus sample value from the relay (summed over label sets). */
  async metric(relay: RelayHandle, name: string): Promise<number> {
    const text = await (await fetch(`${relay.metricsUrl}/metrics`)).text();
    let sum = 0;
    for (const line of text.split('\n')) {
      if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return sum;
  }

  /** Stops every relay process this harness started, with SIGTERM (so a --cpu-prof profile gets written). */
  async stopRelay(): Promise<void> {
    await Promise.all(
      this.relayProcs.splice(0).map(async (r) => {
        if (r.proc.exitCode !== null) return;
        r.proc.kill('SIGTERM');
        if ((await Promise.race([r.exited, sleep(20_000).then(() => 'late' as const)])) === 'late') r.proc.kill('SIGKILL');
      }),
    );
  }

  async close(): Promise<void> {
    await Promise.all(this.children.map((c) => c.stop()));
    await this.stopRelay();
    for (const name of this.databaseNames) {
      await this.adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch((err: unknown) => console.error(`drop database: ${String(err)}`));
    }
    if (this.redisUrl && !this.servicesEnv) {
      // A shared Redis: remove only this run's keys.
      const redis = new Redis(this.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 2 });
      try {
        await redis.connect();
        let cursor = '0';
        do {
          const [next, keys] = await redis.scan(cursor, 'MATCH', `${this.redisPrefix}*`, 'COUNT', 1000);
          cursor = next;
          if (keys.length > 0) await redis.del(...keys);
        } while (cursor !== '0');
      } catch (err) {
        console.error(`redis cleanup: ${String(err)}`);
      } finally {
        redis.disconnect();
      }
    }
    if (this.servicesEnv) {
      await exec('bash', ['-c', 'source scripts/services.sh && stop_services'], { cwd: ROOT, env: { ...process.env, ...this.servicesEnv } });
    }
  }
}

/**
 * The tests' relay environment (loopback, open crawling, quotas lifted) plus what a fleet needs. Per-account points
 * budgets stay at their defaults: realistic accounts never reach them, and their Redis checks are part of ingest.
 */
function benchRelayEnv(opts: {
  databaseUrl: string;
  redisUrl: string;
  redisPrefix: string;
  port: number;
  metricsPort: number;
  plcUrl: string;
  env?: Record<string, string>;
}): Record<string, string> {
  const env = relayTestEnv(
    { port: opts.port, metricsPort: opts.metricsPort, databaseUrl: opts.databaseUrl, plcUrl: opts.plcUrl },
    {
      REDIS_URL: opts.redisUrl,
      RELAY_REDIS_PREFIX: opts.redisPrefix,
      RELAY_RATE_LIMIT_CRAWLS_PER_HOUR: '1000000',
      RELAY_MAX_CONSUMERS_PER_IP: '10000',
      // The whole fleet asks to be crawled at once and its PLC is local: outbound probe and resolution limits
      // (protection against abuse, tested in test/chaos) would only measure the set-up here.
      RELAY_CRAWL_PROBES_PER_MINUTE: '1000000',
      RELAY_NEW_HOSTS_PER_DAY: '0',
      RELAY_DID_RESOLUTIONS_PER_SEC: '100000',
    },
  );
  delete env.RELAY_ACCOUNT_POINTS_PER_HOUR;
  delete env.RELAY_ACCOUNT_POINTS_PER_DAY;
  return { ...env, ...opts.env };
}
