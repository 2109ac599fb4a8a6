// The last rejections per host (time, DID, reason), so an operator or a PDS admin can be told why events dropped.

export interface Rejection {
  at: string;
  reason: string;
  did: string;
  detail?: string;
}

export class RejectionLog {
  private readonly byHost = new Map<number, Rejection[]>();

  private readonly keepPerHost: number;
  constructor(keepPerHost = 50) {
    this.keepPerHost = keepPerHost;
  }

  record(hostId: number, r: { reason: string; did: string; detail?: string }): void {
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
