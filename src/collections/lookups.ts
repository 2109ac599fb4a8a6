// PDS look-ups for the collection index: after a batch commits, the accounts whose changes it could not settle (a
// delete whose commit proof does not show whether the collection still has records, a #sync, a move to another host)
// are described by their PDS, at a polite rate per host, off the ingest path: ingest never waits for one.
import type { Logger } from 'pino';
import type { Db } from '../storage/db.ts';
import { replaceEntries } from '../storage/collections.ts';
import type { SequencerItem } from '../core/events.ts';
import { TokenBucket } from '../core/token-bucket.ts';
import type { RelayMetrics } from '../metrics.ts';
import type { PdsClient } from './pds.ts';

export interface CollectionLookupsOptions {
  db: Db;
  pds: PdsClient;
  /** The hostname of a host id (null: unknown, the look-up is dropped). */
  hostname: (hostId: number) => Promise<string | null>;
  /** Requests per minute to one host (a look-up is two). */
  perMinute: number;
  metrics: RelayMetrics;
  log: Logger;
  /** Accounts waiting at most, across hosts; more are dropped and counted. */
  maxQueued?: number;
  /** Times a look-up overtaken by a newer commit is made again. */
  maxAttempts?: number;
  /** Hears of each account whose entries a look-up replaced. */
  applied?: (did: string) => void;
}

interface HostQueue {
  bucket: TokenBucket;
  dids: string[];
  running: Promise<void> | null;
}

export class CollectionLookups {
  private readonly hosts = new Map<number, HostQueue>();
  /** Queued accounts and their attempts so far: an account waits once, however many events asked for it. */
  private readonly queued = new Map<string, number>();
  private stopped = false;
  /** Ends the requests in flight when the relay stops. */
  private readonly abort = new AbortController();
  private readonly o: CollectionLookupsOptions;

  constructor(o: CollectionLookupsOptions) {
    this.o = o;
  }

  /** Hears of each committed batch: queues the accounts whose index changes it left unsettled. */
  committed(items: readonly SequencerItem[]): void {
    for (const item of items) {
      const c = item.account?.collections;
      if (c && (c.unknown.length > 0 || c.describe)) this.request(item.account!.did, item.account!.hostId);
    }
  }

  request(did: string, hostId: number, attempt = 0): void {
    if (this.stopped || this.queued.has(did)) return;
    if (this.queued.size >= (this.o.maxQueued ?? 100_000)) {
      this.o.metrics.collectionLookups.inc({ outcome: 'dropped' });
      return;
    }
    let q = this.hosts.get(hostId);
    if (!q) {
      const perSecond = this.o.perMinute / 60;
      q = { bucket: new TokenBucket(perSecond, Math.max(2, Math.ceil(perSecond * 10))), dids: [], running: null };
      this.hosts.set(hostId, q);
    }
    this.queued.set(did, attempt);
    q.dids.push(did);
    this.o.metrics.collectionLookupsQueued.set(this.queued.size);
    q.running ??= this.run(hostId, q).finally(() => {
      q.running = null;
    });
  }

  get size(): number {
    return this.queued.size;
  }

  /** Resolves once nothing is queued or being looked up (tests). */
  async idle(): Promise<void> {
    while (!this.stopped) {
      const running = [...this.hosts.values()].flatMap((q) => (q.running ? [q.running] : []));
      if (running.length === 0) return;
      await Promise.all(running);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    await Promise.all([...this.hosts.values()].flatMap((q) => (q.running ? [q.running] : [])));
  }

  private async run(hostId: number, q: HostQueue): Promise<void> {
    const hostname = await this.o.hostname(hostId).catch(() => null);
    while (q.dids.length > 0 && !this.stopped) {
      const did = q.dids.shift()!;
      const attempt = this.queued.get(did) ?? 0;
      // Off the queue before asking: an event that comes meanwhile asks again, after this answer.
      this.queued.delete(did);
      this.o.metrics.collectionLookupsQueued.set(this.queued.size);
      if (!hostname) {
        this.o.metrics.collectionLookups.inc({ outcome: 'failed' });
        continue;
      }
      await q.bucket.take();
      await q.bucket.take();
      if (this.stopped) return;
      await this.lookUp(hostId, hostname, did, attempt);
    }
  }

  private async lookUp(hostId: number, hostname: string, did: string, attempt: number): Promise<void> {
    const { pds, db, metrics, log } = this.o;
    try {
      // The rev first: the description is at least that new, so it may be applied unless a newer commit is in.
      const rev = await pds.latestRev(hostname, did, this.abort.signal);
      const collections = await pds.describeRepo(hostname, did, this.abort.signal);
      if (await replaceEntries(db, did, collections, rev)) {
        this.o.applied?.(did);
        metrics.collectionLookups.inc({ outcome: 'applied' });
        return;
      }
      metrics.collectionLookups.inc({ outcome: 'stale' });
      if (attempt + 1 < (this.o.maxAttempts ?? 3)) this.request(did, hostId, attempt + 1);
    } catch (err) {
      metrics.collectionLookups.inc({ outcome: 'failed' });
      log.debug({ err, did, host: hostname }, 'collection look-up failed');
    }
  }
}
