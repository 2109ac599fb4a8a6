// `relay hosts import --from https://relay.example`: the hosts another relay crawls (its com.atproto.sync.listHosts,
// page by page), each admitted through this relay's admin API (POST /admin/hosts), so through the same admission
// check as every other way in. It runs in the CLI, not as a job inside the relay: the relay stays the one place
// admission happens, while pacing, the progress line and Ctrl-C belong to the operator's terminal, and no relay
// process has to own a long job across restarts. The cursor of the next page is saved in the relay's database
// (/admin/host-imports) after every page, so a run that is killed resumes at its page; hosts already known there
// are skipped, so nothing is admitted twice.
import { adminApi, type HostImportView } from '../services/contract.ts';
import { TokenBucket } from '../core/token-bucket.ts';
import { AdminCallError, adminCall, listAllHosts, type AdminClientOptions } from './admin-client.ts';
import { ProgressBar, type CliIo } from './progress.ts';

/** Admissions in flight at once: each probes the host, up to seconds for one that does not answer. */
const MAX_IN_FLIGHT = 16;
const PAGE_SIZE = 500;
const FETCH_TIMEOUT_MS = 30_000;
/** Statuses under which the source relay does not crawl a host for its operator's reasons: not ours to undo. */
const WITHHELD = new Set(['banned', 'takendown']);

export interface HostsImportOptions {
  client: AdminClientOptions;
  from: string;
  /** Hosts admitted (tried) per second at most. */
  perSecond: number;
  io: CliIo;
  signal: AbortSignal;
}

interface RemotePage {
  cursor: string | null;
  hosts: Array<{ hostname: string; status: string | null }>;
}

/** The source relay's origin, from what the operator typed (a bare hostname means https). */
export function importOrigin(from: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(from) ? from : `https://${from}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new Error(`--from ${from} is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`--from must be an http(s) URL, not ${from}`);
  return url.origin;
}

async function listHostsPage(source: string, cursor: string | null, signal: AbortSignal): Promise<RemotePage> {
  const url = new URL('/xrpc/com.atproto.sync.listHosts', source);
  url.searchParams.set('limit', String(PAGE_SIZE));
  if (cursor !== null) url.searchParams.set('cursor', cursor);
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.any([signal, AbortSignal.timeout(FETCH_TIMEOUT_MS)]) });
  } catch (err) {
    throw new Error(`cannot read ${url}: ${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}`);
  }
  const body = (await res.json().catch(() => null)) as { cursor?: unknown; hosts?: unknown } | null;
  if (!res.ok || !body || !Array.isArray(body.hosts)) {
    throw new Error(`${url} answered HTTP ${res.status}${body ? '' : ' without JSON'}: not a relay's listHosts`);
  }
  const hosts = body.hosts.flatMap((h: { hostname?: unknown; status?: unknown }) =>
    typeof h?.hostname === 'string' ? [{ hostname: h.hostname.toLowerCase(), status: typeof h.status === 'string' ? h.status : null }] : [],
  );
  return { cursor: typeof body.cursor === 'string' && body.cursor !== '' ? body.cursor : null, hosts };
}

/** Whether the relay refused this host (admission, a ban, a bad name), as opposed to failing the call. */
function isRefusal(err: unknown): err is AdminCallError {
  return err instanceof AdminCallError && err.status >= 400 && err.status < 500 && err.status !== 401 && err.status !== 403;
}

export async function importHosts(o: HostsImportOptions): Promise<number> {
  const { client, io, signal } = o;
  const source = importOrigin(o.from);
  const saved = await adminCall(client, adminApi.getHostImport, { params: { source } });
  // A finished import (or none yet) starts from the first page; an unfinished one where it stopped.
  const restart = saved.finished || saved.updatedAt === null;
  let cursor = restart ? null : saved.cursor;
  if (!restart) io.err(`relay: resuming the import from ${source} (${saved.admitted} admitted, ${saved.refused} refused so far)\n`);
  const known = new Set((await listAllHosts(client)).hosts.map((h) => h.hostname));
  const pace = new TokenBucket(o.perSecond, 1);
  const bar = new ProgressBar(io, 0, { items: 'hosts', done: 'admitted' });
  const refusals: string[] = [];
  const run = { admitted: 0, refused: 0, skipped: 0 };
  const draw = () => bar.update({ hostname: source, done: run.admitted, failed: run.refused, skipped: run.skipped });
  let inFlight = 0;
  let slotFreed: (() => void) | null = null;
  let last: HostImportView = saved;
  let firstPage = true;

  const admit = async (hostname: string, page: typeof run): Promise<void> => {
    try {
      await adminCall(client, adminApi.addHost, { body: { hostname } });
      known.add(hostname);
      page.admitted++;
      run.admitted++;
    } catch (err) {
      if (!isRefusal(err)) throw err;
      page.refused++;
      run.refused++;
      refusals.push(`${hostname}: ${err.error}: ${err.detail}`);
    } finally {
      inFlight--;
      slotFreed?.();
      draw();
    }
  };

  for (;;) {
    const page = await listHostsPage(source, cursor, signal);
    const counts = { admitted: 0, refused: 0, skipped: 0 };
    const admissions: Array<Promise<void>> = [];
    for (const h of page.hosts) {
      if (WITHHELD.has(h.status ?? '') || known.has(h.hostname)) {
        counts.skipped++;
        run.skipped++;
        continue;
      }
      while (!signal.aborted && (inFlight >= MAX_IN_FLIGHT || !pace.tryTake())) {
        await new Promise<void>((resolve) => {
          slotFreed = resolve;
          setTimeout(resolve, inFlight >= MAX_IN_FLIGHT ? 1000 : Math.max(1, pace.waitMs()));
        });
        slotFreed = null;
      }
      if (signal.aborted) break;
      inFlight++;
      admissions.push(admit(h.hostname, counts));
    }
    await Promise.all(admissions);
    draw();
    if (signal.aborted) {
      // The page is not recorded: the next run reads it again and skips what this one admitted.
      io.err(`${bar.clear()}relay: interrupted; run the same command again to resume\n`);
      return 130;
    }
    const next = page.hosts.length > 0 ? page.cursor : null;
    last = await adminCall(client, adminApi.saveHostImportPage, {
      params: { source },
      body: { ...(next === null ? {} : { cursor: next }), finished: next === null, ...counts, restart: restart && firstPage },
    });
    firstPage = false;
    if (next === null) break;
    cursor = next;
  }
  io.err(bar.clear());
  io.out(`imported from ${source}: ${last.admitted} admitted, ${last.refused} refused, ${last.skipped} skipped (banned there, or already known)`);
  if (refusals.length > 0) {
    io.out(`refused in this run (${refusals.length}):`);
    for (const r of refusals) io.out(`  ${r}`);
  }
  return 0;
}
