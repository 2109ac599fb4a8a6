// Structure-aware fuzzing of everything that parses upstream bytes: valid frames, CAR slices, commit blocks and MST
// nodes from the fixture are mutated (bit flips, truncation, insertion, duplicated ranges, inflated lengths) and
// fed to the decoders and to the verifier's structure stage. Each must fail only with its own error type (or a
// counted rejection) and never throw anything else, hang or overflow the stack.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { BytesWrapper } from '@atcute/cbor';
import { decodeFrame, FrameError } from '../../src/protocol/frame.ts';
import { readCar, CarError } from '../../src/protocol/car.ts';
import { decodeCommit, CommitError } from '../../src/protocol/commit.ts';
import { decodeNode, MstError } from '../../src/protocol/mst/index.ts';
import { checkStructure } from '../../src/verify/structure.ts';
import { checkCommitJob } from '../../src/verify/commit-check.ts';
import { createFastVerifier } from '../../src/protocol/signature.ts';
import type { UpstreamEvent } from '../../src/core/events.ts';
import { REJECTION_REASONS } from '../../src/core/rejections.ts';
import { FakePlc } from '../../dev-env/fake-plc.ts';
import { FakePds } from '../../dev-env/fake-pds.ts';

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'duplicate'; at: number; len: number }
  | { kind: 'inflate'; at: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 12 }) }),
  fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 64 }) }),
  // A CBOR/varint length byte turned into "8-byte length follows, all ones": a huge declared length.
  fc.record({ kind: fc.constant('inflate' as const), at: fc.nat() }),
);

function mutate(input: Uint8Array, muts: Mutation[]): Uint8Array {
  let b = Uint8Array.from(input);
  for (const m of muts) {
    if (b.length === 0) break;
    const at = m.at % b.length;
    switch (m.kind) {
      case 'flip':
        b[at]! ^= 1 << m.bit;
        break;
      case 'truncate':
        b = b.subarray(0, at);
        break;
      case 'insert':
        b = Uint8Array.from([...b.subarray(0, at), ...m.bytes, ...b.subarray(at)]);
        break;
      case 'duplicate':
        b = Uint8Array.from([...b.subarray(0, at + m.len), ...b.subarray(at, at + m.len), ...b.subarray(at + m.len)]);
        break;
      case 'inflate':
        b = Uint8Array.from([...b.subarray(0, at), (b[at]! & 0xe0) | 0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, ...b.subarray(at + 1)]);
        break;
    }
  }
  return b;
}

/** Valid inputs of every kind, from real fixture commits. */
async function corpus() {
  const plc = await FakePlc.start();
  const pds = await FakePds.start({ plc });
  const a = await pds.createAccount();
  for (let i = 0; i < 30; i++) await pds.createRecord(a, `fuzz seed ${i}`);
  await pds.writeRecords(a, [{ action: 'delete', collection: 'app.bsky.feed.post', rkey: [...a.repo.records.keys()][0]!.split('/')[1]! }]);
  const frames = pds.events.map((e) => e.frame);
  const commits = pds.events.filter((e) => e.t === '#commit');
  const cars = commits.map((e) => (e.body.blocks as BytesWrapper).buf);
  const blocks = cars.flatMap((c) => [...readCar(c).blocks.entries()].map((b) => b.bytes));
  await pds.close();
  await plc.close();
  return { frames, commits, cars, blocks };
}

const seeds = await corpus();
let tried = 0;

function onlyThrows(f: () => unknown, ...allowed: Array<new (...args: never[]) => Error>): void {
  tried++;
  try {
    f();
  } catch (err) {
    if (!allowed.some((c) => err instanceof c)) throw err;
  }
}

