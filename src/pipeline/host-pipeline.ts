// One host's chain of stages, from the upstream connection's events to the sequencer:
//
//   host quota -> verify -> account budget -> ordered release -> account slots -> sequencer sink
//   (1)           (2)        (3)               (4)                (5)              (6)
//
// Stages 2 and 3 run per account: concurrently across accounts, one at a time within one. Stage 4 releases outcomes
// in upstream order, so the host's cursor only ever covers events whose effects are committed with it. The pipeline
// also decides when the host's socket is read: not while events wait for quota, nor while more than `maxPending`
// events are in flight.
import type { Logger } from 'pino';
import { RELAYED_TYPES, type SequencerItem, type SequencerSink, type UpstreamEvent } from '../core/events.ts';
import type { HostRef } from '../core/hosts.ts';
import type { RejectionReason } from '../core/rejections.ts';
import type { Clock } from '../core/clock.ts';
import type { EventVerifier } from '../verify/types.ts';
import type { HostQuota } from '../quota/host-quota.ts';
import type { AccountRegistry } from '../accounts/registry.ts';
import { HostQuotaStage } from './host-quota-stage.ts';
import type { AccountBudgetStage } from './account-budget-stage.ts';
import { AccountSlotsStage } from './account-slots-stage.ts';
import { OrderedPipeline } from './ordered-release.ts';

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
  /** Stage 1: the host's share of the quota counters. */
  quota: HostQuota;
  /** Stage 2. */
  verifier: EventVerifier;
  /** Stage 3 (one for every host). */
  budget: AccountBudgetStage;
  /** Stage 5: account slots, and the host's account limit as currently configured. */
  accounts: AccountRegistry;
  accountLimit: () => number;
  /** Stage 6. */
  sink: SequencerSink;
  clock: Clock;
  reject: RejectionReporter;
  log: Logger;
  /** Events in flight (verifying, or waiting to be committed) before the socket is paused. */
  maxPending: number;
}

export class HostPipeline {
  private readonly quota: HostQuotaStage;
  private readonly ordered: OrderedPipeline<SequencerItem[]>;
  private readonly slots: AccountSlotsStage;
  private flow: UpstreamFlow | null = null;
  private paused = false;
  /** Events passed to verification whose outcomes are not yet all handed to the sink. */
  private inFlight = 0;
  private idle: (() => void) | null = null;
  private readonly o: HostPipelineOptions;

  constructor(o: HostPipelineOptions) {
    this.o = o;
    const { host, accounts, accountLimit, clock, log, sink } = o;
    this.slots = new AccountSlotsStage({
      host,
      accounts,
      accountLimit,
      clock,
      log,
      pass: (item) => sink.submit(item),
      processed: () => {
        if (--this.inFlight === 0) this.idle?.();
      },
    });
    this.ordered = new OrderedPipeline<SequencerItem[]>((items) => this.slots.push(items));
    this.quota = new HostQuotaStage({
      quota: o.quota,
      clock,
      log,
      pass: (evt) => this.verify(evt),
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
    this.quota.push(evt);
  }

  /** After the sequencer committed: resumes a socket paused for backpressure once half the backlog is gone. */
  resume(): void {
    if (this.paused && this.backlog() <= this.o.maxPending / 2) this.updateFlow();
  }

  /**
   * The host is no longer crawled here: what waits for quota is dropped (the cursor is not past it), and what is
   * being verified goes on to the sink (account state already moved on with it). Resolves when all of it is there,
   * so a new crawl of the host does not verify the same accounts beside it.
   */
  stop(): Promise<void> {
    this.quota.stop();
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => (this.idle = resolve));
  }

  private backlog(): number {
    return this.ordered.pending + this.o.sink.pendingFor(this.o.host.id);
  }

  private updateFlow(): void {
    const paused = this.quota.holding || this.backlog() > this.o.maxPending;
    if (paused !== this.paused) {
      this.paused = paused;
      this.flow?.setPaused(paused);
    }
  }

  /** Stages 2 and 3, in the account's order; their outcome is released (stage 4) in the host's. */
  private verify(evt: UpstreamEvent): void {
    const { host, verifier, budget, reject, log } = this.o;
    const dropped = (): SequencerItem[] => [{ hostId: host.id, upstreamSeq: evt.seq, event: null }];
    this.inFlight++;
    if (!RELAYED_TYPES.has(evt.t)) {
      reject({ reason: 'unsupported_type', did: evt.did, detail: `message type ${evt.t}` });
      // Through the ordered release all the same: the cursor passes it only after everything before it.
      this.ordered.push(evt.did, dropped, dropped);
    } else {
      this.ordered.push(
        evt.did,
        async () => {
          const verdict = await verifier.verify(host, evt);
          if (verdict.ok) return budget.apply(host.id, evt.seq, verdict.event);
          reject({ reason: verdict.reason, did: evt.did, ...(verdict.detail === undefined ? {} : { detail: verdict.detail }) });
          return dropped();
        },
        (err) => {
          log.error({ err, did: evt.did, seq: evt.seq }, 'verification or the account budget threw');
          reject({ reason: 'internal_error', did: evt.did, detail: String(err) });
          return dropped();
        },
      );
    }
    if (!this.paused && this.backlog() > this.o.maxPending) this.updateFlow();
  }
}
