// A short run of the Jetstream benchmark through the real path (corpus commits converted and compressed in process,
// then a streaming fleet, a relay process and Jetstream subscribers with mixed filters): the figures are there and
// no subscriber was dropped. No performance figure is asserted.
import { describe, expect, it } from 'vitest';
import { figure, smallFleet } from '../helpers/bench.ts';
import { benchJetstream } from '../../bench/jetstream.ts';

describe('bench jetstream smoke run', () => {
  it('measures conversion, compression and live subscribers', async () => {
    const lines = await benchJetstream(
      smallFleet({ rate: '100', phase: '2', subscribers: '7' }),
    );
    const value = (name: string) => figure(lines, name);
    expect(value('conversion cost per event')).toBeGreaterThan(0);
    expect(value('compressed size / uncompressed')).toBeLessThan(1);
    expect(value('ops timed')).toBeGreaterThan(0);
    expect(value('subscribers dropped or closed')).toBe(0);
    expect(value('bytes/s to an unfiltered subscriber (zstd)')).toBeGreaterThan(0);
  }, 300_000);
});
