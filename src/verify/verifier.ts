// Sync v1.1 verification of every upstream event, in the order of the spec's checklist: structure and limits, host
// authority, account status, stale and future revs, signature (with one identity refresh for a rotated key),
// MST inversion to prevData, and chain continuity. Events of one account arrive here one at a time, in order.
// The stateless CPU-heavy checks run as one commit job (commit-check.ts), possibly on a worker thread; identity
// lookups stay here. Account state is only read: what a verified event establishes (the repo state, the host's
// status) is on the accepted event, and the account stage records it.
import { CidLinkWrapper } from '@atcute/cbor';
import type { Logger } from 'pino';
import { cidToString } from '../protocol/cid.ts';
import type { SignatureVerifier } from '../protocol/signature.ts';
import { tidTimestampMicros } from '../protocol/tid.ts';
import { IdentityError, type Identity } from '../identity/did-doc.ts';
import { TRANSIENT, type IdentityCache } from '../identity/cache.ts';
import type { RelayMetrics } from '../metrics.ts';
import type { AccountView } from '../core/accounts.ts';
import type { UpstreamEvent } from '../core/events.ts';
import type { HostRef } from '../core/hosts.ts';
import { refuse, type EventRejection, type Refusal, type Sync11Check } from '../core/rejections.ts';
import type { Strictness } from './strictness.ts';
import { retryDelay } from '../core/retry.ts';
import { checkStructure, type StructureResult } from './structure.ts';
import { checkCommitJob, type CommitCheck, type CommitChecker, type CommitJob, type CommitProofInput } from './commit-check.ts';
import type { PublicKey } from '../protocol/did-key.ts';
import type { EarlyWork, EventVerifier, Verdict } from './types.ts';

/** Revs more than this far in the future are rejected (clock drift allowance). */
export const FUTURE_REV_MS = 5 * 60_000;
/**
 * How long an event waits for its account's identity while the directory is down, slow or refusing us: it is held
 * (its account's later events behind it), not dropped, for this long; then it is refused as identity_unavailable.
 */
export const IDENTITY_HOLD_MS = 10 * 60_000;

export interface SyncVerifierOptions {
  identities: IdentityCache;
  accounts: AccountView;
  signatures: SignatureVerifier;
  /** Runs the CPU-heavy commit checks (a worker pool); absent = on this thread with `signatures`. */
  checker?: CommitChecker;
  metrics: RelayMetrics;
  log: Logger;
  /** Whether a host's commits that fail a Sync v1.1-only check are let through (per host: strictness.ts). */
  strictness: Strictness;
  /** Whether accepted commits say what they do to the collection index (default true). */
  indexCollections?: boolean;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

type Rejection = Refusal<EventRejection>;
const reject = refuse<EventRejection>;

export class SyncVerifier implements EventVerifier {
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly checker: CommitChecker;

