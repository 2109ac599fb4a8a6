// A short run of the fan-out benchmark through the real path (streaming fleet, relay process, raw-socket drain
// readers, a paused reader, the readers again on a fan-out-only process, readers catching up from a pre-filled
// log): every figure the report needs is there, no reader was dropped, and each catching-up reader joined live. No
// performance figure is asserted.
import { describe, expect, it } from 'vitest';
import { figure, smallFleet } from '../helpers/bench.ts';
import { benchFanout } from '../../bench/fanout.ts';

describe('bench fanout smoke run', () => {
  it('measures live phases, a paused reader and readers catching up', async () => {
    const lines = await benchFanout(
      smallFleet({ rate: '100', phase: '2', consumers: '4,8', pause: '2', behind: '5000', 'catch-up': '2' }),
    );
    const value = (name: string) => figure(lines, name);
    expect(value('8 consumers: publish-to-receipt p99')).toBeGreaterThan(0);
    expect(value('8 consumers: bytes/s per consumer')).toBeGreaterThan(0);
    expect(value('8 consumers: consumers closed or dropped')).toBe(0);
    expect(value('reader paused 2 s: dropped or closed')).toBe(0);
    expect(value('8 consumers on a fan-out-only process: bytes/s per consumer')).toBeGreaterThan(0);
    expect(value('8 consumers on a fan-out-only process: consumers closed or dropped')).toBe(0);
    expect(value('catch-up: consumers dropped')).toBe(0);
    expect(value('catch-up: replay rate per consumer (events read until it joined)')).toBeGreaterThan(0);
  }, 300_000);
});
