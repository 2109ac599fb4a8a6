// deploy/docker-compose.yml must agree with the configuration reference: every variable it sets is one the relay
// reads, the published port is the relay's, and the services it points at exist in the file.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CONFIG_FIELDS, loadConfig } from '../../../src/config/config.ts';

interface Compose {
  services: Record<string, { environment?: Record<string, string>; ports?: string[]; volumes?: string[]; depends_on?: Record<string, unknown> }>;
  volumes?: Record<string, unknown>;
}

const compose = parse(readFileSync(new URL('../../../deploy/docker-compose.yml', import.meta.url), 'utf8')) as Compose;

describe('deploy/docker-compose.yml', () => {
  it('sets only variables the relay reads, and the ones production needs', () => {
    const env = compose.services.relay!.environment!;
    const known = new Set(CONFIG_FIELDS.map((f) => f.env));
    for (const name of Object.keys(env)) expect(known.has(name), name).toBe(true);
    for (const needed of ['DATABASE_URL', 'REDIS_URL', 'RELAY_ADMIN_PASSWORD']) expect(env).toHaveProperty(needed);
  });

  it('publishes the relay port and points at services and volumes defined in the file', () => {
    const port = loadConfig({}).port;
    expect(compose.services.relay!.ports).toContain(`${port}:${port}`);
    const env = compose.services.relay!.environment!;
    expect(new URL(env.DATABASE_URL!).hostname).toBe('postgres');
    expect(new URL(env.REDIS_URL!).hostname).toBe('redis');
    for (const dep of Object.keys(compose.services.relay!.depends_on ?? {})) expect(compose.services).toHaveProperty(dep);
    for (const svc of Object.values(compose.services)) {
      for (const v of svc.volumes ?? []) {
        const name = v.split(':')[0]!;
        if (!name.startsWith('.') && !name.startsWith('/')) expect(compose.volumes).toHaveProperty(name);
      }
    }
  });
});
