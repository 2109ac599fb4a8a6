// Readers behind live (replaying, or catching up) read their next page of the log only while live ingest keeps
// up, or after a wait: they slow down, never stop, and live delivery keeps its place on a small machine. The wait
// is bounded so that each reader still reads at `floor` times the live event rate: a reader paused for a minute at
// 2,000 events/s is back live within a minute or so even while ingest lags, where a fixed one-second wait per
// 500-event page left it reading slower than live for as long as the lag lasted (173 s to rejoin in the fan-out
// bench under 300 readers, docs/perf-journal.md).
import { sleep } from '../core/retry.ts';

const STEP_MS = 25;

export interface ReplayGateOptions {
  lagMs: () => number;
  maxLagMs: number;
  /** The event loop's recent utilization (0..1), and the most readers may take it to while events flow live. */
  loopBusy?: () => number;
  maxLoopBusy?: number;
  /** Events per second reaching the log live; 0 when idle. */
  liveRate: () => number;
  /** The least a held reader still reads, as a multiple of the live rate: while ingest lags, */
  floor?: number;
  /**
   * and while only the loop is busy. Higher: live fan-out to hundreds of readers keeps the loop busy by itself, and
   * a reader held to twice the live rate there took 160 s to come back from a 60 s pause, against 19 s unheld.
   */
  busyFloor?: number;
  maxWaitMs?: number;
  now?: () => number;
}

/**
 * How long a page of `pageEvents` may still be held, `sinceLastMs` after its reader's previous page was let through,
 * so the reader still reads `floor` times `liveRate`: the time its last page took to read and send counts.
 */
export function pageWaitBudgetMs(pageEvents: number, liveRate: number, floor: number, maxWaitMs: number, sinceLastMs: number): number {
  const spacing = liveRate > 0 ? (pageEvents / (floor * liveRate)) * 1000 : Infinity;
  return Math.max(0, Math.min(maxWaitMs, spacing - sinceLastMs));
}

/** One reader's pages through the gate. */
export interface ReplayPacer {
  /** Resolves when the reader's next page of about `pageEvents` may be read. */
  admit(pageEvents: number): Promise<void>;
}

export class ReplayGate {
  private readonly o: Required<ReplayGateOptions>;

  constructor(o: ReplayGateOptions) {
    this.o = { maxWaitMs: 1000, floor: 2, busyFloor: 5, now: () => performance.now(), loopBusy: () => 0, maxLoopBusy: 1, ...o };
  }

  pacer(): ReplayPacer {
    let lastAt = -Infinity;
    return {
      admit: async (pageEvents) => {
        const { lagMs, maxLagMs, loopBusy, maxLoopBusy, liveRate, floor, busyFloor, maxWaitMs, now } = this.o;
        // The floor the reader is held to now, or 0 when it is not held. A busy loop with nothing live flowing is
        // the readers' own work: there is nothing to yield to.
        const heldTo = () => (lagMs() > maxLagMs ? floor : loopBusy() > maxLoopBusy && liveRate() > 0 ? busyFloor : 0);
        const since = now() - lastAt;
        for (let waited = 0, f = heldTo(); f > 0; f = heldTo()) {
          const budget = pageWaitBudgetMs(pageEvents, liveRate(), f, maxWaitMs, since);
          if (waited >= budget) break;
          await sleep(Math.min(STEP_MS, budget - waited));
          waited += STEP_MS;
        }
        lastAt = now();
      },
    };
  }
}
