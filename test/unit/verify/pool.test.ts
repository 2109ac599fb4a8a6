// The worker pool gives the same answers as the inline check, including after its workers are killed with jobs in
// flight (they are run again, or on the main thread after a second death).
import { afterEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { createFastVerifier } from '../../../src/protocol/signature.ts';
import { parseMultikey } from '../../../src/protocol/did-key.ts';
import { TidClock } from '../../../src/protocol/tid.ts';
import { checkCommitJob, type CommitJob } from '../../../src/verify/commit-check.ts';
import { VerifyPool } from '../../../src/verify/pool.ts';
import { Repo } from '../../../dev-env/repo.ts';
import { generateKeypair, multikey } from '../../../dev-env/keys.ts';

const signatures = createFastVerifier();
let pool: VerifyPool | undefined;

afterEach(async () => {
  await pool?.close();
  pool = undefined;
});

/** Commit jobs of two accounts (one per curve; creates, an update, a delete), with a few broken ones among them. */
function jobs(): CommitJob[] {
  const clock = new TidClock();
  const out: CommitJob[] = [];
  for (const curve of ['k256', 'p256'] as const) {
    const kp = generateKeypair(curve);
    const did = `did:plc:pooltest${curve}00000000000`.slice(0, 32);
    const repo = new Repo(did, kp);
    repo.commit(clock.next(), []);
    const rkeys: string[] = [];
    for (let i = 0; i < 8; i++) {
      rkeys.push(clock.next());
      // Creates, then an update and a delete of earlier records (ops with prev), then a create.
      const op =
        i === 4
          ? { action: 'update' as const, collection: 'app.bsky.feed.post', rkey: rkeys[0]!, record: { text: 'edited' } }
          : i === 7
            ? { action: 'delete' as const, collection: 'app.bsky.feed.post', rkey: rkeys[1]! }
            : { action: 'create' as const, collection: 'app.bsky.feed.post', rkey: rkeys[i]!, record: { text: `post ${i}` } };
      const r = repo.commit(clock.next(), [op]);
      const ops = r.ops.map((o) => ({ action: o.action, path: o.path, cid: o.cid ? o.cid.bytes : null, ...(o.prev ? { prev: o.prev.bytes } : {}) }));
      const job: CommitJob = {
        kind: 'commit',
        did,
        rev: r.rev,
        blocks: r.blocks,
        commitCid: r.commitCid,
        key: parseMultikey(multikey(i === 3 ? generateKeypair(curve) : kp)),
        proof: { legacyFlags: false, ops, prevData: i === 5 ? ops[0]!.cid : r.prevData, prevDataInvalid: false },
      };
      out.push(i === 6 ? { ...job, blocks: r.blocks.subarray(0, r.blocks.length - 3) } : job);
    }
  }
  return out;
}

const nextTurn = () => new Promise((r) => setImmediate(r));

describe('VerifyPool', () => {
  it('answers like the inline check, for good and bad commits on both curves', async () => {
    const all = jobs();
    const inline = all.map((j) => checkCommitJob(j, signatures));
    expect(inline.filter((r) => r.ok && r.signature === false)).toHaveLength(2);
    expect(inline.filter((r) => r.ok && r.proof && r.proof !== 'no_prev_data' && r.proof.reason === 'inversion_mismatch')).toHaveLength(2);
    expect(inline.filter((r) => !r.ok && r.reason === 'bad_car')).toHaveLength(2);
    pool = new VerifyPool({ size: 2, signatures, log: pino({ level: 'silent' }), maxBatch: 4 });
    expect(await Promise.all(all.map((j) => pool!.check(j)))).toEqual(inline);
  });

  it('runs the jobs of a killed worker again, and on the main thread after a second death', async () => {
    const all = jobs();
    const inline = all.map((j) => checkCommitJob(j, signatures));
    let exits = 0;
    pool = new VerifyPool({ size: 1, signatures, log: pino({ level: 'silent' }), exits: { inc: () => exits++ } as never });
    const answers = Promise.all(all.map((j) => pool!.check(j)));
    await nextTurn();
    // Every job is now in flight on the one worker, which has not answered yet.
    await pool.workers[0]!.terminate();
    await nextTurn();
    await pool.workers[0]!.terminate();
    expect(await answers).toEqual(inline);
    expect(exits).toBe(2);
    // The pool still works: a fresh worker answers.
    expect(await pool.check(all[0]!)).toEqual(inline[0]);
    expect(pool.workers).toHaveLength(1);
  });

  it("runs known accounts' jobs first while jobs queue, still giving first-seen ones a share of every batch", async () => {
    const all = jobs();
    const inline = all.map((j) => checkCommitJob(j, signatures));
    pool = new VerifyPool({ size: 1, signatures, log: pino({ level: 'silent' }), maxBatch: 4 });
    const order: string[] = [];
    const later = all.slice(0, 10).map((j, i) => Promise.resolve(pool!.check(j, 'later')).then((r) => (order.push(`later${i}`), r)));
    const now = all.slice(10).map((j, i) => Promise.resolve(pool!.check(j, 'now')).then((r) => (order.push(`now${i}`), r)));
    expect(await Promise.all([...later, ...now])).toEqual(inline);
    // Batches of 4 hold 3 known and 1 first-seen while both wait: the six known are done in the first two batches.
    expect(order.slice(0, 8).sort()).toEqual(['later0', 'later1', 'now0', 'now1', 'now2', 'now3', 'now4', 'now5']);
    expect(order.indexOf('later0')).toBeLessThan(4);
  });

  it("answers a batch's known-account jobs as soon as they are done, before the first-seen ones behind them", async () => {
    const all = jobs();
    const inline = all.map((j) => checkCommitJob(j, signatures));
    pool = new VerifyPool({ size: 1, signatures, log: pino({ level: 'silent' }), maxBatch: 16 });
    expect(await pool.check(all[0]!)).toEqual(inline[0]);
    let messages = 0;
    pool.workers[0]!.on('message', () => messages++);
    // One batch: two known accounts' jobs first, then fourteen first-seen ones.
    const seen = (p: Promise<unknown>) => p.then((r) => ({ r, messages }));
    const now = all.slice(0, 2).map((j) => seen(pool!.check(j, 'now')));
    const later = all.slice(2).map((j) => seen(pool!.check(j, 'later')));
    const answers = await Promise.all([...now, ...later]);
    expect(answers.map((a) => a.r)).toEqual(inline);
    expect(answers.map((a) => a.messages)).toEqual([1, 1, ...Array(14).fill(2)]);
  });
});
