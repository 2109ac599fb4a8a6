// Calls to a running relay: as a PDS makes them (no admin rights), and the operator API typed by its contract
// (services/contract.ts), as the CLI and the console make them.
import { adminCall, type CallArgs } from '../src/cli/admin-client.ts';
import type { AnyEndpoint, ResponseOf } from '../src/services/contract.ts';

/** Asks the relay to crawl `hostname` (com.atproto.sync.requestCrawl). */
export async function requestCrawl(relayUrl: string, hostname: string): Promise<Response> {
  return fetch(`${relayUrl}/xrpc/com.atproto.sync.requestCrawl`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ hostname }),
  });
}

/** The relay's admin API: `admin(adminApi.listHosts, {})` answers with the endpoint's declared response. */
export function relayAdmin(relayUrl: string, password: string) {
  return <E extends AnyEndpoint>(e: E, args: CallArgs<E>): Promise<ResponseOf<E>> => adminCall({ url: relayUrl, password }, e, args);
}
