// `relay hosts recheck [host…] [--disconnect]`: the admission check (services/host-admission.ts) run again, through
// the relay's admin API, on hosts admitted before it existed or that changed since. Without names, every crawled
// host. The CLI paces it (one host per request, a few in flight, at most --rate a second) so a relay with thousands
// of hosts probes them as a trickle, not a burst; the relay runs each check and, with --disconnect, the disconnect.
import { adminApi, type HostRecheck } from '../services/contract.ts';
import { CRAWLED_STATUSES } from '../core/hosts.ts';
import { TokenBucket } from '../core/token-bucket.ts';
import { forEachConcurrently } from '../core/concurrently.ts';
import { AdminCallError, adminCall, listAllHosts, type AdminClientOptions } from './admin-client.ts';
import type { CliIo } from './progress.ts';

const MAX_IN_FLIGHT = 4;

export interface HostsRecheckOptions {
  client: AdminClientOptions;
  /** The hosts to check; empty: every crawled host. */
  hostnames: string[];
  disconnect: boolean;
  /** Hosts checked per second at most. */
  perSecond: number;
  io: Pick<CliIo, 'out' | 'err'>;
  signal: AbortSignal;
}

/** Exit code: 0 when every host passed (or every failing one was disconnected), 1 otherwise. */
export async function recheckHosts(o: HostsRecheckOptions): Promise<number> {
  const { client, io, signal } = o;
  const hostnames =
    o.hostnames.length > 0
      ? o.hostnames
      : (await listAllHosts(client)).hosts.filter((h) => CRAWLED_STATUSES.includes(h.status)).map((h) => h.hostname);
  const pace = new TokenBucket(o.perSecond, 1);
  const failed: HostRecheck[] = [];
  let checked = 0;
  await forEachConcurrently(
    hostnames,
    MAX_IN_FLIGHT,
    async (hostname) => {
      while (!pace.tryTake()) await new Promise((r) => setTimeout(r, Math.max(1, pace.waitMs())));
      if (signal.aborted) return;
      let results: HostRecheck[];
      try {
        ({ results } = await adminCall(client, adminApi.recheckHosts, { body: { hostnames: [hostname], disconnect: o.disconnect } }));
      } catch (err) {
        // Not crawled (unknown, banned, disconnected since it was listed): said, and the run goes on.
        if (!(err instanceof AdminCallError) || (err.status !== 400 && err.status !== 404)) throw err;
        results = [{ hostname, ok: false, error: err.error, message: err.detail, disconnected: false }];
      }
      for (const r of results) {
        checked++;
        if (r.ok) continue;
        failed.push(r);
        io.out(`${r.hostname}: ${r.error}: ${r.message}${r.disconnected ? ' (disconnected)' : ''}`);
      }
    },
    () => signal.aborted,
  );
  const disconnected = failed.filter((r) => r.disconnected).length;
  io.err(
    `relay: ${checked} of ${hostnames.length} hosts checked, ${failed.length} failed` +
      (o.disconnect ? `, ${disconnected} disconnected` : failed.length > 0 ? ' (run again with --disconnect to stop crawling them)' : '') +
      (signal.aborted ? ' (interrupted)' : '') +
      '\n',
  );
  return failed.some((r) => !r.disconnected) || signal.aborted ? 1 : 0;
}
