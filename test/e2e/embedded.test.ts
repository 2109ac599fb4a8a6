// `npm start` with no configuration: the relay runs on the embedded store and serves /_health and a firehose.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TestConsumer } from '../helpers/consumer.ts';
import { freePort, runRelayCli, spawnRelay, waitForHealth, type RelayProcess } from '../../dev-env/process.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'relay-embedded-'));
let proc: RelayProcess | null = null;

afterAll(async () => {
  if (proc) {
    proc.child.kill('SIGTERM');
    await proc.exited;
  }
  rmSync(dataDir, { recursive: true, force: true });
});

describe('embedded default', () => {
  it('serves health and a firehose with no DATABASE_URL, and shuts down cleanly', async () => {
    const port = await freePort();
    // Only the ports and data directory differ from a bare `npm start` (which uses 2470, 2471 and ./data).
    const metricsPort = await freePort();
    proc = spawnRelay(['serve'], { RELAY_PORT: String(port), RELAY_METRICS_PORT: String(metricsPort), RELAY_DATA_DIR: dataDir });
    const base = `http://127.0.0.1:${port}`;
    await waitForHealth(base, 60_000, proc);
    const health = (await (await fetch(`${base}/_health`)).json()) as { status: string; seq: number };
    expect(health.status).toBe('ok');
    expect(health.seq).toBe(0);

    const consumer = await TestConsumer.connect(`ws://127.0.0.1:${port}`);
    expect(consumer.closed).toBe(false);
    // A cursor ahead of the relay is refused with an error frame.
    const future = await TestConsumer.connect(`ws://127.0.0.1:${port}`, 1000);
    await future.waitFor((c) => c.closed, 10_000, 'FutureCursor close');
    expect(future.frames[0]?.frame).toEqual({ op: -1, error: 'FutureCursor', message: 'Cursor in the future.' });
    consumer.close();

    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(metrics).toContain('relay_consumers');
    expect(metrics).toContain('relay_last_seq 0');

    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
    proc = null;

    // The store survives a restart; `relay migrate` on it is a no-op.
    const migrated = await runRelayCli(['migrate'], { RELAY_DATA_DIR: dataDir });
    expect(migrated.output).toContain('migrations applied (embedded)');
    expect(migrated.code).toBe(0);
  });
});
