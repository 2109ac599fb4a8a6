// The account state machine, case by case: each transition's new state, the relay's announcements, whether the
// account's own event is relayed, and what is persisted with it.
import { describe, expect, it } from 'vitest';
import { blankAccount, type AccountState } from '../../../src/core/accounts.ts';
import type { AcceptedEvent } from '../../../src/core/events.ts';
import { readCar } from '../../../src/protocol/car.ts';
import { cidEquals } from '../../../src/protocol/cid.ts';
import { afterSlots, afterVerify, budgetCost, commitPoints, release, setLocalStatus } from '../../../src/accounts/transitions.ts';
import { commitMessageBody, Repo } from '../../../dev-env/repo.ts';
import { generateKeypair } from '../../../dev-env/keys.ts';
import { TidClock } from '../../../src/protocol/tid.ts';

const DID = 'did:plc:transitions00000000000';
const HOST = 7;
const NOW = Date.UTC(2030, 0, 1, 12, 30);
const repoState = { rev: '3kaaaaaaaaaa2', head: 'bafyhead', data: 'bafydata' };

const tids = new TidClock();
const repo = new Repo(DID, generateKeypair('k256'));
repo.commit(tids.next(), []);

/** A verified #commit of `ops` ops (a real signed commit, so its held form can be checked). */
function commit(ops = 1): AcceptedEvent {
  const r = repo.commit(
    tids.next(),
    Array.from({ length: ops }, () => ({ action: 'create' as const, collection: 'app.bsky.feed.like', rkey: tids.next(), record: { subject: 'x' } })),
  );
  const body = { ...commitMessageBody(DID, r), seq: 1, time: new Date(NOW).toISOString() };
  return { did: DID, kind: 'commit', body, received: new Uint8Array([1, 2, 3]), repo: { rev: r.rev, head: 'bafyhead', data: 'bafydata' } };
}

function account(active: boolean, status: string | null = null): AcceptedEvent {
  const body = { did: DID, active, ...(status ? { status } : {}), seq: 2, time: 't' };
  return { did: DID, kind: 'account', body, received: new Uint8Array([4]), status: { active, status } };
}

const identity: AcceptedEvent = { did: DID, kind: 'identity', body: { did: DID, seq: 3, time: 't' }, received: new Uint8Array([5]) };

const state = (over: Partial<AccountState> = {}): AccountState => ({ ...blankAccount(DID), hostId: HOST, slotHostId: HOST, repo: repoState, ...over });

const statusOf = (ev: AcceptedEvent) => ({ active: ev.body.active, status: ev.body.status });

