// `relay collections backfill`: repos the relay knew before it kept the collection index get their entries from the
// host's listRepos and describeRepo, while the relay runs; a run that stopped resumes from its saved page.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { startWorld, type World } from '../helpers/world.ts';
import type { FakeAccount, FakePds } from '../../dev-env/fake-pds.ts';
import { eventually } from '../helpers/consumer.ts';
import { runRelayCli } from '../../dev-env/process.ts';
import { backfillProgress } from '../../src/storage/collections.ts';
import { getHost } from '../../src/storage/hosts.ts';

let world: World;
let pds: FakePds;
const accounts: FakeAccount[] = [];
const COLLECTIONS = ['app.bsky.feed.post', 'app.bsky.feed.like', 'app.bsky.graph.follow'];

async function listed(collection: string): Promise<string[]> {
  const res = await fetch(`${world.relay.url}/xrpc/com.atproto.sync.listReposByCollection?collection=${collection}`);
  return ((await res.json()) as { repos: Array<{ did: string }> }).repos.map((r) => r.did).sort();
}

const cli = (args: string[]) =>
  runRelayCli(['collections', ...args], {
    DATABASE_URL: world.relay.relay.ctx.config.databaseUrl!,
    RELAY_ALLOW_INSECURE_HOSTS: 'true',
    RELAY_LOG_LEVEL: 'warn',
    RELAY_COLLECTION_LOOKUPS_PER_MINUTE: '60000',
  });

beforeAll(async () => {
  // A relay that does not keep the index: what it has seen is what a relay upgraded to this version has seen.
  world = await startWorld({ config: { collectionIndex: false } });
  pds = world.hosts[0]!;
  for (let i = 0; i < 4; i++) {
    const a = await pds.createAccount();
    // Account i holds the first i+1 collections.
    await pds.writeRecords(a, COLLECTIONS.slice(0, i + 1).map((collection, k) => ({ action: 'create' as const, collection, rkey: `r${k}`, record: {} })));
    accounts.push(a);
  }
  for (const a of accounts) {
    await eventually(async () => {
      const res = await fetch(`${world.relay.url}/xrpc/com.atproto.sync.getLatestCommit?did=${a.did}`);
      return res.ok && ((await res.json()) as { rev: string }).rev === a.repo.rev;
    }, 10_000, 'relay caught up');
  }
});

afterAll(async () => {
  await world?.close();
});

describe('relay collections backfill', () => {
  it('fills the index from describeRepo while the relay runs, and resumes a run from its saved page', async () => {
    expect(await listed('app.bsky.feed.post')).toEqual([]);
    const run = await cli(['backfill', pds.hostname]);
    expect(run.code, run.output).toBe(0);
    expect(run.output).toContain('backfilled 1 of 1 hosts: 4 repos described, 0 failed');
    expect(await listed('app.bsky.feed.post')).toEqual(accounts.map((a) => a.did).sort());
    expect(await listed('app.bsky.feed.like')).toEqual(accounts.slice(1).map((a) => a.did).sort());
    expect(await listed('app.bsky.graph.follow')).toEqual(accounts.slice(2).map((a) => a.did).sort());

    const { db } = world.relay.relay.ctx.database;
    const host = (await getHost(db, pds.hostname))!;
    expect(await backfillProgress(db, host.id)).toMatchObject({ state: 'finished', done: 4, failed: 0 });

    // A run that died after the page ending at the second account: the next one asks only of the two after it.
    await db.execute(sql`UPDATE collection_backfills SET state = 'running', cursor = ${accounts[1]!.did}, done = 2 WHERE host_id = ${host.id}`);
    await db.execute(sql`DELETE FROM repo_collections`);
    const asked = pds.requests.get('com.atproto.repo.describeRepo') ?? 0;
    const resumed = await cli(['backfill', pds.hostname]);
    expect(resumed.code, resumed.output).toBe(0);
    expect((pds.requests.get('com.atproto.repo.describeRepo') ?? 0) - asked).toBe(2);
    expect(await listed('app.bsky.feed.post')).toEqual(accounts.slice(2).map((a) => a.did).sort());
    expect(await backfillProgress(db, host.id)).toMatchObject({ state: 'finished', done: 4 });

    const status = await cli(['status']);
    expect(status.output).toContain(`host ${host.id}: finished, 4 repos described`);
  });

  it('refuses an unknown host and a missing target', async () => {
    const unknown = await cli(['backfill', 'nowhere.example.com']);
    expect(unknown.code).toBe(1);
    expect(unknown.output).toContain('nowhere.example.com is not a known host');
    const none = await cli(['backfill']);
    expect(none.code).toBe(1);
    expect(none.output).toContain('usage: relay collections backfill');
  });
});
