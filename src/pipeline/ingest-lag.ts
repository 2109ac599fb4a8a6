// How far behind live ingest is in this process: the time events take from passing their host's quota to being
// handed to the sequencer (verification and the account stages, with their queues), as a moving average. Readers
// catching up from the log yield to ingest while it grows (firehose/replay-gate.ts): on a small machine their
// PostgreSQL reads and writes would otherwise starve verification, and live delivery would fall behind by seconds.
export class IngestLag {
  private average = 0;
  private lastAt = -Infinity;
  private readonly now: () => number;

  constructor(now: () => number = () => performance.now()) {
    this.now = now;
  }

  note(ms: number): void {
    // One event in twenty moves it: a few slow first-seen accounts do not, a backlog does.
    this.average += (ms - this.average) / 20;
    this.lastAt = this.now();
  }

  /** The average, or 0 when nothing passed for a second (ingest is idle: nothing to yield to). */
  lagMs(): number {
    return this.now() - this.lastAt > 1000 ? 0 : this.average;
  }
}
