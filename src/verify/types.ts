import type { AcceptedEvent, UpstreamEvent } from '../core/events.ts';
import type { HostRef } from '../core/hosts.ts';
import type { EventRejection, Refusal } from '../core/rejections.ts';

export type Verdict = { ok: true; event: AcceptedEvent } | Refusal<EventRejection>;

/** Decides, per upstream event, whether it is rebroadcast. Called in upstream order per account. */
export interface EventVerifier {
  verify(host: HostRef, evt: UpstreamEvent): Promise<Verdict> | Verdict;
}
