// Benchmark records and the generated bench/RESULTS.md: records go through real files in a temporary directory,
// and the report is checked row by row, including the target verdict in both directions.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ROOT } from '../../../bench/lib/harness.ts';
import { currentCommit, currentMachine } from '../../../bench/lib/provenance.ts';
import { appendRecords, readRecords, RESULTS_DIR, targetMet, toRecords, type BenchLine, type RunContext } from '../../../bench/lib/record.ts';
import { renderReport, REPORT_FILE, writeReport } from '../../../bench/lib/report.ts';

const machine = { cpu: 'Test CPU 9000', cores: 2, memoryGiB: 24, node: 'v24.0.0', load: { start: 0.5, end: 1.25 } };
const run = (date: string, hash: string, extra: Partial<RunContext> = {}): RunContext => ({ commit: { hash, dirty: false }, machine, date, ...extra });

/** The Markdown table row of `metric` in the section of `scenario`, split into trimmed cells. */
function rowOf(markdown: string, scenario: string, metric: string): string[] {
  const section = markdown.split(`\n## ${scenario}\n`)[1]!.split('\n## ')[0]!;
  const line = section.split('\n').find((l) => l.startsWith(`| ${metric} |`));
  if (!line) throw new Error(`no row for ${metric} in ${scenario}:\n${section}`);
  return line.slice(2, -2).split(' | ').map((c) => c.trim());
}

describe('bench targets', () => {
  it('higher is better: met at or above the target, missed below it', () => {
    expect(targetMet(10_001, { op: '>=', value: 10_000 })).toBe(true);
    expect(targetMet(10_000, { op: '>=', value: 10_000 })).toBe(true);
    expect(targetMet(9_999, { op: '>=', value: 10_000 })).toBe(false);
  });

  it('lower is better: met strictly below the target, missed at or above it', () => {
    expect(targetMet(99, { op: '<', value: 100 })).toBe(true);
    expect(targetMet(100, { op: '<', value: 100 })).toBe(false);
    expect(targetMet(3_500, { op: '<', value: 100 })).toBe(false);
  });
});

