// npm run bench [scenario] [-- --flag value ...]: runs benchmark scenarios and prints one line per figure. Unless
// --no-record is given, each scenario's figures are then appended as records to bench/results/<scenario>.jsonl and
// bench/RESULTS.md is regenerated from them.
import { benchVerify } from './verify.ts';
import { benchReplay } from './replay.ts';
import { benchCompare } from './compare.ts';
import { benchCold } from './cold.ts';
import { benchLogStorage } from './log-storage.ts';
import { benchSoak } from './soak.ts';
import { benchMemory } from './memory.ts';
import { benchJetstream } from './jetstream.ts';
import { benchCollectionIndex } from './collection-index.ts';
import { benchCollections, benchHosts, benchIngest, benchStalled, parseFlags, type Flags } from './scenarios.ts';
import { benchFanout } from './fanout.ts';
import { ROOT } from './lib/harness.ts';
import { currentCommit, currentMachine, loadAverage } from './lib/provenance.ts';
import { appendRecords, describeTarget, RESULTS_DIR, toRecords, type BenchLine } from './lib/record.ts';
import { REPORT_FILE, writeReport } from './lib/report.ts';

const scenarios: Record<string, (flags: Flags) => Promise<BenchLine[]>> = {
  verify: benchVerify,
  ingest: benchIngest,
  collections: benchCollections,
  'collection-index': benchCollectionIndex,
  fanout: benchFanout,
  replay: benchReplay,
  hosts: benchHosts,
  stalled: benchStalled,
  compare: benchCompare,
  cold: benchCold,
  storage: benchLogStorage,
  soak: benchSoak,
  memory: benchMemory,
  jetstream: benchJetstream,
};

const wanted = process.argv[2] && !process.argv[2].startsWith('--') ? process.argv[2] : undefined;
const flags = parseFlags(process.argv.slice(wanted ? 3 : 2));
const record = !flags.has('no-record');
flags.delete('no-record');
const names = wanted ? [wanted] : Object.keys(scenarios);
const unknown = names.find((name) => !scenarios[name]);
if (unknown) {
  console.error(`unknown scenario ${unknown}; known: ${Object.keys(scenarios).join(', ')}`);
  process.exit(1);
}
// Taken before the first scenario: a run that cannot be recorded fails now, not after its minutes of measuring.
const commit = record ? currentCommit(ROOT) : null;
for (const name of names) {
  const date = new Date().toISOString();
  const loadStart = loadAverage();
  const lines = await scenarios[name]!(flags);
  // Other processes may share the machine: every run says how busy it was.
  const load = { start: loadStart, end: loadAverage() };
  for (const line of lines) console.log(`${name}: ${line.name}: ${line.value} ${line.unit}${line.target ? ` (target ${describeTarget(line.target)})` : ''}`);
  console.log(`${name}: load average (1 min): ${load.start} at the start, ${load.end} at the end`);
  if (commit) {
    const run = { ...(flags.size > 0 ? { flags: Object.fromEntries(flags) } : {}), commit, machine: currentMachine(load), date };
    appendRecords(RESULTS_DIR, toRecords(name, lines, run));
    writeReport(RESULTS_DIR, REPORT_FILE);
    console.error(`  recorded in bench/results/${name}.jsonl; bench/RESULTS.md regenerated`);
  }
}
