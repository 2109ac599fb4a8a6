import { describe, expect, it } from 'vitest';
import { ConfigError, configReference, loadConfig, parseDuration } from '../../../src/config/config.ts';

describe('config', () => {
  it('has the documented defaults with no environment', () => {
    const c = loadConfig({});
    expect(c.port).toBe(2470);
    expect(c.databaseUrl).toBeNull();
    expect(c.redisUrl).toBeNull();
    expect(c.plcUrl).toBe('https://plc.directory');
    expect(c.crawlPolicy).toBe('allowlist');
    expect(c.allowInsecureHosts).toBe(false);
    expect(c.replayWindowMs).toBe(72 * 3600_000);
  });

  it('reads environment variables', () => {
    const c = loadConfig({
      RELAY_PORT: '8080',
      DATABASE_URL: 'postgres://u@h/db',
      REDIS_URL: 'redis://127.0.0.1:6379',
      RELAY_ALLOW_INSECURE_HOSTS: 'true',
      RELAY_CRAWL_POLICY: 'open',
      RELAY_REPLAY_WINDOW: '24h',
      RELAY_PLC_URL: 'http://127.0.0.1:9999/',
    });
    expect(c).toMatchObject({
      port: 8080,
      databaseUrl: 'postgres://u@h/db',
      allowInsecureHosts: true,
      crawlPolicy: 'open',
      replayWindowMs: 24 * 3600_000,
      plcUrl: 'http://127.0.0.1:9999',
    });
  });

  it('reports every invalid value at once, naming the variable', () => {
    try {
      loadConfig({ RELAY_PORT: 'eighty', RELAY_CRAWL_POLICY: 'sometimes', RELAY_REPLAY_WINDOW: '3 weeks' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const problems = (err as ConfigError).problems.join('\n');
      expect(problems).toContain('RELAY_PORT');
      expect(problems).toContain('RELAY_CRAWL_POLICY');
      expect(problems).toContain('RELAY_REPLAY_WINDOW');
    }
  });

  it('refuses production without an admin password', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/RELAY_ADMIN_PASSWORD/);
    expect(loadConfig({ NODE_ENV: 'production', RELAY_ADMIN_PASSWORD: 's3cret' }).adminPassword).toBe('s3cret');
  });

  it('parses durations', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('3d')).toBe(3 * 86_400_000);
    expect(() => parseDuration('soon')).toThrow();
  });

  it('documents every variable', () => {
    const ref = configReference();
    for (const v of ['RELAY_PORT', 'DATABASE_URL', 'REDIS_URL', 'RELAY_PLC_URL', 'RELAY_ADMIN_PASSWORD', 'RELAY_ALLOW_INSECURE_HOSTS', 'RELAY_CRAWL_POLICY', 'RELAY_REPLAY_WINDOW']) {
      expect(ref).toContain(v);
    }
  });
});

describe('README', () => {
  it('carries the generated configuration reference', async () => {
    const { readFileSync } = await import('node:fs');
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    expect(readme).toContain(configReference());
  });
});
