// Redis trouble is visible: while the quota counters cannot be reached, /_health says degraded (the firehose still
// serves; hosts are held) and relay_quota_counters_up is 0. When Redis comes up, both recover by themselves.
import { afterAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { startWorld, type World } from '../helpers/world.ts';
import { freePort } from '../../dev-env/process.ts';
import { metricValue } from '../helpers/relay.ts';
import { eventually } from '../helpers/consumer.ts';

let world: World | undefined;
let redis: ChildProcess | undefined;
afterAll(async () => {
  redis?.kill('SIGKILL');
  await world?.close();
});

async function health(): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${world!.relay.url}/_health`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('quota counters health', () => {
  it('reports Redis down as degraded, and recovers by itself when it comes up', async () => {
    const port = await freePort();
    // Nothing listens on the port yet.
    world = await startWorld({ config: { redisUrl: `redis://127.0.0.1:${port}` } });
    const down = await health();
    expect(down).toMatchObject({ status: 200, body: { status: 'degraded', counters: 'unavailable', countersKind: 'redis' } });
    expect(await metricValue(world.relay.metricsUrl, 'relay_quota_counters_up')).toBe(0);

    redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    await eventually(async () => (await health()).body.status === 'ok', 30_000, 'health to recover');
    expect((await health()).body).toMatchObject({ counters: 'ok' });
    expect(await metricValue(world.relay.metricsUrl, 'relay_quota_counters_up')).toBe(1);
  });
});
