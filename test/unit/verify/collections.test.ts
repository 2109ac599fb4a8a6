// What a commit does to the repo's collections, read off its Sync 1.1 proof: checked against the repo itself over
// random histories (creates and deletes over a few collections, some deleting a collection's last record), and with
// proof blocks left out, when the answer must be unknown rather than wrong.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createFastVerifier } from '../../../src/protocol/signature.ts';
import { readCar, writeCar } from '../../../src/protocol/car.ts';
import { cidEquals } from '../../../src/protocol/cid.ts';
import { TidClock } from '../../../src/protocol/tid.ts';
import { checkCommitJob, type CommitJob } from '../../../src/verify/commit-check.ts';
import { Repo, type CommitResult, type RecordOp } from '../../../dev-env/repo.ts';
import { generateKeypair } from '../../../dev-env/keys.ts';

const signatures = createFastVerifier();
const COLLECTIONS = ['app.bsky.feed.like', 'app.bsky.feed.post', 'app.bsky.feed.repost', 'app.bsky.graph.follow', 'com.example.z'];
const did = 'did:plc:collectionstest0000000000';

function jobOf(r: CommitResult, blocks = r.blocks): CommitJob {
  const ops = r.ops.map((o) => ({ action: o.action, path: o.path, cid: o.cid ? o.cid.bytes : null, ...(o.prev ? { prev: o.prev.bytes } : {}) }));
  return { kind: 'commit', did, rev: r.rev, blocks, commitCid: r.commitCid, proof: { legacyFlags: false, ops, prevData: r.prevData, prevDataInvalid: false } };
}

function collectionsHeld(repo: Repo): Set<string> {
  return new Set([...repo.records.keys()].map((p) => p.split('/')[0]!));
}

describe('collection presence from a commit proof', () => {
  it('matches the repo after every commit of random histories, and is never wrong with proof blocks left out', () => {
    let settled = 0;
    let unknown = 0;
    let partialChecked = 0;
    fc.assert(
      fc.property(
        fc.array(fc.record({ collection: fc.constantFrom(...COLLECTIONS), del: fc.integer({ min: 0, max: 99 }), n: fc.integer({ min: 1, max: 3 }) }), { minLength: 5, maxLength: 60 }),
        fc.integer({ min: 0, max: 1000 }),
        (steps, dropSeed) => {
          const clock = new TidClock();
          const repo = new Repo(did, generateKeypair('k256'));
          repo.commit(clock.next(), []);
          for (const step of steps) {
            const mine = [...repo.records.keys()].filter((p) => p.startsWith(`${step.collection}/`));
            // About a third of the steps delete (often a collection's last records), the rest create.
            const ops: RecordOp[] =
              step.del < 35 && mine.length > 0
                ? mine.slice(0, step.n).map((p) => ({ action: 'delete' as const, collection: step.collection, rkey: p.split('/')[1]! }))
                : Array.from({ length: step.n }, () => ({ action: 'create' as const, collection: step.collection, rkey: clock.next(), record: { text: 'x' } }));
            const r = repo.commit(clock.next(), ops);
            const held = collectionsHeld(repo);
            const check = checkCommitJob(jobOf(r), signatures);
            if (!check.ok) throw new Error(check.reason);
            expect(check.proof).toBeNull();
            const c = check.collections!;
            for (const name of c.present) expect(held.has(name)).toBe(true);
            for (const name of c.absent) expect(held.has(name)).toBe(false);
            settled += c.present.length + c.absent.length;
            unknown += c.unknown.length;
            const touched = new Set(ops.map((o) => o.collection));
            expect(new Set([...c.present, ...c.absent, ...c.unknown])).toEqual(touched);

            // Leave out one MST node of the slice: whatever is still said must be true.
            const car = readCar(r.blocks);
            const nodes = [...car.blocks.entries()].filter(({ cid }) => !cidEquals(cid, r.commitCid) && !r.ops.some((o) => o.cid && cidEquals(o.cid.bytes, cid)));
            if (nodes.length > 1 && ops[0]!.action === 'delete') {
              const drop = nodes[dropSeed % nodes.length]!.cid;
              const kept = [...car.blocks.entries()].filter(({ cid }) => !cidEquals(cid, drop));
              const partial = checkCommitJob(jobOf(r, writeCar([r.commitCid], kept)), signatures);
              if (partial.ok && partial.collections) {
                partialChecked++;
                for (const name of partial.collections.present) expect(held.has(name)).toBe(true);
                for (const name of partial.collections.absent) expect(held.has(name)).toBe(false);
              }
            }
          }
        },
      ),
      { numRuns: 40, seed: 18 },
    );
    // A full proof settles (nearly) every delete: the slice carries each deleted key's neighbours.
    expect(settled).toBeGreaterThan(100);
    expect(unknown).toBe(0);
    expect(partialChecked).toBeGreaterThan(10);
  });
});
