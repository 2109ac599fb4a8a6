// A tiny run of the replay benchmark through the real path (SQL pre-fill, relay process, consumer process): the
// consumer must read the whole log back without gaps. No performance figure is asserted.
import { describe, expect, it } from 'vitest';
import { benchReplay } from '../../bench/replay.ts';

describe('bench replay smoke run', () => {
  it('replays a pre-filled event log to the end without gaps', async () => {
    const lines = await benchReplay(new Map([['events', '3000']]));
    const value = (name: string) => lines.find((l) => l.name === name)?.value;
    expect(value('events received')).toBe(3000);
    expect(value('seq gaps seen by the consumer')).toBe(0);
  }, 120_000);
});
