// Drain readers child process (npm run bench fanout): opens the paths it is given as readers that discard what they
// get, reports bytes and closes, and on `pause` stops reading for a while. The readers are the spliced C ones
// (bench/procs/drain.c, built here with gcc) where they can be built, else raw Node sockets (bench/lib/drain.ts);
// BENCH_DRAIN=node chooses the Node ones.
import { spawn, spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { drain, type DrainStats } from '../lib/drain.ts';
import type { DrainCommand, DrainReply } from '../lib/protocol.ts';

const send = (m: DrainReply) => process.send!(m);

interface Readers {
  pid: number;
  open(url: string, paths: string[]): Promise<void>;
  pause(ms: number): void;
  report(): Promise<DrainStats[]>;
}

function nodeReaders(): Readers {
  const drains: DrainStats[] = [];
  const sockets: Socket[] = [];
  return {
    pid: process.pid,
    async open(url, paths) {
      for (const path of paths) {
        const { stats, socket } = await drain(url, path);
        drains.push(stats);
        sockets.push(socket);
      }
    },
    pause(ms) {
      for (const s of sockets) s.pause();
      setTimeout(() => sockets.forEach((s) => s.resume()), ms);
    },
    report: async () => drains,
  };
}

/** The C readers' binary, compiled when missing or older than its source; null where gcc cannot build it. */
function nativeBinary(): string | null {
  if (process.env.BENCH_DRAIN === 'node') return null;
  const src = fileURLToPath(new URL('./drain.c', import.meta.url));
  const bin = fileURLToPath(new URL('../../native/build/bench-drain', import.meta.url));
  const mtime = (p: string) => statSync(p, { throwIfNoEntry: false })?.mtimeMs ?? 0;
  if (mtime(bin) > mtime(src)) return bin;
  const built = spawnSync('sh', ['-c', `mkdir -p "$(dirname "$2")" && gcc -O2 -std=c11 -Wall -o "$2" "$1"`, 'sh', src, bin], { stdio: 'inherit' });
  return built.status === 0 ? bin : null;
}

function nativeReaders(bin: string, url: string): Readers {
  const { hostname, port } = new URL(url);
  const proc = spawn(bin, [hostname, port], { stdio: ['pipe', 'pipe', 'inherit'] });
  const replies: string[] = [];
  const waiting: Array<(line: string) => void> = [];
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    const w = waiting.shift();
    if (w) w(line);
    else replies.push(line);
  });
  const reply = () => new Promise<string>((resolve) => (replies.length ? resolve(replies.shift()!) : waiting.push(resolve)));
  const command = (line: string) => proc.stdin!.write(`${line}\n`);
  process.on('exit', () => proc.kill());
  return {
    pid: proc.pid!,
    async open(_url, paths) {
      for (const path of paths) command(`open ${path}`);
      command('sync');
      const line = await reply();
      if (line !== 'connected') throw new Error(line.replace(/^error /, ''));
    },
    pause: (ms) => void command(`pause ${ms}`),
    async report() {
      command('report');
      return JSON.parse(await reply()) as DrainStats[];
    },
  };
}

let readers: Readers | undefined;
process.on('message', (cmd: DrainCommand) => {
  if (cmd.cmd === 'exit') process.exit(0);
  void (async () => {
    if (cmd.cmd === 'start') {
      const bin = nativeBinary();
      readers ??= bin ? nativeReaders(bin, cmd.url) : nodeReaders();
      await readers.open(cmd.url, cmd.paths);
      return send({ type: 'connected', pid: readers.pid });
    }
    if (!readers) throw new Error(`${cmd.cmd} before start`);
    if (cmd.cmd === 'pause') return readers.pause(cmd.ms);
    send({ type: 'report', drains: await readers.report() });
  })().catch((err: unknown) => send({ type: 'error', message: (err as Error).message }));
});
send({ type: 'ready' });
