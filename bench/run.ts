// npm run bench [scenario]: runs benchmark scenarios and prints one line per figure.
import { benchVerify, type BenchLine } from './verify.ts';

const scenarios: Record<string, () => Promise<BenchLine[]>> = {
  verify: benchVerify,
};

const wanted = process.argv[2];
const names = wanted ? [wanted] : Object.keys(scenarios);
for (const name of names) {
  const run = scenarios[name];
  if (!run) {
    console.error(`unknown scenario ${name}; known: ${Object.keys(scenarios).join(', ')}`);
    process.exit(1);
  }
  for (const line of await run()) console.log(`${name}: ${line.name}: ${line.value} ${line.unit}`);
}
