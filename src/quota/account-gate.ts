// Account-level limits, applied to verified events before they are sequenced: a host may carry a limited number of
// accounts (one slot each; a deleted account gives its slot back), and each account has a budget of write points per
// hour and day. An account over either limit is `throttled`: the relay announces it with its own #account, withholds
// its repo events (while still verifying them and tracking its repo state), and when it is released announces it
// active again and re-announces its current commit as #sync so consumers can catch up.
import { BytesWrapper, CidLinkWrapper } from '@atcute/cbor';
import type { Logger } from 'pino';
import { readCar, writeCar } from '../protocol/car.ts';
import type { Db } from '../storage/db.ts';
import type { AccountStates } from '../verify/account-state.ts';
import type { HostContext } from '../verify/types.ts';
import type { AcceptedEvent, SequencerItem } from '../sequencer/types.ts';
import type { RelayMetrics } from '../metrics.ts';
import { countSlotHolders, heldAccounts, type HeldAccount } from '../storage/accounts.ts';
import type { CounterStore, WindowLimit } from './counters.ts';
import { BudgetBatcher } from './budget.ts';

export const HOST_ACCOUNT_LIMIT = 'host_account_limit';
export const ACCOUNT_BUDGET = 'account_budget';
/** Points per op action, from the source documents. */
export const OP_POINTS: Record<string, number> = { create: 3, update: 2, delete: 1 };

export interface AccountGateOptions {
  db: Db;
  accounts: AccountStates;
  store: CounterStore;
  metrics: RelayMetrics;
  log: Logger;
  /** The account limit of a host as currently configured (tier, override). */
  accountLimit: (hostId: number) => number;
  /** Points per UTC hour and day (0 = that window is off). */
  budget: { perHour: number; perDay: number };
  /** Window lengths (tests shorten them). */
  windows?: { hourMs: number; dayMs: number };
  now?: () => number;
}

export class AccountGate {
  /** Accounts holding a slot, per host crawled here (each host is crawled by one process). */
  private readonly slots = new Map<number, number>();
  private readonly budget: BudgetBatcher | null;
  private readonly now: () => number;

  private readonly o: AccountGateOptions;
  constructor(o: AccountGateOptions) {
    this.o = o;
    this.now = o.now ?? Date.now;
    const windows: WindowLimit[] = [];
    if (o.budget.perHour > 0) windows.push({ name: 'hour', ms: o.windows?.hourMs ?? 3_600_000, limit: o.budget.perHour });
    if (o.budget.perDay > 0) windows.push({ name: 'day', ms: o.windows?.dayMs ?? 86_400_000, limit: o.budget.perDay });
    this.budget = windows.length > 0 ? new BudgetBatcher(o.store, windows) : null;
  }

  /** Forgets a host's slot count (the host was claimed anew): recounted by the next ready(). */
  resetHost(hostId: number): void {
    this.slots.delete(hostId);
  }

  /** Loads a host's slot count (once per claim of the host); admit() needs it. */
  async ready(hostId: number): Promise<void> {
    if (!this.slots.has(hostId)) this.slots.set(hostId, await countSlotHolders(this.o.db, hostId));
  }

  /**
   * The per-account budget, applied while the account's events are verified (concurrently across accounts, in order
   * within one): a commit over budget is withheld and the account throttled until the window resets.
   */
  async charge(host: HostContext, item: SequencerItem): Promise<SequencerItem[]> {
    const ev = item.event;
    if (!ev || ev.kind === 'identity') return [item];
    const state = await this.o.accounts.get(ev.did);
    if (!state || state.throttled === HOST_ACCOUNT_LIMIT) return [item];
    const out: SequencerItem[] = [];
    if (state.throttled === ACCOUNT_BUDGET) {
      // The throttle lifts when its window has passed (the sweep usually gets there first).
      if (state.throttledUntil === null || this.now() < state.throttledUntil) {
        return this.withhold(host.id, item, ev, ACCOUNT_BUDGET, state.throttledUntil, false);
      }
      this.o.accounts.update(ev.did, { throttled: null, throttledUntil: null });
      out.push(this.announce(host.id, ev.did, true));
      item = { ...item, throttle: { did: ev.did, throttled: null, throttledUntil: null, heldCommit: null } };
    }
    if (this.budget && ev.kind === 'commit') {
      const cost = commitPoints(ev.body);
      try {
        const grant = await this.budget.take(`account:${ev.did}`, cost, this.now());
        if (grant.granted < cost) {
          const resetAt = Math.max(...grant.windows.filter((w) => w.count + cost > w.limit).map((w) => w.resetAt));
          return [...out, ...this.withhold(host.id, item, ev, ACCOUNT_BUDGET, resetAt, true)];
        }
      } catch (err) {
        // The host's own quota already holds the host while the counters are away; an account budget that cannot
        // be counted lets the event through rather than drop it.
        this.o.metrics.quotaCounterErrors.inc();
        this.o.log.warn({ err: (err as Error).message, did: ev.did }, 'account budget unavailable; event passed');
      }
    }
    out.push(item);
    return out;
  }

