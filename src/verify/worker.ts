// A verification worker thread: runs batches of commit jobs and answers with their results in the same order.
import { parentPort } from 'node:worker_threads';
import { createFastVerifier } from '../protocol/signature.ts';
import { checkCommitJob, type CommitCheck } from './commit-check.ts';
import { unpackJobs } from './wire.ts';

/** One job's outcome: its check, or the message of the exception it threw. */
export type WireResult = CommitCheck | { error: string };

/** A batch of jobs, packed by packJobs. */
export interface WireBatch {
  id: number;
  buffer: ArrayBuffer;
}

/** Results of a batch, in job order, as JSON: cloning one string costs far less than cloning an object per job. */
export interface WireResults {
  id: number;
  json: string;
}

const port = parentPort!;
const signatures = createFastVerifier();

port.on('message', (batch: WireBatch) => {
  const results = unpackJobs(batch.buffer).map((job): WireResult => {
    try {
      return checkCommitJob(job, signatures);
    } catch (err) {
      return { error: (err as Error).stack ?? String(err) };
    }
  });
  port.postMessage({ id: batch.id, json: JSON.stringify(results) } satisfies WireResults);
});
