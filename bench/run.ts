// npm run bench [scenario] [-- --flag value ...]: runs benchmark scenarios and prints one line per figure.
import { benchVerify, type BenchLine } from './verify.ts';
import { benchReplay } from './replay.ts';
import { benchCompare } from './compare.ts';
import { benchFanout, benchHosts, benchIngest, benchStalled, parseFlags, type Flags } from './scenarios.ts';

const scenarios: Record<string, (flags: Flags) => Promise<BenchLine[]>> = {
  verify: benchVerify,
  ingest: benchIngest,
  fanout: benchFanout,
  replay: benchReplay,
  hosts: benchHosts,
  stalled: benchStalled,
  compare: benchCompare,
};

const wanted = process.argv[2] && !process.argv[2].startsWith('--') ? process.argv[2] : undefined;
const flags = parseFlags(process.argv.slice(wanted ? 3 : 2));
const names = wanted ? [wanted] : Object.keys(scenarios);
for (const name of names) {
  const run = scenarios[name];
  if (!run) {
    console.error(`unknown scenario ${name}; known: ${Object.keys(scenarios).join(', ')}`);
    process.exit(1);
  }
  for (const line of await run(flags)) console.log(`${name}: ${line.name}: ${line.value} ${line.unit}`);
}
