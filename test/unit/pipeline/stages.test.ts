// Each stage of a host's pipeline on its own, and the chain composed (src/pipeline/), with in-memory counters,
// account state and sink: no sockets, no database.
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import type { AcceptedEvent, SequencerItem, UpstreamEvent } from '../../../src/core/events.ts';
import { createMetrics } from '../../../src/metrics.ts';
import { createMemoryCounterStore, type CounterStore } from '../../../src/quota/counters.ts';
import { HostQuota } from '../../../src/quota/host-quota.ts';
import { AccountRegistry, type AccountStore } from '../../../src/accounts/registry.ts';
import { afterVerify } from '../../../src/accounts/transitions.ts';
import { HostQuotaStage } from '../../../src/pipeline/host-quota-stage.ts';
import { AccountBudgetStage } from '../../../src/pipeline/account-budget-stage.ts';
import { AccountSlotsStage } from '../../../src/pipeline/account-slots-stage.ts';
import { HostPipeline } from '../../../src/pipeline/host-pipeline.ts';
import type { EventVerifier, Verdict } from '../../../src/verify/types.ts';
import { TestClock } from '../../../dev-env/clock.ts';
import { eventually } from '../../helpers/consumer.ts';

const HOUR = 3_600_000;
const log = pino({ level: 'silent' });
const host = { id: 1, hostname: 'pds.example.com' };

function upstream(seq: number, did = `did:plc:acct${seq % 3}`, t = '#commit'): UpstreamEvent {
  return { t, seq, did, body: { seq, repo: did, ops: [{ action: 'create' }] }, received: new Uint8Array([seq & 0xff]), frameBytes: 10 };
}

const accepted = (evt: UpstreamEvent): AcceptedEvent => ({
  did: evt.did,
  kind: 'commit',
  body: evt.body,
  received: evt.received,
  repo: { rev: `rev${evt.seq}`, head: 'h', data: 'd' },
});

function memoryStore(slotsHeld = 0): AccountStore {
  return { loadMany: async (dids) => dids.map(() => null), countSlots: async () => slotsHeld, held: async () => [] };
}

const registry = (clock: TestClock, store = memoryStore()) => new AccountRegistry({ store, clock, metrics: createMetrics(), log });

describe('host quota stage', () => {
  it('passes events while the reservation lasts, holds the rest in order past the limit, and passes them after the reset', async () => {
    const clock = TestClock.inWindow(HOUR);
    const quota = new HostQuota({ store: createMemoryCounterStore('t:'), hostId: 1, limits: () => ({ perHour: 5, perDay: 100, accountLimit: 10 }), clock });
    const passed: number[] = [];
    const holding: boolean[] = [];
    const holds: number[] = [];
    const stage = new HostQuotaStage<UpstreamEvent>({
      quota,
      clock,
      log,
      pass: (e) => passed.push(e.seq),
      holding: (h) => holding.push(h),
      holdUntil: (at) => holds.push(at),
    });
    for (let seq = 1; seq <= 8; seq++) stage.push(upstream(seq));
    await eventually(() => holds.length === 1, 5000, 'the limit');
    expect(passed).toEqual([1, 2, 3, 4, 5]);
    expect(holds).toEqual([Math.ceil(clock.now() / HOUR) * HOUR]);
    expect(stage.holding).toBe(true);
    // Events that arrive meanwhile wait behind the held ones.
    stage.push(upstream(9));
    clock.advancePastWindow(HOUR);
    await eventually(() => passed.length === 9, 5000, 'the rest after the reset');
    expect(passed).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(holding).toEqual([true, false]);
    stage.stop();
  });

  it('drops what waits when the host is no longer crawled here', async () => {
    const clock = TestClock.inWindow(HOUR);
    const quota = new HostQuota({ store: createMemoryCounterStore('t:'), hostId: 2, limits: () => ({ perHour: 1, perDay: 100, accountLimit: 10 }), clock });
    const passed: number[] = [];
    const stage = new HostQuotaStage<UpstreamEvent>({ quota, clock, log, pass: (e) => passed.push(e.seq), holding: () => {}, holdUntil: () => stage.stop() });
    for (let seq = 1; seq <= 3; seq++) stage.push(upstream(seq));
    await eventually(() => !stage.holding, 5000, 'stopped');
    clock.advancePastWindow(HOUR);
    await new Promise((r) => setTimeout(r, 50));
    expect(passed).toEqual([1]);
  });
});

