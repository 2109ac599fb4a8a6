// Identity lookups for verification: a bounded LRU with stale-while-revalidate, negative caching, one request per
// DID at a time, a cap on requests in flight per directory (enough to hide the PLC directory's latency, small for
// one did:web host), a pause for a directory that refuses (429) or fails, rate-limited forced refreshes, and a
// persistent store consulted before the network (in batches) so a restart does not storm the directory.
import { Batcher } from '../core/batcher.ts';
import { IdentityError, parseDidDocument, type Identity } from './did-doc.ts';
import type { DidResolver } from './resolver.ts';

/** A document to keep, as the JSON text it came as. */
export interface StoredIdentity {
  did: string;
  json: string;
  resolvedAt: number;
}

/** Where resolved documents are kept across restarts (storage/identities.ts). */
export interface IdentityStore {
  /** One answer per DID, in order (null: none stored). */
  loadMany(dids: string[]): Promise<Array<{ doc: unknown; resolvedAt: number } | null>>;
  saveMany(entries: StoredIdentity[]): Promise<void>;
}

export type RefreshReason = 'identity_event' | 'signature_failure' | 'host_mismatch' | 'status_change';

interface Entry {
  identity?: Identity;
  error?: IdentityError;
  at: number;
}

/** Which directory answers for a DID: the PLC directory, or the did:web host itself. */
export function directoryOf(did: string): string {
  return did.startsWith('did:web:') ? `web:${did.slice('did:web:'.length).split(':')[0]}` : 'plc';
}

/** Requests to one directory: in flight at once, and a pause after it refused or failed (on the monotonic clock). */
interface Directory {
  limit: number;
  active: number;
  waiting: Array<() => void>;
  pausedUntil: number;
  failures: number;
}

export interface IdentityCacheOptions {
  resolver: DidResolver;
  store?: IdentityStore;
  maxEntries?: number;
  staleAfterMs?: number;
  expireAfterMs?: number;
  errorTtlMs?: number;
  /** Resolutions in flight at once per directory: the PLC directory, and each did:web host. */
  concurrency?: { plc: number; web: number };
  refreshMinIntervalMs?: number;
  now?: () => number;
  onError?: (did: string, err: unknown) => void;
}

/** Failures that say nothing about the DID: the directory was slow, down or refused us for now. */
export const TRANSIENT = new Set(['timeout', 'resolution_failed', 'rate_limited']);

/** Heap bytes one cached identity takes (DID, handle, parsed key, PDS): 907 measured by `npm run bench memory` on Node 24. */
export const IDENTITY_ENTRY_BYTES = 900;

/** Longest pause of a directory that keeps failing (without a Retry-After of its own). */
const MAX_PAUSE_MS = 30_000;

export class IdentityCache {
  private readonly entries = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<Identity>>();
  private readonly lastForced = new Map<string, number>();
  private readonly directories = new Map<string, Directory>();
  private readonly loads: Batcher<string, { doc: unknown; resolvedAt: number } | null> | null;
  private readonly saves: Batcher<StoredIdentity, void> | null;
  private readonly o: Required<Omit<IdentityCacheOptions, 'store' | 'onError'>> & Pick<IdentityCacheOptions, 'store' | 'onError'>;
  readonly counters = { hits: 0, misses: 0, staleHits: 0, resolutions: 0, errors: 0, storeHits: 0, pauses: 0 };

  constructor(opts: IdentityCacheOptions) {
    this.o = {
      maxEntries: 100_000,
      staleAfterMs: 3_600_000,
      expireAfterMs: 86_400_000,
      errorTtlMs: 120_000,
      concurrency: { plc: 256, web: 4 },
      refreshMinIntervalMs: 60_000,
      now: Date.now,
      ...opts,
    };
    const store = opts.store;
    // First-seen accounts come in bursts: their stored documents are read, and new ones written, many per round trip.
    this.loads = store ? new Batcher({ run: (dids) => store.loadMany(dids), maxInFlight: 4 }) : null;
    this.saves = store
      ? new Batcher<StoredIdentity, void>({
          run: async (entries) => {
            await store.saveMany(entries);
            return entries.map(() => undefined);
          },
        })
      : null;
  }

  /** Directories paused now after refusing or failing requests (the PLC directory as 'plc', did:web hosts as 'web:…'). */
  paused(): string[] {
    const now = performance.now();
    return [...this.directories].filter(([, d]) => d.pausedUntil > now).map(([name]) => name);
  }

  /** The identity held in memory and not expired, without resolving or counting a look-up; null otherwise. */
  peek(did: string): Identity | null {
    const entry = this.entries.get(did);
    return entry?.identity && this.o.now() - entry.at < this.o.expireAfterMs ? entry.identity : null;
  }

