// Private PostgreSQL and Redis instances for tests that stop and restart them (the suite's shared servers must never
// be touched). Loopback only, on free ports, removed by `destroy()`. Mirrors scripts/services.sh.
import { execFile } from 'node:child_process';
import { chownSync, mkdtempSync, readdirSync, rmSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './process.ts';

const run = promisify(execFile);

function pgBin(): string {
  for (const v of readdirSync('/usr/lib/postgresql').sort().reverse()) {
    const bin = `/usr/lib/postgresql/${v}/bin`;
    if (existsSync(`${bin}/initdb`)) return bin;
  }
  throw new Error('PostgreSQL binaries not found under /usr/lib/postgresql (apt-get install postgresql)');
}

/** Runs a PostgreSQL tool as the postgres system user when we are root (initdb refuses to run as root). */
async function asPostgres(cmd: string, args: string[]): Promise<void> {
  const root = process.getuid?.() === 0;
  await run(root ? 'runuser' : cmd, root ? ['-u', 'postgres', '--', cmd, ...args] : args, { cwd: '/' });
}

export interface PrivatePostgres {
  url: string;
  port: number;
  start(): Promise<void>;
  /** Stops at once, like a crash of the server (`-m immediate`). */
  stop(): Promise<void>;
  restart(): Promise<void>;
  destroy(): Promise<void>;
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = pgBin();
  const dir = mkdtempSync(join(tmpdir(), 'relay-chaos-pg-'));
  const data = join(dir, 'data');
  if (process.getuid?.() === 0) {
    const { uid, gid } = await postgresIds();
    chownSync(dir, uid, gid);
  }
  const port = await freePort();
  await asPostgres(`${bin}/initdb`, ['-D', data, '-U', 'relay', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  // Durable settings (unlike the suite's shared server): these instances are crashed on purpose, and with
  // synchronous_commit=off PostgreSQL may forget transactions it already acknowledged, which no relay can survive.
  const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=100`;
  const pg: PrivatePostgres = {
    url: `postgres://relay@127.0.0.1:${port}/postgres`,
    port,
    start: () => asPostgres(`${bin}/pg_ctl`, ['-D', data, '-l', join(dir, 'pg.log'), '-w', '-o', opts, 'start']),
    stop: () => asPostgres(`${bin}/pg_ctl`, ['-D', data, '-m', 'immediate', '-w', 'stop']),
    async restart() {
      await pg.stop();
      await pg.start();
    },
    async destroy() {
      await pg.stop().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await pg.start();
  return pg;
}

async function postgresIds(): Promise<{ uid: number; gid: number }> {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('no postgres system user');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

export interface PrivateRedis {
  url: string;
  port: number;
  start(): Promise<void>;
  stop(): Promise<void>;
  destroy(): Promise<void>;
}

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'relay-chaos-redis-'));
  const port = await freePort();
  const pidfile = join(dir, 'redis.pid');
  const redis: PrivateRedis = {
    url: `redis://127.0.0.1:${port}`,
    port,
    async start() {
      await run('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'yes', '--pidfile', pidfile, '--logfile', join(dir, 'redis.log'), '--dir', dir]);
      for (let i = 0; i < 100; i++) {
        try {
          await run('redis-cli', ['-p', String(port), 'ping']);
          return;
        } catch {
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      throw new Error('private redis did not start');
    },
    async stop() {
      if (!existsSync(pidfile)) return;
      const pid = Number(readFileSync(pidfile, 'utf8'));
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
      rmSync(pidfile, { force: true });
      // Wait until the port is free again so a restart can bind it.
      for (let i = 0; i < 100; i++) {
        try {
          process.kill(pid, 0);
          await new Promise((r) => setTimeout(r, 20));
        } catch {
          return;
        }
      }
    },
    async destroy() {
      await redis.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await redis.start();
  return redis;
}
