// Stage 3 of a host's pipeline: each account's write budget, applied to a verified event in the account's own order
// (concurrently across accounts), with what verification established recorded in the account's state.
import type { Logger } from 'pino';
import type { AcceptedEvent, SequencerItem } from '../core/events.ts';
import type { Clock } from '../core/clock.ts';
import { Batcher } from '../core/batcher.ts';
import type { CounterStore, Grant, WindowLimit } from '../quota/counters.ts';
import { BudgetHeadroom } from '../quota/headroom.ts';
import type { AccountRegistry } from '../accounts/registry.ts';
import { eventItems } from '../accounts/registry.ts';
import { afterVerify, budgetCost, type BudgetOutcome } from '../accounts/transitions.ts';
import type { RelayMetrics } from '../metrics.ts';

export interface AccountBudgetStageOptions {
  accounts: AccountRegistry;
  store: CounterStore;
  /** Points per UTC hour and day (0 turns that window off). */
  budget: { perHour: number; perDay: number };
  clock: Clock;
  metrics: RelayMetrics;
  log: Logger;
}

export class AccountBudgetStage {
  /**
   * Budget takes, batched (the counters see one request per batch of events, not one per event), and what the
   * counters last said of each account's room; null with both windows off.
   */
  private readonly takes: { batcher: Batcher<{ scope: string; want: number }, Grant>; headroom: BudgetHeadroom } | null;
  private readonly o: AccountBudgetStageOptions;

  constructor(o: AccountBudgetStageOptions) {
    this.o = o;
    const windows: WindowLimit[] = [];
    if (o.budget.perHour > 0) windows.push({ name: 'hour', ms: 3_600_000, limit: o.budget.perHour });
    if (o.budget.perDay > 0) windows.push({ name: 'day', ms: 86_400_000, limit: o.budget.perDay });
    // Several batches at once, so a burst's takes do not queue behind one round trip each. An account's takes (several
    // in flight when the headroom decides them here) still reach the counters in its order: one connection.
    // The headroom holds the accounts that commit within an hour; the network has a few hundred thousand an hour.
    this.takes =
      windows.length > 0
        ? {
            batcher: new Batcher({ run: (takes) => o.store.takeMany(takes, windows, o.clock.now()), maxBatch: 5000, maxInFlight: 4 }),
            headroom: new BudgetHeadroom({ windows, maxAccounts: 250_000 }),
          }
        : null;
  }

  async apply(hostId: number, upstreamSeq: number, event: AcceptedEvent): Promise<SequencerItem[]> {
    if (event.kind === 'identity') return [{ hostId, upstreamSeq, event }];
    const { accounts, clock } = this.o;
    // Known accounts' states are in memory: no async call for them (see verifier.ts).
    if (accounts.hit(event.did) === undefined) await accounts.get(event.did);
    const budget = await this.charge(event, clock.now());
    // The state is read again after the counters answered: a sweep may have released the account meanwhile.
    return eventItems(hostId, upstreamSeq, accounts.apply(afterVerify(accounts.current(event.did), hostId, event, clock.now(), budget)));
  }

  private async charge(event: AcceptedEvent, now: number): Promise<BudgetOutcome> {
    const cost = this.takes ? budgetCost(this.o.accounts.current(event.did), event, now) : 0;
    if (cost === 0) return null;
    const { metrics, clock } = this.o;
    const { batcher, headroom } = this.takes!;
    const { did } = event;
    const local = headroom.charge(did, cost, now);
    const take = batcher.submit({ scope: `account:${did}`, want: cost });
    metrics.accountBudgetTakes.inc({ decided: local ? 'here' : 'counters' });
    if (local) {
      // Answers come in the order takes were sent (one connection), which is what the headroom needs.
      take.then(
        (grant) => headroom.answered(did, cost, true, grant, clock.now()),
        (err: unknown) => {
          headroom.forget(did);
          this.unavailable(err, did);
        },
      );
      return { exceeded: false };
    }
    try {
      const grant = await take;
      headroom.answered(did, cost, false, grant, clock.now());
      if (grant.granted >= cost) return { exceeded: false };
      return { exceeded: true, until: Math.max(...grant.windows.filter((w) => w.count + cost > w.limit).map((w) => w.resetAt)) };
    } catch (err) {
      // The host's own quota already holds the host while the counters are away; an account budget that cannot be
      // counted lets the event through rather than drop it.
      headroom.forget(did);
      this.unavailable(err, did);
      return null;
    }
  }

  private unavailable(err: unknown, did: string): void {
    this.o.metrics.quotaCounterErrors.inc();
    this.o.log.warn({ err: (err as Error).message, did }, 'account budget unavailable; event passed');
  }
}
