// The CLI's client for a running relay's /admin API, typed by services/contract.ts.
import { adminApi, endpointPath, type AnyEndpoint, type BodyOf, type ParamsOf, type QueryOf, type ResponseOf } from '../services/contract.ts';

export interface AdminClientOptions {
  url: string;
  password: string | null;
}

/** What to send with a call: the path's parameters, the body and the query, where the endpoint has them. */
export type CallArgs<E extends AnyEndpoint> = (keyof ParamsOf<E> extends never ? { params?: undefined } : { params: ParamsOf<E> }) &
  (BodyOf<E> extends undefined ? { body?: undefined } : { body: BodyOf<E> }) & { query?: Partial<QueryOf<E>> };

/** The relay answered a call with an error: `status` and the XRPC `error` name tell a refusal from a fault. */
export class AdminCallError extends Error {
  readonly status: number;
  readonly error: string;
  readonly detail: string;
  constructor(status: number, error: string, detail: string, context: string) {
    super(`${context}: ${error}: ${detail}`);
    this.status = status;
    this.error = error;
    this.detail = detail;
  }
}

/** Why fetch could not reach the relay, in words: undici's TypeError says only "fetch failed" and keeps the cause. */
function unreachableCause(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  switch (cause?.code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'no such host';
    case 'ETIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return 'connection timed out';
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
      return 'connection closed';
    default:
      return cause?.message ?? (err as Error).message;
  }
}

export async function adminCall<E extends AnyEndpoint>(opts: AdminClientOptions, e: E, args: CallArgs<E>): Promise<ResponseOf<E>> {
  if (!opts.password) throw new Error('set RELAY_ADMIN_PASSWORD (or pass --password) to use admin commands');
  const query = new URLSearchParams(Object.entries(args.query ?? {}).map(([k, v]): [string, string] => [k, String(v)])).toString();
  const path = endpointPath(e, (args.params ?? {}) as Record<string, string>) + (query ? `?${query}` : '');
  const base = opts.url.replace(/\/+$/, '');
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, {
      method: e.method,
      headers: { authorization: `Bearer ${opts.password}`, ...(args.body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: args.body === undefined ? undefined : JSON.stringify(args.body),
    });
  } catch (err) {
    throw new Error(`cannot reach the relay at ${base} (${unreachableCause(err)}) — is it running? set --url`);
  }
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    throw new Error(`${e.method} ${path}: HTTP ${res.status}: ${text.slice(0, 200)}`);
  }
  if (!res.ok) {
    const err = json as { error?: string; message?: string } | null;
    throw new AdminCallError(res.status, err?.error ?? `HTTP ${res.status}`, err?.message ?? '', `${e.method} ${path}`);
  }
  return json as ResponseOf<E>;
}

/** A paged admin list's answer: the page's items under `key`, and how many match in all. */
type Paged<K extends string> = { total: number } & { [P in K]: unknown[] };

/** Every item of a paged admin list (its query's `offset` moved on page by page), in one answer. */
export async function listAll<E extends AnyEndpoint, K extends string>(
  opts: AdminClientOptions,
  e: E,
  key: K,
  args: CallArgs<E>,
): Promise<ResponseOf<E> & Paged<K>> {
  const res = (await adminCall(opts, e, args)) as ResponseOf<E> & Paged<K>;
  while (res[key].length < res.total) {
    const page = (await adminCall(opts, e, { ...args, query: { ...args.query, offset: res[key].length } as CallArgs<E>['query'] })) as Paged<K>;
    if (page[key].length === 0) break;
    res[key].push(...page[key]);
  }
  return res;
}

/** Every host the relay knows: its admin list answers a page at a time. */
export function listAllHosts(opts: AdminClientOptions): Promise<ResponseOf<typeof adminApi.listHosts>> {
  return listAll(opts, adminApi.listHosts, 'hosts', {});
}
