// What a benchmark's smoke test shares: the small fleet it runs on, and reading the figures.
import type { BenchLine } from '../../bench/lib/record.ts';

/** The value of the figure whose name starts with `name`; a missing figure fails with the ones there are. */
export function figure(lines: BenchLine[], name: string): number {
  const line = lines.find((l) => l.name.startsWith(name));
  if (!line) throw new Error(`no figure "${name}" in ${lines.map((l) => l.name).join('; ')}`);
  return line.value;
}

/** Flags for a bench run on one small fleet (two hosts of three accounts with small repos), plus `extra`. */
export function smallFleet(extra: Record<string, string>): Map<string, string> {
  return new Map(Object.entries({ ...extra, fleets: '1', hosts: '2', 'active-hosts': '2', 'accounts-per-host': '3', records: '50-300', 'distinct-repos': '2' }));
}
