import type { AcceptedEvent } from '../sequencer/types.ts';

/** An upstream message that carries a seq, after framing checks. */
export interface UpstreamEvent {
  /** Message type with its '#', e.g. '#commit'. */
  t: string;
  seq: number;
  /** Account DID (`repo` on #commit, `did` elsewhere); '' when absent or not a string. */
  did: string;
  body: Record<string, unknown>;
  /** Size of the whole frame in bytes. */
  frameBytes: number;
}

export interface HostContext {
  id: number;
  hostname: string;
}

export type Verdict = { ok: true; event: AcceptedEvent } | { ok: false; reason: string; detail?: string };

/** Decides, per upstream event, whether it is rebroadcast. Called in upstream order per account. */
export interface EventVerifier {
  verify(host: HostContext, evt: UpstreamEvent): Promise<Verdict> | Verdict;
}
