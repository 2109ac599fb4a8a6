// Calls a running relay makes as a PDS would (no admin rights).

/** Asks the relay to crawl `hostname` (com.atproto.sync.requestCrawl). */
export async function requestCrawl(relayUrl: string, hostname: string): Promise<Response> {
  return fetch(`${relayUrl}/xrpc/com.atproto.sync.requestCrawl`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ hostname }),
  });
}
