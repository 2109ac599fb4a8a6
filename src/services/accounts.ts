// Operator actions on accounts: take down and restore. The change is written to the database (every relay process
// hears of it), applied to the account's state here through its transition, and announced on the firehose with the
// relay's own #account; a taken-down account's repo events are withheld, live and on replay.
import type { Db } from '../storage/db.ts';
import { listAccountsPage, setLocalStatus as storeLocalStatus } from '../storage/accounts.ts';
import { getHost } from '../storage/hosts.ts';
import { normalizeHostname } from '../core/hostname.ts';
import { effectiveStatus } from '../core/accounts.ts';
import type { SequencerSink } from '../core/events.ts';
import type { Clock } from '../core/clock.ts';
import { XrpcError } from '../core/xrpc-error.ts';
import { isDid } from '../protocol/syntax.ts';
import type { AccountRegistry } from '../accounts/registry.ts';
import { relayItems } from '../accounts/registry.ts';
import { setLocalStatus } from '../accounts/transitions.ts';
import { MAX_ACCOUNTS_PAGE, type AccountStatusView, type AccountsPage, type AccountsQuery } from './contract.ts';

export interface AccountsServiceOptions {
  db: Db;
  /** A handle's DID, verified both ways (identity/handle.ts). */
  resolveHandle: (handle: string) => Promise<string>;
  accounts: AccountRegistry;
  sink: SequencerSink;
  clock: Clock;
}

export class AccountsService {
  private readonly o: AccountsServiceOptions;

  constructor(o: AccountsServiceOptions) {
    this.o = o;
  }

  /** Takes an account down, named by DID or handle. */
  async takedown(account: string): Promise<AccountStatusView> {
    return this.setLocal(await this.did(account), 'takendown');
  }

  async restore(account: string): Promise<AccountStatusView> {
    return this.setLocal(await this.did(account), null);
  }

  /** One page of the accounts taken down here, or of the throttled ones, optionally of one host. */
  async list(query: AccountsQuery): Promise<AccountsPage> {
    const { db } = this.o;
    const offset = query.offset ?? 0;
    const limit = query.limit ?? MAX_ACCOUNTS_PAGE;
    let hostId: number | undefined;
    if (query.host !== undefined) {
      const parsed = normalizeHostname(query.host, { allowInsecure: true });
      if (!parsed.ok) throw new XrpcError(400, 'InvalidRequest', parsed.message);
      const host = await getHost(db, parsed.hostname);
      if (!host) throw new XrpcError(404, 'HostNotFound', `${parsed.hostname} is not known to this relay`);
      hostId = host.id;
    }
    const { rows, total } = await listAccountsPage(db, {
      status: query.status,
      ...(hostId !== undefined ? { hostId } : {}),
      ...(query.q ? { q: query.q } : {}),
      offset,
      limit,
    });
    const accounts = rows.map((r) => ({
      did: r.did,
      handle: r.handle,
      hostname: r.hostname,
      takenDownAt: query.status === 'takendown' ? (r.localStatusAt?.toISOString() ?? null) : null,
      throttle: r.throttle && {
        reason: r.throttle.reason,
        until: r.throttle.reason === 'account_budget' ? new Date(r.throttle.until).toISOString() : null,
      },
    }));
    return { accounts, total, offset, limit };
  }

  private did(account: string): Promise<string> {
    if (account.startsWith('did:')) {
      if (!isDid(account)) throw new XrpcError(400, 'InvalidRequest', `${account} is not a valid DID`);
      return Promise.resolve(account);
    }
    return this.o.resolveHandle(account);
  }

  private async setLocal(did: string, status: string | null): Promise<AccountStatusView> {
    const { db, accounts, sink, clock } = this.o;
    const row = await storeLocalStatus(db, did, status);
    if (!row) throw new XrpcError(404, 'RepoNotFound', `${did} is not known to this relay`);
    // Read again from the row just written, as every other process will on hearing of the change.
    accounts.forget(did);
    const state = await accounts.get(did);
    if (!state) throw new XrpcError(404, 'RepoNotFound', `${did} is not known to this relay`);
    const t = accounts.apply(setLocalStatus(state, status, clock.now()));
    // An account no host has sent yet has nothing on the firehose to announce a change of.
    if (row.hostId !== null) for (const item of relayItems(row.hostId, t)) sink.submit(item);
    const view = effectiveStatus(t.state);
    return { did, active: view.active, ...(view.status ? { status: view.status } : {}) };
  }
}
