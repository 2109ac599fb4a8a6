// The shipped Prometheus alert rules (deploy/prometheus/alerts.yml) against a running relay: every metric an
// expression names is one the metrics port exports, and every label it matches, groups by or prints is one those
// series carry (or a target label Prometheus adds). The metrics port serves only /metrics; the public port not at all.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { startWorld, type World } from '../helpers/world.ts';
import { TestConsumer } from '../helpers/consumer.ts';

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

const rules = (parse(readFileSync(new URL('../../deploy/prometheus/alerts.yml', import.meta.url), 'utf8')) as { groups: Array<{ rules: Rule[] }> }).groups.flatMap(
  (g) => g.rules,
);
/** Labels Prometheus attaches to every scraped series. */
const TARGET_LABELS = new Set(['instance', 'job']);

let world: World;
let exposition: string;

beforeAll(async () => {
  world = await startWorld({ hosts: 1, config: { maxConsumersPerIp: 1 } });
  const pds = world.hosts[0]!;
  await pds.createRecord(await pds.createAccount(), 'hello');
  // A second stream from the same address is refused: relay_consumers_dropped_total gets its reason label.
  const first = await TestConsumer.connect(world.relay.wsUrl);
  await expect(TestConsumer.connect(world.relay.wsUrl)).rejects.toThrow(/429/);
  first.close();
  exposition = await (await fetch(`${world.relay.metricsUrl}/metrics`)).text();
}, 60_000);
afterAll(() => world?.close());

function exported(): Set<string> {
  const names = new Set<string>();
  for (const [, name, type] of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(name!);
    if (type === 'histogram' || type === 'summary') for (const s of ['_bucket', '_sum', '_count']) names.add(name! + s);
  }
  return names;
}

function labelsOf(name: string): Set<string> {
  return new Set([...exposition.matchAll(new RegExp(`^${name}\\{([^}]*)\\}`, 'gm'))].flatMap((m) => [...m[1]!.matchAll(/(\w+)="/g)].map((l) => l[1]!)));
}

describe('metrics port', () => {
  it('serves /metrics on its own port, with Node process metrics under one relay_ prefix', async () => {
    expect(world.relay.metricsUrl).not.toBe(world.relay.url);
    const res = await fetch(`${world.relay.metricsUrl}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    for (const name of ['relay_process_resident_memory_bytes', 'relay_process_cpu_seconds_total', 'relay_nodejs_eventloop_lag_p99_seconds', 'relay_ingest_lag_seconds']) {
      expect(exported().has(name), name).toBe(true);
    }
    expect(exposition).not.toContain('relay_process_process_');
  });

  it('answers anything else there with a JSON 404, and /metrics is not on the public port', async () => {
    const other = await fetch(`${world.relay.metricsUrl}/admin/hosts`);
    expect(other.status).toBe(404);
    expect(await other.json()).toMatchObject({ error: 'NotFound' });
    const pub = await fetch(`${world.relay.url}/metrics`);
    expect(pub.status).toBe(404);
    expect(await pub.json()).toMatchObject({ error: 'NotFound' });
  });
});

describe('deploy/prometheus/alerts.yml', () => {
  it('covers the failures an operator must hear of', () => {
    const names = rules.map((r) => r.alert);
    for (const topic of ['Offline', 'IngestLagging', 'ConsumersDropped', 'CountersDown', 'VerifyWorkerExits', 'EventLogDisk']) {
      expect(names.some((n) => n.includes(topic)), topic).toBe(true);
    }
    expect(new Set(names).size).toBe(names.length);
  });

  it('names only metrics and labels a running relay exports', () => {
    const names = exported();
    for (const rule of rules) {
      const where = `${rule.alert}: ${rule.expr}`;
      for (const [open, close] of ['()', '{}', '[]']) expect(rule.expr.split(open!).length, where).toBe(rule.expr.split(close!).length);
      expect(rule.labels?.severity, where).toMatch(/^(info|warning|critical)$/);
      if (rule.for) expect(rule.for, where).toMatch(/^\d+[smh]$/);
      const metrics = [...new Set([...rule.expr.matchAll(/\brelay_[a-z0-9_]+/g)].map((m) => m[0]))];
      expect(metrics.length, where).toBeGreaterThan(0);
      for (const m of metrics) expect(names.has(m), `${where}: ${m} is not exported`).toBe(true);
      const carried = new Set([...TARGET_LABELS, ...metrics.flatMap((m) => [...labelsOf(m)])]);
      for (const m of rule.expr.matchAll(/\b(relay_[a-z0-9_]+)\{([^}]*)\}/g)) {
        for (const label of [...m[2]!.matchAll(/(\w+)\s*(?:=~|!~|!=|=)/g)].map((l) => l[1]!)) {
          expect(labelsOf(m[1]!).has(label), `${where}: ${m[1]} has no label ${label}`).toBe(true);
        }
      }
      const grouped = [...rule.expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)].flatMap((m) => m[1]!.split(',').map((l) => l.trim()).filter(Boolean));
      const printed = Object.values(rule.annotations ?? {}).flatMap((a) => [...a.matchAll(/\$labels\.(\w+)/g)].map((m) => m[1]!));
      for (const label of [...grouped, ...printed]) expect(carried.has(label), `${where}: no series carries ${label}`).toBe(true);
      // A printed label survives the expression only if it is grouped by (an aggregation without `by` drops them all).
      for (const label of printed) expect(grouped, `${where}: ${label} is printed but aggregated away`).toContain(label);
    }
  });
});
