// The official firehose consumer (@atproto/sync's Firehose, from npm) as an AppView runs it, in a process of its own
// (npm run bench compare): commits verified (signature and MST proofs, keys from the PLC stand-in behind a memory
// cache, so each account is resolved once, the first time it is seen), from a cursor in the relay's log. It reports
// what it has handed over after `measureAfterSeq` when asked, timed from the first such commit to the last, and
// stops at `commits` of them; what comes before is its warm-up (compiling, as the relay's warm-up is for the relay).
import { Firehose, MemoryRunner } from '@atproto/sync';
import { IdResolver, MemoryCache } from '@atproto/identity';
import type { OfficialConsumerCommand, OfficialConsumerReply } from '../lib/protocol.ts';

const send = (m: OfficialConsumerReply) => process.send!(m);

const seqs = new Set<number>();
/** Each op handed over (seq, path): one seen again was delivered again (the subscription reconnected). */
const handed = new Set<string>();
let redelivered = 0;
const errors: string[] = [];
let errorCount = 0;
let ops = 0;
let firstAt = 0;
let lastAt = 0;
let cpu0 = process.cpuUsage();
let cpuUs = 0;
let lookupRetries = 0;

/**
 * fetch as an AppView would give its resolver: a look-up whose connection fails (the directory stand-in refuses or
 * resets connections under a burst of first-seen accounts) is tried again after a pause, a few times, instead of
 * dropping the commit. HTTP answers, errors included, are returned as they came.
 */
async function retryingFetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fetch(input, init);
    } catch (err) {
      if (attempt >= 4 || init?.signal?.aborted) throw err;
      lookupRetries++;
      await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
    }
  }
}

function start(url: string, plcUrl: string, cursor: number, measureAfterSeq: number, commits: number): void {
  let done = false;
  const firehose = new Firehose({
    service: url,
    // The default fetch refuses loopback addresses (SSRF protection); the PLC stand-in is on loopback. Its default
    // 3 s timeout fails look-ups while a backlog of cached accounts' checks holds the loop (promise chains that never
    // yield to I/O): a consumer catching up sets it longer.
    idResolver: new IdResolver({ plcUrl, fetch: retryingFetch, didCache: new MemoryCache(), timeout: 60_000 }),
    unauthenticatedCommits: false,
    // Handles are bench names that resolve nowhere (and must not be looked up off this machine).
    unauthenticatedHandles: true,
    // Commits of different accounts are checked concurrently, bounded: unbounded, the first-seen accounts' key
    // look-ups queue behind thousands of checks and time out (3 s) on the busy loop.
    runner: new MemoryRunner({ startCursor: cursor, concurrency: 64 }),
    handleEvent: (evt) => {
      if (evt.event !== 'create' && evt.event !== 'update' && evt.event !== 'delete') return;
      if (evt.seq <= measureAfterSeq) return;
      if (firstAt === 0) {
        firstAt = Date.now();
        cpu0 = process.cpuUsage();
      }
      if (done) return;
      const op = `${evt.seq} ${evt.collection}/${evt.rkey}`;
      if (handed.has(op)) {
        redelivered++;
        return;
      }
      handed.add(op);
      ops++;
      seqs.add(evt.seq);
      lastAt = Date.now();
      const cpu = process.cpuUsage(cpu0);
      cpuUs = cpu.user + cpu.system;
      if (seqs.size >= commits) {
        done = true;
        void firehose.destroy();
      }
    },
    onError: (err) => {
      errorCount++;
      const cause = (err as { cause?: unknown }).cause;
      const evt = (err as { event?: { $type?: string; seq?: number } }).event;
      if (errors.length < 5) errors.push(`${err.message}${cause ? `: ${String(cause instanceof Error ? cause.message : cause)}` : ''}${evt ? ` (${evt.$type ?? '?'} seq ${evt.seq})` : ''}`);
    },
  });
  void firehose.start();
}

process.on('message', (cmd: OfficialConsumerCommand) => {
  if (cmd.cmd === 'exit') process.exit(0);
  if (cmd.cmd === 'start') start(cmd.url, cmd.plcUrl, cmd.cursor, cmd.measureAfterSeq, cmd.commits);
  if (cmd.cmd === 'report') send({ type: 'report', commits: seqs.size, ops, firstAt, lastAt, cpuUs, errorCount, errors, lookupRetries, redelivered });
});
send({ type: 'ready' });
