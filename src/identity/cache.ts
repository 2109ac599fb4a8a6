// Identity lookups for verification: a bounded LRU with stale-while-revalidate, negative caching, one request per
// DID at a time, a cap on requests in flight, rate-limited forced refreshes, and a persistent store consulted
// before the network so a restart does not storm the directory.
import { IdentityError, parseDidDocument, type Identity } from './did-doc.ts';
import type { DidResolver } from './resolver.ts';

export interface IdentityStore {
  load(did: string): Promise<{ doc: unknown; resolvedAt: number } | null>;
  save(did: string, doc: unknown, resolvedAt: number): Promise<void>;
}

export type RefreshReason = 'identity_event' | 'signature_failure' | 'host_mismatch' | 'status_change';

interface Entry {
  identity?: Identity;
  error?: IdentityError;
  at: number;
}

export interface IdentityCacheOptions {
  resolver: DidResolver;
  store?: IdentityStore;
  maxEntries?: number;
  staleAfterMs?: number;
  expireAfterMs?: number;
  errorTtlMs?: number;
  maxConcurrent?: number;
  refreshMinIntervalMs?: number;
  now?: () => number;
  onError?: (did: string, err: unknown) => void;
}

export const TRANSIENT = new Set(['timeout', 'resolution_failed']);

export class IdentityCache {
  private readonly entries = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<Identity>>();
  private readonly lastForced = new Map<string, number>();
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly o: Required<Omit<IdentityCacheOptions, 'store' | 'onError'>> & Pick<IdentityCacheOptions, 'store' | 'onError'>;
  readonly counters = { hits: 0, misses: 0, staleHits: 0, resolutions: 0, errors: 0, storeHits: 0 };

  constructor(opts: IdentityCacheOptions) {
    this.o = {
      maxEntries: 100_000,
      staleAfterMs: 3_600_000,
      expireAfterMs: 86_400_000,
      errorTtlMs: 120_000,
      maxConcurrent: 16,
      refreshMinIntervalMs: 60_000,
      now: Date.now,
      ...opts,
    };
  }

  async get(did: string): Promise<Identity> {
    const now = this.o.now();
    const entry = this.entries.get(did);
    if (entry) {
      const age = now - entry.at;
      if (entry.error && age < this.o.errorTtlMs) {
        this.counters.hits++;
        throw entry.error;
      }
      if (entry.identity && age < this.o.expireAfterMs) {
        this.touch(did, entry);
        if (age >= this.o.staleAfterMs) {
          this.counters.staleHits++;
          void this.resolve(did).catch(() => {});
        } else {
          this.counters.hits++;
        }
        return entry.identity;
      }
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
    if (useStore && this.o.store) {
      const stored = await this.o.store.load(did).catch(() => null);
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
    await this.slot();
    const previous = this.entries.get(did)?.identity;
    try {
      this.counters.resolutions++;
      const doc = await this.o.resolver.resolve(did);
      const identity = parseDidDocument(did, doc);
      const at = this.o.now();
      this.touch(did, { identity, at });
      await this.o.store?.save(did, doc, at).catch((err: unknown) => this.o.onError?.(did, err));
      return identity;
    } catch (err) {
      this.counters.errors++;
      const error = err instanceof IdentityError ? err : new IdentityError('resolution_failed', String(err));
      if (TRANSIENT.has(error.reason)) {
        // A passing network failure: keep serving what we knew, and do not remember the failure.
        if (previous) return previous;
        throw error;
      }
      this.touch(did, { error, at: this.o.now() });
      throw error;
    } finally {
      this.release();
    }
  }

  private async slot(): Promise<void> {
    if (this.active < this.o.maxConcurrent) {
      this.active++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active--;
  }
}
