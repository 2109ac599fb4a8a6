// `relay tail`: follows a relay's firehose and prints one readable line per frame, for debugging by eye or grep.
import WebSocket from 'ws';
import { cidToString } from '../protocol/cid.ts';
import { decodeFrame, FrameError, type DecodedFrame } from '../protocol/frame.ts';

const OPS_SHOWN = 3;

function str(v: unknown): string {
  return typeof v === 'string' ? v : v === undefined || v === null ? '-' : String(v);
}

/** A CID link as decoded by @atcute/cbor ({ $link } or raw bytes), as its string form. */
function cid(v: unknown): string | null {
  if (v && typeof v === 'object') {
    const link = (v as { $link?: unknown }).$link;
    if (typeof link === 'string') return link;
    const bytes = (v as { bytes?: unknown }).bytes;
    if (bytes instanceof Uint8Array) return cidToString(bytes.subarray(1));
  }
  return null;
}

function byteLength(v: unknown): number | null {
  if (v instanceof Uint8Array) return v.length;
  const buf = v && typeof v === 'object' ? (v as { buf?: unknown; $bytes?: unknown }) : null;
  if (buf?.buf instanceof Uint8Array) return buf.buf.length;
  if (typeof buf?.$bytes === 'string') return Math.floor((buf.$bytes.length * 3) / 4);
  return null;
}

function ops(v: unknown): string {
  if (!Array.isArray(v)) return 'ops=?';
  const shown = v.slice(0, OPS_SHOWN).map((op: { action?: unknown; path?: unknown }) => `${str(op?.action)} ${str(op?.path)}`);
  const more = v.length > OPS_SHOWN ? `, +${v.length - OPS_SHOWN} more` : '';
  return `ops=${v.length}${v.length ? ` [${shown.join(', ')}${more}]` : ''}`;
}

/** One line per frame: seq, type, account, then what matters for that type. */
export function formatFrame(frame: DecodedFrame): string {
  if (frame.op === -1) return `ERROR ${frame.error}${frame.message ? `: ${frame.message}` : ''}`;
  if (frame.op === 'unknown') return '(frame with unknown op, skipped)';
  const b = frame.body;
  const seq = typeof b.seq === 'number' ? String(b.seq) : '-';
  switch (frame.t) {
    case '#commit': {
      const size = byteLength(b.blocks);
      return [
        seq,
        '#commit',
        str(b.repo),
        `rev=${str(b.rev)}`,
        ops(b.ops),
        ...(size === null ? [] : [`blocks=${size}B`]),
        ...(b.tooBig === true ? ['tooBig'] : []),
        ...(b.prevData === undefined ? ['no-prevData'] : []),
        `commit=${cid(b.commit) ?? '?'}`,
      ].join(' ');
    }
    case '#sync':
      return `${seq} #sync ${str(b.did)} rev=${str(b.rev)}`;
    case '#identity':
      return `${seq} #identity ${str(b.did)}${b.handle === undefined ? '' : ` handle=${str(b.handle)}`}`;
    case '#account':
      return `${seq} #account ${str(b.did)} active=${str(b.active)}${b.status === undefined ? '' : ` status=${str(b.status)}`}`;
    case '#info':
      return `#info ${str(b.name)}${b.message === undefined ? '' : `: ${str(b.message)}`}`;
    default:
      return `${seq} ${frame.t} (${Object.keys(b).join(', ')})`;
  }
}

/** The subscribeRepos URL for a relay base URL (http(s) or ws(s); a full subscribeRepos URL is kept). */
export function firehoseUrl(base: string, cursor: number | undefined): string {
  const url = new URL(base);
  if (url.protocol === 'http:') url.protocol = 'ws:';
  if (url.protocol === 'https:') url.protocol = 'wss:';
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new Error(`--url must be ws(s):// or http(s)://, not ${base}`);
  if (!url.pathname.includes('/xrpc/')) url.pathname = `${url.pathname.replace(/\/+$/, '')}/xrpc/com.atproto.sync.subscribeRepos`;
  if (cursor !== undefined) url.searchParams.set('cursor', String(cursor));
  return url.toString();
}

/**
 * Prints frames until the relay closes the stream, `limit` events were printed, or `signal` aborts (Ctrl-C).
 * Resolves to the exit code: 0 on a clean stop, 1 after an error frame or a failed connection.
 */
export function tail(opts: {
  url: string;
  limit?: number;
  write: (line: string) => void;
  report: (line: string) => void;
  signal: AbortSignal;
}): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(opts.url, { maxPayload: 8 * 1024 * 1024 });
    let events = 0;
    let lastSeq: number | null = null;
    let code = 0;
    let done = false;
    const stop = () => ws.close(1000);
    const finish = (why: string) => {
      if (done) return;
      done = true;
      opts.signal.removeEventListener('abort', stop);
      opts.report(`${why}: ${events} events${lastSeq === null ? '' : `, last seq ${lastSeq} (resume with --cursor ${lastSeq})`}`);
      resolve(code);
    };
    opts.signal.addEventListener('abort', stop, { once: true });
    ws.on('open', () => opts.report(`connected to ${opts.url}`));
    // A refused upgrade (bad cursor, too many connections) comes back as an XRPC JSON error: show it.
    ws.on('unexpected-response', (req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => {
        code = 1;
        opts.report(`relay refused the connection: HTTP ${res.statusCode} ${body.slice(0, 300)}`);
        finish('stopped');
        req.destroy();
      });
    });
    ws.on('message', (data: Buffer) => {
      let frame: DecodedFrame;
      try {
        frame = decodeFrame(new Uint8Array(data));
      } catch (err) {
        opts.write(`(undecodable frame of ${data.length} bytes: ${err instanceof FrameError ? err.reason : 'error'}: ${(err as Error).message})`);
        return;
      }
      opts.write(formatFrame(frame));
      if (frame.op === -1) code = 1;
      if (frame.op === 1 && typeof frame.body.seq === 'number') {
        events++;
        lastSeq = frame.body.seq;
        if (opts.limit !== undefined && events >= opts.limit) stop();
      }
    });
    ws.on('error', (err) => {
      code = 1;
      if (!done) opts.report(`connection failed: ${err.message}`);
    });
    ws.on('close', (closeCode, reason) => {
      finish(opts.signal.aborted ? 'interrupted' : `closed (${closeCode}${reason.length ? ` ${reason.toString()}` : ''})`);
    });
  });
}
