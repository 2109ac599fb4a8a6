// A host's Sync v1.1 strictness: auto ratchets from lenient to strict after enough valid commits, pins stand, the
// global override waives, and what is shown merges the row with this process's counts.
import { describe, expect, it } from 'vitest';
import { effectiveSyncMode } from '../../../src/core/hosts.ts';
import { SyncStrictness } from '../../../src/verify/strictness.ts';

const row = (over: Partial<{ syncMode: string; syncProven: number; syncStrictSince: Date | null }> = {}) => ({
  id: 1,
  syncMode: 'auto',
  syncProven: 0,
  syncStrictSince: null,
  ...over,
});

function book(globalLenient = false) {
  const saved: number[] = [];
  const ratchets: number[] = [];
  const s = new SyncStrictness({ globalLenient, ratchetAfter: 3, saveProven: (_, n) => saved.push(n), ratchet: (id) => ratchets.push(id) });
  return { s, saved, ratchets };
}

describe('effectiveSyncMode', () => {
  it('waives everything globally, keeps pins, and ratchets auto', () => {
    expect(effectiveSyncMode({ syncMode: 'strict', syncStrictSince: null }, true)).toBe('lenient');
    expect(effectiveSyncMode({ syncMode: 'strict', syncStrictSince: null }, false)).toBe('strict');
    expect(effectiveSyncMode({ syncMode: 'lenient', syncStrictSince: new Date() }, false)).toBe('lenient');
    expect(effectiveSyncMode({ syncMode: 'auto', syncStrictSince: null }, false)).toBe('lenient');
    expect(effectiveSyncMode({ syncMode: 'auto', syncStrictSince: new Date() }, false)).toBe('strict');
  });
});

describe('SyncStrictness', () => {
  it('holds a host not read yet to every check', () => {
    expect(book().s.lenient(1)).toBe(false);
  });

  it('turns an auto host strict after the set number of valid commits, once, saving the count on the way', () => {
    const { s, saved, ratchets } = book();
    s.update(row());
    expect(s.lenient(1)).toBe(true);
    s.proven(1);
    s.proven(1);
    expect(saved).toEqual([1, 2]);
    expect(s.lenient(1)).toBe(true);
    s.proven(1);
    expect(ratchets).toEqual([1]);
    expect(s.lenient(1)).toBe(false);
    s.proven(1);
    expect(ratchets).toEqual([1]);
    // A scan that reads the row before the ratchet's write landed does not undo it.
    s.update(row({ syncProven: 2 }));
    expect(s.lenient(1)).toBe(false);
    expect(s.view(row({ syncProven: 2 }))).toMatchObject({ setting: 'auto', mode: 'strict', provenCommits: 3, ratchetAfter: 3 });
  });

  it('never ratchets a pinned host, and counts lenient passes per check for the views', () => {
    const { s, ratchets } = book();
    s.update(row({ syncMode: 'lenient' }));
    for (let i = 0; i < 5; i++) s.proven(1);
    s.passedLeniently(1, 'missing_prev_data');
    s.passedLeniently(1, 'missing_prev_data');
    s.passedLeniently(1, 'inversion_mismatch');
    expect(ratchets).toEqual([]);
    expect(s.view(row({ syncMode: 'lenient' }))).toMatchObject({
      mode: 'lenient',
      strictSince: null,
      lenientPasses: { missing_prev_data: 2, inversion_mismatch: 1 },
    });
    // The row's setting is the newest: an operator's pin shows before the next scan.
    expect(s.view(row({ syncMode: 'strict' })).mode).toBe('strict');
  });
});