describe('bench records and report', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'bench-results-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const ingestLines = (rate: number): BenchLine[] => [
    { name: 'sustained ingest', value: rate, unit: 'events/s', target: { op: '>=', value: 10_000 } },
    { name: 'relay CPU', value: 130, unit: '% of one core' },
  ];
  const fanoutLines = (p99: number): BenchLine[] => [{ name: 'fan-out p99', value: p99, unit: 'ms over 100 consumers', target: { op: '<', value: 100 } }];

  it('appends one JSON line per figure to its scenario file, keeping earlier runs', () => {
    appendRecords(dir, toRecords('ingest', ingestLines(3_605), run('2026-11-23T16:00:00.000Z', 'aaaaaaa')));
    appendRecords(dir, toRecords('ingest', ingestLines(12_000), run('2026-12-01T10:00:00.000Z', 'bbbbbbb', { flags: { hosts: '8' } })));
    appendRecords(dir, toRecords('fanout', fanoutLines(80), run('2026-12-01T10:05:00.000Z', 'bbbbbbb')));

    const lines = readFileSync(join(dir, 'ingest.jsonl'), 'utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(4);
    expect(JSON.parse(lines[2]!)).toEqual({
      scenario: 'ingest',
      metric: 'sustained ingest',
      value: 12_000,
      unit: 'events/s',
      target: { op: '>=', value: 10_000 },
      flags: { hosts: '8' },
      commit: { hash: 'bbbbbbb', dirty: false },
      machine,
      date: '2026-12-01T10:00:00.000Z',
    });
    // A figure without a target carries none.
    expect(JSON.parse(lines[3]!)).not.toHaveProperty('target');
    expect(readRecords(dir).map((r) => `${r.scenario} ${r.metric} ${r.value}`)).toEqual([
      'fanout fan-out p99 80',
      'ingest sustained ingest 3605',
      'ingest relay CPU 130',
      'ingest sustained ingest 12000',
      'ingest relay CPU 130',
    ]);
  });

  it('tables the latest record of each metric with its target verdict, commit, date and machine', () => {
    appendRecords(dir, toRecords('ingest', ingestLines(3_605), run('2026-11-23T16:00:00.000Z', 'aaaaaaa')));
    appendRecords(dir, toRecords('ingest', ingestLines(12_345.5), run('2026-12-01T10:00:00.000Z', 'bbbbbbb')));
    appendRecords(dir, toRecords('fanout', fanoutLines(3_500), run('2026-11-23T16:10:00.000Z', 'aaaaaaa')));
    // Merged from another branch after a later run: later in the file, but older, so not the current figure.
    appendRecords(dir, toRecords('fanout', fanoutLines(90), run('2026-12-02T09:00:00.000Z', 'ccccccc', { commit: { hash: 'ccccccc', dirty: true } })));
    appendRecords(dir, toRecords('fanout', fanoutLines(120), run('2026-12-01T09:00:00.000Z', 'ddddddd')));

    const report = join(dir, 'RESULTS.md');
    writeReport(dir, report);
    const md = readFileSync(report, 'utf8');
    expect(md).toBe(renderReport(readRecords(dir)));
    expect(md).toMatch(/^# Benchmark results\n\nGenerated by `npm run bench:report`/);

    expect(rowOf(md, 'ingest', 'sustained ingest')).toEqual(['sustained ingest', '12,345.5', 'events/s', '>= 10,000', 'met', 'bbbbbbb', '2026-12-01 10:00', 'A']);
    expect(rowOf(md, 'ingest', 'relay CPU')).toEqual(['relay CPU', '130', '% of one core', '', '', 'bbbbbbb', '2026-12-01 10:00', 'A']);
    expect(rowOf(md, 'fanout', 'fan-out p99')).toEqual(['fan-out p99', '90', 'ms over 100 consumers', '< 100', 'met', 'ccccccc (dirty)', '2026-12-02 09:00', 'A']);
    expect(md).not.toContain('3,605');
    expect(md).toContain('- A: Test CPU 9000, 2 cores, 24 GiB, Node v24.0.0; load average 0.5 at the start, 1.25 at the end');

    const targets = md.split('\n## Targets\n')[1]!.split('\n## ')[0]!;
    expect(targets).toContain('| ingest | sustained ingest | >= 10,000 | 12,345.5 events/s | met | bbbbbbb | 2026-12-01 10:00 |');
    expect(targets).toContain('| fanout | fan-out p99 | < 100 | 90 ms over 100 consumers | met | ccccccc (dirty) | 2026-12-02 09:00 |');
    expect(targets).not.toContain('relay CPU');
  });

  it('marks missed targets in both directions', () => {
    appendRecords(dir, toRecords('ingest', ingestLines(3_605), run('2026-11-23T16:00:00.000Z', 'aaaaaaa')));
    appendRecords(dir, toRecords('fanout', fanoutLines(100), run('2026-11-23T16:10:00.000Z', 'aaaaaaa')));
    const md = renderReport(readRecords(dir));
    expect(rowOf(md, 'ingest', 'sustained ingest').slice(1, 5)).toEqual(['3,605', 'events/s', '>= 10,000', '**missed**']);
    expect(rowOf(md, 'fanout', 'fan-out p99').slice(1, 5)).toEqual(['100', 'ms over 100 consumers', '< 100', '**missed**']);
  });

  it('tells runs apart in the machine column: load, flags and where a figure was taken from', () => {
    appendRecords(dir, [
      { ...toRecords('replay', [{ name: 'replay rate', value: 35_018, unit: 'events/s' }], run('2026-11-23', '1f3037b'))[0]!, source: 'Taken over from the journal' },
    ]);
    appendRecords(dir, toRecords('replay', [{ name: 'frame size', value: 2400, unit: 'bytes' }], run('2026-12-01T10:00:00.000Z', 'bbbbbbb', { flags: { events: '3000' } })));
    const md = renderReport(readRecords(dir));
    // Ordered as the newest run printed them, then the older metric.
    expect(rowOf(md, 'replay', 'frame size').at(-1)).toBe('A');
    expect(rowOf(md, 'replay', 'replay rate').at(-1)).toBe('B');
    expect(rowOf(md, 'replay', 'replay rate')[6]).toBe('2026-11-23');
    expect(md.indexOf('| frame size |')).toBeLessThan(md.indexOf('| replay rate |'));
    expect(md).toContain('- A: Test CPU 9000, 2 cores, 24 GiB, Node v24.0.0; load average 0.5 at the start, 1.25 at the end; flags --events 3000\n');
    expect(md).toContain('- B: Test CPU 9000, 2 cores, 24 GiB, Node v24.0.0; load average 0.5 at the start, 1.25 at the end. Taken over from the journal\n');
  });

  it('lists a retired metric under its table, out of the targets, with what replaced it', () => {
    appendRecords(dir, toRecords('fanout', [{ name: 'fan-out p99 upstream-to-consumer latency', value: 3_500, unit: 'ms over 100 consumers', target: { op: '<', value: 100 } }], run('2026-11-23', '1f3037b')));
    appendRecords(dir, toRecords('fanout', fanoutLines(60), run('2026-12-03T06:15:00.000Z', 'ccccccc')));
    const md = renderReport(readRecords(dir));
    const targets = md.split('\n## Targets\n')[1]!.split('\n## ')[0]!;
    expect(targets).not.toContain('upstream-to-consumer');
    expect(() => rowOf(md, 'fanout', 'fan-out p99 upstream-to-consumer latency')).toThrow(/no row/);
    expect(md).toMatch(/Retired, no longer reported:\n- fan-out p99 upstream-to-consumer latency: 3,500 ms over 100 consumers \(1f3037b, 2026-11-23\); .*replaced by/);
    expect(rowOf(md, 'fanout', 'fan-out p99')[1]).toBe('60');
  });

  it('refuses a line that is not a record, naming the file and line', () => {
    writeFileSync(join(dir, 'verify.jsonl'), '{"scenario":"verify","metric":"m","value":1,"unit":"x","date":"2026-11-23"}\n{"scenario":"verify",\n');
    expect(() => readRecords(dir)).toThrow(/verify\.jsonl:2: not a benchmark record/);
  });
});

describe('the repository', () => {
  it('bench/RESULTS.md is what the report makes of bench/results (regenerate with npm run bench:report)', () => {
    expect(readFileSync(REPORT_FILE, 'utf8')).toBe(renderReport(readRecords(RESULTS_DIR)));
  });

  it('records the commit and the machine a run is on', () => {
    const commit = currentCommit(ROOT);
    expect(commit.hash).toMatch(/^[0-9a-f]{7,}$/);
    expect(typeof commit.dirty).toBe('boolean');
    const m = currentMachine({ start: 1, end: 2 });
    expect(m.cores).toBe(cpus().length);
    expect(m.node).toBe(process.version);
    expect(m.memoryGiB).toBeGreaterThan(0);
    expect(m.cpu).not.toBe('');
  });
});
