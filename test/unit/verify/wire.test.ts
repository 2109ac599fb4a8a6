// Commit jobs survive the trip to a worker unchanged, whatever optional parts they carry.
import { describe, expect, it } from 'vitest';
import { packJobs, unpackJobs } from '../../../src/verify/wire.ts';
import type { CommitJob } from '../../../src/verify/commit-check.ts';

const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);

describe('commit job wire format', () => {
  it('round-trips every field combination', () => {
    const jobs: CommitJob[] = [
      {
        kind: 'commit',
        did: 'did:plc:abc',
        rev: '3kabcdefghij2',
        blocks: bytes(3000, 1),
        commitCid: bytes(36, 2),
        key: { curve: 'p256', compressed: bytes(33, 3), uncompressed: bytes(65, 4) },
        proof: {
          legacyFlags: true,
          prevDataInvalid: false,
          prevData: bytes(36, 4),
          ops: [
            { action: 'create', path: 'app.bsky.feed.post/1', cid: bytes(36, 5) },
            { action: 'update', path: 'app.bsky.feed.post/é-ü', cid: bytes(36, 6), prev: bytes(36, 7) },
            { action: 'delete', path: 'a/\u{1f600}', cid: null, prev: bytes(36, 8) },
          ],
        },
      },
      { kind: 'commit', did: 'did:web:ex.com', rev: 'r', blocks: bytes(0, 0), commitCid: null, proof: { legacyFlags: false, prevDataInvalid: true, prevData: null, ops: [] } },
      { kind: 'sync', did: 'did:plc:xyz', rev: 'r2', blocks: bytes(10, 9), key: { curve: 'k256', compressed: bytes(33, 10), uncompressed: bytes(65, 11) } },
    ];
    const back = unpackJobs(packJobs(jobs));
    expect(back).toEqual(jobs);
    // Optional fields that were absent stay absent (the check tells "absent" from "null" for the commit field).
    expect('commitCid' in back[2]!).toBe(false);
    expect('proof' in back[2]!).toBe(false);
    expect('key' in back[1]!).toBe(false);
    // Each batch has a buffer of its own: a second batch does not disturb the first one's bytes.
    const first = packJobs(jobs.slice(0, 1));
    packJobs(jobs.slice(2));
    expect(unpackJobs(first)).toEqual(jobs.slice(0, 1));
  });
});
