// Stage 1 of a host's pipeline: the host's event quota. Events pass in arrival order while the local reservation
// lasts; the rest wait, the socket paused, for a refill, or, at the limit, for the window to reset with the host
// disconnected meanwhile. Nothing that waits is dropped: the upstream cursor is already past it, and it passes, in
// order, once the new window grants it room.
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.ts';
import { retrying } from '../core/retry.ts';
import type { HostQuota } from '../quota/host-quota.ts';

export interface HostQuotaStageOptions<T> {
  quota: HostQuota;
  clock: Clock;
  log: Logger;
  /** The next stage. */
  pass: (item: T) => void;
  /** Events started or stopped waiting (the pipeline pauses the socket while they do). */
  holding: (holding: boolean) => void;
  /** Over quota: stop reading from the host until the window resets. */
  holdUntil: (resetAt: number) => void;
}

/** Passes items (one per upstream event) in the order pushed. */
export class HostQuotaStage<T> {
  private held: T[] = [];
  private stopped = false;
  private wake: (() => void) | null = null;
  private readonly o: HostQuotaStageOptions<T>;

  constructor(o: HostQuotaStageOptions<T>) {
    this.o = o;
  }

  get holding(): boolean {
    return this.held.length > 0;
  }

  push(item: T): void {
    const { quota } = this.o;
    if (this.held.length > 0 || !quota.tryTake()) {
      this.held.push(item);
      if (this.held.length === 1) {
        this.o.holding(true);
        void this.drain();
      }
      return;
    }
    this.o.pass(item);
    if (quota.remaining < quota.chunk / 4) void quota.refill().catch(() => {});
  }

  /**
   * The host is no longer crawled here: what waits is dropped (its cursor is not past it) and returned, the
   * reservation given back.
   */
  stop(): T[] {
    this.stopped = true;
    const dropped = this.held;
    this.held = [];
    this.wake?.();
    void this.o.quota.release();
    return dropped;
  }

  private async drain(): Promise<void> {
    const { quota, log } = this.o;
    while (!this.stopped && this.held.length > 0) {
      const r = await retrying(() => quota.refill(), {
        baseMs: 200,
        // Without the shared counters the relay cannot count: the host is held (nothing is lost) until they are back.
        onError: (err) => log.warn({ err: (err as Error).message }, 'quota counters unavailable; holding host'),
        stop: () => this.stopped,
      });
      if (!r || this.stopped) return;
      if (!r.ok) {
        log.info({ resetAt: new Date(r.resetAt).toISOString(), waiting: this.held.length }, 'host over quota; disconnecting until reset');
        this.o.holdUntil(r.resetAt);
        await this.sleepUntil(r.resetAt);
        continue;
      }
      while (this.held.length > 0 && quota.tryTake()) this.o.pass(this.held.shift()!);
    }
    if (!this.stopped) this.o.holding(false);
  }

  private sleepUntil(at: number): Promise<void> {
    return new Promise((resolve) => {
      const cancel = this.o.clock.at(at, () => resolve());
      this.wake = () => {
        cancel();
        resolve();
      };
    });
  }
}
