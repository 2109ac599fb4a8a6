// Per-event work run concurrently across accounts and one at a time within one account, each result handed on as
// soon as its work is done. An account's results come out in its own order (its next event's work starts only once
// the previous result is out); different accounts' results may pass each other, so an account that waits (for its
// identity, say) holds up no other account. The host's cursor is kept right by the pipeline's watermark
// (host-pipeline.ts), not by this order.

export class AccountChains<R> {
  private readonly tails = new Map<string, Promise<unknown>>();
  private running = 0;
  private readonly done: (result: R) => void;

  constructor(done: (result: R) => void) {
    this.done = done;
  }

  /** Whether the account has work submitted and not yet done: new work for it waits. */
  busy(key: string): boolean {
    return this.tails.has(key);
  }

  /** Work submitted and not yet done. */
  get pending(): number {
    return this.running;
  }

  /**
   * Runs `work` after every earlier task of the same `key` (an account DID). `onError` turns an exception into a
   * result, so one bad event cannot wedge its account.
   */
  push(key: string, work: () => Promise<R> | R, onError: (err: unknown) => R): void {
    this.running++;
    const prev = this.tails.get(key);
    const run = prev ? prev.then(work) : Promise.resolve().then(work);
    const tail = run.then(
      (result) => this.finish(result),
      (err: unknown) => this.finish(onError(err)),
    );
    this.tails.set(key, tail);
    void tail.finally(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
  }

  private finish(result: R): void {
    this.running--;
    this.done(result);
  }
}
