// com.atproto.sync.listRepos, getRepoStatus, getLatestCommit and getRepo, answered from the relay's account state.
// The relay keeps no repositories: getRepo redirects to the account's PDS.
import type { FastifyInstance } from 'fastify';
import { isDid } from '../protocol/syntax.ts';
import { hostUrls } from '../core/hostname.ts';
import { effectiveStatus } from '../core/accounts.ts';
import { XrpcError } from '../core/xrpc-error.ts';
import { getAccount, listAccounts, statusView, type AccountRow } from '../storage/accounts.ts';
import type { Db } from '../storage/db.ts';
import type { ApiServices } from './services.ts';
import { intParam, numericCursor, optionalString, requiredString } from './params.ts';

const STATUS_ERRORS: Record<string, string> = {
  takendown: 'RepoTakendown',
  suspended: 'RepoSuspended',
  deactivated: 'RepoDeactivated',
};

function didParam(q: Record<string, unknown>): string {
  const did = requiredString(q, 'did');
  if (!isDid(did)) throw new XrpcError(400, 'InvalidRequest', `${did} is not a valid DID`);
  return did;
}

async function knownAccount(db: Db, did: string): Promise<AccountRow> {
  const account = await getAccount(db, did);
  if (!account) throw new XrpcError(404, 'RepoNotFound', `Could not find repo for DID: ${did}`);
  return account;
}

/**
 * Refuses repo content for inactive accounts, with the lexicon's error for the reason: 403 when the account exists
 * but may not be served, 404 when there is nothing to serve (deleted, or no reason given).
 */
function requireActive(account: AccountRow): void {
  const { active, status } = effectiveStatus(statusView(account));
  if (active) return;
  const error = status ? STATUS_ERRORS[status] : undefined;
  if (error) throw new XrpcError(403, error, `Repo is ${status}: ${account.did}`);
  throw new XrpcError(404, 'RepoNotFound', `Repo is ${status ?? 'not active'}: ${account.did}`);
}

export function registerRepoEndpoints(app: FastifyInstance, api: ApiServices): void {
  const { db } = api;
  app.get('/xrpc/com.atproto.sync.listRepos', async (req) => {
    const q = req.query as Record<string, unknown>;
    const limit = intParam(q, 'limit', { min: 1, max: 1000, default: 500 });
    const rows = await listAccounts(db, numericCursor(q), limit);
    return {
      ...(rows.length === limit ? { cursor: String(rows.at(-1)!.uid) } : {}),
      repos: rows.map((a) => {
        const { active, status } = effectiveStatus(statusView(a));
        return { did: a.did, head: a.head!, rev: a.rev!, active, ...(status ? { status } : {}) };
      }),
    };
  });

  app.get('/xrpc/com.atproto.sync.getRepoStatus', async (req) => {
    const account = await knownAccount(db, didParam(req.query as Record<string, unknown>));
    const { active, status } = effectiveStatus(statusView(account));
    return {
      did: account.did,
      active,
      ...(status ? { status } : {}),
      ...(active && account.rev ? { rev: account.rev } : {}),
    };
  });

  app.get('/xrpc/com.atproto.sync.getLatestCommit', async (req) => {
    const account = await knownAccount(db, didParam(req.query as Record<string, unknown>));
    requireActive(account);
    if (!account.head || !account.rev) throw new XrpcError(404, 'RepoNotFound', `No commit seen yet for ${account.did}`);
    return { cid: account.head, rev: account.rev };
  });

  app.get('/xrpc/com.atproto.sync.getRepo', async (req, reply) => {
    const q = req.query as Record<string, unknown>;
    const account = await knownAccount(db, didParam(q));
    requireActive(account);
    const since = optionalString(q, 'since');
    const target = new URL(`${hostUrls(account.hostname, api.config.allowInsecureHosts).http}/xrpc/com.atproto.sync.getRepo`);
    target.searchParams.set('did', account.did);
    if (since) target.searchParams.set('since', since);
    return reply.redirect(target.toString(), 302);
  });
}