  /**
   * The host account limit, applied in upstream order per host (so the first accounts a host announces get its
   * slots): synchronous, after ready(). A new account past the limit is throttled, a deleted one frees its slot.
   */
  admit(host: HostContext, items: SequencerItem[]): SequencerItem[] {
    const out: SequencerItem[] = [];
    for (const item of items) {
      const ev = item.event;
      const state = ev ? this.o.accounts.peek(ev.did) : null;
      if (!ev || !state || ev.kind === 'identity' || item.upstreamSeq === null) {
        out.push(item);
        continue;
      }
      if (ev.kind === 'account' && ev.status?.status === 'deleted') {
        if (state.slotHostId !== null) this.adjust(state.slotHostId, -1);
        const wasThrottled = state.throttled !== null;
        this.o.accounts.update(ev.did, { slotHostId: null, throttled: null, throttledUntil: null });
        out.push(wasThrottled ? { ...item, throttle: { did: ev.did, throttled: null, throttledUntil: null, heldCommit: null } } : item);
        continue;
      }
      if (state.slotHostId === host.id) {
        out.push(item);
        continue;
      }
      // New here (or moved here): it needs one of this host's slots.
      if (state.slotHostId !== null) this.adjust(state.slotHostId, -1);
      const used = this.slots.get(host.id) ?? 0;
      if (used < this.o.accountLimit(host.id)) {
        this.slots.set(host.id, used + 1);
        this.o.accounts.update(ev.did, { slotHostId: host.id });
        if (state.throttled === HOST_ACCOUNT_LIMIT) {
          this.o.accounts.update(ev.did, { throttled: null, throttledUntil: null });
          out.push(this.announce(host.id, ev.did, true));
          out.push({ ...item, throttle: { did: ev.did, throttled: null, throttledUntil: null, heldCommit: null } });
        } else {
          out.push(item);
        }
        continue;
      }
      this.o.accounts.update(ev.did, { slotHostId: null });
      out.push(...this.withhold(host.id, item, ev, HOST_ACCOUNT_LIMIT, null, state.throttled !== HOST_ACCOUNT_LIMIT));
    }
    return out;
  }

  /**
   * Releases what can be released on hosts crawled here: budget throttles whose window has passed, and accounts
   * waiting for a slot when slots are free (a raised limit, deleted accounts). Returns the items to sequence.
   */
  async sweep(hostIds: number[]): Promise<SequencerItem[]> {
    if (hostIds.length === 0) return [];
    const out: SequencerItem[] = [];
    const held = await heldAccounts(this.o.db, hostIds);
    for (const hostId of hostIds) {
      const waiting = held.filter((h) => h.hostId === hostId);
      if (waiting.length === 0) continue;
      await this.ready(hostId);
      let free = this.o.accountLimit(hostId) - (this.slots.get(hostId) ?? 0);
      for (const h of waiting) {
        if (h.throttled === ACCOUNT_BUDGET) {
          if (h.throttledUntil !== null && h.throttledUntil <= this.now()) out.push(...this.releaseHeld(hostId, h));
        } else if (free > 0) {
          free--;
          this.adjust(hostId, 1);
          out.push(...this.releaseHeld(hostId, h));
        }
      }
    }
    return out;
  }

