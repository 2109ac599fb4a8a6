// How far behind live ingest is in this process: the time events take from passing their host's quota to being
// handed to the sequencer (verification and the account stages, with their queues), as a moving average, and how
// many events a second pass. Readers catching up from the log yield to ingest while it lags
// (firehose/replay-gate.ts): on a small machine their PostgreSQL reads and writes would otherwise starve
// verification, and live delivery would fall behind by seconds; the rate bounds how much they yield.
export class IngestLag {
  private average = 0;
  private lastAt = -Infinity;
  private readonly now: () => number;
  /** Events counted since `windowAt`, and the rate of the last whole window. */
  private count = 0;
  private windowAt: number;
  private rate = 0;

  constructor(now: () => number = () => performance.now()) {
    this.now = now;
    this.windowAt = now();
  }

  note(ms: number): void {
    // One event in twenty moves it: a few slow first-seen accounts do not, a backlog does.
    this.average += (ms - this.average) / 20;
    this.lastAt = this.now();
    this.roll(this.lastAt);
    this.count++;
  }

  /** The average, or 0 when nothing passed for a second (ingest is idle: nothing to yield to). */
  lagMs(): number {
    return this.now() - this.lastAt > 1000 ? 0 : this.average;
  }

  /** Events per second over the last whole second; 0 when nothing passed for a second. */
  eventsPerSecond(): number {
    const now = this.now();
    this.roll(now);
    return now - this.lastAt > 1000 ? 0 : this.rate;
  }

  private roll(now: number): void {
    const span = now - this.windowAt;
    if (span < 1000) return;
    // A window that ended more than a second ago says nothing about now.
    this.rate = span < 2000 ? (this.count * 1000) / span : 0;
    this.count = 0;
    this.windowAt = now;
  }
}
