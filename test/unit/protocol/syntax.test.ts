// String formats against the interop syntax lists, and TID encoding.
import { interopLines } from '../../helpers/interop.ts';
import { describe, expect, it } from 'vitest';
import { isDatetime, isDid, isHandle, isNsid, isRecordKey, isRepoPath } from '../../../src/protocol/syntax.ts';
import { compareTids, isTid, TidClock, tidFromParts, tidTimestampMicros } from '../../../src/protocol/tid.ts';

const lines = (name: string) => interopLines(`syntax/${name}`);

const checks: Array<[string, (s: string) => boolean]> = [
  ['did', isDid],
  ['handle', isHandle],
  ['nsid', isNsid],
  ['recordkey', isRecordKey],
  ['datetime', isDatetime],
  ['tid', isTid],
];

describe('interop syntax lists', () => {
  for (const [name, fn] of checks) {
    it(`${name}: every valid example passes and every invalid one fails`, () => {
      const valid = lines(`${name}_syntax_valid.txt`);
      const invalid = lines(`${name}_syntax_invalid.txt`);
      expect(valid.length + invalid.length).toBeGreaterThan(5);
      for (const v of valid) expect(fn(v), `valid ${name}: ${v.slice(0, 80)}`).toBe(true);
      for (const v of invalid) expect(fn(v), `invalid ${name}: ${v.slice(0, 80)}`).toBe(false);
    });
  }

  it('repo paths are <nsid>/<rkey>', () => {
    expect(isRepoPath('app.bsky.feed.post/3k2abc')).toBe(true);
    for (const bad of ['app.bsky.feed.post', '/app.bsky.feed.post/x', 'app.bsky.feed.post/x/y', 'app.bsky.feed.post/..']) {
      expect(isRepoPath(bad), bad).toBe(false);
    }
  });
});

describe('TIDs', () => {
  it('encode time and order as strings', () => {
    expect(tidFromParts(0, 0)).toBe('2222222222222');
    const t = tidFromParts(1_700_000_000_000_000, 5);
    expect(isTid(t)).toBe(true);
    expect(tidTimestampMicros(t)).toBe(1_700_000_000_000_000);
    expect(compareTids(tidFromParts(1, 0), tidFromParts(2, 0))).toBe(-1);
  });

  it('a clock never repeats or goes back', () => {
    const clock = new TidClock(7);
    const tids = Array.from({ length: 1000 }, () => clock.next());
    for (let i = 1; i < tids.length; i++) expect(tids[i]! > tids[i - 1]!).toBe(true);
  });
});
