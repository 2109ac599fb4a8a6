// `relay collections backfill`: fills the collection index for repos the relay saw before it kept one, by walking each
// host's listRepos and asking describeRepo of every repo the relay knows there, at the per-host look-up rate. Progress
// is saved after every page (collection_backfills), so a run that dies resumes at the page it was on; each answer
// is applied like a look-up after a commit (replaceEntries: not over a newer commit), so it is safe beside ingest.
import type { Db } from '../storage/db.ts';
import { backfillProgress, knownOnHost, replaceEntries, saveBackfill } from '../storage/collections.ts';
import type { HostRow } from '../storage/hosts.ts';
import { TokenBucket } from '../core/token-bucket.ts';
import type { PdsClient } from './pds.ts';

export const BACKFILL_PAGE = 500;

export interface BackfillProgress {
  hostname: string;
  /** Repos described and applied, failed, and left alone (unknown here, inactive, or overtaken by a newer commit). */
  done: number;
  failed: number;
  skipped: number;
  finished: boolean;
}

export interface BackfillOptions {
  db: Db;
  pds: PdsClient;
  /** Requests per minute to the host. */
  perMinute: number;
  /** Hears of progress after every repo. */
  progress?: (p: BackfillProgress) => void;
  signal?: AbortSignal;
}

/** Backfills one host, from where an earlier run stopped (or from the start when it finished). */
export async function backfillHost(host: HostRow, o: BackfillOptions): Promise<BackfillProgress> {
  const saved = await backfillProgress(o.db, host.id);
  const resume = saved && saved.state === 'running';
  let cursor = resume ? saved.cursor : null;
  const p: BackfillProgress = { hostname: host.hostname, done: resume ? saved.done : 0, failed: resume ? saved.failed : 0, skipped: 0, finished: false };
  const perSecond = o.perMinute / 60;
  const bucket = new TokenBucket(perSecond, Math.max(2, Math.ceil(perSecond * 10)));
  await saveBackfill(o.db, { hostId: host.id, cursor, done: p.done, failed: p.failed, state: 'running' });
  for (;;) {
    if (o.signal?.aborted) return p;
    await bucket.take();
    const page = await o.pds.listRepos(host.hostname, cursor, BACKFILL_PAGE, o.signal);
    const known = await knownOnHost(o.db, host.id, page.repos.filter((r) => r.active).map((r) => r.did));
    for (const repo of page.repos) {
      if (o.signal?.aborted) return p;
      if (!known.has(repo.did)) {
        p.skipped++;
        continue;
      }
      await bucket.take();
      await bucket.take();
      try {
        const rev = await o.pds.latestRev(host.hostname, repo.did, o.signal);
        const collections = await o.pds.describeRepo(host.hostname, repo.did, o.signal);
        if (await replaceEntries(o.db, repo.did, collections, rev)) p.done++;
        else p.skipped++;
      } catch {
        // Interrupted: the page is not saved as done, so the next run asks again.
        if (o.signal?.aborted) return p;
        p.failed++;
      }
      o.progress?.(p);
    }
    cursor = page.cursor;
    p.finished = cursor === null || page.repos.length === 0;
    await saveBackfill(o.db, { hostId: host.id, cursor, done: p.done, failed: p.failed, state: p.finished ? 'finished' : 'running' });
    o.progress?.(p);
    if (p.finished) return p;
  }
}