  private releaseHeld(hostId: number, h: HeldAccount): SequencerItem[] {
    // What this process holds in memory is newer than the database when a withheld commit is not committed yet.
    const cached = this.o.accounts.peek(h.did);
    const heldCommit = cached?.heldCommit ?? h.heldCommit;
    const rev = cached?.rev ?? h.rev;
    if (cached) {
      this.o.accounts.update(h.did, {
        throttled: null,
        throttledUntil: null,
        heldCommit: null,
        slotHostId: h.throttled === HOST_ACCOUNT_LIMIT ? hostId : cached.slotHostId,
      });
    }
    const items = this.release(hostId, h.did, heldCommit, rev);
    const last = items.at(-1)!;
    items[items.length - 1] = { ...last, throttle: { did: h.did, throttled: null, throttledUntil: null, heldCommit: null } };
    this.o.metrics.accountsReleased.inc({ reason: h.throttled });
    return items;
  }

  /** The relay's #account saying the account is active again, then its current commit as #sync if one was held. */
  private release(hostId: number, did: string, heldCommit: Uint8Array | null, rev?: string | null): SequencerItem[] {
    const items = [this.announce(hostId, did, true)];
    if (heldCommit && rev) {
      const body = { did, blocks: new BytesWrapper(heldCommit), rev, time: new Date(this.now()).toISOString() };
      items.push({ hostId, upstreamSeq: null, event: { did, kind: 'sync', body } });
    }
    return items;
  }

  /** Withholds an event of a throttled account; `announce` on the transition into the throttle. */
  private withhold(
    hostId: number,
    item: SequencerItem,
    ev: AcceptedEvent,
    reason: string,
    until: number | null,
    announce: boolean,
  ): SequencerItem[] {
    const heldCommit = ev.repo ? commitOnlyCar(ev.body) : undefined;
    this.o.accounts.update(ev.did, { throttled: reason, throttledUntil: until, ...(heldCommit !== undefined ? { heldCommit } : {}) });
    const out: SequencerItem[] = [];
    if (announce) {
      this.o.metrics.accountsThrottled.inc({ reason });
      this.o.log.info({ did: ev.did, reason }, 'account throttled');
    }
    // Account status changes still pass, with the relay's view (throttled), and announce the throttle themselves;
    // repo events are held back.
    if (ev.kind === 'account') {
      const body = { ...ev.body, active: false, status: 'throttled' };
      out.push({ ...item, event: { ...ev, body }, throttle: { did: ev.did, throttled: reason, throttledUntil: until } });
      return out;
    }
    if (announce) out.push(this.announce(hostId, ev.did, false));
    this.o.metrics.eventsWithheld.inc({ reason });
    out.push({
      hostId: item.hostId,
      upstreamSeq: item.upstreamSeq,
      event: null,
      throttle: {
        did: ev.did,
        throttled: reason,
        throttledUntil: until,
        ...(heldCommit !== undefined ? { repo: ev.repo, heldCommit } : {}),
      },
    });
    return out;
  }

  private announce(hostId: number, did: string, active: boolean): SequencerItem {
    const body = { did, active, ...(active ? {} : { status: 'throttled' }), time: new Date(this.now()).toISOString() };
    return { hostId, upstreamSeq: null, event: { did, kind: 'account', body } };
  }

  private adjust(hostId: number, delta: number): void {
    const n = this.slots.get(hostId);
    if (n !== undefined) this.slots.set(hostId, Math.max(0, n + delta));
  }
}

/** Write points of a commit: create 3, update 2, delete 1 per op. */
export function commitPoints(body: Record<string, unknown>): number {
  let points = 0;
  for (const op of (body.ops as Array<{ action?: unknown }>) ?? []) points += OP_POINTS[String(op.action)] ?? 0;
  return Math.max(1, points);
}

/** A CAR holding only the signed commit block of a #commit or #sync (what a #sync re-announcement carries). */
function commitOnlyCar(body: Record<string, unknown>): Uint8Array | null {
  const blocks = (body.blocks as { buf?: Uint8Array } | undefined)?.buf;
  if (!blocks) return null;
  const car = readCar(blocks);
  const root = body.commit instanceof CidLinkWrapper ? body.commit.bytes : car.roots[0];
  const bytes = root ? car.blocks.get(root) : undefined;
  return root && bytes ? writeCar([root], [{ cid: root, bytes }]) : null;
}
