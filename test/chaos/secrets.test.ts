// Secrets never appear in logs or metrics: the admin password and the passwords inside DATABASE_URL and REDIS_URL
// are given to a real relay process logging at trace level, which is then driven through admin calls (right and
// wrong passwords, Basic and Bearer), crawling, a firehose consumer, and failures (unreachable database, malformed
// URL). Its whole output, /metrics and the admin API's answers are searched for every secret.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakePlc } from '../../dev-env/fake-plc.ts';
import { FakePds } from '../../dev-env/fake-pds.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { TestConsumer, eventually } from '../helpers/consumer.ts';
import { freePort, runRelayCli, spawnRelay, waitForHealth, type RelayProcess } from '../../dev-env/process.ts';
import { requestCrawl } from '../helpers/relay.ts';


const ADMIN = 'adm1n-S3cret-pw';
const DB_PW = 'db-S3cret-pw';
const REDIS_PW = 'redis-S3cret-pw';
const SECRETS = [ADMIN, DB_PW, REDIS_PW, Buffer.from(`admin:${ADMIN}`).toString('base64')];

let plc: FakePlc;
let pds: FakePds;
let proc: RelayProcess;
let base: string;
let metricsUrl: string;
let env: Record<string, string>;

function withPassword(url: string, password: string): string {
  const u = new URL(url);
  u.password = password;
  if (!u.username) u.username = u.protocol.startsWith('redis') ? 'default' : 'relay';
  return u.toString();
}

function expectNoSecret(where: string, text: string): void {
  for (const s of SECRETS) expect(text.includes(s), `${where} contains a secret`).toBe(false);
}

beforeAll(async () => {
  plc = await FakePlc.start();
  pds = await FakePds.start({ plc });
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const metricsPort = await freePort();
  metricsUrl = `http://127.0.0.1:${metricsPort}`;
  // The suite's PostgreSQL trusts loopback and its Redis has no password, so the passwords are carried but unused.
  env = {
    RELAY_PORT: String(port),
    RELAY_METRICS_PORT: String(metricsPort),
    RELAY_BIND_HOST: '127.0.0.1',
    DATABASE_URL: withPassword(await createTestDatabase(), DB_PW),
    ...(process.env.TEST_REDIS_URL ? { REDIS_URL: withPassword(process.env.TEST_REDIS_URL, REDIS_PW), RELAY_REDIS_PREFIX: `secrets-${port}:` } : {}),
    RELAY_ADMIN_PASSWORD: ADMIN,
    RELAY_PLC_URL: plc.url,
    RELAY_ALLOW_INSECURE_HOSTS: 'true',
    RELAY_CRAWL_POLICY: 'open',
    RELAY_LOG_LEVEL: 'trace',
  };
  proc = spawnRelay(['serve'], env);
  await waitForHealth(base, 170_000, proc);
}, 180_000);

afterAll(async () => {
  proc?.child.kill('SIGKILL');
  await proc?.exited;
  await pds?.close();
  await plc?.close();
});

describe('chaos: secrets', () => {
  it('never logs or exposes the admin password or service credentials', async () => {
    const bearer = { authorization: `Bearer ${ADMIN}` };
    const basic = { authorization: `Basic ${Buffer.from(`admin:${ADMIN}`).toString('base64')}` };
    const answers: string[] = [];
    const call = async (path: string, init: RequestInit = {}) => {
      const res = await fetch(`${base}${path}`, init);
      answers.push(await res.text());
      return res.status;
    };
    expect(await call('/admin/hosts', { headers: bearer })).toBe(200);
    expect(await call('/admin/hosts', { headers: basic })).toBe(200);
    expect(await call('/admin/hosts', { headers: { authorization: `Bearer ${ADMIN}x` } })).toBe(401);
    expect(await call('/admin/hosts', { headers: { authorization: `Basic ${Buffer.from(`x:${ADMIN.slice(0, -1)}`).toString('base64')}` } })).toBe(401);
    expect(await call(`/admin/hosts?password=${ADMIN}`)).toBe(401);
    expect((await requestCrawl(base, pds.hostname)).status).toBe(200);
    await eventually(async () => (await fetch(`${metricsUrl}/metrics`).then((r) => r.text())).includes('relay_upstream_connections 1'), 20_000, 'upstream connection');
    const consumer = await TestConsumer.connect(base.replace('http', 'ws'));
    const a = await pds.createAccount();
    await pds.createRecord(a, 'hello');
    await consumer.waitFor((c) => c.events.length >= 4, 20_000, 'events');
    consumer.close();
    expect(await call('/admin/consumers', { headers: bearer })).toBeLessThan(500);
    const metrics = await (await fetch(`${metricsUrl}/metrics`)).text();
    await eventually(() => proc.output().includes('request completed'), 10_000, 'trace logs');

    // Failures print their causes: an unreachable database and a malformed URL, both carrying the password.
    const down = await runRelayCli(['migrate'], { ...env, DATABASE_URL: `postgres://relay:${DB_PW}@127.0.0.1:${await freePort()}/x` });
    expect(down.code).not.toBe(0);
    const malformed = await runRelayCli(['migrate'], { ...env, DATABASE_URL: `postgres://relay:${DB_PW}@127.0.0.1:notaport/x` });
    expect(malformed.code).not.toBe(0);
    const malformedRedis = await runRelayCli(['migrate'], { ...env, REDIS_URL: `redis://default:${REDIS_PW}@[bad` });
    expect(malformedRedis.code).not.toBe(0);

    const logs = proc.output();
    console.log(
      `[chaos] secrets: searched ${logs.length} bytes of trace logs, ${metrics.length} bytes of /metrics, ${answers.length} admin answers, ` +
        `${down.output.length + malformed.output.length + malformedRedis.output.length} bytes of failure output for ${SECRETS.length} secrets`,
    );
    expectNoSecret('relay logs', logs);
    // The request with the password in its query string is logged, with the value redacted.
    expect(logs).toContain('password=%5Bredacted%5D');
    expectNoSecret('/metrics', metrics);
    answers.forEach((a, i) => expectNoSecret(`admin answer ${i}`, a));
    expectNoSecret('unreachable-database output', down.output);
    expectNoSecret('malformed DATABASE_URL output', malformed.output);
    expectNoSecret('malformed REDIS_URL output', malformedRedis.output);
    // The failures still say what is wrong.
    expect(malformed.output).toMatch(/DATABASE_URL/);
    expect(malformedRedis.output).toMatch(/REDIS_URL/);
  });
});
