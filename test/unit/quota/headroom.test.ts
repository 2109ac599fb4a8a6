import { describe, expect, it } from 'vitest';
import { createMemoryCounterStore, type Grant, type WindowLimit } from '../../../src/quota/counters.ts';
import { BudgetHeadroom } from '../../../src/quota/headroom.ts';

const HOUR = 3_600_000;
const windows: WindowLimit[] = [
  { name: 'hour', ms: HOUR, limit: 100 },
  { name: 'day', ms: 24 * HOUR, limit: 300 },
];
const grant = (granted: number, hour: number, day: number, now: number): Grant => ({
  granted,
  windows: [
    { name: 'hour', count: hour, limit: 100, resetAt: (Math.floor(now / HOUR) + 1) * HOUR },
    { name: 'day', count: day, limit: 300, resetAt: (Math.floor(now / (24 * HOUR)) + 1) * 24 * HOUR },
  ],
});

/** A deterministic sequence of numbers in [0, 1). */
function random(seed: number): () => number {
  let s = seed;
  return () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
}

describe('budget headroom', () => {
  it('decides nothing before the counters first answered, then passes takes while they leave the margin', () => {
    const h = new BudgetHeadroom({ windows, maxAccounts: 10 });
    const now = 5 * HOUR + 1000;
    expect(h.charge('a', 3, now)).toBe(false);
    h.answered('a', 3, false, grant(3, 3, 3, now), now);
    // Room 97 at the hour; the margin is a tenth of the smallest limit (10): 87 points may pass unanswered.
    let passed = 0;
    for (let i = 0; i < 100 && h.charge('a', 3, now); i++) passed += 3;
    expect(passed).toBe(87);
    // The answers bring the room down by what they counted and clear what they answered: nothing more passes.
    for (let i = 1; i <= 29; i++) h.answered('a', 3, true, grant(3, 3 + 3 * i, 3 + 3 * i, now), now);
    expect(h.charge('a', 1, now)).toBe(false);
    // Another account is not affected.
    expect(h.charge('b', 1, now)).toBe(false);
  });

  it('never passes a take the counters would refuse while one process charges, whatever the answers lag', async () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const rnd = random(seed);
      const store = createMemoryCounterStore(`h${seed}:`);
      const h = new BudgetHeadroom({ windows, maxAccounts: 10 });
      let now = 7 * HOUR + 10;
      // Takes sent and not answered yet, in the order sent (as on one connection).
      const inFlight: Array<{ scope: string; cost: number; local: boolean; result: Promise<Grant> }> = [];
      let local = 0;
      let refusedLocal = 0;
      const answerSome = async (n: number) => {
        for (const t of inFlight.splice(0, n)) {
          const g = await t.result;
          if (t.local && g.granted < t.cost) refusedLocal++;
          h.answered(t.scope, t.cost, t.local, g, now);
        }
      };
      for (let step = 0; step < 2000; step++) {
        const scope = `acct${Math.floor(rnd() * 3)}`;
        const cost = 1 + Math.floor(rnd() * 3);
        const decided = h.charge(scope, cost, now);
        if (decided) local++;
        inFlight.push({ scope, cost, local: decided, result: store.take(scope, cost, windows, now) });
        // A take decided by the counters is waited for (the account's next event comes after it).
        if (!decided) await answerSome(inFlight.length);
        else if (rnd() < 0.05) await answerSome(Math.floor(rnd() * inFlight.length) + 1);
        if (rnd() < 0.01) now += HOUR / 2;
      }
      await answerSome(inFlight.length);
      expect(refusedLocal).toBe(0);
      expect(local).toBeGreaterThan(200);
    }
  });

  it('waits for the counters after a take another process made them refuse in part', () => {
    const h = new BudgetHeadroom({ windows, maxAccounts: 10 });
    const now = HOUR;
    h.answered('a', 3, false, grant(3, 3, 3, now), now);
    expect(h.charge('a', 3, now)).toBe(true);
    // Meanwhile another process spent the hour: this take got 1 of its 3 points.
    h.answered('a', 3, true, grant(1, 100, 100, now), now);
    expect(h.charge('a', 1, now)).toBe(false);
  });

  it('forgets every account when the first window ends, the oldest past the cap, and one whose take failed', () => {
    const h = new BudgetHeadroom({ windows, maxAccounts: 2 });
    const now = 3 * HOUR + 5;
    for (const s of ['a', 'b']) h.answered(s, 1, false, grant(1, 1, 1, now), now);
    expect(h.charge('a', 1, now)).toBe(true);
    h.answered('c', 1, false, grant(1, 1, 1, now), now);
    expect(h.size).toBe(2);
    // a was remembered first and is forgotten; its take's late answer does not bring it back.
    expect(h.charge('a', 1, now)).toBe(false);
    h.answered('a', 1, true, grant(1, 2, 2, now), now);
    expect(h.charge('a', 1, now)).toBe(false);
    expect(h.charge('b', 1, now)).toBe(true);
    h.forget('b');
    expect(h.charge('b', 1, now)).toBe(false);
    // The hour ends: counts of the last one say nothing of the next.
    expect(h.charge('c', 1, 4 * HOUR - 1)).toBe(true);
    expect(h.charge('c', 1, 4 * HOUR)).toBe(false);
    expect(h.size).toBe(0);
  });
});
