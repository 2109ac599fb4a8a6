// What a recorded figure was measured on. This VM's speed and its neighbours' load vary by a factor of two and more
// from run to run, so a figure without its commit, machine and load average cannot be compared with another.
import { execFileSync } from 'node:child_process';
import { cpus, loadavg, totalmem } from 'node:os';
import type { Commit, Machine } from './record.ts';

/**
 * The checked-out commit. Dirty means tracked files differ from it; the recorded results and the generated table
 * do not count, so a second run before committing the first one's records still measures the same code.
 */
export function currentCommit(root: string): Commit {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim();
  const hash = git('rev-parse', '--short', 'HEAD');
  const changes = git('status', '--porcelain', '--untracked-files=no', '--', '.', ':(exclude)bench/results', ':(exclude)bench/RESULTS.md');
  return { hash, dirty: changes !== '' };
}

export const loadAverage = () => Math.round(loadavg()[0]! * 100) / 100;

export function currentMachine(load: Machine['load']): Machine {
  const cores = cpus();
  return {
    // On Linux the model is the "model name" of /proc/cpuinfo.
    cpu: cores[0]?.model.trim() || 'unknown',
    cores: cores.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    load,
  };
}
