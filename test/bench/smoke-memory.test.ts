// A small run of the memory benchmark: both caches filled through their own APIs with entries shaped as the relay
// makes them. The per-entry figures must be in the range the cache budgets assume (a rope string or a leak in an
// entry would show as several times more), though no exact figure is asserted.
import { describe, expect, it } from 'vitest';
import { benchMemory } from '../../bench/memory.ts';
import { IDENTITY_ENTRY_BYTES } from '../../src/identity/cache.ts';
import { ACCOUNT_ENTRY_BYTES } from '../../src/accounts/registry.ts';

describe('bench memory smoke run', () => {
  it('fills both caches and measures about what their budgets assume per entry', async () => {
    const lines = await benchMemory(new Map([['entries', '20000']]));
    const value = (name: string) => lines.find((l) => l.name === name)!.value;
    expect(value('identities cached')).toBe(20000);
    expect(value('account states cached')).toBe(20000);
    expect(value('heap per cached identity')).toBeGreaterThan(IDENTITY_ENTRY_BYTES / 2);
    expect(value('heap per cached identity')).toBeLessThan(IDENTITY_ENTRY_BYTES * 1.5);
    expect(value('heap per cached account state')).toBeGreaterThan(ACCOUNT_ENTRY_BYTES / 2);
    expect(value('heap per cached account state')).toBeLessThan(ACCOUNT_ENTRY_BYTES * 1.5);
  }, 120_000);
});