describe('afterVerify', () => {
  it('records what a verified commit established and relays it as received', () => {
    const ev = commit();
    const t = afterVerify(blankAccount(DID), HOST, ev, NOW, { exceeded: false });
    expect(t.state).toMatchObject({ hostId: HOST, repo: ev.repo, throttle: null });
    expect(t.relay).toBe(ev);
    expect(t.announce).toEqual([]);
    expect(t.persist).toEqual({ did: DID, hostId: HOST, repo: ev.repo });
  });

  it('records the host’s status, and relays #account with a local takedown overriding it', () => {
    const ev = account(true);
    const plain = afterVerify(state(), HOST, ev, NOW, null);
    expect(plain.relay).toBe(ev);
    expect(plain.persist).toEqual({ did: DID, hostId: HOST, upstream: { active: true, status: null } });
    const taken = afterVerify(state({ localStatus: 'takendown' }), HOST, ev, NOW, null);
    expect(taken.state.upstream).toEqual({ active: true, status: null });
    expect(statusOf(taken.relay!)).toEqual({ active: false, status: 'takendown' });
    // A rebuilt body is encoded afresh, not passed through.
    expect(taken.relay!.received).toBeNull();
  });

  it('leaves identity events alone', () => {
    const before = state();
    const t = afterVerify(before, HOST, identity, NOW, null);
    expect(t).toEqual({ state: before, announce: [], relay: identity, persist: null });
  });

  it('throttles a commit over budget: announces it, withholds the commit, keeps its signed block for the release', () => {
    const ev = commit();
    const until = NOW + 1_800_000;
    const t = afterVerify(state(), HOST, ev, NOW, { exceeded: true, until });
    expect(t.relay).toBeNull();
    expect(t.throttled).toBe('account_budget');
    expect(t.withheld).toBe('account_budget');
    expect(t.announce.map(statusOf)).toEqual([{ active: false, status: 'throttled' }]);
    expect(t.announce[0]!.received).toBeNull();
    expect(t.state.throttle).toEqual({ reason: 'account_budget', until });
    // The repo state still moves on (the relay verified the commit); the held CAR is the signed commit block alone.
    expect(t.state.repo).toEqual(ev.repo);
    const held = readCar(t.state.heldCommit!);
    const root = (ev.body.commit as { bytes: Uint8Array }).bytes;
    expect(cidEquals(held.roots[0]!, root)).toBe(true);
    expect(held.blocks.size).toBe(1);
    expect(t.persist).toEqual({ did: DID, hostId: HOST, repo: ev.repo, throttle: { reason: 'account_budget', until }, heldCommit: t.state.heldCommit });
  });

  it('keeps withholding within the window without announcing again, and lifts the throttle once it has passed', () => {
    const throttled = state({ throttle: { reason: 'account_budget', until: NOW + 1000 } });
    const within = afterVerify(throttled, HOST, commit(), NOW, null);
    expect(within.relay).toBeNull();
    expect(within.announce).toEqual([]);
    expect(within.throttled).toBeUndefined();

    const ev = commit();
    const after = afterVerify(throttled, HOST, ev, NOW + 1000, { exceeded: false });
    expect(after.relay).toBe(ev);
    expect(after.released).toBe('account_budget');
    expect(after.announce.map(statusOf)).toEqual([{ active: true, status: undefined }]);
    expect(after.state).toMatchObject({ throttle: null, heldCommit: null });
    expect(after.persist).toMatchObject({ throttle: null, heldCommit: null, repo: ev.repo });
  });

  it('passes #account of a throttled account with the relay’s view', () => {
    const t = afterVerify(state({ throttle: { reason: 'account_budget', until: NOW + 1000 } }), HOST, account(true), NOW, null);
    expect(statusOf(t.relay!)).toEqual({ active: false, status: 'throttled' });
    expect(t.announce).toEqual([]);
    expect(t.withheld).toBeUndefined();
  });

  it('leaves an account waiting for a slot to the slots stage', () => {
    const ev = commit();
    const t = afterVerify(state({ slotHostId: null, throttle: { reason: 'host_account_limit' } }), HOST, ev, NOW, null);
    expect(t.relay).toBe(ev);
    expect(t.state.throttle).toEqual({ reason: 'host_account_limit' });
  });
});

describe('budgetCost', () => {
  it('charges commits by op (create 3, update 2, delete 1; at least 1), and nothing while withheld anyway', () => {
    expect(commitPoints({ ops: [{ action: 'create' }, { action: 'update' }, { action: 'delete' }] })).toBe(6);
    expect(commitPoints({ ops: [] })).toBe(1);
    expect(budgetCost(state(), commit(2), NOW)).toBe(6);
    expect(budgetCost(state(), account(true), NOW)).toBe(0);
    expect(budgetCost(state({ throttle: { reason: 'host_account_limit' } }), commit(), NOW)).toBe(0);
    expect(budgetCost(state({ throttle: { reason: 'account_budget', until: NOW + 1 } }), commit(), NOW)).toBe(0);
    expect(budgetCost(state({ throttle: { reason: 'account_budget', until: NOW } }), commit(), NOW)).toBe(3);
  });
});

