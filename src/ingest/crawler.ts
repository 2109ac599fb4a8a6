// The crawler pool: one crawl per crawlable host that this process has claimed. Claims are PostgreSQL session
// advisory locks, so several relay processes split the hosts between them and a dead process's hosts are picked up
// by the others on their next scan. What a crawl is (a connection and its pipeline) is composed in relay.ts and
// handed in as `open`.
import type { Logger } from 'pino';
import type { Database } from '../storage/db.ts';
import { getHostById, hostsToCrawl, type HostRow } from '../storage/hosts.ts';
import { CRAWLED_STATUSES, type HostStatus } from '../core/hosts.ts';

/** A host being crawled by this process. */
export interface Crawl {
  start(): void;
  /** Resolves when what the crawl had taken in is handed on. */
  stop(): Promise<void>;
  readonly connected: boolean;
  /** The sequencer committed some of its events: backpressure may lift. */
  committed(): void;
}

export interface CrawlerOptions<C extends Crawl> {
  database: Database;
  log: Logger;
  scanIntervalMs: number;
  /** Starts crawling a host just claimed (not started yet). */
  open: (host: HostRow) => C;
  /** Every scan, with each host crawled here as just read, before anything new is claimed. */
  seen?: (host: HostRow, connected: boolean) => Promise<void>;
  /** A host is no longer crawled here. */
  closed?: (hostId: number) => void;
  /** After every scan, with the ids of the hosts crawled here. */
  scanned?: (hostIds: number[]) => Promise<void>;
}

export class Crawler<C extends Crawl = Crawl> {
  private readonly crawls = new Map<number, C>();
  /** The operator's last redial request (hosts.redial_at, ms) each crawl was opened after. */
  private readonly redials = new Map<number, number>();
  /** Crawls stopped whose events in flight are still being handed on: the host is not crawled again before. */
  private readonly stopping = new Map<number, Promise<void>>();
  private timer: NodeJS.Timeout | null = null;
  private scanning: Promise<void> | null = null;
  private rescan = false;
  private stopped = false;
  private readonly o: CrawlerOptions<C>;

  constructor(o: CrawlerOptions<C>) {
    this.o = o;
    // If the lock connection drops, this process can no longer prove it owns its hosts: let them go at once.
    o.database.onClaimsLost(() => {
      o.log.warn('host claims lost with the database lock connection; stopping crawls');
      for (const id of [...this.crawls.keys()]) this.close(id);
      this.kick();
    });
  }

  start(): void {
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.scanning;
    for (const id of [...this.crawls.keys()]) this.close(id);
    await Promise.all(this.stopping.values());
  }

  /** Host ids this process crawls. */
  get hostIds(): number[] {
    return [...this.crawls.keys()];
  }

  isConnected(hostId: number): boolean {
    return this.crawls.get(hostId)?.connected ?? false;
  }

  /** The crawl of a host, when this process crawls it. */
  crawlOf(hostId: number): C | undefined {
    return this.crawls.get(hostId);
  }

  /** The sequencer committed events of these hosts. */
  committed(hostIds: Iterable<number>): void {
    for (const id of hostIds) this.crawls.get(id)?.committed();
  }

  /** Scans the host table now (a host was admitted or changed). */
  kick(): void {
    if (this.stopped) return;
    if (this.scanning) {
      this.rescan = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.scanning = this.scan()
      .catch((err: unknown) => this.o.log.warn({ err }, 'host scan failed'))
      .finally(() => {
        this.scanning = null;
        if (this.stopped) return;
        if (this.rescan) {
          this.rescan = false;
          this.kick();
          return;
        }
        this.timer = setTimeout(() => this.kick(), this.o.scanIntervalMs);
      });
  }

  private close(hostId: number): void {
    const crawl = this.crawls.get(hostId);
    if (!crawl) return;
    const stopped = crawl.stop().finally(() => {
      if (this.stopping.get(hostId) === stopped) this.stopping.delete(hostId);
    });
    this.stopping.set(hostId, stopped);
    this.crawls.delete(hostId);
    this.redials.delete(hostId);
    this.o.closed?.(hostId);
  }

  /** Stops crawling a host now (banned, no longer crawlable) and releases its claim. */
  private async drop(hostId: number): Promise<void> {
    if (!this.crawls.has(hostId)) return;
    this.close(hostId);
    await this.o.database.release(hostId).catch(() => {});
  }

  private async scan(): Promise<void> {
    const { database } = this.o;
    const wanted = await hostsToCrawl(database.db);
    const wantedIds = new Set(wanted.map((h) => h.id));
    for (const id of [...this.crawls.keys()]) if (!wantedIds.has(id)) await this.drop(id);
    for (const host of wanted) {
      if (this.stopped) return;
      const crawl = this.crawls.get(host.id);
      // An operator asked for a redial now: the crawl starts afresh (a new connection, no backoff) from its cursor.
      if (crawl && (host.redialAt?.getTime() ?? 0) !== this.redials.get(host.id)) await this.drop(host.id);
      else if (crawl) {
        await this.o.seen?.(host, crawl.connected);
        continue;
      }
      await this.stopping.get(host.id);
      if (!(await database.tryClaim(host.id))) continue;
      // Re-read after claiming: another process may have advanced the cursor before releasing the host.
      const fresh = await getHostById(database.db, host.id);
      if (!fresh || !CRAWLED_STATUSES.includes(fresh.status as HostStatus)) {
        await database.release(host.id);
        continue;
      }
      const opened = this.o.open(fresh);
      this.crawls.set(host.id, opened);
      this.redials.set(host.id, fresh.redialAt?.getTime() ?? 0);
      opened.start();
    }
    await this.o.scanned?.(this.hostIds);
  }
}
