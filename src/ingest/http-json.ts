// One GET of a JSON document (or a short text) from a host the relay does not trust (a PDS being admitted, a crawled PDS asked about
// a repo). undici's dispatcher, as for DID documents (identity/resolver.ts), and not fetch, because fetch cannot take
// a `lookup`: with publicOnlyLookup the address that is checked is the address dialled, so a host cannot pass an
// address check and then answer DNS with a private address for the request itself (DNS rebinding). Redirects are
// not followed (a 3xx is an answer like any other).
import type { LookupFunction } from 'node:net';
import { Agent, Client, type Dispatcher } from 'undici';
import { publicOnlyLookup, type Lookup } from './address-policy.ts';
import { BodyCutShort, readCappedBody } from '../core/capped-body.ts';

const MAX_BODY_BYTES = 1024 * 1024;

export interface JsonAnswer {
  status: number;
  /** The parsed body; null when it was empty, not JSON or too large. */
  body: unknown;
}

export interface TextAnswer {
  status: number;
  /** The body as UTF-8; null when it was larger than asked for. */
  text: string | null;
}

export interface GetJsonOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  /** The resolver of the dial; absent = the system's. */
  lookup?: LookupFunction;
  /** Certificate authorities trusted instead of the system's (tests' self-signed servers). */
  ca?: string;
  /** false: a connection of its own, never a kept-alive one that another request (and lookup) dialled. */
  pooled?: boolean;
}

/** Rejects (with the cause in the message) only when there was no answer: refused, unresolvable, timed out. */
export async function getJson(url: URL, o: GetJsonOptions): Promise<JsonAnswer> {
  const { status, text } = await getText(url, { ...o, maxBytes: MAX_BODY_BYTES, accept: 'application/json' });
  let body: unknown = null;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = null;
    }
  }
  return { status, body };
}

/** Kept-alive connections per resolver of the dial: a connection dialled under one lookup carries no request of another. */
const pools = new WeakMap<object, Agent>();
const SYSTEM_LOOKUP = {};

function dispatcherFor(o: GetJsonOptions, origin: string): { dispatcher: Dispatcher; oneOff: boolean } {
  const connect = { ...(o.lookup ? { lookup: o.lookup } : {}), ...(o.ca ? { ca: o.ca } : {}) };
  if (o.pooled === false || o.ca) return { dispatcher: new Client(origin, { connect }), oneOff: true };
  const key = o.lookup ?? SYSTEM_LOOKUP;
  let agent = pools.get(key);
  if (!agent) pools.set(key, (agent = new Agent({ connect })));
  return { dispatcher: agent, oneOff: false };
}

/** The same GET for a body that is not JSON, read up to `maxBytes` (a larger one is dropped unread). */
export async function getText(url: URL, o: GetJsonOptions & { maxBytes: number; accept?: string }): Promise<TextAnswer> {
  const timeout = AbortSignal.timeout(o.timeoutMs);
  const signal = o.signal ? AbortSignal.any([o.signal, timeout]) : timeout;
  const failure = (err: unknown) => (o.signal?.aborted ? new Error('aborted') : new Error(timeout.aborted ? `timed out after ${o.timeoutMs} ms` : (err as Error).message));
  const { dispatcher, oneOff } = dispatcherFor(o, url.origin);
  try {
    let res: Dispatcher.ResponseData;
    try {
      res = await dispatcher.request({ origin: url.origin, path: `${url.pathname}${url.search}`, method: 'GET', headers: { accept: o.accept ?? '*/*' }, signal });
    } catch (err) {
      throw failure(err);
    }
    const { statusCode: status, body } = res;
    try {
      return { status, text: await readCappedBody(body, o.maxBytes) };
    } catch (err) {
      // A body cut short is an answer (what came of it); a deadline or the caller's stop is not.
      if (signal.aborted || !(err instanceof BodyCutShort)) throw failure(err);
      return { status, text: err.partial };
    }
  } finally {
    if (oneOff) void dispatcher.destroy().catch(() => {});
  }
}

/**
 * getText for a host named by someone else (a handle's /.well-known/atproto-did): it dials only public addresses, the
 * ones it checked; with `allowLoopback` (RELAY_ALLOW_INSECURE_HOSTS) loopback ones too. Each call dials afresh (they
 * are rare: one per operator action), so no request rides a connection dialled under another lookup.
 */
export function untrustedGet(o: { lookup: Lookup; allowLoopback: boolean; ca?: string }) {
  const pinned = publicOnlyLookup(o.lookup, () => {}, { allowLoopback: o.allowLoopback });
  return (url: URL, r: { maxBytes: number; timeoutMs: number }): Promise<TextAnswer> =>
    getText(url, { ...r, lookup: pinned, pooled: false, ...(o.ca ? { ca: o.ca } : {}) });
}
