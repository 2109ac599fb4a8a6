// The operator's command line: `relay serve | migrate | config | hosts ...`. Admin commands only talk HTTP to a
// running relay, so what only serve, migrate, tail and collections need (the relay, the database, ws, the protocol
// decoders) is imported when one of those runs: importing src/relay.ts alone took most of a second.
import { parseArgs } from 'node:util';
import { ConfigError, configReference, loadConfig } from '../config/config.ts';
import { adminCall, listAll, listAllHosts, type AdminClientOptions } from './admin-client.ts';
import { adminApi } from '../services/contract.ts';
import { SYNC_MODE_SETTINGS } from '../core/hosts.ts';
import type { StrictnessView } from '../verify/strictness.ts';

const HELP: Record<string, string> = {
  main: `Usage: relay <command> [options]

Commands:
  serve                 run the relay (configured by environment variables; see \`relay config\`)
  migrate               apply database migrations and exit
  config                print the configuration reference
  hosts list            list crawled hosts with status, cursor and last connection error
  hosts add <host>      crawl a host (from its live head)
  hosts approve <host>  approve a pending crawl request (same as add)
  hosts requests        list pending crawl requests
  hosts import --from URL  admit every host another relay lists (listHosts), paced, resumable
  hosts recheck [host…] [--disconnect]  run the admission check again on crawled hosts; report (and disconnect) failures
  hosts limits <host>   set a host's limits (--hour N, --day N, --accounts N; "default" restores it)
  hosts tier <host> <new|trusted>  set a host's trust tier (its default limits)
  hosts mode <host> <auto|strict|lenient>  how the host is held to the Sync v1.1-only checks
  hosts ban|unban <host>  stop crawling a host and refuse its crawl requests (or lift that)
  hosts disconnect|reconnect <host>  drop a host's connection until reconnected; redial now (backoff reset)
  hosts remove <host>   stop crawling a host and forget it (it may be added again)
  domains list|ban|unban [domain]  domain bans (a domain covers all its subdomains)
  accounts takedown|restore <did|handle>  withhold an account's repo events (announced with #account), or lift that
  accounts list [--taken-down | --throttled] [--host H]  accounts taken down here, or whose repo events are withheld
  consumers             firehose consumers connected to the relay (address, state, lag, queued bytes)
  tail                  follow the firehose, one readable line per frame (--cursor N, --url ws://…)
  collections backfill <host>|--all  fill the collection index (listReposByCollection) from hosts' describeRepo
  collections status    progress of collection backfills

Admin commands talk to a running relay: --url (default http://127.0.0.1:$RELAY_PORT) and
RELAY_ADMIN_PASSWORD (or --password).
Run \`relay <command> --help\` for details.`,
  serve: `Usage: relay serve

Runs the relay: crawls hosts, verifies and sequences their events, and serves the firehose at
/xrpc/com.atproto.sync.subscribeRepos. With no DATABASE_URL it uses the embedded store in RELAY_DATA_DIR.`,
  migrate: `Usage: relay migrate

Applies pending migrations to DATABASE_URL (or the embedded store) and exits. \`relay serve\` also migrates at start.`,
  config: `Usage: relay config

Prints every setting with its environment variable, default and meaning.`,
  hosts: `Usage: relay hosts <list|add|approve|requests|import|recheck|limits|tier|mode|ban|unban|disconnect|reconnect|remove> [hostname] [--url URL] [--password PW] [--json]

  list              hosts with status (connecting until subscribed), cursor, last event time and the last
                    connection error with its cause (DNS, TCP, TLS, HTTP)
  add <host>        admit a host; it is crawled from its live head. Refused unless it answers as a PDS
                    (describeServer) from a public address and is not a relay (relay loop)
  approve <host>    approve a pending crawl request (same as add)
  requests          pending crawl requests (allowlist policy)
  import --from URL [--rate N]  read another relay's com.atproto.sync.listHosts page by page and admit each host
                    through the same checks as add, at most N a second (default 10). Hosts it lists as banned or
                    taken down, and hosts already known here, are skipped; refused and unreachable hosts are
                    counted and listed at the end. Progress is saved in the relay after every page: run the
                    same command again after Ctrl-C or a crash to resume; after a finished run it starts over
  recheck [host…] [--disconnect] [--rate N]  run the admission check (public address, not a relay, a PDS)
                    again on the named crawled hosts, or on all of them, at most N a second (default 10), 4 at
                    a time; each failure is printed with its reason. --disconnect disconnects the failing
                    hosts (as \`hosts disconnect\`), so they are no longer crawled. Exits 1 if a failing host
                    is still crawled
  limits <host>     set the host's limits: --hour N, --day N (events) and/or --accounts N (accounts it may
                    carry; a raised limit releases throttled accounts); "default" restores the tier's value
  tier <host> <new|trusted>  set the host's trust tier: which default limits apply
  mode <host> <auto|strict|lenient>  hold the host to the Sync v1.1-only checks (prevData, inversion): strict
                    refuses a commit that fails one, lenient relays it (counted), auto is lenient until the
                    host has sent RELAY_SYNC_RATCHET_COMMITS valid Sync v1.1 commits, then strict for good
  ban <host>        stop crawling the host now and refuse its crawl requests
  unban <host>      lift a host ban; crawling resumes from its saved cursor
  disconnect <host> drop the host's connection now, in whichever relay process crawls it; it stays known (and
                    disconnected) until reconnect
  reconnect <host>  redial now: failures and backoff forgotten, offline or disconnected hosts included; crawling
                    goes on from the saved cursor
  remove <host>     stop crawling the host and forget it: it leaves listHosts and the cursor and settings kept
                    for it are dropped, so adding it again starts at its live head. Its accounts keep their repo
                    state and takedowns (one whose events arrive from another host moves there). A banned host
                    is unbanned first`,
  consumers: `Usage: relay consumers [--url URL] [--password PW] [--json]

Lists the firehose consumers connected to the relay process at --url: address, connection time, state (replay or
live), last seq sent, lag behind the head and bytes queued.`,
  accounts: `Usage: relay accounts <takedown|restore|list> [did|handle] [--url URL] [--password PW] [--json]

A handle is resolved (DNS TXT _atproto.<handle>, else https://<handle>/.well-known/atproto-did) and accepted only
if the DID's document claims it back.

  takedown <did>    stop relaying the account's commits (live and on replay) and announce it inactive; a DID the
                    relay has not seen yet is recorded, and its events are withheld from the first
  restore <did>     lift the takedown; its repo events are served again
  list [--taken-down | --throttled] [--host H]
                    the accounts taken down here (the default: DID, handle, host, since when), or the throttled
                    ones, whose repo events are withheld (host_account_limit, or account_budget until its
                    window resets); --host only that host's`,
  tail: `Usage: relay tail [--cursor N] [--url URL] [--limit N]

Connects to a relay's firehose (com.atproto.sync.subscribeRepos) and prints one line per frame:
  seq #commit <did> rev=<rev> ops=<n> [<action> <path>, …] blocks=<bytes>B commit=<cid>
  seq #identity|#account|#sync <did> …, #info <name>: <message>, ERROR <error>: <message>
Status lines (connected, closed, how to resume) go to stderr, so stdout can be piped to grep.

  --url URL     relay to follow: ws(s):// or http(s):// base URL (default ws://127.0.0.1:$RELAY_PORT)
  --cursor N    replay from after seq N first (0: the whole replay window), then follow live
  --limit N     stop after N events

Stops on Ctrl-C, printing the last seq seen. Exits 1 after an error frame or a refused connection.`,
  collections: `Usage: relay collections <backfill <host>|--all | status>

  backfill <host>   walk the host's com.atproto.sync.listRepos and ask com.atproto.repo.describeRepo of every
                    active repo the relay knows there, filling the collection index behind
                    com.atproto.sync.listReposByCollection (for repos seen before the relay kept it)
  backfill --all    the same for every crawled host, 8 at a time
  status            each host's saved progress

Runs against the database (DATABASE_URL, or the embedded store) beside the running relay, which keeps ingesting.
Each host is asked at most RELAY_COLLECTION_LOOKUPS_PER_MINUTE requests a minute. Progress is saved after every
page: run the same command again after a crash or Ctrl-C to resume where it stopped. An answer is not applied over
a commit the relay accepted since (that commit keeps the index right).`,
  domains: `Usage: relay domains <list|ban|unban> [domain] [--url URL] [--password PW] [--json]

  list              banned domains
  ban <domain>      ban a domain and every subdomain (hosts already crawled under it are banned too)
  unban <domain>    lift a domain ban`,
};

