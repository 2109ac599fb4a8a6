// DID documents fetched on a thread of their own. In a burst of first-seen accounts the HTTP client's work (requests,
// socket writes, response parsing) was about a fifth of the main thread and came in long runs: every account a batch
// of state loads found unknown started its request in the same turn, holding up the sequencer and the other hosts'
// events behind it (docs/perf-journal.md, session 9). Each document is read there too (resolver.ts readDocument: the
// key's point check is a decompression), so the main thread gets the identity and the text to store. Rate limits and
// timeouts are the thread's resolver's own.
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { IdentityError } from './did-doc.ts';
import { createDidResolver, type DidResolver, type DidResolverOptions, type ResolvedDocument } from './resolver.ts';
import type { ResolveAnswer, ResolveRequests } from './resolver-worker.ts';

const WORKER_ENTRY = new URL('./resolver-worker.ts', import.meta.url);
/** Threads that die before answering anything, in a row, before resolving on the main thread instead. */
const MAX_FAILED_STARTS = 3;

interface Pending {
  resolve: (doc: ResolvedDocument) => void;
  reject: (err: IdentityError) => void;
}

export interface ThreadedDidResolver extends DidResolver {
  /** The live thread (started on first use). */
  readonly thread: Worker | null;
  close(): Promise<void>;
}

export function createThreadedDidResolver(opts: DidResolverOptions, log: Logger): ThreadedDidResolver {
  const pending = new Map<number, Pending>();
  let nextId = 0;
  let worker: Worker | null = null;
  let answered = false;
  let failedStarts = 0;
  let inline: DidResolver | null = null;
  let closed = false;
  let outbox: ResolveRequests = { ids: [], dids: [] };

  function spawn(): Worker {
    const w = new Worker(WORKER_ENTRY, { name: 'relay-did-resolver', workerData: opts });
    w.unref();
    answered = false;
    w.on('message', (answers: ResolveAnswer[]) => {
      answered = true;
      failedStarts = 0;
      for (const a of answers) {
        const p = pending.get(a.id);
        if (!p) continue;
        pending.delete(a.id);
        if ('resolved' in a) p.resolve(a.resolved);
        else p.reject(new IdentityError(a.error.reason, a.error.message, a.error.retryAfterMs));
      }
    });
    w.on('error', (err) => log.error({ err }, 'DID resolver thread failed'));
    w.on('exit', (code) => {
      if (worker === w) worker = null;
      if (closed) return;
      // What it was fetching is lost: those accounts' resolutions fail as a passing failure and are asked again.
      for (const p of pending.values()) p.reject(new IdentityError('resolution_failed', `the DID resolver thread exited (code ${code})`));
      pending.clear();
      log.error({ code }, 'DID resolver thread exited; a new one starts with the next request');
      if (!answered && ++failedStarts >= MAX_FAILED_STARTS) {
        log.error('DID resolver threads keep dying before answering; resolving on the main thread from now on');
        inline = createDidResolver(opts);
      }
    });
    return w;
  }

  // Requests made in the same turn go out in one message.
  function send(): void {
    const batch = outbox;
    outbox = { ids: [], dids: [] };
    if (closed) return;
    worker ??= spawn();
    worker.postMessage(batch);
  }

  return {
    get thread() {
      return worker;
    },
    resolve(did) {
      if (inline) return inline.resolve(did);
      const id = nextId++;
      return new Promise<ResolvedDocument>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        if (outbox.ids.length === 0) queueMicrotask(send);
        outbox.ids.push(id);
        outbox.dids.push(did);
      });
    },
    async close() {
      closed = true;
      for (const p of pending.values()) p.reject(new IdentityError('resolution_failed', 'the relay is stopping'));
      pending.clear();
      await worker?.terminate();
      worker = null;
    },
  };
}
