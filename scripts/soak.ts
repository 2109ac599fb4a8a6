// The operators' soak: the chaos scenario of test/chaos at length, on a private PostgreSQL and Redis that it may
// crash. Fake hosts publish signed commits without pause; the relay process is SIGKILLed about twice a minute,
// PostgreSQL is stopped hard and restarted every few minutes, and Redis is down for a minute once. Prints the counts
// (sent, relayed, rejected by reason, lost, duplicated) and exits non-zero unless nothing was lost or duplicated.
//
//   npm run soak -- --minutes 10 [--hosts 4] [--accounts 5] [--rate 2000] [--consumers 3] [--redis-outage 60]
import { parseArgs } from 'node:util';
import pg from 'pg';
import { startPrivatePostgres, startPrivateRedis } from '../dev-env/services.ts';
import { formatReport, runChaos, type Fault } from '../dev-env/chaos.ts';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    hosts: { type: 'string', default: '4' },
    accounts: { type: 'string', default: '5' },
    rate: { type: 'string', default: '2000' },
    consumers: { type: 'string', default: '3' },
    'redis-outage': { type: 'string', default: '60' },
  },
});
const minutes = Number(values.minutes);
const num = (name: string, v: string | undefined) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number`);
  return n;
};
num('minutes', values.minutes);

const log = (line: string) => console.log(`${new Date().toISOString()} ${line}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const postgres = await startPrivatePostgres();
const redis = await startPrivateRedis();
// Interrupted: remove the private services (the relay child is killed by the scenario's exit hook).
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping`);
    void Promise.allSettled([postgres.destroy(), redis.destroy()]).then(() => process.exit(130));
  });
}
let exitCode = 1;
try {
  const client = new pg.Client({ connectionString: postgres.url });
  await client.connect();
  await client.query('CREATE DATABASE relay_soak');
  await client.end();
  const faults: Fault[] = [];
  const pgRestarts = Math.max(1, Math.floor(minutes / 3));
  for (let i = 0; i < pgRestarts; i++) {
    faults.push({ name: 'postgresql crash + restart', run: async () => (await postgres.stop(), await sleep(3000), await postgres.start()) });
  }
  const outage = num('redis-outage', values['redis-outage']) * 1000;
  faults.push({ name: `redis down ${outage / 1000} s`, run: async () => (await redis.stop(), await sleep(outage), await redis.start()) });
  log(`soak: ${minutes} min, private postgres ${postgres.port}, redis ${redis.port}`);
  const report = await runChaos({
    databaseUrl: postgres.url.replace(/\/postgres$/, '/relay_soak'),
    redisUrl: redis.url,
    hosts: num('hosts', values.hosts),
    accountsPerHost: num('accounts', values.accounts),
    consumers: num('consumers', values.consumers),
    publishPerSecond: num('rate', values.rate),
    kills: Math.max(10, Math.round(minutes * 2)),
    faults,
    minDurationMs: minutes * 60_000,
    spreadOverMs: minutes * 60_000,
    eventsPerLife: 200,
    drainTimeoutMs: 300_000,
    log,
  });
  console.log(formatReport('soak', report));
  exitCode = report.lost === 0 && report.duplicated === 0 && report.outOfOrder === 0 && report.reordered === 0 && report.crashes === 0 ? 0 : 1;
  log(exitCode === 0 ? 'soak passed: nothing lost, duplicated or reordered' : 'soak FAILED');
} finally {
  await postgres.destroy();
  await redis.destroy();
}
process.exit(exitCode);