/** Hosts `hosts import` admits a second by default: each costs the relay two probes of the host. */
const DEFAULT_IMPORT_RATE = 10;
/** Hosts `hosts recheck` checks a second by default: each costs the relay up to two probes of the host. */
const DEFAULT_RECHECK_RATE = 10;

function fail(message: string): never {
  process.stderr.write(`relay: ${message}\n`);
  process.exit(1);
}

async function serve(): Promise<void> {
  const config = loadConfig(process.env);
  const { createRelay } = await import('../relay.ts');
  const relay = await createRelay(config);
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    relay.app.log.info({ signal }, 'shutting down');
    relay.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        relay.app.log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  const address = await relay.start();
  relay.app.log.info(
    { address, store: config.databaseUrl ? 'postgres' : `embedded (${config.dataDir})`, crawlPolicy: config.crawlPolicy },
    'relay listening',
  );
}

async function migrate(): Promise<void> {
  const config = loadConfig(process.env);
  const { openDatabase } = await import('../storage/db.ts');
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  try {
    // Progress on stderr: a migration over a large event table can take a while, and stdout stays parseable.
    const started = Date.now();
    process.stderr.write(`relay: applying migrations (${database.kind})…\n`);
    await database.migrate();
    process.stderr.write(`relay: migrations done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    process.stdout.write(`migrations applied (${database.kind})\n`);
  } finally {
    await database.close();
  }
}

/** Where the running relay's admin API is, and its password: flags first, then the configuration. */
function adminClient(flags: { url?: string; password?: string }): AdminClientOptions {
  const config = loadConfig(process.env);
  return { url: flags.url ?? `http://127.0.0.1:${config.port}`, password: flags.password ?? config.adminPassword };
}

function printTable<R extends object>(rows: readonly R[], columns: ReadonlyArray<keyof R & string>): void {
  const cell = (r: R, c: keyof R & string) => String(r[c] ?? '-');
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r, c).length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  process.stdout.write(`${line([...columns])}\n`);
  for (const r of rows) process.stdout.write(`${line(columns.map((c) => cell(r, c)))}\n`);
}

/** A host's Sync v1.1 mode in a few words: `strict (auto, since …)`, `lenient (auto, 3/10 valid)`, `strict (pinned)`. */
function describeSync(v: StrictnessView): string {
  if (v.setting !== 'auto') return `${v.mode} (pinned)`;
  return v.mode === 'strict' ? `strict (auto, since ${v.strictSince ?? '?'})` : `lenient (auto, ${v.provenCommits}/${v.ratchetAfter} valid)`;
}

function parseLimit(v: string | undefined, name: string, min = 1): number | null | undefined {
  if (v === undefined) return undefined;
  if (v === 'default') return null;
  if (!/^\d+$/.test(v) || Number(v) < min) fail(`--${name} must be an integer >= ${min} or "default"`);
  return Number(v);
}

async function hosts(
  args: string[],
  flags: { url?: string; password?: string; json?: boolean; hour?: string; day?: string; accounts?: string; from?: string; rate?: string; disconnect?: boolean },
): Promise<void> {
  const client = adminClient(flags);
  const [sub, hostname] = args;
  const out = (value: unknown, table: () => void): void => {
    if (flags.json) process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
    else table();
  };
  switch (sub) {
    case 'list': {
      const res = await listAllHosts(client);
      const rows = res.hosts.map((h) => ({ ...h, sync: describeSync(h.sync), lastError: h.lastError && `${h.lastError} (${h.lastErrorAt})` }));
      return out(res, () =>
        printTable(rows, ['hostname', 'status', 'tier', 'sync', 'connected', 'cursor', 'failedAttempts', 'lastEventAt', 'eventsLastHour', 'lastError']),
      );
    }
    case 'add':
    case 'approve': {
      if (!hostname) fail(`hosts ${sub} needs a hostname`);
      const res = await adminCall(client, adminApi.addHost, { body: { hostname } });
      const next = res.status === 'connecting' ? ' (admitted; `relay hosts list` shows when it is subscribed, or why not)' : '';
      return out(res, () => process.stdout.write(`${res.hostname}: ${res.status}${next}\n`));
    }
    case 'limits': {
      if (!hostname) fail('hosts limits needs a hostname');
      const perHour = parseLimit(flags.hour, 'hour');
      const perDay = parseLimit(flags.day, 'day');
      const accountLimit = parseLimit(flags.accounts, 'accounts', 0);
      if (perHour === undefined && perDay === undefined && accountLimit === undefined) {
        fail('hosts limits needs --hour, --day and/or --accounts');
      }
      const body = {
        ...(perHour !== undefined ? { perHour } : {}),
        ...(perDay !== undefined ? { perDay } : {}),
        ...(accountLimit !== undefined ? { accountLimit } : {}),
      };
      const res = await adminCall(client, adminApi.setHostLimits, { params: { hostname }, body });
      const { limits } = res;
      return out(res, () =>
        process.stdout.write(`${res.hostname}: ${limits.perHour}/hour, ${limits.perDay}/day, ${limits.accountLimit} accounts\n`),
      );
    }
    case 'tier': {
      const tier = args[2];
      if (!hostname || (tier !== 'new' && tier !== 'trusted')) fail('usage: relay hosts tier <host> <new|trusted>');
      const res = await adminCall(client, adminApi.setHostTier, { params: { hostname }, body: { tier } });
      return out(res, () => process.stdout.write(`${res.hostname}: ${res.tier} (${res.limits.perHour}/hour, ${res.limits.perDay}/day, ${res.limits.accountLimit} accounts)\n`));
    }
    case 'mode': {
      const mode = SYNC_MODE_SETTINGS.find((m) => m === args[2]);
      if (!hostname || !mode) fail('usage: relay hosts mode <host> <auto|strict|lenient>');
      const res = await adminCall(client, adminApi.setHostSyncMode, { params: { hostname }, body: { mode } });
      return out(res, () => process.stdout.write(`${res.hostname}: ${describeSync(res.sync)}\n`));
    }
    case 'ban':
    case 'unban':
    case 'remove':
    case 'disconnect':
    case 'reconnect': {
      if (!hostname) fail(`hosts ${sub} needs a hostname`);
      const endpoint = { ban: adminApi.banHost, unban: adminApi.unbanHost, remove: adminApi.removeHost, disconnect: adminApi.disconnectHost, reconnect: adminApi.reconnectHost }[sub];
      const res = await adminCall(client, endpoint, { params: { hostname } });
      return out(res, () => process.stdout.write(`${res.hostname}: ${res.status}\n`));
    }
    case 'import': {
      if (!flags.from) fail('hosts import needs --from https://relay.example');
      const perSecond = flags.rate === undefined ? DEFAULT_IMPORT_RATE : Number(flags.rate);
      if (!(perSecond > 0) || !Number.isFinite(perSecond)) fail('--rate must be a number of hosts per second above 0');
      const { importHosts } = await import('./hosts-import.ts');
      const abort = new AbortController();
      process.once('SIGINT', () => abort.abort());
      process.once('SIGTERM', () => abort.abort());
      process.exitCode = await importHosts({
        client,
        from: flags.from,
        perSecond,
        signal: abort.signal,
        io: { out: (line) => process.stdout.write(`${line}\n`), err: (text) => process.stderr.write(text), tty: process.stderr.isTTY === true },
      });
      return;
    }
    case 'recheck': {
      const perSecond = flags.rate === undefined ? DEFAULT_RECHECK_RATE : Number(flags.rate);
      if (!(perSecond > 0) || !Number.isFinite(perSecond)) fail('--rate must be a number of hosts per second above 0');
      const { recheckHosts } = await import('./hosts-recheck.ts');
      const abort = new AbortController();
      process.once('SIGINT', () => abort.abort());
      process.once('SIGTERM', () => abort.abort());
      process.exitCode = await recheckHosts({
        client,
        hostnames: args.slice(1),
        disconnect: flags.disconnect === true,
        perSecond,
        signal: abort.signal,
        io: { out: (line) => process.stdout.write(`${line}\n`), err: (text) => process.stderr.write(text) },
      });
      return;
    }
    case 'requests': {
      const res = await adminCall(client, adminApi.listCrawlRequests, {});
      return out(res, () => printTable(res.requests, ['hostname', 'requestedAt', 'requestCount']));
    }
    default:
      fail(`unknown hosts command ${sub ?? '(none)'}\n\n${HELP.hosts}`);
  }
}

async function domains(args: string[], flags: { url?: string; password?: string; json?: boolean }): Promise<void> {
  const client = adminClient(flags);
  const [sub, domain] = args;
  const print = (value: unknown, text: string): void => {
    process.stdout.write(flags.json ? `${JSON.stringify(value, null, 2)}\n` : `${text}\n`);
  };
  switch (sub) {
    case 'list': {
      const res = await adminCall(client, adminApi.listDomainBans, {});
      return print(res, res.domains.join('\n') || '(no banned domains)');
    }
    case 'ban': {
      if (!domain) fail('domains ban needs a domain');
      const res = await adminCall(client, adminApi.banDomain, { body: { domain } });
      return print(res, `${res.domain}: banned${res.bannedHosts.length ? ` (hosts: ${res.bannedHosts.join(', ')})` : ''}`);
    }
    case 'unban': {
      if (!domain) fail('domains unban needs a domain');
      const res = await adminCall(client, adminApi.unbanDomain, { params: { domain } });
      return print(res, `${res.domain}: unbanned`);
    }
    default:
      fail(`unknown domains command ${sub ?? '(none)'}\n\n${HELP.domains}`);
  }
}

async function accounts(
  args: string[],
  flags: { url?: string; password?: string; json?: boolean; 'taken-down'?: boolean; throttled?: boolean; host?: string },
): Promise<void> {
  const client = adminClient(flags);
  const [sub, did] = args;
  if (sub === 'list') return listAccountsCommand(client, flags);
  if ((sub !== 'takedown' && sub !== 'restore') || !did) fail(`usage: relay accounts takedown|restore <did|handle> | list\n\n${HELP.accounts}`);
  const res = await adminCall(client, sub === 'takedown' ? adminApi.takedownAccount : adminApi.restoreAccount, { params: { did } });
  process.stdout.write(flags.json ? `${JSON.stringify(res, null, 2)}\n` : `${res.did}: ${res.active ? 'active' : `inactive (${res.status})`}\n`);
}

async function listAccountsCommand(client: AdminClientOptions, flags: { json?: boolean; 'taken-down'?: boolean; throttled?: boolean; host?: string }): Promise<void> {
  if (flags['taken-down'] && flags.throttled) fail('give --taken-down or --throttled, not both');
  const status = flags.throttled ? 'throttled' : 'takendown';
  const res = await listAll(client, adminApi.listAccounts, 'accounts', { query: { status, ...(flags.host ? { host: flags.host } : {}) } });
  if (flags.json) return void process.stdout.write(`${JSON.stringify(res, null, 2)}\n`);
  if (res.accounts.length === 0) return void process.stdout.write(status === 'throttled' ? '(no throttled accounts)\n' : '(no accounts taken down)\n');
  const rows = res.accounts.map((a) => ({ ...a, reason: a.throttle?.reason, until: a.throttle?.until }));
  if (status === 'throttled') printTable(rows, ['did', 'handle', 'hostname', 'reason', 'until']);
  else printTable(rows, ['did', 'handle', 'hostname', 'takenDownAt']);
}

function nonNegativeInt(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) fail(`--${name} must be a non-negative integer`);
  return Number(v);
}

