// Drain readers child process (npm run bench fanout): opens the paths it is given as raw-socket readers that discard
// what they get (bench/lib/drain.ts), reports bytes and closes, and on `pause` stops reading for a while.
import type { Socket } from 'node:net';
import { drain, type DrainStats } from '../lib/drain.ts';
import type { DrainCommand, DrainReply } from '../lib/protocol.ts';

const send = (m: DrainReply) => process.send!(m);
const drains: DrainStats[] = [];
const sockets: Socket[] = [];

process.on('message', (cmd: DrainCommand) => {
  if (cmd.cmd === 'exit') process.exit(0);
  if (cmd.cmd === 'report') return send({ type: 'report', drains });
  if (cmd.cmd === 'pause') {
    for (const s of sockets) s.pause();
    setTimeout(() => sockets.forEach((s) => s.resume()), cmd.ms);
    return;
  }
  void (async () => {
    for (const path of cmd.paths) {
      const { stats, socket } = await drain(cmd.url, path);
      drains.push(stats);
      sockets.push(socket);
    }
    send({ type: 'connected' });
  })().catch((err: unknown) => send({ type: 'error', message: (err as Error).message }));
});
send({ type: 'ready' });
