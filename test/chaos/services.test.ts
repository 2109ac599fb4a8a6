// Service faults: the relay's PostgreSQL is stopped hard (as in a crash) and restarted mid-stream, and its Redis
// is stopped for a minute and restarted, on private instances. The relay must keep running, recover by itself and
// lose nothing it accepted, with consumers connected throughout.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { startPrivatePostgres, startPrivateRedis, type PrivatePostgres, type PrivateRedis } from '../../dev-env/services.ts';
import { expectEveryEventOnce } from './expect-report.ts';
import { formatReport, killRunningRelays, runChaos } from '../../dev-env/chaos.ts';

let postgres: PrivatePostgres;
let redis: PrivateRedis;

beforeAll(async () => {
  [postgres, redis] = await Promise.all([startPrivatePostgres(), startPrivateRedis()]);
});

afterAll(async () => {
  killRunningRelays();
  await postgres?.destroy();
  await redis?.destroy();
});

describe('chaos: PostgreSQL and Redis faults', () => {
  it('recovers from a PostgreSQL restart and a Redis outage mid-stream without losing anything', { timeout: 480_000 }, async () => {
    const client = new pg.Client({ connectionString: postgres.url });
    await client.connect();
    await client.query('CREATE DATABASE relay_chaos');
    await client.end();
    const report = await runChaos({
      databaseUrl: postgres.url.replace(/\/postgres$/, '/relay_chaos'),
      redisUrl: redis.url,
      hosts: 2,
      accountsPerHost: 3,
      consumers: 2,
      kills: 1,
      eventsPerLife: 150,
      publishPerSecond: 300,
      faults: [
        {
          name: 'postgresql stopped hard for 2 s and restarted',
          run: async () => {
            await postgres.stop();
            await new Promise((r) => setTimeout(r, 2000));
            await postgres.start();
          },
        },
        {
          name: 'redis stopped for a minute and restarted',
          run: async () => {
            await redis.stop();
            await new Promise((r) => setTimeout(r, 60_000));
            await redis.start();
          },
        },
      ],
      log: (l) => console.log(`[chaos] ${l}`),
    });
    console.log(formatReport('services', report));
    expect(report.faults).toHaveLength(2);
    expectEveryEventOnce(report);
  });
});
