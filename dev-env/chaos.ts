// The chaos scenario shared by the test suite (small, a few minutes) and the operators' soak (`npm run soak`): fake
// PDS hosts publish signed commits without pause while the relay runs as a real child process on real PostgreSQL
// and Redis; consumers stay connected and resume from their last seq whenever the relay goes away. Faults (SIGKILL
// of the relay, PostgreSQL restarts, Redis outages) are injected at random moments. At the end every upstream event
// must be accounted for: relayed exactly once and in per-account order, or rejected with a counted reason.
import WebSocket from 'ws';
import { FakePlc } from './fake-plc.ts';
import { FakePds, type FakeAccount } from './fake-pds.ts';
import { decodeFrame } from '../src/protocol/frame.ts';
import { bodyKey, didOf } from './compare.ts';
import { freePort, relayTestEnv, spawnRelay, waitForHealth, type RelayProcess } from './process.ts';
import { requestCrawl } from './relay-client.ts';

export interface Fault {
  name: string;
  /** Runs while the relay is up and events flow; resolves when the fault is over (service back). */
  run(): Promise<void>;
}

export interface ChaosOptions {
  databaseUrl: string;
  redisUrl: string | null;
  hosts: number;
  accountsPerHost: number;
  consumers: number;
  /** Relay SIGKILLs, spread over the run. */
  kills: number;
  /** Other faults, run one after another between kills. */
  faults?: Fault[];
  /** Keep publishing at least this long (the soak's length); the run also lasts until every fault is done. */
  minDurationMs?: number;
  /** Spread the kills and faults evenly over this long from the start of publishing; absent = one after another. */
  spreadOverMs?: number;
  /** Events each relay life must relay before it may be killed (so each life does real work). */
  eventsPerLife?: number;
  /** Cap on the upstream publish rate (events/s over all hosts); absent = as fast as the fixture can sign. */
  publishPerSecond?: number;
  /**
   * Sign this many seconds of events (at publishPerSecond) before the first fault, then publish them at that rate:
   * signing live caps a test process at a few hundred events/s. Publishing ends when they are all out.
   */
  pregenerateSeconds?: number;
  /** How long to wait for consumers to catch up at the end. */
  drainTimeoutMs?: number;
  log?: (line: string) => void;
  /** Extra environment for the relay process. */
  env?: Record<string, string>;
}

export interface ChaosReport {
  sent: number;
  relayed: number;
  rejected: Record<string, number>;
  lost: number;
  duplicated: number;
  /** Consumers whose seqs did not strictly increase across all their reconnections. */
  outOfOrder: number;
  /** Accounts whose events did not arrive in upstream order at some consumer. */
  reordered: number;
  kills: number;
  faults: string[];
  seconds: number;
  /** Upstream events published per second while publishing. */
  publishRate: number;
  /** Unexpected relay exits (not our SIGKILL). */
  crashes: number;
}

interface Received {
  seq: number;
  key: string;
  did: string;
}

/** A firehose consumer that keeps its history and reconnects from its last seq whenever the stream ends. */
class ResumingConsumer {
  readonly received: Received[] = [];
  reconnects = 0;
  errors: string[] = [];
  private ws: WebSocket | null = null;
  private stopped = false;

  private readonly wsBase: () => string;
  constructor(wsBase: () => string) {
    this.wsBase = wsBase;
  }

  get lastSeq(): number {
    return this.received.at(-1)?.seq ?? 0;
  }

  start(): void {
    this.connect();
  }

  private connect(): void {
    if (this.stopped) return;
    const ws = new WebSocket(`${this.wsBase()}/xrpc/com.atproto.sync.subscribeRepos?cursor=${this.lastSeq}`);
    this.ws = ws;
    ws.on('message', (data: Buffer) => {
      const frame = decodeFrame(new Uint8Array(data));
      if (frame.op === -1) {
        this.errors.push(frame.error);
        return;
      }
      if (frame.op !== 1 || typeof frame.body.seq !== 'number') return;
      const did = didOf(frame.t, frame.body);
      this.received.push({ seq: frame.body.seq, did, key: `${frame.t}:${bodyKey(frame.body)}` });
    });
    ws.on('error', () => {});
    ws.on('close', () => {
      if (this.ws !== ws || this.stopped) return;
      this.reconnects++;
      setTimeout(() => this.connect(), 100);
    });
  }

