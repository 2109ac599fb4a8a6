// Runs per-event work concurrently across accounts and serially within one account, and releases the results in
// upstream order. A host's cursor may only pass an event once every earlier event of that host is finished, so the
// output order is the input order even when a later account's work finishes first.

interface Task<R> {
  settled: boolean;
  result?: R;
}

export class OrderedPipeline<R> {
  private readonly queue: Task<R>[] = [];
  private head = 0;
  private readonly tails = new Map<string, Promise<unknown>>();

  private readonly release: (result: R) => void;
  constructor(release: (result: R) => void) {
    this.release = release;
  }

  /** Events submitted and not yet released. */
  get pending(): number {
    return this.queue.length - this.head;
  }

  /**
   * Schedules `work` after every earlier task of the same `key` (an account DID). `onError` turns an exception
   * into a result, so one bad event cannot wedge its host.
   */
  push(key: string, work: () => Promise<R> | R, onError: (err: unknown) => R): void {
    const task: Task<R> = { settled: false };
    this.queue.push(task);
    const prev = this.tails.get(key);
    const run = prev ? prev.then(work) : Promise.resolve().then(work);
    const tail = run.then(
      (result) => this.settle(task, result),
      (err: unknown) => this.settle(task, onError(err)),
    );
    this.tails.set(key, tail);
    void tail.finally(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
  }

  private settle(task: Task<R>, result: R): void {
    task.settled = true;
    task.result = result;
    while (this.head < this.queue.length && this.queue[this.head]!.settled) {
      const done = this.queue[this.head]!;
      this.head++;
      this.release(done.result as R);
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
  }
}
