// What this process knows of each active account's budget between the counters' answers, so that a commit of an
// account far from its limits passes at once and its take goes to the counters behind it. Waiting for the counters
// on every commit put a Redis round trip, answered on a busy main thread, into every commit's latency (19-24 ms at
// p50 for known accounts in a paced cold run; docs/perf-journal.md, session 23).
//
// Exact while one process charges an account, which is the rule: an account's events come from its host, and one
// process crawls a host. Two at once (an account moving between hosts crawled by different processes) can pass at
// most the margin over a limit before the counters' next answer says so.
import type { Grant, WindowLimit } from './counters.ts';

export interface HeadroomOptions {
  windows: WindowLimit[];
  /** Accounts remembered at most (the oldest are forgotten first: their next take waits for the counters). */
  maxAccounts: number;
}

interface Entry {
  /** The least room any window had at the counters' last answer. */
  room: number;
  /** Points charged here since that answer, their takes not answered yet. */
  unanswered: number;
}

export class BudgetHeadroom {
  /** By DID. */
  private entries = new Map<string, Entry>();
  /** Every window's count is valid until the first of them ends (they are aligned to the epoch): then all are forgotten. */
  private validUntil = 0;
  /** Room a take decided here must leave: a tenth of the smallest limit. */
  private readonly margin: number;
  private readonly o: HeadroomOptions;

  constructor(o: HeadroomOptions) {
    this.o = o;
    this.margin = Math.min(...o.windows.map((w) => w.limit)) / 10;
  }

  /**
   * Whether `cost` can be charged to `account` (its DID: the string the account cache holds already) without
   * waiting for the counters: their last answer left room for it and the margin, after what is still unanswered.
   * When it can, the cost counts as unanswered until `answered`.
   */
  charge(account: string, cost: number, now: number): boolean {
    this.expire(now);
    const e = this.entries.get(account);
    if (!e || e.room - e.unanswered - cost < this.margin) return false;
    e.unanswered += cost;
    return true;
  }

  /**
   * The counters' answer to a take of `cost` for `account` (`local`: one `charge` decided here). Answers must come in
   * the order the takes were sent, as they do from one connection to the counters.
   */
  answered(account: string, cost: number, local: boolean, grant: Grant, now: number): void {
    this.expire(now);
    const e = this.entries.get(account);
    if (local && !e) return; // forgotten meanwhile (a new window, or the cap)
    const unanswered = local ? e!.unanswered - cost : (e?.unanswered ?? 0);
    // A take refused in part (another process charged the account) leaves no room here: the next take waits.
    const room = grant.granted < cost ? 0 : Math.min(...grant.windows.map((w) => w.limit - w.count));
    if (e) {
      e.room = room;
      e.unanswered = unanswered;
      return;
    }
    if (this.entries.size >= this.o.maxAccounts) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(account, { room, unanswered });
  }

  /** A take that failed: what the counters hold of the account is not known now. */
  forget(account: string): void {
    this.entries.delete(account);
  }

  get size(): number {
    return this.entries.size;
  }

  private expire(now: number): void {
    if (now < this.validUntil) return;
    this.entries = new Map();
    this.validUntil = Math.min(...this.o.windows.map((w) => (Math.floor(now / w.ms) + 1) * w.ms));
  }
}