  /**
   * What `get` answers at once from memory (counted, and refreshed behind when stale, as `get` does); null when it
   * would throw or wait. The verify path's known accounts take it without an async call.
   */
  hit(did: string): Identity | null {
    const entry = this.entries.get(did);
    if (!entry?.identity) return null;
    const age = this.o.now() - entry.at;
    if ((entry.error && age < this.o.errorTtlMs) || age >= this.o.expireAfterMs) return null;
    this.touch(did, entry);
    if (age >= this.o.staleAfterMs) {
      this.counters.staleHits++;
      void this.resolve(did).catch(() => {});
    } else {
      this.counters.hits++;
    }
    return entry.identity;
  }

  async get(did: string): Promise<Identity> {
    const hit = this.hit(did);
    if (hit) return hit;
    const entry = this.entries.get(did);
    if (entry?.error && this.o.now() - entry.at < this.o.errorTtlMs) {
      this.counters.hits++;
      throw entry.error;
    }
    this.counters.misses++;
    return this.resolve(did, true);
  }

  /** Re-resolves now, at most once per interval per DID; null when rate-limited. */
  async refresh(did: string, _reason: RefreshReason): Promise<Identity | null> {
    const now = this.o.now();
    const last = this.lastForced.get(did);
    if (last !== undefined && now - last < this.o.refreshMinIntervalMs) return null;
    this.lastForced.set(did, now);
    if (this.lastForced.size > this.o.maxEntries) this.lastForced.delete(this.lastForced.keys().next().value as string);
    return this.resolve(did);
  }

  /** Forgets what we know (an #identity event) and re-resolves from the network, not the store. */
  purge(did: string): void {
    this.entries.delete(did);
    void this.resolve(did).catch(() => {});
  }

  get size(): number {
    return this.entries.size;
  }

  private touch(did: string, entry: Entry): void {
    this.entries.delete(did);
    this.entries.set(did, entry);
    while (this.entries.size > this.o.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
  }

  private resolve(did: string, useStore = false): Promise<Identity> {
    let p = this.inflight.get(did);
    if (!p) {
      p = this.doResolve(did, useStore).finally(() => this.inflight.delete(did));
      this.inflight.set(did, p);
    }
    return p;
  }

  private async doResolve(did: string, useStore: boolean): Promise<Identity> {
    if (useStore && this.loads) {
      const stored = await this.loads.submit(did).catch(() => null);
      if (stored && this.o.now() - stored.resolvedAt < this.o.expireAfterMs) {
        try {
          const identity = parseDidDocument(did, stored.doc);
          this.counters.storeHits++;
          this.touch(did, { identity, at: stored.resolvedAt });
          if (this.o.now() - stored.resolvedAt >= this.o.staleAfterMs) void this.resolve(did).catch(() => {});
          return identity;
        } catch {
          // A stored document that no longer parses is resolved afresh.
        }
      }
    }
    const directory = this.directory(did);
    await this.slot(directory);
    const previous = this.entries.get(did)?.identity;
    try {
      this.counters.resolutions++;
      const { identity, json } = await this.o.resolver.resolve(did);
      directory.failures = 0;
      const at = this.o.now();
      this.touch(did, { identity, at });
      // Written behind: the account's events need not wait for the store.
      this.saves?.submit({ did, json, resolvedAt: at }).catch((err: unknown) => this.o.onError?.(did, err));
      return identity;
    } catch (err) {
      this.counters.errors++;
      const error = err instanceof IdentityError ? err : new IdentityError('resolution_failed', String(err));
      if (TRANSIENT.has(error.reason)) {
        this.pause(directory, error.retryAfterMs);
        // A passing failure: keep serving what we knew, and do not remember the failure.
        if (previous) return previous;
        throw error;
      }
      directory.failures = 0;
      this.touch(did, { error, at: this.o.now() });
      throw error;
    } finally {
      this.release(directory);
    }
  }

  private directory(did: string): Directory {
    const name = directoryOf(did);
    let d = this.directories.get(name);
    if (!d) {
      d = { limit: name === 'plc' ? this.o.concurrency.plc : this.o.concurrency.web, active: 0, waiting: [], pausedUntil: 0, failures: 0 };
      this.directories.set(name, d);
    }
    return d;
  }

  /** A directory that refused or failed is left alone for a while: as long as it asked, or doubling up to 30 s. */
  private pause(d: Directory, retryAfterMs: number | undefined): void {
    d.failures++;
    this.counters.pauses++;
    const ms = retryAfterMs ?? Math.min(MAX_PAUSE_MS, 250 * 2 ** (d.failures - 1));
    d.pausedUntil = Math.max(d.pausedUntil, performance.now() + ms);
  }

  private async slot(d: Directory): Promise<void> {
    if (d.active < d.limit) d.active++;
    else await new Promise<void>((resolve) => d.waiting.push(resolve));
    // Requests that find their directory paused wait out the pause, holding their place.
    for (let wait = d.pausedUntil - performance.now(); wait > 0; wait = d.pausedUntil - performance.now()) {
      await new Promise((r) => setTimeout(r, wait));
    }
  }

  private release(d: Directory): void {
    const next = d.waiting.shift();
    if (next) next();
    else d.active--;
  }
}
