// Per-account budget takes, batched: every take requested while one round trip is in flight goes out together in the
// next one, so the counter store sees one request per batch of events, not one per event.
import type { CounterStore, Grant, WindowLimit } from './counters.ts';

interface Pending {
  scope: string;
  want: number;
  resolve: (g: Grant) => void;
  reject: (err: unknown) => void;
}

export class BudgetBatcher {
  private queue: Pending[] = [];
  private inFlight = false;

  private readonly store: CounterStore;
  private readonly windows: WindowLimit[];
  constructor(
    store: CounterStore,
    windows: WindowLimit[],
  ) {
    this.store = store;
    this.windows = windows;
  }

  take(scope: string, want: number, now: number): Promise<Grant> {
    return new Promise((resolve, reject) => {
      this.queue.push({ scope, want, resolve, reject });
      if (!this.inFlight) void this.flush(now);
    });
  }

  private async flush(now: number): Promise<void> {
    this.inFlight = true;
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      try {
        const grants = await this.store.takeMany(batch.map((p) => ({ scope: p.scope, want: p.want })), this.windows, now);
        batch.forEach((p, i) => p.resolve(grants[i]!));
      } catch (err) {
        for (const p of batch) p.reject(err);
      }
      now = Date.now();
    }
    this.inFlight = false;
  }
}
