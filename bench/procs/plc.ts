// Fake PLC directory child process for the benches: serves the DID documents the fleet processes create (sent via
// the parent), answering after a latency with jitter and, if asked, turning requests away with 429 past a rate
// (the JSON PlcBehaviour in argv[2]), as dev-env/fake-plc.ts does for the tests.
// It is HTTP/1.1 on a bare TCP server with every answer rendered once, not node:http: that server cost 64 µs of CPU
// a request, about a tenth of both cores in `bench cold`'s burst (4,500 documents in 1.5 s), taken from the relay
// it is there to measure (docs/perf-journal.md, session 27). The relay's client and @atproto/sync's fetch send
// GETs without bodies; each connection's answers go out in the order its requests came.
import { createServer, type Socket } from 'node:net';
import type { PlcBehaviour } from '../../dev-env/fake-plc.ts';
import type { PlcCommand, PlcReply } from '../lib/protocol.ts';

const behaviour: PlcBehaviour = { latencyMs: 0, jitter: 0, maxPerSecond: 0, ...(process.argv[2] ? (JSON.parse(process.argv[2]) as Partial<PlcBehaviour>) : {}) };

function response(status: number, reason: string, type: string, body: string, extra = ''): Buffer {
  const bytes = Buffer.from(body);
  return Buffer.concat([
    Buffer.from(`HTTP/1.1 ${status} ${reason}\r\ncontent-type: ${type}\r\ncontent-length: ${bytes.length}\r\n${extra}connection: keep-alive\r\nkeep-alive: timeout=60\r\n\r\n`),
    bytes,
  ]);
}
const NOT_FOUND = response(404, 'Not Found', 'application/json', JSON.stringify({ message: 'DID not registered' }));
const RATE_LIMITED = response(429, 'Too Many Requests', 'application/json', JSON.stringify({ message: 'Rate Limit Exceeded' }), 'retry-after: 1\r\n');
const BAD_REQUEST = response(400, 'Bad Request', 'application/json', JSON.stringify({ message: 'only GET without a body' }));

/** Each DID's answer, rendered when the parent hands the document over. */
const answers = new Map<string, Buffer>();
let requests = 0;
let rateLimited = 0;
let window = { second: 0, count: 0 };

/** Decided when the request arrives, so the rate limit counts arrivals. */
function answerFor(method: string, target: string): Buffer {
  requests++;
  if (behaviour.maxPerSecond > 0) {
    const second = Math.floor(Date.now() / 1000);
    if (second !== window.second) window = { second, count: 0 };
    if (++window.count > behaviour.maxPerSecond) {
      rateLimited++;
      return RATE_LIMITED;
    }
  }
  if (method !== 'GET') return NOT_FOUND;
  let did: string;
  try {
    did = decodeURIComponent(target.slice(1).split('?')[0]!);
  } catch {
    return NOT_FOUND;
  }
  return answers.get(did) ?? NOT_FOUND;
}

// Answers due in the same millisecond share one timer; a connection's answers are written in request order (an
// answer is never due before the one asked for ahead of it on the same connection).
const due = new Map<number, Array<{ socket: Socket; answer: Buffer }>>();
const lastDue = new WeakMap<Socket, number>();
function schedule(socket: Socket, answer: Buffer): void {
  const delay = behaviour.latencyMs * (1 + behaviour.jitter * (2 * Math.random() - 1));
  const at = Math.max(Math.ceil(Date.now() + delay), lastDue.get(socket) ?? 0);
  lastDue.set(socket, at);
  let list = due.get(at);
  if (!list) {
    list = [];
    due.set(at, list);
    setTimeout(() => {
      due.delete(at);
      for (const a of list!) if (!a.socket.destroyed) a.socket.write(a.answer);
    }, Math.max(0, at - Date.now()));
  }
  list.push({ socket, answer });
}

const server = createServer({ noDelay: true }, (socket) => {
  let pending: Buffer = Buffer.alloc(0);
  socket.on('error', () => socket.destroy());
  socket.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let end: number;
    while ((end = pending.indexOf('\r\n\r\n')) >= 0) {
      const head = pending.toString('latin1', 0, end);
      pending = pending.subarray(end + 4);
      const lineEnd = head.indexOf('\r\n');
      const [method = '', target = '/'] = (lineEnd < 0 ? head : head.slice(0, lineEnd)).split(' ');
      if (/\r\n(content-length: *[1-9]|transfer-encoding:)/i.test(head)) {
        socket.end(BAD_REQUEST);
        return;
      }
      schedule(socket, answerFor(method, target));
    }
    if (pending.length > 16 * 1024) socket.destroy();
  });
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;

const send = (m: PlcReply) => process.send!(m);
process.on('message', (msg: PlcCommand) => {
  if (msg.cmd === 'docs') {
    for (const [did, doc] of msg.docs) answers.set(did, response(200, 'OK', 'application/did+ld+json', JSON.stringify(doc)));
    send({ type: 'stored', count: msg.docs.length });
  } else if (msg.cmd === 'stats') {
    send({ type: 'stats', requests, rateLimited });
  } else {
    server.close();
    process.exit(0);
  }
});
send({ type: 'ready', url });
