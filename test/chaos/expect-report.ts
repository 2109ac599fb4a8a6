// What every chaos run must show, whatever its faults: the relay never crashed by itself, and every upstream event
// reached every consumer exactly once, seqs increasing and each account's events in upstream order.
import { expect } from 'vitest';
import type { ChaosReport } from '../../dev-env/chaos.ts';

export function expectEveryEventOnce(report: ChaosReport): void {
  expect(report.crashes).toBe(0);
  expect(report.lost).toBe(0);
  expect(report.duplicated).toBe(0);
  expect(report.outOfOrder).toBe(0);
  expect(report.reordered).toBe(0);
  expect(report.relayed).toBe(report.sent);
}
