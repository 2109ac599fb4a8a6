// Sync v1.1 verification of every upstream event, in the order of the spec's checklist: structure and limits, host
// authority, account status, stale and future revs, signature (with one identity refresh for a rotated key),
// MST inversion to prevData, and chain continuity. Events of one account arrive here one at a time, in order.
import { CidLinkWrapper } from '@atcute/cbor';
import type { Logger } from 'pino';
import { cidEquals, cidToString } from '../protocol/cid.ts';
import { unsignedCommitBytes, type Commit } from '../protocol/commit.ts';
import { invertOps, MstError, type RepoOp } from '../protocol/mst/index.ts';
import type { SignatureVerifier } from '../protocol/signature.ts';
import { tidTimestampMicros } from '../protocol/tid.ts';
import { IdentityError, type Identity } from '../identity/did-doc.ts';
import { TRANSIENT, type IdentityCache } from '../identity/cache.ts';
import type { Car } from '../protocol/car.ts';
import type { RelayMetrics } from '../metrics.ts';
import type { AccountStates } from './account-state.ts';
import { checkStructure } from './structure.ts';
import type { EventVerifier, HostContext, UpstreamEvent, Verdict } from './types.ts';

/** Revs more than this far in the future are rejected (clock drift allowance). */
export const FUTURE_REV_MS = 5 * 60_000;
const IDENTITY_RETRY_DELAYS_MS = [250, 1000, 4000];

export interface SyncVerifierOptions {
  identities: IdentityCache;
  accounts: AccountStates;
  signatures: SignatureVerifier;
  metrics: RelayMetrics;
  log: Logger;
  /** Sync v1.1-only checks become counted warnings (for PDS software that has not upgraded). */
  lenient: boolean;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

type Rejection = { ok: false; reason: string; detail?: string };

const reject = (reason: string, detail?: string): Rejection =>
  detail === undefined ? { ok: false, reason } : { ok: false, reason, detail };

function opsOf(body: Record<string, unknown>): RepoOp[] {
  return (body.ops as Array<Record<string, unknown>>).map((o) => ({
    action: String(o.action),
    path: String(o.path),
    cid: o.cid instanceof CidLinkWrapper ? o.cid.bytes : null,
    ...(o.prev instanceof CidLinkWrapper ? { prev: o.prev.bytes } : {}),
  }));
}

export class SyncVerifier implements EventVerifier {
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly o: SyncVerifierOptions) {
    this.now = o.now ?? Date.now;
    this.sleep = o.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  async verify(host: HostContext, evt: UpstreamEvent): Promise<Verdict> {
    const structure = checkStructure(evt);
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
    const identity = await this.authoritativeIdentity(host, did);
    if ('reason' in identity) return identity;
    const state = await this.o.accounts.get(did);

    if (evt.t === '#account') {
      const status = structure.event.status!;
      this.o.accounts.update(did, { hostname: host.hostname, upstreamActive: status.active, upstreamStatus: status.status });
      // The relay announces its own view: a local takedown overrides whatever the host says.
      const local = state?.localStatus ?? null;
      const body = local ? { ...evt.body, active: false, status: local } : structure.event.body;
      return { ok: true, event: { ...structure.event, body } };
    }

    if (state && (state.localStatus || !state.upstreamActive)) {
      return reject('account_inactive', state.localStatus ?? state.upstreamStatus ?? 'inactive');
    }
    const commit = structure.commit!;
    if (state?.rev && commit.rev <= state.rev) return reject('stale_rev', `rev ${commit.rev} <= ${state.rev}`);
    if (tidTimestampMicros(commit.rev) / 1000 > this.now() + FUTURE_REV_MS) {
      return reject('future_rev', `rev ${commit.rev} is in the future`);
    }
    const sig = await this.checkSignature(did, identity, commit);
    if (sig) return sig;

    if (evt.t === '#commit') {
      const problem = this.checkCommitProof(evt.body, commit, structure.blocks!, state?.data ?? null);
      if (problem) {
        if (!this.o.lenient) return problem;
        this.o.metrics.verifyWarnings.inc({ check: problem.reason });
      }
      this.checkContinuity(evt.body, state?.rev ?? null, state?.data ?? null);
    }

    this.o.accounts.update(did, {
      hostname: host.hostname,
      rev: commit.rev,
      head: structure.event.repo!.head,
      data: structure.event.repo!.data,
    });
    return { ok: true, event: structure.event };
  }

  /** The account's identity, provided its PDS is the host the event came from. */
  private async authoritativeIdentity(host: HostContext, did: string): Promise<Identity | Rejection> {
    let identity: Identity;
    try {
      identity = await this.lookup(did);
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

  /** Resolves, retrying passing failures so a directory hiccup delays this account instead of dropping its event. */
  private async lookup(did: string): Promise<Identity> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.o.identities.get(did);
      } catch (err) {
        const transient = err instanceof IdentityError && TRANSIENT.has(err.reason);
        if (!transient || attempt >= IDENTITY_RETRY_DELAYS_MS.length) throw err;
        await this.sleep(IDENTITY_RETRY_DELAYS_MS[attempt]!);
      }
    }
  }

