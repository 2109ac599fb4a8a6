import type { AcceptedEvent, UpstreamEvent } from '../core/events.ts';
import type { HostRef } from '../core/hosts.ts';
import type { EventRejection, Refusal } from '../core/rejections.ts';

export type Verdict = { ok: true; event: AcceptedEvent } | Refusal<EventRejection>;

/** Decides, per upstream event, whether it is rebroadcast. Called in upstream order per account. */
export interface EventVerifier {
  /**
   * Starts what an event's verdict needs that does not depend on the account's earlier events, for an event that
   * waits behind them; `verify` takes it up in the account's order. Optional: without it, verify does it all.
   */
  begin?(host: HostRef, evt: UpstreamEvent): EarlyWork | undefined;
  verify(host: HostRef, evt: UpstreamEvent, early?: EarlyWork): Promise<Verdict> | Verdict;
}

/** What `begin` started; only the verifier that made it reads it. */
export interface EarlyWork {
  readonly begunFor: UpstreamEvent;
}
