// Stage 4 of a host's pipeline: the host's account limit, applied to outcomes in the order they are ready (for
// accounts first seen together, about the host's own order: the first accounts a host announces get its slots).
// Synchronous once the host's slot count is loaded.
import type { Logger } from 'pino';
import { mergeChanges } from '../core/accounts.ts';
import type { HostRef } from '../core/hosts.ts';
import type { SequencerItem } from '../core/events.ts';
import type { Clock } from '../core/clock.ts';
import { retrying } from '../core/retry.ts';
import type { AccountRegistry } from '../accounts/registry.ts';
import { afterSlots } from '../accounts/transitions.ts';

export interface AccountSlotsStageOptions {
  host: HostRef;
  accounts: AccountRegistry;
  /** The host's account limit as currently configured (tier, override). */
  accountLimit: () => number;
  clock: Clock;
  log: Logger;
}

/** One event's outcomes, and what to do with them once the stage has applied the account limit. */
interface Batch {
  items: SequencerItem[];
  pass: (items: SequencerItem[]) => void;
}

export class AccountSlotsStage {
  /** Outcomes waiting for the host's slot count to load, in the order they came. */
  private readonly queue: Batch[] = [];
  private readonly o: AccountSlotsStageOptions;
  /** Whether this crawl has said yet that the limit is withholding accounts (once: a real PDS hits it thousands of times). */
  private warned = false;

  constructor(o: AccountSlotsStageOptions) {
    this.o = o;
  }

  /** One event's outcomes; `pass` gets them (and the relay's announcements) once the limit is applied. */
  push(items: SequencerItem[], pass: (items: SequencerItem[]) => void): void {
    this.queue.push({ items, pass });
    if (this.queue.length > 1) return;
    // Once the host's count is loaded (its first event), outcomes pass at once, with no promise for each to hold.
    if (this.o.accounts.slotsKnown(this.o.host.id)) this.release();
    else void this.loadSlots();
  }

  private async loadSlots(): Promise<void> {
    const { accounts, host, log } = this.o;
    // Outcomes released here were verified, and account state moved on with them: they are passed on even when the
    // host is no longer crawled here, or they would be lost (their events would come again as stale revs).
    await retrying(() => accounts.slotsReady(host.id), {
      baseMs: 100,
      onError: (err) => log.warn({ err }, "could not count the host's accounts; retrying"),
    });
    this.release();
  }

  private release(): void {
    while (this.queue.length > 0) {
      const { items, pass } = this.queue.shift()!;
      pass(items.flatMap((item) => this.admit(item)));
    }
  }

  /** The default limit suits a small new PDS; a real one meets it at once, and withheld accounts look like a bug. */
  private warnLimit(limit: number): void {
    this.warned = true;
    const h = this.o.host.hostname;
    this.o.log.warn(
      { limit },
      `host reached its account limit (${limit}): its further accounts are withheld (throttled, announced inactive) ` +
        `until it has room; raise it with \`relay hosts limits ${h} --accounts N\` or \`relay hosts tier ${h} trusted\`, ` +
        'or list the host in RELAY_TRUSTED_HOSTS',
    );
  }

  private admit(item: SequencerItem): SequencerItem[] {
    const { accounts, host } = this.o;
    const ev = item.event;
    // The relay's own events, and events already withheld or of accounts not loaded, pass as they are.
    const state = ev && item.upstreamSeq !== null ? accounts.peek(ev.did) : null;
    if (!ev || !state) return [item];
    const limit = this.o.accountLimit();
    const room = { room: accounts.hasRoom(host.id, limit) };
    const t = accounts.apply(afterSlots(state, host.id, ev, room, this.o.clock.now()));
    if (t.throttled === 'host_account_limit' && !this.warned) this.warnLimit(limit);
    accounts.adjustSlots(t.slots);
    const out: SequencerItem[] = t.announce.map((event) => ({ hostId: host.id, upstreamSeq: null, event }));
    const next: SequencerItem = { ...item, event: t.relay };
    if (t.persist) next.account = mergeChanges(item.account, t.persist);
    out.push(next);
    return out;
  }
}
