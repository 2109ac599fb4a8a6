// The replay window capped by size: the oldest events are pruned until the frames kept fit the cap (as estimated
// from recent frame sizes); replay serves the newest events, and an older cursor gets OutdatedCursor.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorld, type World } from '../helpers/world.ts';
import { TestConsumer, eventually } from '../helpers/consumer.ts';
import { sql } from 'drizzle-orm';
import { hostEventCounts } from '../../src/storage/schema.ts';
import { EVENT_COUNTS_HORIZON_MS } from '../../src/storage/events.ts';

const CAP = 60_000;
let world: World;

beforeAll(async () => {
  world = await startWorld({ config: { replayMaxBytes: CAP }, overrides: { retentionIntervalMs: 100 } });
});

afterAll(async () => {
  await world?.close();
});

/** The frames a cursor-0 consumer is replayed, once it has caught up with `head`. */
async function windowFrames(head: number): Promise<Array<{ seq: number; bytes: number }>> {
  const c = await TestConsumer.connect(world.relay.wsUrl, 0);
  await c.waitFor((x) => x.lastSeq === head, 10_000, 'the window');
  c.close();
  return c.events.map((e) => ({ seq: e.seq, bytes: e.bytes.length }));
}

describe('size-capped replay window', () => {
  it('keeps the newest events within the byte cap', async () => {
    const pds = world.hosts[0]!;
    const live = await TestConsumer.connect(world.relay.wsUrl);
    const account = await pds.createAccount();
    const text = 'y'.repeat(4000);
    for (let i = 0; i < 40; i++) await pds.createRecord(account, `${i} ${text}`);
    await live.waitFor((c) => c.events.filter((e) => e.t === '#commit').length === 40, 10_000, 'all commits');
    const total = live.events.reduce((n, e) => n + e.bytes.length, 0);
    expect(total).toBeGreaterThan(3 * CAP);

    await eventually(async () => {
      const frames = await windowFrames(live.lastSeq);
      return frames.reduce((n, f) => n + f.bytes, 0) <= CAP * 1.1;
    }, 15_000, 'pruning to the cap');
    const kept = await windowFrames(live.lastSeq);
    const bytes = kept.reduce((n, f) => n + f.bytes, 0);
    // Close to the cap, not far under it: only what had to go was pruned.
    expect(bytes).toBeGreaterThan(CAP * 0.8);
    // The window is the newest events, contiguous up to the head.
    expect(kept.map((f) => f.seq)).toEqual(live.events.filter((e) => e.seq >= kept[0]!.seq).map((e) => e.seq));

    const old = await TestConsumer.connect(world.relay.wsUrl, 1);
    await old.waitFor((c) => c.lastSeq === live.lastSeq, 10_000, 'replay after the info');
    expect(old.frames[0]!.frame).toMatchObject({ op: 1, t: '#info', body: { name: 'OutdatedCursor' } });
    old.close();
    live.close();
  });

  it('prunes the per-host event counts past their horizon as it prunes the log', async () => {
    const { db } = world.relay.relay.ctx.database;
    const minute = (ms: number) => new Date(Math.floor(ms / 60_000) * 60_000);
    const hostId = 424242;
    await db.insert(hostEventCounts).values([
      { hostId, minute: minute(Date.now() - EVENT_COUNTS_HORIZON_MS - 60_000), accepted: 1, rejected: 0 },
      { hostId, minute: minute(Date.now() - EVENT_COUNTS_HORIZON_MS + 600_000), accepted: 2, rejected: 0 },
    ]);
    const kept = async () => (await db.select({ accepted: hostEventCounts.accepted }).from(hostEventCounts).where(sql`${hostEventCounts.hostId} = ${hostId}`)).map((r) => r.accepted);
    await eventually(async () => (await kept()).length === 1, 10_000, 'the old count pruned');
    expect(await kept()).toEqual([2]);
  });
});
