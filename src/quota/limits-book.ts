// The limits in force for each host crawled by this process, from the host's row as last read (tier, overrides) and
// the policy. Updated at every scan and whenever an operator's change is announced; read by the host's quota and
// account slots on the hot path.
import type { HostLimits } from '../core/hosts.ts';
import type { HostPolicy, PolicyHost } from './trust.ts';

export class HostLimitsBook {
  private readonly limits = new Map<number, HostLimits>();
  private readonly policy: HostPolicy;

  constructor(policy: HostPolicy) {
    this.policy = policy;
  }

  update(host: PolicyHost & { id: number }): void {
    this.limits.set(host.id, this.policy.limitsOf(host));
  }

  forget(hostId: number): void {
    this.limits.delete(hostId);
  }

  /** The host's limits (the new tier's until its row is read). */
  of(hostId: number): HostLimits {
    return this.limits.get(hostId) ?? this.policy.tiers.new;
  }
}
