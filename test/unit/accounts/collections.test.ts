// What a commit's collection change writes, given what the index is known to hold for the account, and how changes
// of one account in one batch merge: a later change wins collection by collection.
import { describe, expect, it } from 'vitest';
import { collectionWrite, mergeCollectionChanges, type CollectionChange } from '../../../src/core/accounts.ts';

const change = (c: Partial<CollectionChange>): CollectionChange => ({ present: [], absent: [], unknown: [], ...c });

describe('collectionWrite', () => {
  it('writes everything while nothing is known, and then knows what it wrote', () => {
    expect(collectionWrite(null, change({ present: ['a.b.c'] }))).toEqual({ write: change({ present: ['a.b.c'] }), known: ['a.b.c'] });
  });

  it('writes nothing for collections known held, and only the new ones otherwise', () => {
    expect(collectionWrite(['a.b.c'], change({ present: ['a.b.c'] }))).toEqual({ write: null, known: ['a.b.c'] });
    expect(collectionWrite(['a.b.c'], change({ present: ['a.b.c', 'd.e.f'] }))).toEqual({ write: change({ present: ['d.e.f'] }), known: ['a.b.c', 'd.e.f'] });
  });

  it('always writes removals and unsettled deletes, and forgets those collections', () => {
    expect(collectionWrite(['a.b.c', 'd.e.f'], change({ absent: ['a.b.c'] }))).toEqual({ write: change({ absent: ['a.b.c'] }), known: ['d.e.f'] });
    expect(collectionWrite(['a.b.c', 'd.e.f'], change({ unknown: ['d.e.f'] }))).toEqual({ write: change({ unknown: ['d.e.f'] }), known: ['a.b.c'] });
    // A removal of a collection not known held is still written: the index may hold it from elsewhere (a backfill).
    expect(collectionWrite([], change({ absent: ['x.y.z'] })).write).toEqual(change({ absent: ['x.y.z'] }));
  });

  it('knows nothing once the PDS is to describe the repo, and everything after a reset', () => {
    expect(collectionWrite(['a.b.c'], change({ describe: true }))).toEqual({ write: change({ describe: true }), known: null });
    expect(collectionWrite(['a.b.c'], change({ reset: true }))).toEqual({ write: change({ reset: true }), known: [] });
  });
});

describe('mergeCollectionChanges', () => {
  it('lets the later change win per collection and keeps reset and describe', () => {
    const merged = mergeCollectionChanges(change({ present: ['a.b.c', 'd.e.f'], unknown: ['g.h.i'] }), change({ absent: ['a.b.c'], present: ['g.h.i'] }));
    expect({ ...merged, present: [...merged.present].sort() }).toEqual(change({ present: ['d.e.f', 'g.h.i'], absent: ['a.b.c'] }));
    expect(mergeCollectionChanges(change({ reset: true }), change({ present: ['a.b.c'] }))).toEqual(change({ reset: true, present: ['a.b.c'] }));
    expect(mergeCollectionChanges(change({ present: ['a.b.c'] }), change({ reset: true }))).toEqual(change({ reset: true }));
    expect(mergeCollectionChanges(change({ describe: true }), change({ present: ['a.b.c'] }))).toEqual(change({ describe: true, present: ['a.b.c'] }));
  });
});
