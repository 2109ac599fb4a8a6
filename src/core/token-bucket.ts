// A token bucket for the relay's own outbound requests (DID resolution, crawl probes), so that nothing an upstream
// host or an anonymous caller does can make the relay hammer a third party faster than a fixed rate.

export class TokenBucket {
  private tokens: number;
  private last: number;

  private readonly perSecond: number;
  private readonly burst: number;
  private readonly now: () => number;
  constructor(
    perSecond: number,
    burst: number,
    now: () => number = () => performance.now(),
  ) {
    this.perSecond = perSecond;
    this.burst = burst;
    this.now = now;
    this.tokens = burst;
    this.last = now();
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.perSecond);
    this.last = t;
  }

  /** Takes a token if one is available now. */
  tryTake(): boolean {
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Milliseconds until a token will be available. */
  waitMs(): number {
    this.refill();
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) / this.perSecond) * 1000);
  }

  /**
   * Takes a token, waiting for it when the bucket is empty. Waiters borrow from the future (the count goes
   * negative), so they are served in arrival order at the bucket's rate.
   */
  async take(): Promise<void> {
    this.refill();
    this.tokens -= 1;
    if (this.tokens >= 0) return;
    const waitMs = Math.ceil((-this.tokens / this.perSecond) * 1000);
    await new Promise((resolve) => setTimeout(resolve, waitMs));
  }
}
