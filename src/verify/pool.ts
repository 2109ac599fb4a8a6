// A pool of worker threads for commit jobs, so CAR/CID checks, signatures and MST inversion use every core instead
// of the event loop's one. Jobs queued in one turn of the event loop go out together, one transferred buffer per
// worker, so the cost of crossing threads is paid per batch rather than per commit. Per-account order is kept by the
// caller, which awaits each account's job before submitting the next.
//
// A worker that dies is replaced and its unanswered jobs are run again; a job that was in flight at two deaths runs
// on the main thread instead, so no event is lost or wedged. If workers cannot start at all, every job runs inline.
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { Counter } from 'prom-client';
import type { SignatureVerifier } from '../protocol/signature.ts';
import { checkCommitJob, type CheckPriority, type CommitCheck, type CommitChecker, type CommitJob } from './commit-check.ts';
import { packJobs } from './wire.ts';
import type { WireBatch, WireResult, WireResults } from './worker.ts';

const WORKER_ENTRY = new URL('./worker.ts', import.meta.url);
/** Deaths a job may see in flight before it runs on the main thread. */
const MAX_ATTEMPTS = 2;
/** Batches sent to one worker and not answered yet, at most. */
const MAX_BATCHES_PER_WORKER = 2;
/** Workers that die before answering anything, in a row, before the pool gives up on threads. */
const MAX_FAILED_STARTS = 3;
/** The share of a batch kept for `later` jobs while both kinds wait, so they cannot starve. */
const LATER_SHARE = 0.25;

export interface VerifyPoolOptions {
  /** Worker threads (at least 1). */
  size: number;
  /** Used for jobs run on the main thread. */
  signatures: SignatureVerifier;
  log: Logger;
  /** Counts workers that died unexpectedly. */
  exits?: Counter;
  /** Most jobs in one message to a worker. */
  maxBatch?: number;
}

interface Pending {
  job: CommitJob;
  resolve: (r: CommitCheck) => void;
  reject: (err: Error) => void;
  attempts: number;
}

/** A batch sent to a worker: its jobs, in order, and how many of them are answered so far (answers come in order). */
interface InFlight {
  jobs: Pending[];
  done: number;
}

interface Slot {
  worker: Worker;
  inflight: Map<number, InFlight>;
  load: number;
  answered: boolean;
}

/** The jobs a worker has been sent and not answered yet. */
function unanswered(slot: Slot): Pending[] {
  return [...slot.inflight.values()].flatMap((b) => b.jobs.slice(b.done));
}

export class VerifyPool implements CommitChecker {
  private readonly slots: Slot[] = [];
  private queue: Pending[] = [];
  private later: Pending[] = [];
  private flushScheduled = false;
  private nextId = 1;
  private failedStarts = 0;
  private inline = false;
  private closed = false;
  private readonly maxBatch: number;

  private readonly o: VerifyPoolOptions;
  constructor(o: VerifyPoolOptions) {
    this.o = o;
    if (o.size < 1) throw new Error('a verify pool needs at least one worker');
    this.maxBatch = o.maxBatch ?? 64;
  }

  /** Live worker threads (started on first use). */
  get workers(): readonly Worker[] {
    return this.slots.map((s) => s.worker);
  }

  check(job: CommitJob, priority: CheckPriority = 'now'): Promise<CommitCheck> {
    if (this.closed || this.inline) return Promise.resolve(checkCommitJob(job, this.o.signatures));
    return new Promise((resolve, reject) => {
      (priority === 'later' ? this.later : this.queue).push({ job, resolve, reject, attempts: 0 });
      this.scheduleFlush();
    });
  }

