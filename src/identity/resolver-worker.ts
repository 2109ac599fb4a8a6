// The DID resolver's thread: fetches the documents the main thread asks for and answers in batches.
import { parentPort, workerData } from 'node:worker_threads';
import { IdentityError } from './did-doc.ts';
import { createDidResolver, type DidResolverOptions, type ResolvedDocument } from './resolver.ts';

/** Requests from the main thread: DIDs by request id. */
export interface ResolveRequests {
  ids: number[];
  dids: string[];
}

/** Answers: a document read, or the error's parts (an IdentityError does not survive cloning as one). */
export type ResolveAnswer =
  | { id: number; resolved: ResolvedDocument }
  | { id: number; error: { reason: IdentityError['reason']; message: string; retryAfterMs?: number } };

const port = parentPort!;
const resolver = createDidResolver(workerData as DidResolverOptions);
let answers: ResolveAnswer[] = [];

// Answers ready in the same turn go back in one message: a message costs the main thread a wake-up of its own.
function answer(a: ResolveAnswer): void {
  if (answers.length === 0) setImmediate(() => {
    port.postMessage(answers);
    answers = [];
  });
  answers.push(a);
}

port.on('message', ({ ids, dids }: ResolveRequests) => {
  dids.forEach((did, i) => {
    const id = ids[i]!;
    resolver.resolve(did).then(
      (resolved) => answer({ id, resolved }),
      (err: unknown) => {
        const e = err instanceof IdentityError ? err : new IdentityError('resolution_failed', String(err));
        answer({ id, error: { reason: e.reason, message: e.message, ...(e.retryAfterMs === undefined ? {} : { retryAfterMs: e.retryAfterMs }) } });
      },
    );
  });
});
