// The admin commands of the CLI start fast (they load no more than the HTTP client and the config: not the relay,
// the database driver or ws) and say plainly when the relay is not there.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { freePort, RELAY_BIN, REPO_ROOT, runRelayCli } from '../../dev-env/process.ts';

/** Runs the CLI with a module hook that records every module it loads. */
async function loadedModules(args: string[]): Promise<{ code: number | null; output: string; modules: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'relay-cli-'));
  const hook = join(dir, 'hook.mjs');
  const list = join(dir, 'loaded.txt');
  writeFileSync(
    hook,
    `import { registerHooks } from 'node:module';
import { writeFileSync } from 'node:fs';
const loaded = [];
registerHooks({ load(url, context, next) { loaded.push(url); return next(url, context); } });
process.on('exit', () => writeFileSync(${JSON.stringify(list)}, loaded.join('\\n')));
`,
  );
  const child = spawn(process.execPath, ['--import', hook, RELAY_BIN, ...args], { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '' } });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { code, output, modules: readFileSync(list, 'utf8').split('\n') };
}

describe('the CLI without a relay', () => {
  it('says the relay is not reachable, where, and what to do', async () => {
    const port = await freePort();
    const { code, output } = await runRelayCli(['hosts', 'list', '--url', `http://127.0.0.1:${port}`, '--password', 'x'], {});
    expect(code).toBe(1);
    expect(output.trim()).toBe(`relay: cannot reach the relay at http://127.0.0.1:${port} (connection refused) — is it running? set --url`);
  });

  it('loads neither the relay, the database driver nor ws for an admin command', async () => {
    const port = await freePort();
    const { code, output, modules } = await loadedModules(['consumers', '--url', `http://127.0.0.1:${port}`, '--password', 'x']);
    expect(code, output).toBe(1);
    expect(modules.some((m) => m.endsWith('/src/cli/admin-client.ts'))).toBe(true);
    const heavy = modules.filter((m) => /\/src\/relay\.ts$|\/src\/storage\/|\/node_modules\/(pg|ws|fastify|ioredis|@electric-sql)\//.test(m));
    expect(heavy).toEqual([]);
  });
});