  private async checkSignature(did: string, identity: Identity, commit: Commit): Promise<Rejection | null> {
    const message = unsignedCommitBytes(commit);
    if (this.o.signatures.verify(identity.signingKey!, message, commit.sig)) return null;
    // The key may have rotated since we cached the document.
    const fresh = await this.o.identities.refresh(did, 'signature_failure').catch(() => null);
    if (fresh?.signingKey && this.o.signatures.verify(fresh.signingKey, message, commit.sig)) return null;
    return reject('bad_signature', 'commit signature does not verify with the account key');
  }

  private checkCommitProof(body: Record<string, unknown>, commit: Commit, car: Car, storedData: string | null): Rejection | null {
    if (body.tooBig === true || body.rebase === true) return reject('legacy_flags', 'tooBig or rebase is set');
    if ((body.blocks as { buf: Uint8Array }).buf.length === 0) return reject('empty_blocks');
    const prevData = body.prevData instanceof CidLinkWrapper ? body.prevData.bytes : null;
    if (body.prevData !== undefined && prevData === null) return reject('bad_field', 'prevData is not a link');
    const ops = opsOf(body);
    for (const op of ops) {
      if (op.cid && !car.blocks.has(op.cid)) return reject('missing_record_block', op.path);
    }
    if (!prevData) {
      // Only an account's first commit may come without prevData.
      return storedData ? reject('missing_prev_data') : null;
    }
    try {
      const inverted = invertOps({ blocks: car.blocks, newRoot: commit.data, ops });
      if (!cidEquals(inverted, prevData)) return reject('inversion_mismatch', 'ops do not invert to prevData');
    } catch (err) {
      if (!(err instanceof MstError)) throw err;
      const reason = err.reason === 'missing_block' ? 'missing_proof_block' : err.reason === 'bad_node' ? 'bad_mst' : err.reason === 'forward_mismatch' ? 'op_mismatch' : 'bad_ops';
      return reject(reason, err.message);
    }
    return null;
  }

  /** A commit that does not continue the chain we know is still valid; it is passed on and counted. */
  private checkContinuity(body: Record<string, unknown>, storedRev: string | null, storedData: string | null): void {
    const sinceBroken = storedRev !== null && body.since !== storedRev;
    const prevData = body.prevData instanceof CidLinkWrapper ? cidToString(body.prevData.bytes) : null;
    const dataBroken = storedData !== null && prevData !== null && prevData !== storedData;
    if (sinceBroken || dataBroken) {
      this.o.metrics.discontinuities.inc();
      this.o.log.info({ did: body.repo, since: body.since, storedRev }, 'commit does not continue the known chain');
    }
  }
}
