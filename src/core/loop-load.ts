// How busy this process's event loop is: the share of the last window it spent running code rather than waiting
// (Node's event loop utilization). Readers behind live yield while it is high: on a small machine their socket
// writes and page reads fill the main thread, and every step of live delivery (socket reads, verification
// results, the sequencer's commits, the hub's writes) then waits its turn behind them (docs/perf-journal.md, session 12).
import { performance, type EventLoopUtilization } from 'node:perf_hooks';

export class LoopLoad {
  private mark: EventLoopUtilization;
  private markAt: number;
  private last = 0;
  private readonly windowMs: number;
  private readonly sample: () => EventLoopUtilization;
  private readonly now: () => number;

  constructor(o: { windowMs?: number; sample?: () => EventLoopUtilization; now?: () => number } = {}) {
    this.windowMs = o.windowMs ?? 100;
    this.sample = o.sample ?? (() => performance.eventLoopUtilization());
    this.now = o.now ?? (() => performance.now());
    this.mark = this.sample();
    this.markAt = this.now();
  }

  /** Utilization (0..1) over the last whole window; a new window starts when one has passed since the last. */
  utilization(): number {
    const now = this.now();
    if (now - this.markAt >= this.windowMs) {
      const current = this.sample();
      const active = current.active - this.mark.active;
      const idle = current.idle - this.mark.idle;
      this.last = active + idle > 0 ? active / (active + idle) : 0;
      this.mark = current;
      this.markAt = now;
    }
    return this.last;
  }
}
