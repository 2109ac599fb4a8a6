// Every reason the relay gives for dropping something a host sent: the label of relay_events_rejected_total, what
// RejectionLog, the admin API and the status page show, and what tests assert. One list, so a new reason is added
// here or it does not type-check.

/** Reasons that end the connection (the spec's answer to broken framing), or describe the stream itself. */
export const STREAM_REJECTIONS = [
  'text_frame',
  'frame_too_large',
  'bad_websocket_frame',
  'bad_cbor',
  'bad_header',
  'bad_body',
  'bad_seq',
  'seq_not_increasing',
  'upstream_idle',
  'host_seq_reset',
  'outdated_cursor',
  'address_not_public',
] as const;

/** Checks of Sync v1.1 only: RELAY_LENIENT lets a commit that fails one through, counted as a warning. */
export const SYNC11_CHECKS = [
  'legacy_flags',
  'empty_blocks',
  'bad_field',
  'missing_record_block',
  'missing_prev_data',
  'inversion_mismatch',
  'missing_proof_block',
  'bad_mst',
  'op_mismatch',
  'bad_ops',
] as const;

/** Reasons one event is dropped, in the order of the verification checklist. */
export const EVENT_REJECTIONS = [
  'unsupported_type',
  'bad_did',
  'bad_field',
  'bad_op',
  'too_many_ops',
  'blocks_too_large',
  'bad_car',
  'commit_not_root',
  'missing_commit_block',
  'bad_commit',
  'repo_mismatch',
  'rev_mismatch',
  'identity_not_found',
  'identity_unavailable',
  'bad_identity',
  'wrong_host',
  'account_inactive',
  'stale_rev',
  'future_rev',
  'bad_signature',
  ...SYNC11_CHECKS,
  'internal_error',
] as const;

export type StreamRejection = (typeof STREAM_REJECTIONS)[number];
export type Sync11Check = (typeof SYNC11_CHECKS)[number];
export type EventRejection = (typeof EVENT_REJECTIONS)[number];
export type RejectionReason = StreamRejection | EventRejection;

export const REJECTION_REASONS: ReadonlySet<RejectionReason> = new Set([...STREAM_REJECTIONS, ...EVENT_REJECTIONS]);

/** A refusal with its reason and, where it helps the host's admin, what exactly was wrong. */
export interface Refusal<R extends RejectionReason = RejectionReason> {
  ok: false;
  reason: R;
  detail?: string;
}

export function refuse<R extends RejectionReason>(reason: R, detail?: string): Refusal<R> {
  return detail === undefined ? { ok: false, reason } : { ok: false, reason, detail };
}

export interface Rejection {
  at: string;
  reason: RejectionReason;
  did: string;
  detail?: string;
}

/** The last rejections per host (time, DID, reason), so an operator or a PDS admin can be told why events dropped. */
export class RejectionLog {
  private readonly byHost = new Map<number, Rejection[]>();
  private readonly keepPerHost: number;

  constructor(keepPerHost = 50) {
    this.keepPerHost = keepPerHost;
  }

  record(hostId: number, r: { reason: RejectionReason; did: string; detail?: string }): void {
    let list = this.byHost.get(hostId);
    if (!list) {
      list = [];
      this.byHost.set(hostId, list);
    }
    list.push({ at: new Date().toISOString(), ...r });
    if (list.length > this.keepPerHost) list.splice(0, list.length - this.keepPerHost);
  }

  recent(hostId: number): Rejection[] {
    return [...(this.byHost.get(hostId) ?? [])].reverse();
  }
}