describe('account budget stage', () => {
  it('records verified events, charges commits, and withholds an account over budget', async () => {
    const clock = TestClock.inWindow(HOUR);
    const accounts = registry(clock);
    const stage = new AccountBudgetStage({ accounts, store: createMemoryCounterStore('b:'), budget: { perHour: 7, perDay: 0 }, clock, metrics: createMetrics(), log });
    const did = 'did:plc:budget';
    const first = await stage.apply(1, 1, accepted(upstream(1, did)));
    const second = await stage.apply(1, 2, accepted(upstream(2, did)));
    expect(first).toEqual([{ hostId: 1, upstreamSeq: 1, event: expect.objectContaining({ did }), account: { did, hostId: 1, repo: { rev: 'rev1', head: 'h', data: 'd' } } }]);
    expect(second[0]!.event).not.toBeNull();
    // 3 + 3 points spent of 7: the third commit is over.
    const third = await stage.apply(1, 3, accepted(upstream(3, did)));
    expect(third.map((i) => [i.upstreamSeq, i.event?.kind ?? null])).toEqual([
      [null, 'account'],
      [3, null],
    ]);
    expect(third[1]!.account).toMatchObject({ throttle: { reason: 'account_budget', until: Math.ceil(clock.now() / HOUR) * HOUR } });
    expect(accounts.peek(did)).toMatchObject({ repo: { rev: 'rev3' }, throttle: { reason: 'account_budget' } });
    // Identity events are not charged and change nothing.
    const identity = await stage.apply(1, 4, { did, kind: 'identity', body: {}, received: null });
    expect(identity).toEqual([{ hostId: 1, upstreamSeq: 4, event: expect.objectContaining({ kind: 'identity' }) }]);
  });
  it("passes a commit far from the account's limits without waiting for the counters, and waits near them", async () => {
    const clock = TestClock.inWindow(HOUR);
    const accounts = registry(clock);
    const inner = createMemoryCounterStore('g:');
    // The counters answer only when the test opens them.
    let open: Array<() => void> = [];
    const store: CounterStore = { ...inner, takeMany: async (r, w, now) => { await new Promise<void>((go) => open.push(go)); return inner.takeMany(r, w, now); } };
    const release = () => {
      for (const go of open.splice(0)) go();
    };
    const metrics = createMetrics();
    const stage = new AccountBudgetStage({ accounts, store, budget: { perHour: 30, perDay: 0 }, clock, metrics, log });
    const did = 'did:plc:headroom';
    const pending = (p: Promise<unknown>) => Promise.race([p.then(() => false), new Promise((r) => setTimeout(() => r(true), 30))]);
    // The account's first commit waits for the counters: nothing is known of it here.
    const first = stage.apply(1, 1, accepted(upstream(1, did)));
    expect(await pending(first)).toBe(true);
    release();
    await first;
    // 27 points left at the counters' answer, the margin 3: eight more commits of 3 pass with the counters shut.
    for (let seq = 2; seq <= 9; seq++) expect(await pending(stage.apply(1, seq, accepted(upstream(seq, did))))).toBe(false);
    const tenth = stage.apply(1, 10, accepted(upstream(10, did)));
    expect(await pending(tenth)).toBe(true);
    // Open, the counters count all ten in order: 30 points, the tenth within the limit.
    while ((await pending(tenth)) === true) release();
    expect((await tenth)[0]!.event).not.toBeNull();
    const eleventh = stage.apply(1, 11, accepted(upstream(11, did)));
    while ((await pending(eleventh)) === true) release();
    expect((await eleventh).map((i) => i.event?.kind ?? null)).toEqual(['account', null]);
    expect((await metrics.accountBudgetTakes.get()).values.map((v) => [v.labels.decided, v.value]).sort()).toEqual([
      ['counters', 3],
      ['here', 8],
    ]);
  });
});