  /** Stops the workers; jobs not answered yet run on the main thread. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const left = [...this.queue, ...this.later, ...this.slots.flatMap(unanswered)];
    this.queue = [];
    this.later = [];
    const slots = this.slots.splice(0);
    await Promise.all(slots.map((s) => s.worker.terminate()));
    for (const p of left) this.runInline(p);
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // Everything submitted in this turn of the event loop (a socket read holds many frames) goes in one batch.
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.closed) return;
    while (this.slots.length < this.o.size) this.slots.push(this.spawn());
    // A worker gets a new batch only while it has fewer than two: one to run, one ready behind it. Jobs arriving
    // meanwhile wait here and go out together when a batch comes back, so batches stay large under load.
    while (this.queue.length + this.later.length > 0) {
      let slot: Slot | null = null;
      for (const s of this.slots) if (s.inflight.size < MAX_BATCHES_PER_WORKER && (slot === null || s.load < slot.load)) slot = s;
      if (slot === null) return;
      const chunk = Math.min(this.maxBatch, Math.ceil((this.queue.length + this.later.length) / this.slots.length));
      const nLater = Math.min(this.later.length, Math.max(chunk - this.queue.length, Math.max(1, Math.floor(chunk * LATER_SHARE))));
      const nNow = Math.min(this.queue.length, chunk - nLater);
      this.send(slot, [...this.queue.splice(0, nNow), ...this.later.splice(0, nLater)], nNow);
    }
  }

  private send(slot: Slot, batch: Pending[], urgent: number): void {
    const id = this.nextId++;
    slot.inflight.set(id, { jobs: batch, done: 0 });
    slot.load += batch.length;
    const wire: WireBatch = { id, buffer: packJobs(batch.map((p) => p.job)), urgent };
    slot.worker.postMessage(wire, [wire.buffer]);
  }

  private spawn(): Slot {
    const worker = new Worker(WORKER_ENTRY, { name: 'relay-verify' });
    worker.unref();
    const slot: Slot = { worker, inflight: new Map(), load: 0, answered: false };
    worker.on('message', (msg: WireResults) => this.onResults(slot, msg));
    worker.on('error', (err) => this.o.log.error({ err }, 'verification worker failed'));
    worker.on('exit', (code) => this.onExit(slot, code));
    return slot;
  }

  private onResults(slot: Slot, msg: WireResults): void {
    const batch = slot.inflight.get(msg.id);
    if (!batch || msg.from !== batch.done) return;
    const results = JSON.parse(msg.json) as WireResult[];
    batch.done += results.length;
    slot.load -= results.length;
    slot.answered = true;
    this.failedStarts = 0;
    results.forEach((r, i) => {
      const p = batch.jobs[msg.from + i]!;
      if ('error' in r) p.reject(new Error(`commit check failed in a worker: ${r.error}`));
      else p.resolve(r);
    });
    if (batch.done < batch.jobs.length) return;
    slot.inflight.delete(msg.id);
    if (this.queue.length + this.later.length > 0) this.scheduleFlush();
  }

  private onExit(slot: Slot, code: number): void {
    const i = this.slots.indexOf(slot);
    if (this.closed || i < 0) return;
    this.o.exits?.inc();
    const lost = unanswered(slot);
    this.o.log.error({ code, jobs: lost.length }, 'verification worker exited; replacing it and running its jobs again');
    this.slots.splice(i, 1);
    if (!slot.answered && ++this.failedStarts >= MAX_FAILED_STARTS) {
      this.o.log.error('verification workers keep dying before answering; verifying on the main thread from now on');
      this.inline = true;
      const rest = [...lost, ...this.queue, ...this.later, ...this.slots.flatMap(unanswered)];
      this.queue = [];
      this.later = [];
      for (const s of this.slots.splice(0)) void s.worker.terminate();
      for (const p of rest) this.runInline(p);
      return;
    }
    const again: Pending[] = [];
    for (const p of lost) {
      if (++p.attempts >= MAX_ATTEMPTS) this.runInline(p);
      else again.push(p);
    }
    if (again.length > 0) {
      this.queue.unshift(...again);
      this.scheduleFlush();
    }
  }

  private runInline(p: Pending): void {
    try {
      p.resolve(checkCommitJob(p.job, this.o.signatures));
    } catch (err) {
      p.reject(err as Error);
    }
  }
}
