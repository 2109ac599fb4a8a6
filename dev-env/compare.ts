// Comparing what a consumer received with what the fake PDSes published.
import { createHash } from 'node:crypto';
import { encode } from '@atcute/cbor';

/** A body's canonical bytes with its seq removed: relay output must match upstream input on everything else. */
export function bodyKey(body: Record<string, unknown>): string {
  const { seq: _seq, ...rest } = body;
  // A short digest keeps assertion diffs readable.
  return createHash('sha256').update(encode(rest)).digest('hex').slice(0, 16);
}

export function didOf(t: string, body: Record<string, unknown>): string {
  return String(t === '#commit' ? body.repo : body.did);
}

/** Bodies per DID, in order, without seq. */
export function perDid(events: Iterable<{ t: string; body: Record<string, unknown> }>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const e of events) {
    const did = didOf(e.t, e.body);
    let list = out.get(did);
    if (!list) out.set(did, (list = []));
    list.push(`${e.t}:${bodyKey(e.body)}`);
  }
  return out;
}

export function expectStrictlyIncreasing(seqs: number[]): void {
  for (let i = 1; i < seqs.length; i++) {
    if (!(seqs[i]! > seqs[i - 1]!)) throw new Error(`seq ${seqs[i]} at index ${i} does not increase after ${seqs[i - 1]}`);
  }
}
