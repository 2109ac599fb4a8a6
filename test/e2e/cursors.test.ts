// Cursor rules on subscribeRepos: 0 = the whole window, ahead of the relay = FutureCursor, older than the window =
// #info OutdatedCursor then the whole window.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorld, type World } from '../helpers/world.ts';
import type { FakePds } from '../../dev-env/fake-pds.ts';
import type { TestRelay } from '../helpers/relay.ts';
import { TestConsumer, eventually } from '../helpers/consumer.ts';

let world: World;
let pds: FakePds;
let relay: TestRelay;
const WINDOW_MS = 1500;

beforeAll(async () => {
  world = await startWorld({ config: { replayWindowMs: WINDOW_MS } });
  ({ relay } = world);
  pds = world.hosts[0]!;
});

afterAll(async () => {
  await world?.close();
});

describe('cursors', () => {
  it('answers cursor 0, a future cursor, and a cursor older than the pruned window', async () => {
    const live = await TestConsumer.connect(relay.wsUrl);
    const account = await pds.createAccount();
    for (let i = 0; i < 5; i++) await pds.createRecord(account, `old ${i}`);
    await live.waitFor((c) => c.events.length === 8, 10_000, 'first events');

    const all = await TestConsumer.connect(relay.wsUrl, 0);
    await all.waitFor((c) => c.events.length === 8, 10_000, 'whole window');
    // Cursor 0 replays the window with no #info first.
    expect(all.frames[0]!.frame).toMatchObject({ op: 1, t: '#identity' });
    expect(all.events.map((e) => e.seq)).toEqual(live.events.map((e) => e.seq));
    all.close();

    const future = await TestConsumer.connect(relay.wsUrl, live.lastSeq + 100);
    await future.waitFor((c) => c.closed, 10_000, 'close');
    expect(future.frames.map((f) => f.frame)).toEqual([{ op: -1, error: 'FutureCursor', message: 'Cursor in the future.' }]);

    // Let the first events age out of the window, then publish newer ones.
    await new Promise((r) => setTimeout(r, WINDOW_MS + 200));
    for (let i = 0; i < 3; i++) await pds.createRecord(account, `new ${i}`);
    await live.waitFor((c) => c.events.length === 11, 10_000, 'newer events');
    await eventually(async () => {
      const probe = await TestConsumer.connect(relay.wsUrl, 1);
      await probe.waitFor((c) => c.frames.length >= 1, 5000, 'first frame');
      const outdated = probe.frames[0]!.frame.op === 1 && (probe.frames[0]!.frame as { t: string }).t === '#info';
      probe.close();
      return outdated;
    }, 15_000, 'pruning');
    const old = await TestConsumer.connect(relay.wsUrl, 1);
    // How much of the window is left by now depends on how long pruning took; newer events follow it live.
    await old.waitFor((c) => c.frames.length >= 1, 10_000, 'the info');
    for (let i = 0; i < 2; i++) await pds.createRecord(account, `live ${i}`);
    await live.waitFor((c) => c.events.length === 13, 10_000, 'live events');
    await old.waitFor((c) => c.events.length >= 2 && c.lastSeq === live.lastSeq, 10_000, 'window after the info, then live');
    expect(old.frames[0]!.frame).toMatchObject({ op: 1, t: '#info', body: { name: 'OutdatedCursor' } });
    // What follows is exactly the retained window: the newest events, in order, then live.
    const retained = old.events.map((e) => e.seq);
    expect(retained).toEqual(live.events.filter((e) => e.seq >= retained[0]!).map((e) => e.seq));
    expect(retained[0]).toBeGreaterThan(1);
    old.close();
    live.close();
  });
});
