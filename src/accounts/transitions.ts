// How an account's state changes, as pure functions (state, input) -> transition: what the account becomes, which
// events the relay announces, whether the account's own event is relayed or withheld, and what is persisted with it.
//
// A host may carry a limited number of accounts (one slot each; a deleted account gives its slot back), and each
// account has a budget of write points per hour and day. An account over either limit is throttled: the relay
// announces it inactive with its own #account, withholds its repo events (while still verifying them and tracking
// its repo state), and when it is released announces it again and re-announces its newest commit as #sync so
// consumers can catch up. An operator's takedown overrides what the host says.
import { BytesWrapper, CidLinkWrapper } from '@atcute/cbor';
import { readCar, writeCar } from '../protocol/car.ts';
import { collectionWrite, effectiveStatus, type AccountChange, type AccountState, type Throttle, type ThrottleReason } from '../core/accounts.ts';
import { relayEvent, withBody, type AcceptedEvent } from '../core/events.ts';

/** Write points per op action, from the source documents. */
export const OP_POINTS: Readonly<Record<string, number>> = { create: 3, update: 2, delete: 1 };

export interface Transition {
  state: AccountState;
  /** Events the relay emits itself, in order, before the account's own event. */
  announce: AcceptedEvent[];
  /** The account's own event as relayed; null when it is withheld (or there is none). */
  relay: AcceptedEvent | null;
  /** What is persisted with it; null: nothing. */
  persist: AccountChange | null;
  /** What happened, for metrics and logs. */
  throttled?: ThrottleReason;
  released?: ThrottleReason;
  withheld?: ThrottleReason;
}

/** The budget check of a commit: not made (no budget, nothing to charge, counters away), within, or exceeded. */
export type BudgetOutcome = null | { exceeded: false } | { exceeded: true; until: number };

/** A slot decision of the host's ledger: whether the host has room for one more account. */
export interface SlotRoom {
  room: boolean;
}

/** Per-host slot count changes a transition makes. */
export interface SlotDelta {
  hostId: number;
  delta: number;
}

const unchanged = (state: AccountState, event: AcceptedEvent | null): Transition => ({ state, announce: [], relay: event, persist: null });

/** The relay's #account for an account, saying what effectiveStatus() makes of it. */
export function statusAnnouncement(state: AccountState, now: number): AcceptedEvent {
  const { active, status } = effectiveStatus(state);
  return relayEvent(state.did, 'account', { did: state.did, active, ...(status ? { status } : {}), time: new Date(now).toISOString() });
}

/** Write points a commit costs: create 3, update 2, delete 1 per op, at least 1. */
export function commitPoints(body: Record<string, unknown>): number {
  let points = 0;
  for (const op of (body.ops as Array<{ action?: unknown }>) ?? []) points += OP_POINTS[String(op.action)] ?? 0;
  return Math.max(1, points);
}

/** The points to charge for `event` now (0: no charge: not a commit, or the account is withheld anyway). */
export function budgetCost(state: AccountState, event: AcceptedEvent, now: number): number {
  if (event.kind !== 'commit') return 0;
  const t = state.throttle;
  if (t?.reason === 'host_account_limit') return 0;
  if (t?.reason === 'account_budget' && now < t.until) return 0;
  return commitPoints(event.body);
}

/**
 * A verified event of the account, in the account's own order: records what verification established (repo state,
 * the host's status), shows the relay's view on #account, and applies the budget: a throttle whose window has passed
 * lifts, a commit over budget throttles the account.
 */
export function afterVerify(prev: AccountState, hostId: number, event: AcceptedEvent, now: number, budget: BudgetOutcome): Transition {
  if (event.kind === 'identity') return unchanged(prev, event);
  const state: AccountState = { ...prev, hostId };
  const persist: AccountChange = { did: prev.did, hostId };
  if (event.repo) state.repo = persist.repo = event.repo;
  if (event.status) state.upstream = persist.upstream = event.status;
  // A deleted account holds no records; one that moved here is described by its new host (what it holds may differ
  // from what the old host last sent).
  let collections = event.collections;
  if (isDeletion(event)) collections = { reset: true, present: [], absent: [], unknown: [] };
  else if (prev.hostId !== null && prev.hostId !== hostId) collections = { ...(collections ?? { present: [], absent: [], unknown: [] }), describe: true };
  if (collections) {
    const { write, known } = collectionWrite(prev.collections, collections);
    state.collections = known;
    if (write) persist.collections = write;
  }
  // A local takedown overrides whatever the host says.
  const relay = event.kind === 'account' && state.localStatus ? withBody(event, { ...event.body, active: false, status: state.localStatus }) : event;
  const t: Transition = { state, announce: [], relay, persist };
  const throttle = state.throttle;
  if (throttle?.reason === 'host_account_limit') return t; // the slots stage decides, in the host's order
  if (throttle?.reason === 'account_budget') {
    if (now < throttle.until) return withhold(t, throttle, false, now);
    lift(t, 'account_budget', now);
  }
  if (budget?.exceeded) return withhold(t, { reason: 'account_budget', until: budget.until }, true, now);
  return t;
}

