// One host's chain of stages, from the upstream connection's events to the sequencer:
//
//   host quota -> verify -> account budget -> account slots -> sequencer sink
//   (1)           (2)        (3)               (4)              (5)
//
// Stages 2 and 3 run per account: concurrently across accounts, one at a time within one (account-chains.ts). An
// outcome goes on as soon as it is ready, so an account waiting for its identity holds up no other account. The
// host's cursor is a watermark instead: each item handed to the sequencer carries the highest upstream seq up to
// which every event has been handed on, and the seqs handed on above it, committed with it (core/events.ts
// HostCursor). A new crawl resumes from the watermark and skips those: nothing is relayed twice. An event counts
// from the moment it is read, before its quota, so a skipped one read meanwhile cannot carry the watermark past it,
// and the seqs still to skip stay in the cursor until they come again.
// The pipeline also decides when the host's socket is read: not while events wait for quota, nor while more than
// `maxPending` are not yet handed on or uncommitted, leaving out those of accounts whose identity was not in memory
// when they came (they wait on the directory, and would otherwise hold up the host's known accounts), nor while more
// than AWAITING_IDENTITY_FACTOR times `maxPending` are past the watermark in all (the seqs handed on above it go
// into the cursor).
import type { IngestLag } from './ingest-lag.ts';
import type { Logger } from 'pino';
import { RELAYED_TYPES, type SequencerItem, type SequencerSink, type UpstreamEvent } from '../core/events.ts';
import type { HostRef } from '../core/hosts.ts';
import type { RejectionReason } from '../core/rejections.ts';
import type { Clock } from '../core/clock.ts';
import type { EarlyWork, EventVerifier } from '../verify/types.ts';
import type { HostQuota } from '../quota/host-quota.ts';
import type { AccountRegistry } from '../accounts/registry.ts';
import { HostQuotaStage } from './host-quota-stage.ts';
import type { AccountBudgetStage } from './account-budget-stage.ts';
import { AccountSlotsStage } from './account-slots-stage.ts';
import { AccountChains, type ChainTask } from './account-chains.ts';
import { HandedLog } from './handed-log.ts';

/** How the pipeline steers its host's connection. */
export interface UpstreamFlow {
  /** Stop (true) or resume (false) reading frames. */
  setPaused(paused: boolean): void;
  /** Disconnect until `resetAt` (epoch ms on the relay's clock), then reconnect from the cursor. */
  holdUntil(resetAt: number): void;
}

/** Counts, logs and records a rejection of the host's. */
export type RejectionReporter = (r: { reason: RejectionReason; did: string; detail?: string }) => void;

export interface HostPipelineOptions {
  host: HostRef;
  /** Where the host's committed cursor stands, and the seqs above it committed already (a crawl resumed). */
  cursor: number | null;
  committedAbove: readonly number[];
  /** Stage 1: the host's share of the quota counters. */
  quota: HostQuota;
  /** Stage 2. */
  verifier: EventVerifier;
  /** Stage 3 (one for every host). */
  budget: AccountBudgetStage;
  /** Stage 4: account slots, and the host's account limit as currently configured. */
  accounts: AccountRegistry;
  accountLimit: () => number;
  /** Stage 5. */
  sink: SequencerSink;
  clock: Clock;
  reject: RejectionReporter;
  log: Logger;
  /**
   * Events not yet handed on or uncommitted before the socket is paused, those waiting on the directory aside. Every
   * event held is held until it commits, and under a burst what it holds outlives the young generation's
   * collections: a smaller window keeps the backlog in the socket instead of the heap (docs/perf-journal.md,
   * session 26).
   */
  maxPending: number;
  /** Whether the account's identity is in memory (an event of one that is not waits on the directory). */
  identityKnown?: (did: string) => boolean;
  /** Where the time from quota to hand-on is reported (the process's ingest lag). */
  lag?: IngestLag;
}

/** An event in the host's upstream order, from arrival until the watermark passes it. */
interface Arrival {
  seq: number;
  /** Its place in the host's upstream order (0 for the first this pipeline read). */
  ordinal: number;
  handedOn: boolean;
  /** Dropped waiting for quota as the crawl stopped: never handed on, so the watermark stays below it. */
  dropped: boolean;
  /** When it passed the quota (performance.now()); its wait for quota is the host's, not ingest's lag. */
  passedAt: number | undefined;
  /** Its account's identity was not in memory when it came: not counted in the window until handed on. */
  awaitsIdentity: boolean;
}

