// Readers behind live (replaying, or catching up) read their next page of the log only while live ingest keeps
// up, or after waiting a second: they slow down, never stop, and live delivery keeps its place on a small machine.
import { sleep } from '../core/retry.ts';

export class ReplayGate {
  private readonly o: { lagMs: () => number; maxLagMs: number; maxWaitMs: number };

  constructor(o: { lagMs: () => number; maxLagMs: number; maxWaitMs?: number }) {
    this.o = { maxWaitMs: 1000, ...o };
  }

  /** Resolves when a replay page may be read. */
  async admit(): Promise<void> {
    for (let waited = 0; waited < this.o.maxWaitMs && this.o.lagMs() > this.o.maxLagMs; waited += 25) await sleep(25);
  }
}