describe('afterSlots', () => {
  it('gives a new account a slot while the host has room', () => {
    const ev = commit();
    const t = afterSlots(state({ slotHostId: null }), HOST, ev, { room: true }, NOW);
    expect(t.slots).toEqual([{ hostId: HOST, delta: 1 }]);
    expect(t.state.slotHostId).toBe(HOST);
    expect(t.relay).toBe(ev);
    expect(t.persist).toBeNull();
  });

  it('passes an account that holds a slot here, and moves one that held a slot elsewhere', () => {
    const ev = commit();
    expect(afterSlots(state(), HOST, ev, { room: false }, NOW)).toMatchObject({ relay: ev, slots: [], persist: null });
    const moved = afterSlots(state({ slotHostId: 3 }), HOST, ev, { room: true }, NOW);
    expect(moved.slots).toEqual([{ hostId: 3, delta: -1 }, { hostId: HOST, delta: 1 }]);
    expect(moved.state.slotHostId).toBe(HOST);
  });

  it('throttles an account the host has no room for, announcing it once', () => {
    const first = afterSlots(state({ slotHostId: null }), HOST, commit(), { room: false }, NOW);
    expect(first.relay).toBeNull();
    expect(first.throttled).toBe('host_account_limit');
    expect(first.announce.map(statusOf)).toEqual([{ active: false, status: 'throttled' }]);
    expect(first.state).toMatchObject({ slotHostId: null, throttle: { reason: 'host_account_limit' } });
    expect(first.persist).toMatchObject({ throttle: { reason: 'host_account_limit' }, heldCommit: first.state.heldCommit });

    const second = afterSlots(first.state, HOST, commit(), { room: false }, NOW);
    expect(second.relay).toBeNull();
    expect(second.announce).toEqual([]);
    expect(second.throttled).toBeUndefined();
    expect(second.withheld).toBe('host_account_limit');
  });

  it('lifts the throttle when the host has room again', () => {
    const ev = commit();
    const t = afterSlots(state({ slotHostId: null, throttle: { reason: 'host_account_limit' }, heldCommit: new Uint8Array([9]) }), HOST, ev, { room: true }, NOW);
    expect(t.relay).toBe(ev);
    expect(t.released).toBe('host_account_limit');
    expect(t.announce.map(statusOf)).toEqual([{ active: true, status: undefined }]);
    expect(t.slots).toEqual([{ hostId: HOST, delta: 1 }]);
    expect(t.persist).toEqual({ did: DID, hostId: HOST, throttle: null, heldCommit: null });
  });

  it('frees the slot of a deleted account and lifts its throttle', () => {
    const deleted = account(false, 'deleted');
    const t = afterSlots(state({ throttle: { reason: 'account_budget', until: NOW + 5 } }), HOST, deleted, { room: false }, NOW);
    expect(t.slots).toEqual([{ hostId: HOST, delta: -1 }]);
    expect(t.relay).toBe(deleted);
    expect(t.state).toMatchObject({ slotHostId: null, throttle: null });
    expect(t.persist).toEqual({ did: DID, hostId: HOST, throttle: null, heldCommit: null });
    // Without a throttle there is nothing to persist beyond what the event itself records.
    expect(afterSlots(state(), HOST, deleted, { room: false }, NOW).persist).toBeNull();
  });
});

describe('release', () => {
  it('announces the account again and re-announces its held commit as #sync', () => {
    const held = new Uint8Array([1, 2, 3]);
    const t = release(state({ slotHostId: null, throttle: { reason: 'host_account_limit' }, heldCommit: held }), HOST, { heldCommit: null, rev: null }, NOW);
    expect(t.announce.map((e) => e.kind)).toEqual(['account', 'sync']);
    expect(statusOf(t.announce[0]!)).toEqual({ active: true, status: undefined });
    expect(t.announce[1]!.body).toMatchObject({ did: DID, rev: repoState.rev, blocks: { buf: held } });
    expect(t.state).toMatchObject({ throttle: null, heldCommit: null, slotHostId: HOST });
    expect(t.released).toBe('host_account_limit');
    expect(t.relay).toBeNull();
    expect(t.persist).toEqual({ did: DID, hostId: HOST, throttle: null, heldCommit: null });
  });

  it('takes the held commit from the database when memory has none, and sends no #sync without one', () => {
    const stored = new Uint8Array([7]);
    const fromDb = release(state({ repo: null, throttle: { reason: 'account_budget', until: NOW }, heldCommit: null }), HOST, { heldCommit: stored, rev: '3kzzzzzzzzzz2' }, NOW);
    expect(fromDb.announce[1]!.body).toMatchObject({ rev: '3kzzzzzzzzzz2', blocks: { buf: stored } });
    // A budget release keeps the account's slot as it was.
    expect(fromDb.state.slotHostId).toBe(HOST);
    const none = release(state({ throttle: { reason: 'account_budget', until: NOW } }), HOST, { heldCommit: null, rev: null }, NOW);
    expect(none.announce.map((e) => e.kind)).toEqual(['account']);
  });
});

describe('setLocalStatus', () => {
  it('announces a takedown, and on restore the host’s own view', () => {
    const down = setLocalStatus(state(), 'takendown', NOW);
    expect(down.state.localStatus).toBe('takendown');
    expect(down.announce.map(statusOf)).toEqual([{ active: false, status: 'takendown' }]);
    expect(down.persist).toBeNull();
    const up = setLocalStatus(state({ localStatus: 'takendown', upstream: { active: false, status: 'deactivated' } }), null, NOW);
    expect(up.announce.map(statusOf)).toEqual([{ active: false, status: 'deactivated' }]);
  });
});
