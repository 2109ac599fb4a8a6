// `relay collections backfill [HOST|--all]` and `relay collections status`: run against the database directly (as
// `relay migrate` does), beside the relay processes, which go on ingesting meanwhile.
import { loadConfig } from '../config/config.ts';
import { openDatabase } from '../storage/db.ts';
import { getHost, hostsToCrawl, type HostRow } from '../storage/hosts.ts';
import { allBackfills } from '../storage/collections.ts';
import { accountCounts } from '../storage/accounts.ts';
import { backfillHost } from '../collections/backfill.ts';
import { ProgressBar, type CliIo } from './progress.ts';
import { createPdsClient } from '../collections/pds.ts';
import { forEachConcurrently } from '../core/concurrently.ts';
import { systemLookup } from '../ingest/address-policy.ts';

/** Hosts backfilled at once under --all (each at its own polite rate). */
const PARALLEL_HOSTS = 8;

export async function collectionsCommand(args: string[], flags: { all?: boolean }, io: CliIo): Promise<number> {
  const [sub, hostname] = args;
  const config = loadConfig(process.env);
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  try {
    await database.migrate();
    const { db } = database;
    if (sub === 'status') {
      const rows = await allBackfills(db);
      if (rows.length === 0) io.out('no backfill has run');
      for (const r of rows) io.out(`host ${r.hostId}: ${r.state}, ${r.done} repos described, ${r.failed} failed, updated ${r.updatedAt.toISOString()}`);
      return 0;
    }
    if (sub !== 'backfill' || (!hostname && !flags.all) || (hostname && flags.all)) {
      io.err('usage: relay collections backfill <host>|--all\n');
      return 1;
    }
    let targets: HostRow[];
    if (hostname) {
      const host = await getHost(db, hostname);
      if (!host) {
        io.err(`relay: ${hostname} is not a known host\n`);
        return 1;
      }
      targets = [host];
    } else {
      targets = await hostsToCrawl(db);
    }
    const expected = await accountCounts(db, targets.map((h) => h.id));
    const pds = createPdsClient({ allowInsecureHosts: config.allowInsecureHosts, lookup: systemLookup });
    const abort = new AbortController();
    const onSignal = () => abort.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const bar = new ProgressBar(io, targets.reduce((n, h) => n + (expected.get(h.id) ?? 0), 0));
    let failedHosts = 0;
    await forEachConcurrently(
      targets,
      PARALLEL_HOSTS,
      async (host) => {
        try {
          const p = await backfillHost(host, { db, pds, perMinute: config.collectionLookupsPerMinute, signal: abort.signal, progress: (p) => bar.update(p) });
          bar.update(p);
          if (p.finished) io.err(`${bar.clear()}${p.hostname}: ${p.done} repos described, ${p.failed} failed, ${p.skipped} skipped\n`);
        } catch (err) {
          failedHosts++;
          io.err(`${bar.clear()}${host.hostname}: stopped (${(err as Error).message}); run again to resume\n`);
        }
      },
      () => abort.signal.aborted,
    );
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    io.err(bar.clear());
    if (abort.signal.aborted) {
      io.err('relay: interrupted; run the same command again to resume\n');
      return 130;
    }
    io.out(`backfilled ${targets.length - failedHosts} of ${targets.length} hosts: ${bar.done} repos described, ${bar.failed} failed`);
    return failedHosts > 0 ? 1 : 0;
  } finally {
    await database.close();
  }
}
