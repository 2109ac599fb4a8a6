// A short run of the soak benchmark through the real path (streaming fleet, relay process with a 20 s window in 5 s
// partitions, checking consumer): every event arrives once, retention has dropped partitions without deleting a row,
// and the figures the report needs are there. No performance figure is asserted.
import { describe, expect, it } from 'vitest';
import { smallFleet } from '../helpers/bench.ts';
import { benchSoak } from '../../bench/soak.ts';

describe('bench soak smoke run', () => {
  it('delivers every streamed commit once while retention drops partitions', async () => {
    const lines = await benchSoak(
      smallFleet({ minutes: '0.75', rate: '200', window: '20', partition: '5', sample: '2' }),
    );
    const line = (name: string) => lines.find((l) => l.name === name);
    const sent = Number(/\((\d+) commits\)/.exec(line('offered rate')!.unit)![1]);
    expect(sent).toBeGreaterThan(5000);
    expect(line('events delivered to the checking consumer')!.value).toBe(sent);
    expect(line('seq gaps or repeats seen by the consumer')!.value).toBe(0);
    expect(line('rows deleted from the log')!.value).toBe(0);
    expect(line('events rejected by the relay')!.value).toBe(0);
    // 45 s of a 20 s window: partitions were dropped, and what is kept is about the window.
    const kept = Number(/\((\d+) events\)/.exec(line('partitions kept at the end')!.unit)![1]);
    expect(kept).toBeLessThan(sent * 0.8);
    expect(line('log on disk per event kept')!.value).toBeGreaterThan(500);
    expect(line('WAL per event')!.value).toBeGreaterThan(0);
    expect(line('delivered rate, last third')!.value).toBeGreaterThan(0);
  }, 240_000);
});