  private readonly o: SyncVerifierOptions;
  constructor(o: SyncVerifierOptions) {
    this.o = o;
    this.now = o.now ?? Date.now;
    this.checker = o.checker ?? { check: (job) => checkCommitJob(job, o.signatures) };
    this.sleep = o.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /**
   * For a commit waiting behind its account's earlier events: its structure, and the commit check (signature, proof)
   * under the key the account has now, when that key is in memory. Those do not depend on the earlier events, and an
   * account's events otherwise each waited for the worker round trip of the one before (in a burst, a known account's
   * fourth commit waited for three: npm run bench cold, docs/perf-journal.md session 9). verify() uses the check only
   * if the identity it settles on is the one the check was made with.
   */
  begin(host: HostRef, evt: UpstreamEvent): Early | undefined {
    if (evt.t !== '#commit' && evt.t !== '#sync') return undefined;
    const structure = checkStructure(evt);
    const early: Early = { begunFor: evt, structure };
    if (!structure.ok || !structure.job) return early;
    const identity = this.o.identities.peek(evt.did);
    if (!identity?.signingKey || identity.pdsHost !== host.hostname) return early;
    const check = Promise.resolve(this.checker.check(signedJob(structure.job, identity.signingKey, structure.proof)));
    check.catch(() => {});
    early.check = { key: identity.signingKey, result: check };
    return early;
  }

  async verify(host: HostRef, evt: UpstreamEvent, begun?: EarlyWork): Promise<Verdict> {
    const started = begun?.begunFor === evt ? (begun as Early) : undefined;
    const structure = started?.structure ?? checkStructure(evt);
    if (!structure.ok) return structure;
    const { did } = evt;

    if (evt.t === '#identity') {
      // The event only says "look again": refresh our view and pass it on, whichever host sent it.
      this.o.identities.purge(did);
      return { ok: true, event: structure.event };
    }

    if (evt.t === '#account' && evt.body.active === false) {
      // Deactivation changes what consumers may show, and is what an old host says after a migration: check the
      // current DID document rather than trust a cached one (rate-limited per DID).
      await this.o.identities.refresh(did, 'status_change').catch(() => null);
    }
    const job = structure.job;
    // A commit's account state is read while its identity is looked up: for a first-seen account both are round
    // trips. (An #account event needs no state here.) A known account's are in memory, taken without an async call:
    // each one an event makes is a promise and a frame held until it commits, past the young generation.
    const inMemory = evt.t === '#account' ? undefined : this.o.accounts.hit?.(did);
    const stateLoad = evt.t === '#account' || inMemory !== undefined ? null : this.o.accounts.get(did);
    stateLoad?.catch(() => {});
    const held = this.o.identities.hit(did);
    const identity = held?.pdsHost === host.hostname && held.signingKey ? held : await this.authoritativeIdentity(host, did, held);
    // The checklist puts the CAR and commit block checks first: their failure is the reason given.
    if ('reason' in identity) return job ? this.structureFailure(job, identity) : identity;
    if (evt.t === '#account') return { ok: true, event: structure.event };
    const state = inMemory !== undefined ? inMemory : await stateLoad!;

    // A commit whose structure holds has the message's rev, already checked to be a TID.
    const rev = job!.rev;
    let early: Rejection | null = null;
    const known = state?.repo ?? null;
    if (state && (state.localStatus || !state.upstream.active)) {
      early = reject('account_inactive', state.localStatus ?? state.upstream.status ?? 'inactive');
    } else if (known && rev <= known.rev) {
      early = reject('stale_rev', `rev ${rev} <= ${known.rev}`);
    } else if (tidTimestampMicros(rev) / 1000 > this.now() + FUTURE_REV_MS) {
      early = reject('future_rev', `rev ${rev} is in the future`);
    }
    if (early) return this.structureFailure(job!, early);

    // A first-seen account's check waits behind known accounts' ones (pool.ts): a burst of new accounts, each already
    // slowed by its identity look-up, then does not hold up the accounts the relay follows.
    const checked = await (started?.check?.key === identity.signingKey
      ? started.check.result
      : this.checker.check(signedJob(job!, identity.signingKey!, structure.proof), known ? 'now' : 'later'));
    if (!checked.ok) return checked;
    if (!checked.signature) {
      // The key may have rotated since we cached the document.
      const fresh = await this.o.identities.refresh(did, 'signature_failure').catch(() => null);
      const again = fresh?.signingKey ? await this.checker.check(signedJob(job!, fresh.signingKey)) : null;
      if (!again?.ok || !again.signature) return reject('bad_signature', 'commit signature does not verify with the account key');
    }

    if (evt.t === '#commit') {
      const proof = checked.proof!;
      // Only an account's first commit may come without prevData.
      const problem: Refusal<Sync11Check> | null =
        proof === 'no_prev_data' ? (known ? refuse('missing_prev_data') : null) : proof && { ok: false as const, ...proof };
      const { strictness } = this.o;
      if (problem) {
        if (!strictness.lenient(host.id)) return problem;
        this.o.metrics.verifyWarnings.inc({ check: problem.reason });
        strictness.passedLeniently(host.id, problem.reason);
      } else if (proof === null) {
        strictness.proven(host.id);
      }
      this.checkContinuity(evt.body, known);
    }

    // The event was built for this call alone (checkStructure): completing it costs less than copying it.
    structure.event.repo = { rev: checked.rev, head: checked.head, data: checked.data };
    // A #sync carries no tree: what the repo holds now is asked of its PDS.
    if (this.o.indexCollections !== false) {
      structure.event.collections = checked.collections ?? { present: [], absent: [], unknown: [], describe: evt.t === '#sync' };
    }
    return { ok: true, event: structure.event };
  }

  /** `otherwise`, unless the message's CAR slice or commit block is itself malformed. */
  private async structureFailure(job: CommitJob, otherwise: Rejection): Promise<Rejection> {
    const checked = await this.checker.check(job);
    return checked.ok ? otherwise : checked;
  }

  /** The account's identity (`held`: what the cache held), provided its PDS is the host the event came from. */
  private async authoritativeIdentity(host: HostRef, did: string, held: Identity | null): Promise<Identity | Rejection> {
    let identity: Identity;
    try {
      identity = held ?? (await this.lookup(did));
    } catch (err) {
      const e = err as IdentityError;
      if (e.reason === 'not_found' || e.reason === 'tombstoned') return reject('identity_not_found', e.message);
      if (TRANSIENT.has(e.reason)) return reject('identity_unavailable', e.message);
      return reject('bad_identity', e.message);
    }
    if (identity.pdsHost !== host.hostname) {
      // The account may just have moved here: look again once before refusing.
      const fresh = await this.o.identities.refresh(did, 'host_mismatch').catch(() => null);
      if (fresh) identity = fresh;
      if (identity.pdsHost !== host.hostname) {
        return reject('wrong_host', `DID document names ${identity.pdsHost ?? 'no PDS'}, event came from ${host.hostname}`);
      }
    }
    if (!identity.signingKey) return reject('bad_identity', 'DID document has no atproto signing key');
    return identity;
  }

  /** Resolves, retrying passing failures so a directory outage delays this account instead of dropping its event. */
  private async lookup(did: string): Promise<Identity> {
    const giveUpAt = this.now() + IDENTITY_HOLD_MS;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.o.identities.get(did);
      } catch (err) {
        const transient = err instanceof IdentityError && TRANSIENT.has(err.reason);
        if (!transient || this.now() >= giveUpAt) throw err;
        this.o.metrics.identityWaiting.inc();
        try {
          await this.sleep(retryDelay(attempt, 250, 10_000));
        } finally {
          this.o.metrics.identityWaiting.dec();
        }
      }
    }
  }

  /** A commit that does not continue the chain we know is still valid; it is passed on and counted. */
  private checkContinuity(body: Record<string, unknown>, known: { rev: string; data: string } | null): void {
    if (!known) return;
    const prevData = body.prevData instanceof CidLinkWrapper ? cidToString(body.prevData.bytes) : null;
    if (body.since !== known.rev || (prevData !== null && prevData !== known.data)) {
      this.o.metrics.discontinuities.inc();
      this.o.log.info({ did: body.repo, since: body.since, storedRev: known.rev }, 'commit does not continue the known chain');
    }
  }
}

/**
 * The job with the key to check the signature with (and the proof to check, when given). Written out field by field:
 * object spreads with a conditional part cost ~1 µs here, a tenth of the verifier's main-thread share.
 */
interface Early extends EarlyWork {
  structure: StructureResult;
  check?: { key: PublicKey; result: Promise<CommitCheck> };
}

function signedJob(job: CommitJob, key: PublicKey, proof?: CommitProofInput): CommitJob {
  const out: CommitJob = { kind: job.kind, did: job.did, rev: job.rev, blocks: job.blocks, key };
  if (job.commitCid !== undefined) out.commitCid = job.commitCid;
  if (proof) out.proof = proof;
  return out;
}
