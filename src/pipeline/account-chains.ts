// Per-event work run concurrently across accounts and one at a time within one account, each result handed on as
// soon as its work is done. An account's results come out in its own order (its next event's work starts only once
// the previous result is out); different accounts' results may pass each other, so an account that waits (for its
// identity, say) holds up no other account. The host's cursor is kept right by the pipeline's watermark
// (host-pipeline.ts), not by this order.
//
// Every event in flight holds what is queued for it until it is committed, and under load that is thousands of events
// surviving the young generation's collections: a task is one object and an account's backlog one array, where a
// chain of promises cost each event five promises and as many closures (docs/perf-journal.md, session 25).

/** One event's work, and what its failure turns into (so one bad event cannot wedge its account). */
export interface ChainTask<R> {
  run(): Promise<R> | R;
  failed(err: unknown): R;
}

export class AccountChains<R> {
  /** Accounts with work running: the tasks waiting behind it, in order. */
  private readonly backlog = new Map<string, Array<ChainTask<R>>>();
  private readonly done: (result: R) => void;

  constructor(done: (result: R) => void) {
    this.done = done;
  }

  /** Whether the account has work submitted and not yet done: new work for it waits. */
  busy(key: string): boolean {
    return this.backlog.has(key);
  }

  /** Runs `task` after every earlier task of the same `key` (an account DID), never within this call. */
  push(key: string, task: ChainTask<R>): void {
    const waiting = this.backlog.get(key);
    if (waiting) {
      waiting.push(task);
      return;
    }
    this.backlog.set(key, []);
    this.start(key, task);
  }

  private start(key: string, task: ChainTask<R>): void {
    Promise.resolve(task)
      .then(runTask)
      .then(
        (result) => this.finish(key, result),
        (err: unknown) => this.finish(key, task.failed(err)),
      );
  }

  private finish(key: string, result: R): void {
    this.done(result);
    const waiting = this.backlog.get(key)!;
    const next = waiting.shift();
    if (next) this.start(key, next);
    else this.backlog.delete(key);
  }
}

function runTask<R>(task: ChainTask<R>): Promise<R> | R {
  return task.run();
}