describe('account slots stage', () => {
  it('gives slots in the order outcomes come and throttles accounts past the limit, once the host’s count is loaded', async () => {
    const clock = TestClock.inWindow(HOUR);
    const accounts = registry(clock, memoryStore(1));
    const out: SequencerItem[] = [];
    let processed = 0;
    const stage = new AccountSlotsStage({ host, accounts, accountLimit: () => 2, clock, log });
    const pass = (items: SequencerItem[]) => {
      out.push(...items);
      processed++;
    };
    const items = ['did:plc:a', 'did:plc:b', 'did:plc:a'].map((did, i) => {
      const ev = accepted(upstream(i + 1, did));
      accounts.apply(afterVerify(accounts.current(did), host.id, ev, clock.now(), null));
      return [{ hostId: host.id, upstreamSeq: i + 1, event: ev }];
    });
    for (const batch of items) stage.push(batch, pass);
    // One slot is held already: a gets the second, b is throttled (announced, its commit withheld), a keeps its own.
    await eventually(() => out.length === 4, 5000, 'all outcomes');
    expect(out.map((i) => [i.upstreamSeq, i.event?.did ?? null, i.event?.kind ?? null])).toEqual([
      [1, 'did:plc:a', 'commit'],
      [null, 'did:plc:b', 'account'],
      [2, null, null],
      [3, 'did:plc:a', 'commit'],
    ]);
    expect(out[2]!.account).toMatchObject({ did: 'did:plc:b', throttle: { reason: 'host_account_limit' } });
    expect(accounts.hasRoom(host.id, 2)).toBe(false);
    expect(processed).toBe(3);
  });

  it('warns once per crawl, naming the remedies, when the limit first withholds an account', async () => {
    const clock = TestClock.inWindow(HOUR);
    const accounts = registry(clock, memoryStore(1));
    const lines: Array<{ level: number; msg: string; limit?: number }> = [];
    const captured = pino({ level: 'warn' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const stage = new AccountSlotsStage({ host, accounts, accountLimit: () => 1, clock, log: captured });
    let seen = 0;
    for (const [i, did] of ['did:plc:x', 'did:plc:y', 'did:plc:z'].entries()) {
      const ev = accepted(upstream(i + 1, did));
      accounts.apply(afterVerify(accounts.current(did), host.id, ev, clock.now(), null));
      stage.push([{ hostId: host.id, upstreamSeq: i + 1, event: ev }], () => seen++);
    }
    await eventually(() => seen === 3, 5000, 'all outcomes');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 40, limit: 1 });
    expect(lines[0]!.msg).toContain(`relay hosts limits ${host.hostname} --accounts N`);
    expect(lines[0]!.msg).toContain('RELAY_TRUSTED_HOSTS');
  });
});

