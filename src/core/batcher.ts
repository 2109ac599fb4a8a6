// Many small requests as few round trips: requests made while a batch waits for its turn go out together. Used
// where each event would otherwise cost its own round trip (account state and identity loads, identity saves,
// account budget takes).

export interface BatcherOptions<Req, Res> {
  /** Answers a batch, one result per request, in order. */
  run: (batch: Req[]) => Promise<Res[]>;
  /** Requests per round trip at most. */
  maxBatch?: number;
  /** Round trips in flight at once; more requests wait and go out together when one returns. */
  maxInFlight?: number;
}

interface Waiting<Req, Res> {
  req: Req;
  resolve: (res: Res) => void;
  reject: (err: unknown) => void;
}

export class Batcher<Req, Res> {
  private queue: Waiting<Req, Res>[] = [];
  private inFlight = 0;
  private scheduled = false;
  private readonly o: Required<BatcherOptions<Req, Res>>;

  constructor(o: BatcherOptions<Req, Res>) {
    this.o = { maxBatch: 500, maxInFlight: 1, ...o };
  }

  submit(req: Req): Promise<Res> {
    return new Promise((resolve, reject) => {
      this.queue.push({ req, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.o.maxInFlight || this.queue.length === 0) return;
    this.scheduled = true;
    // Everything asked for in this turn of the event loop (a socket read holds many frames) goes in one batch.
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    const batch = this.queue.splice(0, this.o.maxBatch);
    if (batch.length === 0) return;
    this.inFlight++;
    try {
      const results = await this.o.run(batch.map((w) => w.req));
      batch.forEach((w, i) => w.resolve(results[i]!));
    } catch (err) {
      for (const w of batch) w.reject(err);
    } finally {
      this.inFlight--;
      this.schedule();
    }
  }
}