/** Events past the watermark, in all, a host may have per `maxPending`, those waiting on the directory included. */
export const AWAITING_IDENTITY_FACTOR = 4;

/** An event through stage 1, with its place in the host's order. */
interface Read {
  evt: UpstreamEvent;
  arrival: Arrival;
}

/** Stages 2 and 3's result for one event. */
interface Outcome {
  arrival: Arrival;
  items: SequencerItem[];
}

export class HostPipeline {
  private readonly quota: HostQuotaStage<Read>;
  private readonly chains: AccountChains<Outcome>;
  private readonly slots: AccountSlotsStage;
  private flow: UpstreamFlow | null = null;
  private paused = false;
  /** Events since the watermark, in upstream order; `head` indexes the first. */
  private readonly arrivals: Arrival[] = [];
  private head = 0;
  /** Arrivals the watermark passed: the ordinal of the one at `head`. */
  private passed = 0;
  /** Arrivals read: the next one's ordinal. */
  private read = 0;
  /** Arrivals neither handed on nor dropped. */
  private unhanded = 0;
  /** Of those, the ones that await their identity. */
  private awaiting = 0;
  /** What is handed on, for the cursors' seqs above the watermark. */
  private readonly handed = new HandedLog();
  /** Every event up to this upstream seq has been handed to the sink. */
  private watermark: number | null;
  /** Seqs committed by an earlier crawl above its cursor: not verified or relayed again. */
  private skip: Set<number>;
  private idle: (() => void) | null = null;
  private readonly o: HostPipelineOptions;

  constructor(o: HostPipelineOptions) {
    this.o = o;
    this.watermark = o.cursor;
    this.skip = new Set(o.committedAbove);
    const { host, accounts, accountLimit, clock, log } = o;
    this.slots = new AccountSlotsStage({ host, accounts, accountLimit, clock, log });
    this.chains = new AccountChains<Outcome>(({ arrival, items }) => this.slots.push(items, (out) => this.handOn(arrival, out)));
    this.quota = new HostQuotaStage({
      quota: o.quota,
      clock,
      log,
      pass: (read) => this.verify(read),
      holding: () => this.updateFlow(),
      holdUntil: (resetAt) => this.flow?.holdUntil(resetAt),
    });
  }

  /** Connects the pipeline to the connection it steers. */
  attach(flow: UpstreamFlow): void {
    this.flow = flow;
    this.updateFlow();
  }

  /** An upstream event, in upstream order. */
  push(evt: UpstreamEvent): void {
    // Every field from the start: one shape for every arrival.
    const arrival: Arrival = { seq: evt.seq, ordinal: this.read++, handedOn: false, dropped: false, passedAt: undefined, awaitsIdentity: false };
    this.arrivals.push(arrival);
    this.unhanded++;
    if (this.skip.delete(evt.seq)) {
      // Committed by the crawl before this one; only the watermark needs to hear of it.
      this.handOn(arrival, [{ hostId: this.o.host.id, upstreamSeq: evt.seq, event: null }]);
      return;
    }
    if (this.o.identityKnown && !this.o.identityKnown(evt.did)) {
      arrival.awaitsIdentity = true;
      this.awaiting++;
    }
    this.quota.push({ evt, arrival });
    if (!this.paused && this.overWindow()) this.updateFlow();
  }

  /** The host numbers its events anew (it answered FutureCursor): seqs committed before mean nothing now. */
  renumbered(): void {
    this.skip.clear();
  }

  /** After the sequencer committed: resumes a socket paused for backpressure once half the backlog is gone. */
  resume(): void {
    if (this.paused) this.updateFlow(0.5);
  }

  /**
   * The host is no longer crawled here: what waits for quota is dropped (the cursor is not past it), and what is
   * being verified goes on to the sink (account state already moved on with it). Resolves when all of it is there,
   * so a new crawl of the host does not verify the same accounts beside it.
   */
  stop(): Promise<void> {
    for (const { arrival } of this.quota.stop()) {
      arrival.dropped = true;
      this.unhanded--;
      if (arrival.awaitsIdentity) this.awaiting--;
    }
    if (this.unhanded === 0) return Promise.resolve();
    return new Promise((resolve) => (this.idle = resolve));
  }