  stop(): void {
    this.stopped = true;
    this.ws?.terminate();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Relay processes of runs still going: a test that times out calls killRunningRelays() so none is orphaned. */
const running = new Set<RelayProcess>();

export function killRunningRelays(): void {
  for (const p of running) p.child.kill('SIGKILL');
  running.clear();
}

async function until(pred: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** `relay_events_rejected_total` by reason, from one relay life's /metrics (its metrics port). */
async function scrapeRejections(metricsBase: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  try {
    const text = await (await fetch(`${metricsBase}/metrics`)).text();
    for (const m of text.matchAll(/^relay_events_rejected_total\{reason="([^"]+)"\} (\d+)/gm)) out[m[1]!] = Number(m[2]);
  } catch {
    // the relay is down; nothing to add
  }
  return out;
}

export function formatReport(name: string, r: ChaosReport): string {
  const rejected = Object.entries(r.rejected).map(([k, v]) => `${k}=${v}`).join(' ') || 'none';
  return (
    `[chaos] ${name}: sent=${r.sent} relayed=${r.relayed} rejected{${rejected}} lost=${r.lost} duplicated=${r.duplicated} ` +
    `out_of_order=${r.outOfOrder} reordered=${r.reordered} kills=${r.kills} faults=[${r.faults.join(', ')}] crashes=${r.crashes} ` +
    `publish_rate=${r.publishRate.toFixed(0)}/s seconds=${r.seconds.toFixed(1)}`
  );
}

export async function runChaos(opts: ChaosOptions): Promise<ChaosReport> {
  const log = opts.log ?? (() => {});
  const started = performance.now();
  const plc = await FakePlc.start();
  const hosts: FakePds[] = [];
  for (let i = 0; i < opts.hosts; i++) hosts.push(await FakePds.start({ plc, backfillLimit: 1_000_000 }));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const metricsPort = await freePort();
  const metricsBase = `http://127.0.0.1:${metricsPort}`;
  const wsBase = `ws://127.0.0.1:${port}`;
  const env = relayTestEnv(
    { port, metricsPort, databaseUrl: opts.databaseUrl, plcUrl: plc.url },
    {
      RELAY_ADMIN_PASSWORD: 'chaos-admin',
      ...(opts.redisUrl ? { REDIS_URL: opts.redisUrl, RELAY_REDIS_PREFIX: `chaos-${process.pid}-${port}:` } : {}),
      ...opts.env,
    },
  );
  const rejected: Record<string, number> = {};
  const addRejections = (r: Record<string, number>) => {
    for (const [k, v] of Object.entries(r)) rejected[k] = (rejected[k] ?? 0) + v;
  };
  let proc: RelayProcess | null = null;
  let killing = false;
  let crashes = 0;
  const outputs: string[] = [];
  const startRelay = async () => {
    const p = spawnRelay(['serve'], env);
    proc = p;
    running.add(p);
    void p.exited.then((code) => {
      running.delete(p);
      outputs.push(p.output());
      if (!killing && proc === p) {
        crashes++;
        log(`relay exited by itself (code ${code}):\n${p.output().slice(-3000)}`);
      }
    });
    await waitForHealth(base, 180_000, p);
  };
  const killRelay = async () => {
    const p = proc;
    if (!p) return;
    addRejections(await scrapeRejections(metricsBase));
    killing = true;
    p.child.kill('SIGKILL');
    await p.exited;
    killing = false;
    proc = null;
  };
  // If this process is told to exit mid-run (an operator's Ctrl-C on the soak), the relay child must not outlive it.
  const killChild = () => (proc as RelayProcess | null)?.child.kill('SIGKILL');
  process.on('exit', killChild);
  const consumers: ResumingConsumer[] = [];
  let writing = true;
  let publishStart = 0;
  let publishEnd = 0;
  const faultsDone: string[] = [];
  let kills = 0;
  try {
    await startRelay();
    for (const h of hosts) {
      const res = await requestCrawl(base, h.hostname);
      if (res.status !== 200) throw new Error(`requestCrawl ${h.hostname}: ${res.status} ${await res.text()}`);
    }
    // Hosts are crawled from their live head: wait for every subscription before publishing anything.
    await until(async () => {
      const res = await fetch(`${base}/admin/hosts`, { headers: { authorization: 'Bearer chaos-admin' } });
      const list = ((await res.json()) as { hosts: Array<{ connected: boolean }> }).hosts;
      return list.length === hosts.length && list.every((h) => h.connected);
    }, 30_000, 'relay to connect to every host');
    for (let i = 0; i < opts.consumers; i++) {
      const c = new ResumingConsumer(() => wsBase);
      c.start();
      consumers.push(c);
    }
    const accounts: Array<[FakePds, FakeAccount]> = [];
    for (const h of hosts) {
      for (let i = 0; i < opts.accountsPerHost; i++) accounts.push([h, await h.createAccount({ curve: i % 3 === 2 ? 'p256' : 'k256' })]);
    }

    let pregenerated = 0;
    if (opts.pregenerateSeconds && opts.publishPerSecond) {
      const t0 = performance.now();
      for (const h of hosts) h.hold();
      pregenerated = Math.ceil(opts.pregenerateSeconds * opts.publishPerSecond);
      for (let n = 0; n < pregenerated; n++) {
        const [h, a] = accounts[n % accounts.length]!;
        await h.createRecord(a, `chaos pre ${n}`);
        // Let the consumers and the relay's health checks breathe while signing.
        if (n % 200 === 199) await new Promise((r) => setImmediate(r));
      }
      log(`pre-generated ${pregenerated} events in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }

    // Publishing never waits for the relay: hosts keep producing while it is down, as real ones do.
    publishStart = performance.now();
    const writer = (async () => {
      if (pregenerated > 0) {
        const perHost = opts.publishPerSecond! / hosts.length;
        await Promise.all(hosts.map((h) => h.publishAtRate(perHost, () => !writing)));
        if (writing) log(`pre-generated events all published after ${((performance.now() - publishStart) / 1000).toFixed(1)} s`);
      }
      for (let n = 0; writing && pregenerated === 0; n++) {
        const [h, a] = accounts[n % accounts.length]!;
        await h.createRecord(a, `chaos ${n}`);
        if (n % 20 === 19) await new Promise((r) => setImmediate(r));
        if (opts.publishPerSecond) {
          const ahead = (n + 1) / opts.publishPerSecond - (performance.now() - publishStart) / 1000;
          if (ahead > 0.005) await sleep(ahead * 1000);
        }
      }
      publishEnd = performance.now();
    })();

    const relayedNow = () => Math.min(...consumers.map((c) => c.received.length));
    const faults = [...(opts.faults ?? [])];
    const steps = Math.max(opts.kills, 0) + faults.length;
    for (let step = 0; step < steps; step++) {
      // Let this relay life do some work first, then strike at a random moment.
      const target = relayedNow() + (opts.eventsPerLife ?? 100);
      await until(() => relayedNow() >= target || crashes > 0, 120_000, `consumers to advance before step ${step}`).catch((err: unknown) => {
        // Leave what an operator would look at in the test output.
        log(`relay output (tail):\n${(proc as RelayProcess | null)?.output().slice(-4000) ?? ''}`);
        throw err;
      });
      if (opts.spreadOverMs) {
        const due = publishStart + ((step + 1) * opts.spreadOverMs) / (steps + 1);
        while (performance.now() < due && crashes === 0) await sleep(200);
      }
      if (crashes > 0) break;
      await sleep(Math.floor(Math.random() * 400));
      // Faults are spread between the kills.
      const faultNow = faults.length > 0 && (step % 2 === 1 || kills >= opts.kills);
      if (faultNow) {
        const fault = faults.shift()!;
        log(`fault: ${fault.name}`);
        await fault.run();
        faultsDone.push(fault.name);
      } else if (kills < opts.kills) {
        await killRelay();
        kills++;
        const down = performance.now();
        await startRelay();
        log(`kill ${kills}: consumers at ${consumers.map((c) => c.lastSeq).join(', ')}; relay back in ${Math.round(performance.now() - down)} ms`);
      }
    }
    const minEnd = started + (opts.minDurationMs ?? 0);
    while (performance.now() < minEnd && crashes === 0) await sleep(200);
    writing = false;
    await writer;

    log(`publishing stopped after ${Math.round((publishEnd - publishStart) / 1000)} s; draining`);
    const sent = hosts.flatMap((h) => h.publishedEvents.map((e) => ({ did: didOf(e.t, e.body), key: `${e.t}:${bodyKey(e.body)}` })));
    await until(() => crashes > 0 || consumers.every((c) => c.received.length >= sent.length), opts.drainTimeoutMs ?? 60_000, 'consumers to receive every event').catch(
      (err: Error) => log(err.message),
    );
    await sleep(500);
    addRejections(await scrapeRejections(metricsBase));

    // Accounting, per consumer; the report gives the worst consumer's numbers.
    const expectedPerDid = new Map<string, string[]>();
    for (const e of sent) {
      let l = expectedPerDid.get(e.did);
      if (!l) expectedPerDid.set(e.did, (l = []));
      l.push(e.key);
    }
    let lost = 0;
    let duplicated = 0;
    let outOfOrder = 0;
    let reordered = 0;
    let relayed = Number.MAX_SAFE_INTEGER;
    for (const c of consumers) {
      const counts = new Map<string, number>();
      for (const r of c.received) counts.set(`${r.did}|${r.key}`, (counts.get(`${r.did}|${r.key}`) ?? 0) + 1);
      let cLost = 0;
      let cDup = 0;
      for (const e of sent) {
        const n = counts.get(`${e.did}|${e.key}`) ?? 0;
        if (n === 0) cLost++;
      }
      for (const n of counts.values()) if (n > 1) cDup += n - 1;
      for (let i = 1; i < c.received.length; i++) if (!(c.received[i]!.seq > c.received[i - 1]!.seq)) outOfOrder++;
      const perDid = new Map<string, string[]>();
      for (const r of c.received) {
        let l = perDid.get(r.did);
        if (!l) perDid.set(r.did, (l = []));
        l.push(r.key);
      }
      for (const [did, keys] of expectedPerDid) if ((perDid.get(did) ?? []).join() !== keys.join()) reordered++;
      if (cLost > 0) {
        // Relay seqs are gapless: a gap means fan-out skipped committed events; no gap means they were never committed.
        const gaps: string[] = [];
        for (let i = 1; i < c.received.length; i++) {
          const a = c.received[i - 1]!.seq;
          const b = c.received[i]!.seq;
          if (b !== a + 1) gaps.push(`${a}->${b}`);
        }
        const missing = hosts.flatMap((h) =>
          h.publishedEvents.filter((e) => !counts.has(`${didOf(e.t, e.body)}|${e.t}:${bodyKey(e.body)}`)).map((e) => `${h.port}#${e.seq}${e.t}`),
        );
        log(`consumer lost ${cLost}: ${missing.slice(0, 20).join(' ')}; relay seq gaps: ${gaps.slice(0, 20).join(' ') || 'none'}`);
      }
      lost = Math.max(lost, cLost);
      duplicated = Math.max(duplicated, cDup);
      relayed = Math.min(relayed, counts.size);
      if (c.errors.length > 0) log(`consumer error frames: ${c.errors.join(', ')}`);
    }
    if (lost > 0 || duplicated > 0) {
      // Leave what an operator would look at in the test output.
      const hostsNow = await fetch(`${base}/admin/hosts`, { headers: { authorization: 'Bearer chaos-admin' } })
        .then((r) => r.text())
        .catch((e: Error) => e.message);
      log(`upstream heads: ${hosts.map((h) => `${h.hostname}@${h.seq}`).join(' ')}; relay hosts: ${hostsNow}`);
      log(`relay output (tail):\n${(proc as RelayProcess | null)?.output().slice(-4000) ?? outputs.at(-1)?.slice(-4000)}`);
    }
    const publishSeconds = ((publishEnd || performance.now()) - publishStart) / 1000;
    const perHostSent = hosts.reduce((n, h) => n + h.publishedEvents.length, 0);
    return {
      sent: perHostSent,
      relayed: relayed === Number.MAX_SAFE_INTEGER ? 0 : relayed,
      rejected,
      lost,
      duplicated,
      outOfOrder,
      reordered,
      kills,
      faults: faultsDone,
      seconds: (performance.now() - started) / 1000,
      publishRate: perHostSent / publishSeconds,
      crashes,
    };
  } finally {
    process.off('exit', killChild);
    writing = false;
    for (const c of consumers) c.stop();
    killing = true;
    const p = proc as RelayProcess | null;
    if (p) {
      p.child.kill('SIGKILL');
      await p.exited;
    }
    for (const h of hosts) await h.close();
    await plc.close();
  }
}
