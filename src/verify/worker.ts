// A verification worker thread: runs batches of commit jobs and answers with their results in the same order (a
// batch's known-account jobs in a message of their own when first-seen ones follow them).
import { parentPort } from 'node:worker_threads';
import { createFastVerifier } from '../protocol/signature.ts';
import { checkCommitJob, type CommitCheck, type CommitJob } from './commit-check.ts';
import { unpackJobs } from './wire.ts';

/** One job's outcome: its check, or the message of the exception it threw. */
export type WireResult = CommitCheck | { error: string };

/**
 * A batch of jobs, packed by packJobs. Its first `urgent` jobs (known accounts') are answered on their own when jobs
 * follow them (first-seen accounts'), so their results do not wait for the rest of the batch.
 */
export interface WireBatch {
  id: number;
  buffer: ArrayBuffer;
  urgent: number;
}

/**
 * Results of a batch's jobs from `from` on, in job order, as JSON: cloning one string costs far less than cloning an
 * object per job.
 */
export interface WireResults {
  id: number;
  from: number;
  json: string;
}

const port = parentPort!;
const signatures = createFastVerifier();

function run(job: CommitJob): WireResult {
  try {
    return checkCommitJob(job, signatures);
  } catch (err) {
    return { error: (err as Error).stack ?? String(err) };
  }
}

port.on('message', (batch: WireBatch) => {
  const jobs = unpackJobs(batch.buffer);
  let from = 0;
  if (batch.urgent > 0 && batch.urgent < jobs.length) {
    const urgent = jobs.slice(0, batch.urgent).map(run);
    port.postMessage({ id: batch.id, from, json: JSON.stringify(urgent) } satisfies WireResults);
    from = batch.urgent;
  }
  const results = (from === 0 ? jobs : jobs.slice(from)).map(run);
  port.postMessage({ id: batch.id, from, json: JSON.stringify(results) } satisfies WireResults);
});