  /**
   * Whether more than `share` of the window is taken by events not handed on (of known accounts) or uncommitted, or
   * more than the cap's worth of events is past the watermark.
   */
  private overWindow(share = 1): boolean {
    const held = this.unhanded - this.awaiting + this.o.sink.pendingFor(this.o.host.id);
    return held > this.o.maxPending * share || this.arrivals.length - this.head > this.o.maxPending * AWAITING_IDENTITY_FACTOR;
  }

  /** Pauses or resumes the socket: paused while waiting for quota or over `share` of the window. */
  private updateFlow(share = 1): void {
    const paused = this.quota.holding || this.overWindow(share);
    if (paused !== this.paused) {
      this.paused = paused;
      this.flow?.setPaused(paused);
    }
  }

  /** Stages 2 and 3, in the account's order; their outcome goes to the slots stage when ready. */
  private verify({ evt, arrival }: Read): void {
    arrival.passedAt = performance.now();
    const relayed = RELAYED_TYPES.has(evt.t);
    if (!relayed) this.o.reject({ reason: 'unsupported_type', did: evt.did, detail: `message type ${evt.t}` });
    // Behind the account's earlier events, what does not depend on them starts now.
    const early = relayed && this.chains.busy(evt.did) ? this.o.verifier.begin?.(this.o.host, evt) : undefined;
    this.chains.push(evt.did, new VerifyTask(this.o, evt, arrival, relayed, early));
  }

  /** One event's items go to the sink, the upstream one carrying the watermark it leaves. */
  private handOn(arrival: Arrival, items: SequencerItem[]): void {
    arrival.handedOn = true;
    this.unhanded--;
    if (arrival.awaitsIdentity) this.awaiting--;
    this.handed.handed(arrival.ordinal, arrival.seq);
    if (arrival.passedAt !== undefined) this.o.lag?.note(performance.now() - arrival.passedAt);
    const head = this.head;
    while (this.head < this.arrivals.length && this.arrivals[this.head]!.handedOn) this.watermark = this.arrivals[this.head++]!.seq;
    if (this.head > head) {
      this.passed += this.head - head;
      this.handed.passed(this.passed);
    }
    if (this.head > 1024 && this.head * 2 > this.arrivals.length) {
      this.arrivals.splice(0, this.head);
      this.head = 0;
    }
    const cursor = this.watermark === null ? null : this.handed.cursor(this.watermark, this.skip);
    for (const item of items) {
      if (item.upstreamSeq !== null && cursor) item.cursor = cursor;
      this.o.sink.submit(item);
    }
    if (this.idle && this.unhanded === 0) this.idle();
  }
}

/** One event's stages 2 and 3: one object for all it needs while it waits its turn and the answers. */
class VerifyTask implements ChainTask<Outcome> {
  private readonly o: HostPipelineOptions;
  private readonly evt: UpstreamEvent;
  private readonly arrival: Arrival;
  /** Of a type relayed at all (an unsupported one is dropped in its turn). */
  private readonly relayed: boolean;
  private readonly early: EarlyWork | undefined;

  constructor(o: HostPipelineOptions, evt: UpstreamEvent, arrival: Arrival, relayed: boolean, early: EarlyWork | undefined) {
    this.o = o;
    this.evt = evt;
    this.arrival = arrival;
    this.relayed = relayed;
    this.early = early;
  }

  async run(): Promise<Outcome> {
    if (!this.relayed) return this.dropped();
    const { host, verifier, budget, reject } = this.o;
    const { evt } = this;
    const verdict = await verifier.verify(host, evt, this.early);
    if (verdict.ok) return { arrival: this.arrival, items: await budget.apply(host.id, evt.seq, verdict.event) };
    reject({ reason: verdict.reason, did: evt.did, ...(verdict.detail === undefined ? {} : { detail: verdict.detail }) });
    return this.dropped();
  }

  failed(err: unknown): Outcome {
    const { evt } = this;
    this.o.log.error({ err, did: evt.did, seq: evt.seq }, 'verification or the account budget threw');
    this.o.reject({ reason: 'internal_error', did: evt.did, detail: String(err) });
    return this.dropped();
  }

  private dropped(): Outcome {
    return { arrival: this.arrival, items: [{ hostId: this.o.host.id, upstreamSeq: this.evt.seq, event: null, rejected: true }] };
  }
}