/**
 * The host account limit, applied in the host's upstream order (so the first accounts a host announces get its
 * slots): an account new on the host takes a slot if there is room and is throttled otherwise; a deleted one frees
 * its slot.
 */
export function afterSlots(prev: AccountState, hostId: number, event: AcceptedEvent, host: SlotRoom, now: number): Transition & { slots: SlotDelta[] } {
  if (event.kind === 'identity') return { ...unchanged(prev, event), slots: [] };
  const slots: SlotDelta[] = [];
  if (prev.slotHostId !== null && (prev.slotHostId !== hostId || isDeletion(event))) slots.push({ hostId: prev.slotHostId, delta: -1 });
  if (isDeletion(event)) {
    const state: AccountState = { ...prev, slotHostId: null, throttle: null, heldCommit: null };
    const persist = prev.throttle ? { did: prev.did, hostId, throttle: null, heldCommit: null } : null;
    return { state, announce: [], relay: event, persist, slots };
  }
  if (prev.slotHostId === hostId) return { ...unchanged(prev, event), slots };
  const t: Transition = { state: { ...prev, hostId, slotHostId: null }, announce: [], relay: event, persist: null };
  if (!host.room) {
    const announce = prev.throttle?.reason !== 'host_account_limit';
    return { ...withhold(t, { reason: 'host_account_limit' }, announce, now), slots };
  }
  slots.push({ hostId, delta: 1 });
  t.state.slotHostId = hostId;
  if (prev.throttle?.reason === 'host_account_limit') lift(t, 'host_account_limit', now);
  return { ...t, slots };
}

/**
 * A throttled account released by the relay (a slot came free, its budget window passed): announced again, and its
 * newest commit re-announced as #sync so consumers can catch up. `stored` is what the database holds; the state in
 * memory is newer while a withheld commit is not committed yet.
 */
export function release(prev: AccountState, hostId: number, stored: { heldCommit: Uint8Array | null; rev: string | null }, now: number): Transition {
  const reason = prev.throttle?.reason;
  const heldCommit = prev.heldCommit ?? stored.heldCommit;
  const rev = prev.repo?.rev ?? stored.rev;
  const state: AccountState = {
    ...prev,
    throttle: null,
    heldCommit: null,
    slotHostId: reason === 'host_account_limit' ? hostId : prev.slotHostId,
  };
  const announce = [statusAnnouncement(state, now)];
  if (heldCommit && rev) {
    announce.push(relayEvent(state.did, 'sync', { did: state.did, blocks: new BytesWrapper(heldCommit), rev, time: new Date(now).toISOString() }));
  }
  const t: Transition = { state, announce, relay: null, persist: { did: state.did, hostId, throttle: null, heldCommit: null } };
  if (reason) t.released = reason;
  return t;
}

/** An operator took the account down (a status) or restored it (null): the relay announces its new view. */
export function setLocalStatus(prev: AccountState, localStatus: string | null, now: number): Transition {
  const state: AccountState = { ...prev, localStatus };
  return { state, announce: [statusAnnouncement(state, now)], relay: null, persist: null };
}

function isDeletion(event: AcceptedEvent): boolean {
  return event.kind === 'account' && event.status?.status === 'deleted';
}

/** The throttle lifts: the account is announced with its view after it, and its held commit is dropped. */
function lift(t: Transition, reason: ThrottleReason, now: number): void {
  t.state.throttle = null;
  t.state.heldCommit = null;
  t.persist = { ...(t.persist ?? { did: t.state.did, hostId: t.state.hostId! }), throttle: null, heldCommit: null };
  t.announce.push(statusAnnouncement(t.state, now));
  t.released = reason;
}

/**
 * Withholds the account's event under `throttle`, announcing the throttle when it is new. Account status changes
 * still pass, with the relay's view, and announce the throttle themselves; repo events are held back, their commit
 * kept for the re-announcement.
 */
function withhold(t: Transition, throttle: Throttle, announce: boolean, now: number): Transition {
  const ev = t.relay!;
  const state = t.state;
  state.throttle = throttle;
  const persist: AccountChange = { ...(t.persist ?? { did: state.did, hostId: state.hostId! }), throttle };
  if (ev.repo) state.heldCommit = persist.heldCommit = commitOnlyCar(ev.body);
  t.persist = persist;
  if (announce) t.throttled = throttle.reason;
  if (ev.kind === 'account') {
    const { active, status } = effectiveStatus(state);
    t.relay = withBody(ev, { ...ev.body, active, status });
    return t;
  }
  if (announce) t.announce.push(statusAnnouncement(state, now));
  t.relay = null;
  t.withheld = throttle.reason;
  return t;
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
