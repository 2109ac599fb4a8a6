// Runs the relay as a real child process (`node bin/relay.js ...`), for start-up, crash and CLI tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
export const RELAY_BIN = fileURLToPath(new URL('../bin/relay.js', import.meta.url));

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface RelayProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

export function spawnRelay(args: string[], env: Record<string, string>): RelayProcess {
  const child = spawn(process.execPath, [RELAY_BIN, ...args], {
    cwd: REPO_ROOT,
    // Any free metrics port unless one is asked for: the default (2471) would collide between relays on one machine.
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', RELAY_METRICS_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

/** Runs a CLI command to completion. */
export async function runRelayCli(args: string[], env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const p = spawnRelay(args, env);
  const code = await p.exited;
  return { code, output: p.output() };
}

export async function waitForHealth(baseUrl: string, timeoutMs = 30_000, proc?: RelayProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(`${baseUrl}/_health`);
      if (res.ok) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`relay at ${baseUrl} not healthy in time\n${proc?.output() ?? ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A relay `serve` process that a test kills with SIGKILL and starts again on the same settings. */
export class KillableRelay {
  private proc: RelayProcess | null = null;
  private readonly env: Record<string, string>;
  private readonly baseUrl: string;

  constructor(env: Record<string, string>, baseUrl: string) {
    this.env = env;
    this.baseUrl = baseUrl;
  }

  async start(): Promise<void> {
    this.proc = spawnRelay(['serve'], this.env);
    await waitForHealth(this.baseUrl, 30_000, this.proc);
  }

  async kill(): Promise<void> {
    if (!this.proc) return;
    this.proc.child.kill('SIGKILL');
    await this.proc.exited;
    this.proc = null;
  }
}

/**
 * Environment for a relay child process in tests: loopback, fake hosts allowed, open admission, and every limit
 * that is not under test lifted (event quotas, account limit and budget, read rate limit). `extra` adds or overrides.
 */
export function relayTestEnv(
  opts: { port: number; metricsPort?: number; databaseUrl: string; plcUrl: string },
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    RELAY_PORT: String(opts.port),
    RELAY_METRICS_PORT: String(opts.metricsPort ?? 0),
    RELAY_BIND_HOST: '127.0.0.1',
    DATABASE_URL: opts.databaseUrl,
    RELAY_PLC_URL: opts.plcUrl,
    RELAY_ALLOW_INSECURE_HOSTS: 'true',
    RELAY_CRAWL_POLICY: 'open',
    RELAY_LOG_LEVEL: 'warn',
    RELAY_HOST_EVENTS_PER_HOUR: '100000000',
    RELAY_HOST_EVENTS_PER_DAY: '1000000000',
    RELAY_HOST_ACCOUNT_LIMIT: '1000000',
    RELAY_ACCOUNT_POINTS_PER_HOUR: '0',
    RELAY_ACCOUNT_POINTS_PER_DAY: '0',
    RELAY_RATE_LIMIT_READS_PER_5MIN: '1000000',
    RELAY_SYNC_RATCHET_COMMITS: '1',
    ...extra,
  };
}
