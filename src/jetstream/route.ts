// GET /subscribe: the Jetstream v1 stream, served beside subscribeRepos by the same stream server (per-client cap,
// keepalive, write deadline).
import type { PreparedStream, StreamRoute } from '../firehose/server.ts';
import type { JetstreamFanout } from './fanout.ts';
import { MAX_CLIENT_MESSAGE_BYTES, parseSubscribe } from './options.ts';
import { JetstreamSubscriber, type SubscriberOptions } from './subscriber.ts';

export const JETSTREAM_PATH = '/subscribe';

/** What every subscriber of the route shares; each connection adds its socket, address and request. */
type Shared = Omit<SubscriberOptions, 'ws' | 'remoteAddress' | 'request' | 'live'> & { fanout: JetstreamFanout };

export function jetstreamRoute(o: Shared): StreamRoute {
  let subscribers = 0;
  return {
    path: JETSTREAM_PATH,
    maxClientMessageBytes: MAX_CLIENT_MESSAGE_BYTES,
    prepare: (url, req): PreparedStream | { message: string } => {
      const encoding = req.headers['socket-encoding'];
      const parsed = parseSubscribe(url.searchParams, Array.isArray(encoding) ? encoding[0] : encoding);
      if (!parsed.ok) return { message: parsed.message };
      return {
        open: (ws, remoteAddress) => {
          const s = new JetstreamSubscriber({ ...o, live: o.fanout, ws, remoteAddress, request: parsed.value });
          o.metrics.jetstreamSubscribers.set(++subscribers);
          ws.on('close', () => o.metrics.jetstreamSubscribers.set(--subscribers));
          s.start().catch((err: unknown) => s.failed(err));
          return s;
        },
      };
    },
  };
}