async function tailCommand(flags: { url?: string; cursor?: string; limit?: string }): Promise<void> {
  const cursor = nonNegativeInt(flags.cursor, 'cursor');
  const limit = nonNegativeInt(flags.limit, 'limit');
  const base = flags.url ?? `ws://127.0.0.1:${loadConfig(process.env).port}`;
  const { firehoseUrl, tail } = await import('./tail.ts');
  const abort = new AbortController();
  process.once('SIGINT', () => abort.abort());
  process.once('SIGTERM', () => abort.abort());
  process.exitCode = await tail({
    url: firehoseUrl(base, cursor),
    limit,
    signal: abort.signal,
    write: (line) => process.stdout.write(`${line}\n`),
    report: (line) => process.stderr.write(`relay tail: ${line}\n`),
  });
}

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      url: { type: 'string' },
      password: { type: 'string' },
      json: { type: 'boolean' },
      hour: { type: 'string' },
      day: { type: 'string' },
      cursor: { type: 'string' },
      limit: { type: 'string' },
      accounts: { type: 'string' },
      all: { type: 'boolean' },
      from: { type: 'string' },
      rate: { type: 'string' },
      'taken-down': { type: 'boolean' },
      throttled: { type: 'boolean' },
      host: { type: 'string' },
      disconnect: { type: 'boolean' },
    },
  });
  const [command, ...rest] = positionals;
  if (!command) {
    process.stdout.write(`${HELP.main}\n`);
    if (!values.help) process.exitCode = 1;
    return;
  }
  if (values.help) {
    const text = HELP[command];
    if (!text) fail(`unknown command ${command}\n\n${HELP.main}`);
    process.stdout.write(`${text}\n`);
    return;
  }
  switch (command) {
    case 'serve':
      return serve();
    case 'migrate':
      return migrate();
    case 'config':
      process.stdout.write(`${configReference()}\n`);
      return;
    case 'hosts':
      return hosts(rest, values);
    case 'domains':
      return domains(rest, values);
    case 'accounts':
      return accounts(rest, values);
    case 'tail':
      return tailCommand(values);
    case 'collections': {
      const { collectionsCommand } = await import('./collections.ts');
      process.exitCode = await collectionsCommand(rest, values, {
        out: (line) => process.stdout.write(`${line}\n`),
        err: (text) => process.stderr.write(text),
        tty: process.stderr.isTTY === true,
      });
      return;
    }
    case 'consumers': {
      const res = await adminCall(adminClient(values), adminApi.listConsumers, {});
      if (values.json) process.stdout.write(`${JSON.stringify(res, null, 2)}\n`);
      else printTable(res.consumers, ['kind', 'remoteAddress', 'filters', 'connectedAt', 'state', 'sentSeq', 'lag', 'bufferedBytes', 'peakBufferedBytes']);
      return;
    }
    default:
      fail(`unknown command ${command}\n\n${HELP.main}`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof ConfigError) fail(err.message);
  fail(err instanceof Error ? err.message : String(err));
});
