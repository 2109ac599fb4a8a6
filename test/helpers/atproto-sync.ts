// The official firehose consumer (@atproto/sync, from npm) reading a relay under test, as an AppView would.
import { Firehose, MemoryRunner, type Event } from '@atproto/sync';
import { IdResolver } from '@atproto/identity';

/**
 * A started Firehose reading from the start of the relay's window, verifying every commit's signature against the
 * DID documents of the fake PLC; what it hands over and every error it reports are collected. Destroy it after use.
 */
export function verifyingFirehose(wsUrl: string, plcUrl: string): { firehose: Firehose; events: Event[]; errors: Error[] } {
  const events: Event[] = [];
  const errors: Error[] = [];
  const firehose = new Firehose({
    service: wsUrl,
    // The default fetch refuses loopback addresses (SSRF protection); the fake PLC is on loopback.
    idResolver: new IdResolver({ plcUrl, fetch: globalThis.fetch }),
    // Verify commits; handles are test names that do not resolve (and must not be looked up off this machine).
    unauthenticatedCommits: false,
    unauthenticatedHandles: true,
    // Its runner tracks the cursor; start from the beginning of the relay's window.
    runner: new MemoryRunner({ startCursor: 0 }),
    handleEvent: (evt) => void events.push(evt),
    onError: (err) => void errors.push(err),
  });
  void firehose.start();
  return { firehose, events, errors };
}
