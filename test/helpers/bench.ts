// Reading a benchmark's figures in its smoke test.
import type { BenchLine } from '../../bench/lib/record.ts';

/** The value of the figure whose name starts with `name`; a missing figure fails with the ones there are. */
export function figure(lines: BenchLine[], name: string): number {
  const line = lines.find((l) => l.name.startsWith(name));
  if (!line) throw new Error(`no figure "${name}" in ${lines.map((l) => l.name).join('; ')}`);
  return line.value;
}
