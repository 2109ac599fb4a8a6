// The collection index's CPU on the ingest path, per commit, measured in isolation (the live A/B cannot resolve a few
// µs against ~300 µs of verification per event): reading a commit's collections off its proof (on a verification
// worker), and deciding what to write given what the index is known to hold (on the main thread). Commits of one
// repo in the corpus's op mix: 89% creates, 10% deletes, 1% updates, over 8 collections of uneven use.
import { collectionWrite } from '../../src/core/accounts.ts';
import { readCar } from '../../src/protocol/car.ts';
import { keyFromString, Mst } from '../../src/protocol/mst/index.ts';
import { TidClock } from '../../src/protocol/tid.ts';
import { CollectionPresence } from '../../src/verify/commit-check.ts';
import { decodeCommit } from '../../src/protocol/commit.ts';
import { Repo, type RecordOp } from '../../dev-env/repo.ts';
import { generateKeypair } from '../../dev-env/keys.ts';

const COLLECTIONS = ['app.bsky.feed.like', 'app.bsky.feed.post', 'app.bsky.graph.follow', 'app.bsky.feed.repost', 'app.bsky.graph.block', 'app.bsky.feed.threadgate', 'app.bsky.graph.listitem', 'com.example.rare'];

export function indexPathCost(commits = 3000, rounds = 20): { proofUs: number; writeUs: number; deletes: number } {
  const clock = new TidClock();
  const repo = new Repo('did:plc:indexcostbench00000000000', generateKeypair('k256'));
  repo.commit(clock.next(), []);
  let seed = 18;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const pick = () => COLLECTIONS[Math.min(COLLECTIONS.length - 1, Math.floor(rand() ** 2 * COLLECTIONS.length))]!;
  for (let i = 0; i < 300; i++) repo.commit(clock.next(), [{ action: 'create', collection: pick(), rkey: clock.next(), record: { i } }]);
  const prepared: Array<{ ops: Array<{ action: string; path: string; cid: Uint8Array | null }>; tree: () => Mst; keys: string[] }> = [];
  let deletes = 0;
  for (let i = 0; i < commits; i++) {
    const r = rand();
    const paths = [...repo.records.keys()];
    let op: RecordOp;
    if (r < 0.1 && paths.length > 1) {
      const path = paths[Math.floor(rand() * paths.length)]!;
      op = { action: 'delete', collection: path.split('/')[0]!, rkey: path.split('/')[1]! };
      deletes++;
    } else if (r < 0.11) {
      const path = paths[Math.floor(rand() * paths.length)]!;
      op = { action: 'update', collection: path.split('/')[0]!, rkey: path.split('/')[1]!, record: { i, u: true } };
    } else {
      op = { action: 'create', collection: pick(), rkey: clock.next(), record: { i } };
    }
    const c = repo.commit(clock.next(), [op]);
    const car = readCar(c.blocks);
    const data = decodeCommit(car.blocks.get(c.commitCid)!).data;
    const ops = c.ops.map((o) => ({ action: o.action, path: o.path, cid: o.cid ? o.cid.bytes : null }));
    prepared.push({ ops, tree: () => Mst.load(car.blocks, data, { recordBlocks: false }), keys: ops.map((o) => keyFromString(o.path)) });
  }
  let proofNs = 0n;
  let writeNs = 0n;
  let known: readonly string[] | null = null;
  for (let round = 0; round < rounds; round++) {
    for (const p of prepared) {
      // The verifier's forward check has walked each op's path before the presence is read: so here too, untimed.
      const tree = p.tree();
      for (const k of p.keys) tree.get(k);
      const t0 = process.hrtime.bigint();
      const presence = new CollectionPresence(p.ops);
      presence.inspect(tree);
      const change = presence.change();
      const t1 = process.hrtime.bigint();
      known = collectionWrite(known, change).known;
      const t2 = process.hrtime.bigint();
      proofNs += t1 - t0;
      writeNs += t2 - t1;
    }
  }
  const n = BigInt(prepared.length * rounds);
  return { proofUs: Number(proofNs / n) / 1000, writeUs: Number(writeNs / n) / 1000, deletes };
}
