// How strictly each host crawled here is held to the Sync v1.1-only checks (prevData present, MST inversion): a
// PDS that has not upgraded must not have its repos frozen, and one that has must not stay unproven forever. In
// auto, a host is lenient until it has sent `ratchetAfter` commits that passed every Sync 1.1 check, then strict
// for good; operators may pin a host strict or lenient; RELAY_LENIENT waives the checks everywhere. Signatures, rev
// order, host authority, structure and size limits are always strict.
import { effectiveSyncMode, type SyncMode, type SyncModeSetting } from '../core/hosts.ts';
import type { Sync11Check } from '../core/rejections.ts';

/** What the verifier asks and tells about a host's strictness. */
export interface Strictness {
  /** Whether a commit of the host that fails a Sync v1.1-only check is let through (and counted). */
  lenient(hostId: number): boolean;
  /** A commit of the host passed every Sync v1.1 check (it carried a proof, and the proof held). */
  proven(hostId: number): void;
  /** A commit of the host failed `check` and was let through. */
  passedLeniently(hostId: number, check: Sync11Check): void;
}

/** Every host held to every check (benchmarks, and tests of other things). */
export const alwaysStrict: Strictness = { lenient: () => false, proven() {}, passedLeniently() {} };

/** A host's row, as far as strictness goes. */
export interface StrictnessRow {
  id: number;
  syncMode: string;
  syncProven: number;
  syncStrictSince: Date | null;
}

export interface StrictnessView {
  setting: SyncModeSetting;
  mode: SyncMode;
  /** Valid Sync 1.1 commits counted towards the ratchet (auto only), and how many turn it. */
  provenCommits: number;
  ratchetAfter: number;
  /** When auto turned strict. */
  strictSince: string | null;
  /** Commits let through by this process since it started crawling the host, per failed check. */
  lenientPasses: Partial<Record<Sync11Check, number>>;
}

export interface SyncStrictnessOptions {
  globalLenient: boolean;
  /** Valid Sync 1.1 commits after which an auto host turns strict. */
  ratchetAfter: number;
  /** Persists the count (every increment: there are few before the ratchet). */
  saveProven: (hostId: number, count: number) => void;
  /** Records that the host turned strict (once). */
  ratchet: (hostId: number) => void;
}

interface HostState {
  setting: SyncModeSetting;
  proven: number;
  strictSince: Date | null;
  passes: Partial<Record<Sync11Check, number>>;
}

const settingOf = (s: string): SyncModeSetting => (s === 'strict' || s === 'lenient' ? s : 'auto');

export class SyncStrictness implements Strictness {
  private readonly hosts = new Map<number, HostState>();
  private readonly o: SyncStrictnessOptions;

  constructor(o: SyncStrictnessOptions) {
    this.o = o;
  }

  /** The host's row as just read (a scan, a claim): its setting and ratchet as every process sees them. */
  update(row: StrictnessRow): void {
    const prev = this.hosts.get(row.id);
    this.hosts.set(row.id, {
      setting: settingOf(row.syncMode),
      // What this process counted may be ahead of the row (its writes are behind).
      proven: Math.max(row.syncProven, prev?.proven ?? 0),
      strictSince: row.syncStrictSince ?? prev?.strictSince ?? null,
      passes: prev?.passes ?? {},
    });
  }

  forget(hostId: number): void {
    this.hosts.delete(hostId);
  }

  private modeOf(h: HostState | undefined): SyncMode {
    // A host not read yet is held to the checks: it is read before its first event is verified.
    if (!h) return 'strict';
    return effectiveSyncMode({ syncMode: h.setting, syncStrictSince: h.strictSince }, this.o.globalLenient);
  }

  lenient(hostId: number): boolean {
    return this.modeOf(this.hosts.get(hostId)) === 'lenient';
  }

  proven(hostId: number): void {
    const h = this.hosts.get(hostId);
    if (!h || h.setting !== 'auto' || h.strictSince) return;
    h.proven++;
    if (h.proven >= this.o.ratchetAfter) {
      h.strictSince = new Date();
      this.o.ratchet(hostId);
    } else {
      this.o.saveProven(hostId, h.proven);
    }
  }

  passedLeniently(hostId: number, check: Sync11Check): void {
    const h = this.hosts.get(hostId);
    if (h) h.passes[check] = (h.passes[check] ?? 0) + 1;
  }

  /**
   * What operators and PDS admins are shown: the row (just written or read, so its setting is the newest), with what
   * this process counted when it crawls the host (its writes of the count and the ratchet may be behind).
   */
  view(row: StrictnessRow): StrictnessView {
    const mine = this.hosts.get(row.id);
    const h: HostState = {
      setting: settingOf(row.syncMode),
      proven: Math.max(row.syncProven, mine?.proven ?? 0),
      strictSince: row.syncStrictSince ?? mine?.strictSince ?? null,
      passes: mine?.passes ?? {},
    };
    return {
      setting: h.setting,
      mode: this.modeOf(h),
      provenCommits: h.proven,
      ratchetAfter: this.o.ratchetAfter,
      strictSince: h.strictSince?.toISOString() ?? null,
      lenientPasses: { ...h.passes },
    };
  }
}
