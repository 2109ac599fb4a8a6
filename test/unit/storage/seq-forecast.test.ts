// When a batch may take the seq row to be where this process left it (one round trip), and when it must read it.
import { describe, expect, it } from 'vitest';
import { SeqForecast } from '../../../src/storage/events.ts';

describe('SeqForecast', () => {
  it('assumes nothing until two batches of its own follow each other', () => {
    const f = new SeqForecast();
    expect(f.expected).toBeNull();
    f.committed(11, 20, false);
    expect(f.expected).toBeNull();
    f.committed(21, 25, false);
    expect(f.expected).toBe(25);
  });

  it('keeps assuming while the row holds, and stops when another writer moved it', () => {
    const f = new SeqForecast();
    f.committed(1, 5, false);
    f.committed(6, 9, false);
    f.committed(10, 14, true);
    expect(f.expected).toBe(14);
    f.missed();
    expect(f.expected).toBeNull();
    // Read the long way: another writer had taken 15-30.
    f.committed(31, 40, false);
    expect(f.expected).toBeNull();
    f.committed(51, 60, false);
    expect(f.expected).toBeNull();
    f.committed(61, 61, false);
    expect(f.expected).toBe(61);
  });
});
