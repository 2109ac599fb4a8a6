// A host over its event quota is disconnected, shown as throttled, and resumed from its cursor when the window
// resets: nothing it published is lost, and nothing past the limit is relayed early. The relay's clock is moved to
// the end of the hour rather than waited for.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorld, type World } from '../helpers/world.ts';
import type { FakePds } from '../../dev-env/fake-pds.ts';
import type { TestRelay } from '../helpers/relay.ts';
import { TestConsumer, eventually } from '../helpers/consumer.ts';
import { perDid } from '../../dev-env/compare.ts';
import { TestClock } from '../../dev-env/clock.ts';

let world: World;
let pds: FakePds;
let relay: TestRelay;
const HOUR_MS = 3_600_000;
const LIMIT = 20;
const clock = TestClock.inWindow(HOUR_MS);

async function hostStatus(): Promise<{ status: string }> {
  return (await (await fetch(`${relay.url}/xrpc/com.atproto.sync.getHostStatus?hostname=${pds.hostname}`)).json()) as { status: string };
}

beforeAll(async () => {
  world = await startWorld({ config: { hostEventsPerHour: LIMIT, hostEventsPerDay: 1000 }, overrides: { clock } });
  ({ relay } = world);
  pds = world.hosts[0]!;
});

afterAll(async () => {
  await world?.close();
});

describe('host event quota', () => {
  it('throttles at the limit and resumes from the cursor when the window resets', async () => {
    const consumer = await TestConsumer.connect(relay.wsUrl);
    const account = await pds.createAccount(); // 3 events
    for (let i = 0; i < 37; i++) await pds.createRecord(account, `post ${i}`); // 37 more: 40 in all
    await consumer.waitFor((c) => c.events.length >= LIMIT, 10_000, 'the first window’s events');
    await eventually(async () => (await hostStatus()).status === 'throttled', 10_000, 'throttled status');
    // Within the first window, exactly the limit got through.
    expect(consumer.events.length).toBe(LIMIT);
    // A PDS admin can see why: status, usage against the limit, and when it resets.
    const view = (await (await fetch(`${relay.url}/api/host-status?hostname=${pds.hostname}`)).json()) as Record<string, unknown>;
    expect(view).toMatchObject({ hostname: pds.hostname, known: true, status: 'throttled', limits: { perHour: LIMIT, perDay: 1000 } });
    expect((view.usage as Array<{ window: string; count: number }>)[0]).toMatchObject({ window: 'hour', count: LIMIT });
    // Until the end of the hour, on the relay's clock.
    expect(Date.parse(view.throttledUntil as string)).toBe(Math.ceil(clock.now() / HOUR_MS) * HOUR_MS);
    const unknown = (await (await fetch(`${relay.url}/api/host-status?hostname=elsewhere.example.com`)).json()) as Record<string, unknown>;
    expect(unknown).toMatchObject({ known: false });
    const metrics = await (await fetch(`${relay.metricsUrl}/metrics`)).text();
    expect(metrics).toMatch(/relay_host_throttles_total [1-9]/);
    await new Promise((r) => setTimeout(r, 300));
    expect(consumer.events.length).toBe(LIMIT);
    // After the reset the rest arrives (the next hour has room for it), in order, with nothing lost or repeated.
    clock.advancePastWindow(HOUR_MS);
    await consumer.waitFor((c) => c.events.length === 40, 10_000, 'the rest after the reset');
    expect(perDid(consumer.events)).toEqual(perDid(pds.events));
    await eventually(async () => (await hostStatus()).status === 'active', 10_000, 'active again');
    consumer.close();
  });
});