describe('chaos: decoder fuzzing from valid inputs', () => {
  const runs = { numRuns: 1500 };

  it('frames fail only with FrameError', () => {
    fc.assert(
      fc.property(fc.constantFrom(...seeds.frames), fc.array(mutation, { minLength: 1, maxLength: 4 }), (seed, muts) =>
        onlyThrows(() => decodeFrame(mutate(seed, muts)), FrameError),
      ),
      runs,
    );
  });

  it('CAR slices fail only with CarError', () => {
    fc.assert(
      fc.property(fc.constantFrom(...seeds.cars), fc.array(mutation, { minLength: 1, maxLength: 4 }), (seed, muts) =>
        onlyThrows(() => readCar(mutate(seed, muts)), CarError),
      ),
      runs,
    );
  });

  it('commit blocks fail only with CommitError, MST nodes only with MstError', () => {
    fc.assert(
      fc.property(fc.constantFrom(...seeds.blocks), fc.array(mutation, { minLength: 1, maxLength: 4 }), (seed, muts) => {
        const bytes = mutate(seed, muts);
        onlyThrows(() => decodeCommit(bytes), CommitError);
        onlyThrows(() => decodeNode(bytes), MstError);
      }),
      runs,
    );
  });

  it('the verifier’s stateless stages (structure, then the commit job) answer every mutated #commit with a verdict, never an exception', () => {
    const reasons = new Map<string, number>();
    const signatures = createFastVerifier();
    /** Structure checks, then (when they pass) the CAR, commit and proof checks the worker pool runs. */
    const checkStateless = (evt: UpstreamEvent) => {
      const verdict = checkStructure(evt);
      if (!verdict.ok || !verdict.job) return verdict;
      return checkCommitJob({ ...verdict.job, ...(verdict.proof ? { proof: verdict.proof } : {}) }, signatures);
    };
    fc.assert(
      fc.property(fc.constantFrom(...seeds.commits), fc.array(mutation, { minLength: 1, maxLength: 3 }), (seed, muts) => {
        const blocks = mutate((seed.body.blocks as BytesWrapper).buf, muts);
        const body = { ...seed.body, blocks: new BytesWrapper(blocks) };
        tried++;
        const verdict = checkStateless({ t: '#commit', seq: seed.seq, did: String(seed.body.repo), body, received: seed.frame, frameBytes: seed.frame.length });
        const reason = verdict.ok ? 'ok' : verdict.reason;
        reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
        // A refusal names one of the relay's rejection reasons (a decoder's own error reason must not leak out).
        expect(verdict.ok || REJECTION_REASONS.has(verdict.reason), reason).toBe(true);
      }),
      runs,
    );
    // Wrong field types: any field replaced by a value of any CBOR kind.
    const value = fc.oneof(fc.string(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.uint8Array().map((b) => new BytesWrapper(b)), fc.array(fc.string(), { maxLength: 3 }), fc.dictionary(fc.string(), fc.integer(), { maxKeys: 3 }));
    fc.assert(
      fc.property(fc.constantFrom(...seeds.commits), fc.constantFrom('repo', 'commit', 'rev', 'since', 'blocks', 'ops', 'blobs', 'time', 'prevData', 'rebase', 'tooBig'), value, (seed, field, v) => {
        const body = { ...seed.body, [field]: v };
        tried++;
        const verdict = checkStateless({ t: '#commit', seq: seed.seq, did: String(seed.body.repo), body, received: seed.frame, frameBytes: seed.frame.length });
        const reason = verdict.ok ? 'ok' : verdict.reason;
        reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
        expect(verdict.ok || REJECTION_REASONS.has(verdict.reason), reason).toBe(true);
      }),
      runs,
    );
    console.log(`[chaos] fuzz: ${tried} mutated inputs; structure verdicts ${[...reasons].map(([k, v]) => `${k}=${v}`).join(' ')}`);
    // Most mutations must be caught at this stage (the rest, e.g. an unreferenced block's flipped bit, fail later).
    expect([...reasons.keys()].filter((r) => r !== 'ok').length).toBeGreaterThan(2);
  });
});
