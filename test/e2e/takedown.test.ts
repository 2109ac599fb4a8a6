// An operator takedown withholds an account's repo events, live and on replay, and announces it with #account;
// restoring it brings them back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorld, type World } from '../helpers/world.ts';
import type { FakePds } from '../../dev-env/fake-pds.ts';
import { metricValue, TEST_ADMIN_PASSWORD, type TestRelay } from '../helpers/relay.ts';
import { TestConsumer, eventually } from '../helpers/consumer.ts';
import { runRelayCli } from '../../dev-env/process.ts';

let world: World;
let pds: FakePds;
let relay: TestRelay;

const cli = (args: string[]) => runRelayCli(args, { RELAY_ADMIN_PASSWORD: TEST_ADMIN_PASSWORD, RELAY_PORT: String(relay.port) });
const commitsOf = (c: TestConsumer, did: string) => c.events.filter((e) => e.t === '#commit' && e.body.repo === did).length;

beforeAll(async () => {
  world = await startWorld();
  ({ relay } = world);
  pds = world.hosts[0]!;
});

afterAll(async () => {
  await world?.close();
});

describe('account takedown', () => {
  it('withholds the account live and on replay, announces it, and restores it', async () => {
    const live = await TestConsumer.connect(relay.wsUrl);
    const target = await pds.createAccount();
    const other = await pds.createAccount();
    for (let i = 0; i < 3; i++) {
      await pds.createRecord(target, `t${i}`);
      await pds.createRecord(other, `o${i}`);
    }
    await live.waitFor((c) => c.events.length === 12, 10_000, 'first events');

    const down = await cli(['accounts', 'takedown', target.did]);
    expect(down.output).toContain(`${target.did}: inactive (takendown)`);
    await live.waitFor((c) => c.events.length === 13, 10_000, 'takedown announcement');
    expect(live.events.at(-1)).toMatchObject({ t: '#account', body: { did: target.did, active: false, status: 'takendown' } });
    const status = await (await fetch(`${relay.url}/xrpc/com.atproto.sync.getRepoStatus?did=${target.did}`)).json();
    expect(status).toEqual({ did: target.did, active: false, status: 'takendown' });

    // New commits of the account are dropped; others flow.
    const before = await metricValue(relay.metricsUrl, 'relay_events_rejected_total{reason="account_inactive"}');
    await pds.createRecord(target, 'while down');
    await pds.createRecord(other, 'other while down');
    await live.waitFor((c) => commitsOf(c, other.did) === 4, 10_000, 'other account');
    await eventually(async () => (await metricValue(relay.metricsUrl, 'relay_events_rejected_total{reason="account_inactive"}')) === before + 1, 10_000, 'drop counted');
    expect(commitsOf(live, target.did)).toBe(3);

    // Replay leaves out the account's earlier commits too, but keeps its #account events.
    const replay = await TestConsumer.connect(relay.wsUrl, 0);
    await replay.waitFor((c) => c.lastSeq === live.lastSeq, 10_000, 'replay');
    expect(commitsOf(replay, target.did)).toBe(0);
    expect(commitsOf(replay, other.did)).toBe(4);
    expect(replay.events.some((e) => e.t === '#account' && e.body.status === 'takendown')).toBe(true);
    replay.close();

    // Restore: announced, replay serves the old commits again, new commits flow.
    expect((await cli(['accounts', 'restore', target.did])).output).toContain(`${target.did}: active`);
    await live.waitFor((c) => c.events.some((e) => e.t === '#account' && e.body.did === target.did && e.body.active === true && e.seq > 13), 10_000, 'restore announcement');
    await pds.createRecord(target, 'after restore');
    await live.waitFor((c) => commitsOf(c, target.did) === 4, 10_000, 'commit after restore');
    const again = await TestConsumer.connect(relay.wsUrl, 0);
    await again.waitFor((c) => c.lastSeq === live.lastSeq, 10_000, 'replay after restore');
    expect(commitsOf(again, target.did)).toBe(4);
    again.close();
    live.close();

    expect((await cli(['accounts', 'takedown', 'did:plc:notknowntothisrelay'])).output).toContain('RepoNotFound');
  });
});