describe('host pipeline', () => {
  function compose(
    verifier: EventVerifier,
    maxPending: number,
    resumed: { cursor: number | null; committedAbove: number[] } = { cursor: null, committedAbove: [] },
    identityKnown?: (did: string) => boolean,
  ) {
    const clock = TestClock.inWindow(HOUR);
    const accounts = registry(clock);
    const submitted: SequencerItem[] = [];
    let committed = 0;
    const rejected: string[] = [];
    const paused: boolean[] = [];
    const sink = { submit: (i: SequencerItem) => void submitted.push(i), pendingFor: () => submitted.length - committed };
    const pipeline = new HostPipeline({
      host,
      ...resumed,
      quota: new HostQuota({ store: createMemoryCounterStore('p:'), hostId: 1, limits: () => ({ perHour: 1e6, perDay: 1e7, accountLimit: 100 }), clock }),
      verifier,
      budget: new AccountBudgetStage({ accounts, store: createMemoryCounterStore('pb:'), budget: { perHour: 0, perDay: 0 }, clock, metrics: createMetrics(), log }),
      accounts,
      accountLimit: () => 100,
      sink,
      clock,
      reject: (r) => rejected.push(`${r.reason}:${r.did}`),
      log,
      maxPending,
      ...(identityKnown ? { identityKnown } : {}),
    });
    pipeline.attach({ setPaused: (p) => paused.push(p), holdUntil: () => {} });
    const commit = (n: number) => {
      committed += n;
      pipeline.resume();
    };
    return { pipeline, submitted, rejected, paused, commit };
  }

  it('hands outcomes on as they are ready, each account in its order, the cursor only past what is all handed on', async () => {
    const slow = new Set(['did:plc:slow']);
    const verifier: EventVerifier = {
      async verify(_host, evt): Promise<Verdict> {
        if (slow.has(evt.did)) await new Promise((r) => setTimeout(r, 30));
        if (evt.seq === 4) return { ok: false, reason: 'bad_signature' };
        return { ok: true, event: accepted(evt) };
      },
    };
    const { pipeline, submitted, rejected } = compose(verifier, 100);
    pipeline.push(upstream(1, 'did:plc:slow'));
    pipeline.push(upstream(2, 'did:plc:fast'));
    pipeline.push(upstream(3, 'did:plc:fast', '#unknown'));
    pipeline.push(upstream(4, 'did:plc:fast'));
    pipeline.push(upstream(5, 'did:plc:slow'));
    await eventually(() => submitted.length === 5, 5000, 'all outcomes');
    // The slow account's first event holds up only its own second one; the cursor waits for it.
    expect(submitted.map((i) => [i.upstreamSeq, i.event?.did ?? null, i.cursor])).toEqual([
      [2, 'did:plc:fast', undefined],
      [3, null, undefined],
      [4, null, undefined],
      [1, 'did:plc:slow', { at: 4, above: [] }],
      [5, 'did:plc:slow', { at: 5, above: [] }],
    ]);
    expect(rejected.sort()).toEqual(['bad_signature:did:plc:fast', 'unsupported_type:did:plc:fast']);
  });

  it("starts the early work of an account's events queued behind its first, and each verdict still comes in the account's order", async () => {
    const gate: Array<() => void> = [];
    const begun: number[] = [];
    const tookEarly: number[] = [];
    const verifier: EventVerifier = {
      begin(_host, evt) {
        begun.push(evt.seq);
        return { begunFor: evt };
      },
      async verify(_host, evt, early): Promise<Verdict> {
        if (early?.begunFor === evt) tookEarly.push(evt.seq);
        // The account's first event waits; what is queued behind it has begun meanwhile.
        if (evt.seq === 1) await new Promise<void>((r) => gate.push(r));
        return { ok: true, event: accepted(evt) };
      },
    };
    const { pipeline, submitted } = compose(verifier, 100);
    for (const seq of [1, 2, 3]) pipeline.push(upstream(seq, 'did:plc:busy', seq === 3 ? '#sync' : '#commit'));
    pipeline.push(upstream(4, 'did:plc:idle'));
    await eventually(() => submitted.length === 1 && gate.length === 1, 5000, 'the idle account, and the busy one waiting');
    // Begun while the account was busy: its second and third events, not its first nor another account's.
    expect(begun).toEqual([2, 3]);
    gate[0]!();
    await eventually(() => submitted.length === 4, 5000, 'all outcomes');
    expect(submitted.map((i) => i.upstreamSeq)).toEqual([4, 1, 2, 3]);
    expect(tookEarly).toEqual([2, 3]);
  });

  it('keeps the seqs handed on above the cursor with it, and a crawl resumed from it skips them', async () => {
    const hold = new Map<string, () => void>();
    const verifier: EventVerifier = {
      async verify(_host, evt): Promise<Verdict> {
        if (evt.did === 'did:plc:held') await new Promise<void>((r) => hold.set(evt.did, r));
        return { ok: true, event: accepted(evt) };
      },
    };
    const first = compose(verifier, 100, { cursor: 10, committedAbove: [] });
    for (const [seq, did] of [[11, 'did:plc:held'], [12, 'did:plc:x'], [13, 'did:plc:y']] as const) first.pipeline.push(upstream(seq, did));
    await eventually(() => first.submitted.length === 2, 5000, 'the ready ones');
    expect(first.submitted.map((i) => i.cursor)).toEqual([
      { at: 10, above: [12] },
      { at: 10, above: [12, 13] },
    ]);
    // The crawl stops here (say the process dies); the next one resumes from 10 and skips 12 and 13.
    const next = compose({ verify: (_h, evt) => ({ ok: true, event: accepted(evt) }) }, 100, { cursor: 10, committedAbove: [12, 13] });
    for (const [seq, did] of [[11, 'did:plc:held'], [12, 'did:plc:x'], [13, 'did:plc:y'], [14, 'did:plc:x']] as const) next.pipeline.push(upstream(seq, did));
    await eventually(() => next.submitted.length === 4, 5000, 'all outcomes');
    expect(next.submitted.filter((i) => i.event).map((i) => i.upstreamSeq).sort()).toEqual([11, 14]);
    expect(next.submitted.at(-1)!.cursor).toEqual({ at: 14, above: [] });
    hold.get('did:plc:held')?.();
  });

  it('does not carry the watermark past events waiting for quota, and keeps seqs still to skip in the cursor', async () => {
    // A fresh quota has no reservation: 11 waits for the first refill while 12, committed before, is read.
    const { pipeline, submitted } = compose({ verify: (_h, evt) => ({ ok: true, event: accepted(evt) }) }, 100, { cursor: 10, committedAbove: [12, 15] });
    for (const [seq, did] of [[11, 'did:plc:x'], [12, 'did:plc:y'], [13, 'did:plc:x']] as const) pipeline.push(upstream(seq, did));
    expect(submitted.map((i) => i.cursor)).toEqual([{ at: 10, above: [12, 15] }]);
    await eventually(() => submitted.length === 3, 5000, 'all outcomes');
    // 15 has not come again: a crash now must still skip it.
    expect(submitted.map((i) => [i.upstreamSeq, i.cursor])).toEqual([
      [12, { at: 10, above: [12, 15] }],
      [11, { at: 12, above: [15] }],
      [13, { at: 13, above: [15] }],
    ]);
  });

  it('stops with events waiting for quota dropped, the watermark below them', async () => {
    const { pipeline, submitted } = compose({ verify: (_h, evt) => ({ ok: true, event: accepted(evt) }) }, 100, { cursor: 10, committedAbove: [12] });
    pipeline.push(upstream(11, 'did:plc:x'));
    pipeline.push(upstream(12, 'did:plc:y'));
    await pipeline.stop();
    await new Promise((r) => setTimeout(r, 20));
    expect(submitted.map((i) => [i.upstreamSeq, i.cursor])).toEqual([[12, { at: 10, above: [12] }]]);
  });

  it('pauses the socket past maxPending in flight and resumes once half is committed', async () => {
    const { pipeline, submitted, paused, commit } = compose({ verify: (_h, evt) => ({ ok: true, event: accepted(evt) }) }, 4);
    for (let seq = 1; seq <= 6; seq++) pipeline.push(upstream(seq));
    expect(paused).toEqual([true]);
    await eventually(() => submitted.length === 6, 5000, 'all outcomes');
    commit(3);
    expect(paused).toEqual([true]);
    commit(1);
    expect(paused).toEqual([true, false]);
  });

  it('leaves out of the window the events of accounts waiting on the directory, up to four windows in all', async () => {
    // Accounts named did:plc:new… are first seen: their verdicts wait until the directory "answers".
    let answer!: () => void;
    const directory = new Promise<void>((r) => (answer = r));
    const verifier: EventVerifier = {
      async verify(_h, evt): Promise<Verdict> {
        if (evt.did.startsWith('did:plc:new')) await directory;
        return { ok: true, event: accepted(evt) };
      },
    };
    const { pipeline, submitted, paused, commit } = compose(verifier, 4, undefined, (did) => !did.startsWith('did:plc:new'));
    const reading = () => paused.at(-1) !== true;
    let seq = 0;
    for (let i = 0; i < 10; i++) pipeline.push(upstream(++seq, `did:plc:new${i}`));
    // Ten first-seen events, past a window of four: the socket is read (once the quota's first reservation is
    // in), and a known account's events pass them.
    await eventually(reading, 5000, 'the socket read');
    for (let i = 0; i < 3; i++) pipeline.push(upstream(++seq, 'did:plc:known'));
    await eventually(() => submitted.length === 3, 5000, 'the known account past the waiting ones');
    expect(submitted.map((i) => i.upstreamSeq)).toEqual([11, 12, 13]);
    expect(reading()).toBe(true);
    // Uncommitted, they take the window: two more known events are past it.
    pipeline.push(upstream(++seq, 'did:plc:known'));
    expect(reading()).toBe(true);
    pipeline.push(upstream(++seq, 'did:plc:known'));
    expect(reading()).toBe(false);
    await eventually(() => submitted.length === 5, 5000, 'the known events');
    commit(5);
    expect(reading()).toBe(true);
    // All in all, at most four windows past the watermark, waiting or not (the known events above it included).
    while (seq < 16) pipeline.push(upstream(++seq, `did:plc:new${seq}`));
    expect(reading()).toBe(true);
    pipeline.push(upstream(++seq, 'did:plc:new99'));
    expect(reading()).toBe(false);
    answer();
    await eventually(() => submitted.length === 17, 5000, 'every event once the directory answered');
    commit(12);
    expect(reading()).toBe(true);
    expect(submitted.at(-1)!.cursor).toEqual({ at: 17, above: [] });
  });
});

