// Benchmark figures as data. Every figure a recorded run prints becomes one JSON line appended to
// bench/results/<scenario>.jsonl: history is kept as lines added (a diff shows exactly the new run), and
// bench/RESULTS.md is generated from the files rather than written by hand.
import { appendFileSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const RESULTS_DIR = fileURLToPath(new URL('../results', import.meta.url));

/** What a figure must reach: at least `value` (throughput), or below it (latency, memory). */
export interface Target {
  op: '>=' | '<';
  value: number;
}

/** One figure as a scenario reports it. */
export interface BenchLine {
  name: string;
  value: number;
  unit: string;
  target?: Target;
}

export interface Commit {
  /** Short hash; for figures taken over from the journal, what the journal states (possibly a range). */
  hash: string;
  /** Tracked files differed from the commit (recorded results aside); null where that is not known. */
  dirty: boolean | null;
}

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  node: string;
  /** 1-minute load average at the start and the end of the scenario; null where not known. */
  load: { start: number | null; end: number | null };
}

export interface BenchRecord {
  scenario: string;
  metric: string;
  value: number;
  unit: string;
  target?: Target;
  /** The run's flags, when it had any: a scaled-down run is not the default scenario. */
  flags?: Record<string, string>;
  commit: Commit;
  machine: Machine;
  /** ISO 8601, UTC. */
  date: string;
  /** Where a figure not measured by a recorded run was taken from. */
  source?: string;
}

export type RunContext = Pick<BenchRecord, 'flags' | 'commit' | 'machine' | 'date'>;

export function targetMet(value: number, target: Target): boolean {
  return target.op === '>=' ? value >= target.value : value < target.value;
}

export const formatNumber = (n: number) => n.toLocaleString('en-US', { maximumFractionDigits: 3 });

export const describeTarget = (t: Target) => `${t.op} ${formatNumber(t.value)}`;

export function toRecords(scenario: string, lines: BenchLine[], run: RunContext): BenchRecord[] {
  return lines.map((l) => ({ scenario, metric: l.name, value: l.value, unit: l.unit, ...(l.target ? { target: l.target } : {}), ...run }));
}

/** Appends each record to its scenario's file in `dir`. */
export function appendRecords(dir: string, records: BenchRecord[]): void {
  mkdirSync(dir, { recursive: true });
  for (const r of records) appendFileSync(join(dir, `${r.scenario}.jsonl`), `${JSON.stringify(r)}\n`);
}

/** Every record in `dir`, file by file in name order, each file in the order written. */
export function readRecords(dir: string): BenchRecord[] {
  const records: BenchRecord[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.jsonl')).sort()) {
    readFileSync(join(dir, file), 'utf8').split('\n').forEach((line, i) => {
      if (line.trim() === '') return;
      // A hand-edited or badly merged line should fail here, not render as a silently wrong row.
      const bad = () => new Error(`${join(dir, file)}:${i + 1}: not a benchmark record`);
      let r: BenchRecord;
      try {
        r = JSON.parse(line) as BenchRecord;
      } catch {
        throw bad();
      }
      if (typeof r.scenario !== 'string' || typeof r.metric !== 'string' || typeof r.value !== 'number' || Number.isNaN(Date.parse(r.date))) throw bad();
      records.push(r);
    });
  }
  return records;
}
