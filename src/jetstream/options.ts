// What a Jetstream subscriber asks for: the /subscribe query and the options_update message, checked with the v1
// rules and limits, and the filter they make.
import { isDid, isNsid } from '../protocol/syntax.ts';
import type { JetstreamMessage } from './message.ts';

export const MAX_WANTED_COLLECTIONS = 100;
export const MAX_WANTED_DIDS = 10_000;
/** The largest message a subscriber may send (an options_update with 10,000 DIDs fits easily). */
export const MAX_CLIENT_MESSAGE_BYTES = 10_000_000;

export interface Filters {
  /** Exact collection NSIDs and prefixes (without the '*', ending in '.'); both empty = every collection. */
  collections: ReadonlySet<string>;
  prefixes: readonly string[];
  /** Empty = every account. */
  dids: ReadonlySet<string>;
  /** Larger messages are skipped; 0 = no cap. */
  maxMessageBytes: number;
}

export interface SubscribeRequest {
  filters: Filters;
  /** Unix microseconds; null = the live tail. */
  cursor: number | null;
  compress: boolean;
  requireHello: boolean;
}

type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

const SEGMENT_RE = /^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/;

function collectionFilters(wanted: readonly unknown[]): Parsed<Pick<Filters, 'collections' | 'prefixes'>> {
  const collections = new Set<string>();
  const prefixes = new Set<string>();
  for (const c of wanted) {
    if (typeof c !== 'string') return { ok: false, message: 'wantedCollections must be strings' };
    if (c.endsWith('.*')) {
      const segments = c.slice(0, -2).split('.');
      if (!segments.every((s) => SEGMENT_RE.test(s)) || !/^[a-zA-Z]/.test(c)) {
        return { ok: false, message: `invalid collection prefix: ${c}` };
      }
      prefixes.add(c.slice(0, -1));
    } else if (isNsid(c)) collections.add(c);
    else return { ok: false, message: `invalid collection: ${c} (an NSID, or a prefix ending in .*)` };
  }
  if (collections.size + prefixes.size > MAX_WANTED_COLLECTIONS) {
    return { ok: false, message: `at most ${MAX_WANTED_COLLECTIONS} wantedCollections` };
  }
  return { ok: true, value: { collections, prefixes: [...prefixes] } };
}

function didFilter(wanted: readonly unknown[]): Parsed<ReadonlySet<string>> {
  const dids = new Set<string>();
  for (const d of wanted) {
    if (!isDid(d)) return { ok: false, message: `invalid DID in wantedDids: ${String(d).slice(0, 100)}` };
    dids.add(d);
  }
  if (dids.size > MAX_WANTED_DIDS) return { ok: false, message: `at most ${MAX_WANTED_DIDS} wantedDids` };
  return { ok: true, value: dids };
}

/** v1: zero, negative, empty or unparsable means no cap. */
function maxMessageBytes(raw: unknown): number {
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' ? Number.parseInt(raw, 10) : NaN;
  return Number.isSafeInteger(n) && n > 0 ? n : 0;
}

function filters(collections: readonly unknown[], dids: readonly unknown[], maxBytes: unknown): Parsed<Filters> {
  const c = collectionFilters(collections);
  if (!c.ok) return c;
  const d = didFilter(dids);
  if (!d.ok) return d;
  return { ok: true, value: { ...c.value, dids: d.value, maxMessageBytes: maxMessageBytes(maxBytes) } };
}

/** The /subscribe query string and headers, checked before the upgrade. */
export function parseSubscribe(query: URLSearchParams, socketEncoding: string | undefined): Parsed<SubscribeRequest> {
  const f = filters(query.getAll('wantedCollections'), query.getAll('wantedDids'), query.get('maxMessageSizeBytes'));
  if (!f.ok) return f;
  let cursor: number | null = null;
  const raw = query.get('cursor');
  if (raw !== null && raw !== '') {
    if (!/^\d{1,16}$/.test(raw)) return { ok: false, message: 'cursor must be a unix time in microseconds' };
    cursor = Number(raw);
  }
  return {
    ok: true,
    value: {
      filters: f.value,
      cursor,
      compress: query.get('compress') === 'true' || socketEncoding?.trim().toLowerCase() === 'zstd',
      requireHello: query.get('requireHello') === 'true',
    },
  };
}

/**
 * A message from the subscriber: new filters for an options_update, null for a message of another type (ignored,
 * as v1 does), or an error that closes the connection.
 */
export function parseClientMessage(text: string): Parsed<Filters | null> {
  let msg: unknown;
  try {
    msg = JSON.parse(text);
  } catch {
    return { ok: false, message: 'message is not JSON' };
  }
  if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) return { ok: false, message: 'message is not a JSON object' };
  const { type, payload } = msg as { type?: unknown; payload?: unknown };
  if (type !== 'options_update') return { ok: true, value: null };
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    return { ok: false, message: 'options_update has no payload object' };
  }
  const p = payload as Record<string, unknown>;
  for (const key of ['wantedCollections', 'wantedDids'] as const) {
    if (p[key] !== undefined && p[key] !== null && !Array.isArray(p[key])) return { ok: false, message: `${key} must be an array` };
  }
  return filters((p.wantedCollections as unknown[] | undefined) ?? [], (p.wantedDids as unknown[] | undefined) ?? [], p.maxMessageSizeBytes);
}

/** Whether a subscriber with these filters receives the message. */
export function wants(f: Filters, m: JetstreamMessage): boolean {
  if (f.dids.size > 0 && !f.dids.has(m.did)) return false;
  if (f.maxMessageBytes > 0 && m.json.length > f.maxMessageBytes) return false;
  // Identity and account messages pass collection filters: consumers need them to purge accounts.
  if (m.collection === null || (f.collections.size === 0 && f.prefixes.length === 0)) return true;
  if (f.collections.has(m.collection)) return true;
  for (const p of f.prefixes) if (m.collection.startsWith(p)) return true;
  return false;
}

/** Filters summed up for operators (relay consumers, the console). */
export function describeFilters(f: Filters): string {
  const parts: string[] = [];
  if (f.collections.size + f.prefixes.length > 0) parts.push(`collections: ${[...f.collections, ...f.prefixes.map((p) => `${p}*`)].slice(0, 5).join(',')}${f.collections.size + f.prefixes.length > 5 ? ',…' : ''}`);
  if (f.dids.size > 0) parts.push(`${f.dids.size} DIDs`);
  if (f.maxMessageBytes > 0) parts.push(`max ${f.maxMessageBytes} B`);
  return parts.join('; ') || 'all';
}
