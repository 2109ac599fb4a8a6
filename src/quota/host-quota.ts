// A host's event quota as one subscription sees it: units are reserved from the shared counters in chunks, so the
// per-event check is a local decrement and Redis is asked once per chunk, not once per event. A reservation is only
// valid inside the window it was taken in.
import type { CounterStore, WindowLimit, WindowState } from './counters.ts';
import type { HostLimits } from '../core/hosts.ts';
import type { Clock } from '../core/clock.ts';

export type Refill = { ok: true } | { ok: false; resetAt: number; windows: WindowState[] };

export interface HostQuotaOptions {
  store: CounterStore;
  hostId: number;
  limits: () => HostLimits;
  clock: Clock;
}

/** The host's quota windows: the UTC hour and day, at its current limits. */
export function hostWindows(limits: HostLimits): WindowLimit[] {
  return [
    { name: 'hour', ms: 3_600_000, limit: limits.perHour },
    { name: 'day', ms: 86_400_000, limit: limits.perDay },
  ];
}

/** The counter scope of a host's quota. */
export const hostScope = (hostId: number): string => `host:${hostId}`;

export class HostQuota {
  private allowance = 0;
  private allowanceWindow = -1;
  private refilling: Promise<Refill> | null = null;
  /** Last known counter state, for operators. */
  lastWindows: WindowState[] = [];

  private readonly o: HostQuotaOptions;

  constructor(o: HostQuotaOptions) {
    this.o = o;
  }

  private now(): number {
    return this.o.clock.now();
  }

  windows(): WindowLimit[] {
    return hostWindows(this.o.limits());
  }

  private currentWindow(): number {
    const shortest = Math.min(...this.windows().map((w) => w.ms));
    return Math.floor(this.now() / shortest);
  }

  /** Units left in the local reservation. */
  get remaining(): number {
    return this.allowanceWindow === this.currentWindow() ? this.allowance : 0;
  }

  /** Units reserved per refill. */
  get chunk(): number {
    return Math.max(1, Math.min(1000, Math.floor(this.o.limits().perHour / 20)));
  }

  /** Takes one unit from the local reservation; false when it is empty (call refill()). */
  tryTake(): boolean {
    if (this.allowanceWindow !== this.currentWindow()) this.allowance = 0;
    if (this.allowance <= 0) return false;
    this.allowance--;
    return true;
  }

  /** Reserves the next chunk; resolves with the reset time when a window is full. One refill at a time. */
  refill(): Promise<Refill> {
    this.refilling ??= this.doRefill().finally(() => {
      this.refilling = null;
    });
    return this.refilling;
  }

  private async doRefill(): Promise<Refill> {
    const windows = this.windows();
    const now = this.now();
    const grant = await this.o.store.take(hostScope(this.o.hostId), this.chunk, windows, now);
    this.lastWindows = grant.windows;
    if (grant.granted > 0) {
      const window = this.currentWindow();
      if (this.allowanceWindow !== window) this.allowance = 0;
      this.allowanceWindow = window;
      this.allowance += grant.granted;
      return { ok: true };
    }
    const full = grant.windows.filter((w) => w.count >= w.limit);
    return { ok: false, resetAt: Math.max(...full.map((w) => w.resetAt)), windows: grant.windows };
  }

  /** Gives an unused reservation back (the host disconnects). */
  async release(): Promise<void> {
    const left = this.allowanceWindow === this.currentWindow() ? this.allowance : 0;
    this.allowance = 0;
    if (left > 0) await this.o.store.give(hostScope(this.o.hostId), left, this.windows(), this.now()).catch(() => {});
  }
}
