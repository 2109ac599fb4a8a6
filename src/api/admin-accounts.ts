// Operator actions on accounts: take down and restore. The relay announces each change on the firehose with its own
// #account event, and withholds a taken-down account's repo events, live and on replay.
import type { FastifyInstance } from 'fastify';
import { isDid } from '../protocol/syntax.ts';
import { effectiveStatus, setLocalStatus, type AccountRow } from '../storage/accounts.ts';
import type { RelayContext } from '../context.ts';
import { makeAdminGuard } from './admin-auth.ts';
import { XrpcError } from './xrpc-error.ts';

async function announce(ctx: RelayContext, account: AccountRow): Promise<void> {
  const { active, status } = effectiveStatus(account);
  ctx.sequencer.submit({
    hostId: account.hostId,
    upstreamSeq: null,
    event: {
      did: account.did,
      kind: 'account',
      body: { did: account.did, active, ...(status ? { status } : {}), time: new Date().toISOString() },
    },
  });
  await ctx.sequencer.drain();
}

export function registerAccountAdmin(app: FastifyInstance, ctx: RelayContext): void {
  void app.register(async (admin) => {
    admin.addHook('onRequest', makeAdminGuard(ctx.config.adminPassword));

    const change = (status: string | null) => async (req: { params: unknown; log: { info: (o: object, m: string) => void } }) => {
      const { did } = req.params as { did: string };
      if (!isDid(did)) throw new XrpcError(400, 'InvalidRequest', `${did} is not a valid DID`);
      const account = await setLocalStatus(ctx.database.db, did, status);
      if (!account) throw new XrpcError(404, 'RepoNotFound', `${did} is not known to this relay`);
      ctx.accountStates.forget(did);
      await announce(ctx, account);
      req.log.info({ did, status }, status ? 'account taken down by operator' : 'account restored by operator');
      const { active, status: effective } = effectiveStatus(account);
      return { did, active, ...(effective ? { status: effective } : {}) };
    };

    admin.post('/admin/accounts/:did/takedown', change('takendown'));
    admin.post('/admin/accounts/:did/restore', change(null));
  });
}
