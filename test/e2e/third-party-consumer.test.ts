// A firehose consumer written by someone else (@atproto/sync, installed from npm) reads the relay's stream: every
// event decodes, and with commit verification on (signatures against the DID documents, via our fake PLC) every
// commit is accepted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakePlc } from '../../dev-env/fake-plc.ts';
import { startWorld, type World } from '../helpers/world.ts';
import type { FakePds } from '../../dev-env/fake-pds.ts';
import type { TestRelay } from '../helpers/relay.ts';
import { eventually } from '../helpers/consumer.ts';
import { verifyingFirehose } from '../helpers/atproto-sync.ts';

let world: World;
let plc: FakePlc;
let pds: FakePds;
let relay: TestRelay;

beforeAll(async () => {
  world = await startWorld();
  ({ plc, relay } = world);
  pds = world.hosts[0]!;
});

afterAll(async () => {
  await world?.close();
});

describe('@atproto/sync Firehose against the relay', () => {
  it('decodes every event and verifies every commit', async () => {
    const { firehose, events, errors } = verifyingFirehose(relay.wsUrl, plc.url);
    try {
      const accounts = [await pds.createAccount(), await pds.createAccount({ curve: 'p256' })];
      for (let i = 0; i < 20; i++) await pds.createRecord(accounts[i % 2]!, `post ${i}`);
      await pds.writeRecords(accounts[0]!, [
        { action: 'update', collection: 'app.bsky.feed.post', rkey: [...accounts[0]!.repo.records.keys()][0]!.split('/')[1]!, record: { text: 'edited' } },
        { action: 'delete', collection: 'app.bsky.feed.post', rkey: [...accounts[0]!.repo.records.keys()][1]!.split('/')[1]! },
      ]);
      // 2 x (identity, account, sync) + 21 commits: 22 record ops come out as one CommitEvt each.
      const ops = () => events.filter((e) => e.event === 'create' || e.event === 'update' || e.event === 'delete');
      await eventually(() => ops().length >= 22, 30_000, 'the consumer to receive every commit');
      expect(errors).toEqual([]);
      expect(events.filter((e) => e.event === 'identity')).toHaveLength(2);
      expect(events.filter((e) => e.event === 'account')).toHaveLength(2);
      expect(events.filter((e) => e.event === 'sync')).toHaveLength(2);
      expect(ops().map((e) => e.event).sort()).toEqual([...Array(20).fill('create'), 'delete', 'update'].sort());
    } finally {
      await firehose.destroy();
    }
  });
});
