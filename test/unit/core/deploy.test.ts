// deploy/docker-compose.yml must agree with the configuration reference: every variable it sets is one the relay
// reads, the published port is the relay's, and the services it points at exist in the file.
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CONFIG_FIELDS, configReference, loadConfig } from '../../../src/config/config.ts';
import { startWorld } from '../../helpers/world.ts';
import { EVENTS_CHANNEL } from '../../../src/storage/events.ts';
import { ACCOUNTS_CHANNEL } from '../../../src/storage/accounts.ts';
import { HOSTS_CHANNEL } from '../../../src/storage/hosts.ts';

interface Compose {
  services: Record<string, { environment?: Record<string, string>; ports?: string[]; expose?: string[]; volumes?: string[]; depends_on?: Record<string, unknown> | string[] }>;
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

  it('publishes the relay port on loopback only, the metrics port not at all, and points at services and volumes defined in the file', () => {
    const { port, metricsPort } = loadConfig({});
    // Behind the TLS proxy of docs/operations.md: nothing of the relay on the host's public interfaces.
    expect(compose.services.relay!.ports).toEqual([`127.0.0.1:${port}:${port}`]);
    for (const svc of Object.values(compose.services)) for (const p of svc.ports ?? []) expect(p, 'published on loopback').toMatch(/^127\.0\.0\.1:/);
    expect(compose.services.relay!.expose).toEqual([String(metricsPort)]);
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

// The monitoring half of the stack: Prometheus scrapes the relay service, Grafana is provisioned with that Prometheus
// and the dashboard, and every series the dashboard queries is one a running relay exports.
const deployFile = (rel: string) => readFileSync(new URL(`../../../deploy/${rel}`, import.meta.url), 'utf8');

describe('deploy/ Prometheus and Grafana', () => {
  const mounts = (service: string) =>
    Object.fromEntries((compose.services[service]!.volumes ?? []).map((v) => v.split(':')).map(([src, dst]) => [dst!, src!]));

  it('mounts files that exist and scrapes the relay service on its port', () => {
    for (const [service, svc] of Object.entries(compose.services)) {
      const deps = Array.isArray(svc.depends_on) ? (svc.depends_on as string[]) : Object.keys(svc.depends_on ?? {});
      for (const dep of deps) expect(compose.services, `${service} depends on ${dep}`).toHaveProperty(dep);
      for (const v of svc.volumes ?? []) {
        const src = v.split(':')[0]!;
        if (src.startsWith('./')) expect(existsSync(new URL(`../../../deploy/${src.slice(2)}`, import.meta.url)), `${service}: ${src}`).toBe(true);
      }
    }
    const promMount = mounts('prometheus')['/etc/prometheus/prometheus.yml'];
    expect(promMount).toBe('./prometheus/prometheus.yml');
    const prom = parse(deployFile('prometheus/prometheus.yml')) as {
      rule_files: string[];
      scrape_configs: Array<{ metrics_path?: string; static_configs: Array<{ targets: string[] }> }>;
    };
    const job = prom.scrape_configs[0]!;
    expect(job.metrics_path ?? '/metrics').toBe('/metrics');
    expect(job.static_configs[0]!.targets).toEqual([`relay:${loadConfig({}).metricsPort}`]);
    // The alert rules it loads are the ones shipped (test/e2e/alerts.test.ts checks them against a relay).
    expect(prom.rule_files.map((f) => mounts('prometheus')[f])).toEqual(['./prometheus/alerts.yml']);
    expect(compose.services).toHaveProperty('relay');
  });

  it('provisions Grafana with the compose Prometheus and the dashboard folder it mounts', () => {
    const m = mounts('grafana');
    expect(m['/etc/grafana/provisioning']).toBe('./grafana/provisioning');
    const ds = parse(deployFile('grafana/provisioning/datasources/prometheus.yml')) as { datasources: Array<{ uid: string; url: string }> };
    const url = new URL(ds.datasources[0]!.url);
    expect(compose.services).toHaveProperty(url.hostname);
    expect(compose.services[url.hostname]!.ports?.some((p) => p.endsWith(`:${url.port}`))).toBe(true);
    const providers = parse(deployFile('grafana/provisioning/dashboards/relay.yml')) as { providers: Array<{ options: { path: string } }> };
    expect(m[providers.providers[0]!.options.path]).toBe('./grafana/dashboards');
    const dashboard = JSON.parse(deployFile('grafana/dashboards/relay.json')) as { panels: Array<{ datasource: { uid: string } }> };
    for (const p of dashboard.panels) expect(p.datasource.uid).toBe(ds.datasources[0]!.uid);
  });

  it('queries only metrics and labels that a running relay exports', async () => {
    const dashboard = JSON.parse(deployFile('grafana/dashboards/relay.json')) as {
      panels: Array<{ title: string; targets: Array<{ expr: string }> }>;
    };
    const panelTitles = dashboard.panels.map((p) => p.title.toLowerCase());
    for (const topic of ['ingest', 'broadcast', 'rejections', 'hosts by status', 'throttled hosts', 'throttled accounts', 'consumer lag', 'replay window', 'identity cache', 'verification latency', 'quota counters (redis)', 'verify worker exits', 'event-loop lag', 'ingest lag', 'cpu', 'memory', 'per process', 'event log', 'top hosts by events', 'top hosts by rejections']) {
      expect(panelTitles.some((t) => t.includes(topic)), topic).toBe(true);
    }

    const world = await startWorld({ hosts: 1 });
    try {
      // Traffic, so labelled series (types, reasons, statuses) exist: one accepted commit and one rejected.
      const pds = world.hosts[0]!;
      const alice = await pds.createAccount();
      await pds.createRecord(alice, 'hello');
      await pds.createRecord(alice, 'no prevData', {
        tamper: (b) => {
          delete b.prevData;
        },
      });
      const text = async () => (await fetch(`${world.relay.metricsUrl}/metrics`)).text();
      const deadline = Date.now() + 20_000;
      while (!/relay_events_rejected_total\{reason=/.test(await text())) {
        if (Date.now() > deadline) throw new Error('no rejection counted');
        await new Promise((r) => setTimeout(r, 100));
      }
      const exposition = await text();
      const types = new Map([...exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
      const exported = new Set<string>();
      for (const [name, type] of types) {
        exported.add(name);
        if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) exported.add(name + s);
      }
      const labelsOf = (name: string) =>
        new Set([...exposition.matchAll(new RegExp(`^${name}\\{([^}]*)\\}`, 'gm'))].flatMap((m) => [...m[1]!.matchAll(/(\w+)="/g)].map((l) => l[1]!)));

      // The series measured for the dashboard carry real values from the traffic above.
      const value = (series: string) => Number(new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(exposition)?.[1] ?? NaN);
      expect(value('relay_hosts{status="active"}')).toBe(1);
      expect(value('relay_verify_seconds_count{type="commit"}')).toBeGreaterThanOrEqual(2);
      expect(value('relay_identity_cache_lookups_total{result="miss"}') + value('relay_identity_cache_lookups_total{result="hit"}')).toBeGreaterThan(0);
      expect(value('relay_replay_window_events')).toBeGreaterThan(0);
      expect(value('relay_consumer_lag_events{stat="max"}')).toBe(0);

      for (const panel of dashboard.panels) {
        for (const { expr } of panel.targets) {
          // Balanced brackets, and no template variable Grafana would not fill in.
          for (const [open, close] of ['()', '{}', '[]']) {
            expect(expr.split(open!).length, `${panel.title}: ${expr}`).toBe(expr.split(close!).length);
          }
          expect(expr.replaceAll('$__rate_interval', ''), `${panel.title}: ${expr}`).not.toContain('$');
          const names = [...expr.matchAll(/\brelay_[a-z0-9_]+/g)].map((m) => m[0]);
          expect(names.length, `${panel.title}: ${expr}`).toBeGreaterThan(0);
          for (const name of names) expect(exported.has(name), `${panel.title}: ${name} is not exported`).toBe(true);
          // Grouping labels are carried by a series of the expression, or added by Prometheus to every target (checked
          // where the traffic above made labelled series; test/e2e/alerts.test.ts makes the consumer drops too).
          const carried = new Set(['instance', 'job', ...names.flatMap((n) => [...labelsOf(n)])]);
          if (carried.size > 2) for (const m of expr.matchAll(/\bby\s*\(([^)]*)\)/g)) {
            for (const label of m[1]!.split(',').map((l) => l.trim())) expect(carried.has(label), `${panel.title}: no series carries ${label}`).toBe(true);
          }
          // Label matchers name labels the series really carry.
          for (const m of expr.matchAll(/\b(relay_[a-z0-9_]+)\{([^}]*)\}/g)) {
            for (const label of [...m[2]!.matchAll(/(\w+)\s*=~?/g)].map((l) => l[1]!)) {
              expect(labelsOf(m[1]!).has(label), `${panel.title}: ${m[1]} has no label ${label}`).toBe(true);
            }
          }
        }
      }

      // A message type is labelled `type` on every relay_* series (received, accepted, verified), never `kind` (the
      // GC's `kind` on prom-client's relay_nodejs_gc_* is Node's, not a message type).
      for (const name of exported) if (!name.startsWith('relay_nodejs_')) expect(labelsOf(name).has('kind'), `${name} has a kind label`).toBe(false);
      expect(labelsOf('relay_events_accepted_total').has('type')).toBe(true);

      // Every metric the documentation names is one a running relay exports (the NOTIFY channels and the seq table
      // share the prefix).
      const notMetrics = new Set([EVENTS_CHANNEL, ACCOUNTS_CHANNEL, HOSTS_CHANNEL, 'relay_seq', 'relay_']);
      for (const doc of ['docs/operations.md', 'README.md', 'ARCHITECTURE.md']) {
        const text = readFileSync(new URL(`../../../${doc}`, import.meta.url), 'utf8');
        for (const [name] of text.matchAll(/\brelay_[a-z0-9_]*/g)) {
          if (!notMetrics.has(name)) expect(exported.has(name), `${doc} names ${name}`).toBe(true);
        }
      }
    } finally {
      await world.close();
    }
  });
});

describe('docs/operations.md', () => {
  it('carries the generated configuration reference', () => {
    const guide = readFileSync(new URL('../../../docs/operations.md', import.meta.url), 'utf8');
    expect(guide).toContain(configReference());
  });

  it('lists every compose service with its published port and volume', () => {
    const guide = readFileSync(new URL('../../../docs/operations.md', import.meta.url), 'utf8');
    for (const [name, svc] of Object.entries(compose.services)) {
      const row = guide.split('\n').find((l) => l.startsWith(`| \`${name}\` |`));
      expect(row, name).toBeDefined();
      for (const p of svc.ports ?? []) expect(row, `${name} port`).toContain(`\`${p.split(':').slice(0, -1).join(':')}\``);
      for (const v of svc.volumes ?? []) {
        const src = v.split(':')[0]!;
        if (!src.startsWith('.')) expect(row, `${name} volume`).toContain(`\`${src}\``);
      }
    }
  });
});
