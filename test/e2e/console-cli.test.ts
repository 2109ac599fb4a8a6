// The operator's command line beyond the admin commands of api.test.ts: `relay tail` against a real relay (replay,
// live, Ctrl-C, error frames, refused connections) and --help for every command.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeAccount } from '../../dev-env/fake-pds.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { runRelayCli, spawnRelay } from '../../dev-env/process.ts';
import { startWorld, type World } from '../helpers/world.ts';

let world: World;
let alice: FakeAccount;

beforeAll(async () => {
  world = await startWorld({ hosts: 1 });
  const pds = world.hosts[0]!;
  alice = await pds.createAccount();
  await pds.writeRecords(alice, [
    { action: 'create', collection: 'app.bsky.feed.post', rkey: '3kaaaaaaaaa22', record: { text: 'one', createdAt: new Date().toISOString() } },
    { action: 'create', collection: 'app.bsky.feed.like', rkey: '3kaaaaaaaaa23', record: { createdAt: new Date().toISOString() } },
  ]);
  const deadline = Date.now() + 20_000;
  // #identity, #account, #sync and the #commit: wait until all four are sequenced.
  while (world.relay.relay.ctx.hub.lastSeq < 4) {
    if (Date.now() > deadline) throw new Error('events were not relayed');
    await new Promise((r) => setTimeout(r, 50));
  }
});

afterAll(async () => {
  await world?.close();
});

const lines = (output: string) => output.split('\n').filter((l) => l && !l.startsWith('relay tail:'));

describe('relay tail', () => {
  it('replays from a cursor and prints one readable line per frame', async () => {
    const { code, output } = await runRelayCli(['tail', '--url', world.relay.url, '--cursor', '0', '--limit', '4'], {});
    expect(code, output).toBe(0);
    const frames = lines(output);
    expect(frames).toHaveLength(4);
    expect(frames[0]).toMatch(new RegExp(`^1 #identity ${alice.did} handle=${alice.handle}$`));
    expect(frames[1]).toBe(`2 #account ${alice.did} active=true`);
    expect(frames[2]).toMatch(new RegExp(`^3 #sync ${alice.did} rev=\\w+$`));
    expect(frames[3]).toMatch(
      new RegExp(`^4 #commit ${alice.did} rev=\\w+ ops=2 \\[create app.bsky.feed.post/3kaaaaaaaaa22, create app.bsky.feed.like/3kaaaaaaaaa23\\] blocks=\\d+B commit=bafyrei\\w+$`),
    );
    expect(output).toContain('relay tail: closed (1000): 4 events, last seq 4 (resume with --cursor 4)');
  });

  it('follows live events and stops on Ctrl-C with the seq to resume from', async () => {
    const tail = spawnRelay(['tail', '--url', world.relay.wsUrl], {});
    try {
      const waitFor = async (text: string) => {
        const deadline = Date.now() + 30_000;
        while (!tail.output().includes(text)) {
          if (Date.now() > deadline) throw new Error(`tail never printed ${text}:\n${tail.output()}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      };
      await waitFor('relay tail: connected');
      await world.hosts[0]!.createRecord(alice, 'live');
      await waitFor('#commit');
      expect(lines(tail.output())).toEqual([expect.stringMatching(new RegExp(`^5 #commit ${alice.did} rev=\\w+ ops=1 \\[create app.bsky.feed.post/\\w+\\]`))]);
      tail.child.kill('SIGINT');
      expect(await tail.exited).toBe(0);
      expect(tail.output()).toContain('relay tail: interrupted: 1 events, last seq 5 (resume with --cursor 5)');
    } finally {
      tail.child.kill('SIGKILL');
    }
  });

  it('shows error frames and refused connections, and exits 1', async () => {
    const [future, refused, badFlag] = await Promise.all([
      runRelayCli(['tail', '--url', world.relay.wsUrl, '--cursor', '999999'], {}),
      runRelayCli(['tail', '--url', `${world.relay.url}/xrpc/com.atproto.sync.subscribeRepos?cursor=abc`], {}),
      runRelayCli(['tail', '--cursor', 'abc'], {}),
    ]);
    expect(future.code).toBe(1);
    expect(lines(future.output)).toEqual(['ERROR FutureCursor: Cursor in the future.']);

    expect(refused.code).toBe(1);
    expect(refused.output).toMatch(/relay refused the connection: HTTP 400 .*cursor/i);

    expect(badFlag.code).toBe(1);
    expect(badFlag.output).toContain('--cursor must be a non-negative integer');
  });
});

describe('relay --help and migrate', () => {
  // Each CLI process start costs seconds on a loaded machine: the main help and tail's own (the others' are in
  // api.test.ts's run of the admin commands).
  it('lists every command, tail has its own help, and migrate shows progress', async () => {
    const databaseUrl = await createTestDatabase();
    const [main, tailHelp, migrate] = await Promise.all([
      runRelayCli(['--help'], {}),
      runRelayCli(['tail', '--help'], {}),
      runRelayCli(['migrate'], { DATABASE_URL: databaseUrl }),
    ]);
    expect(migrate.code, migrate.output).toBe(0);
    expect(migrate.output).toContain('relay: applying migrations (postgres)…');
    expect(migrate.output).toMatch(/relay: migrations done in [\d.]+ s/);
    expect(migrate.output).toContain('migrations applied (postgres)');
    expect(main.code).toBe(0);
    for (const c of ['serve', 'migrate', 'config', 'hosts', 'domains', 'accounts', 'consumers', 'tail']) {
      expect(main.output).toMatch(new RegExp(`^  ${c}\\b`, 'm'));
    }
    expect(tailHelp.code).toBe(0);
    expect(tailHelp.output).toContain('Usage: relay tail [--cursor N] [--url URL] [--limit N]');
  });
});
