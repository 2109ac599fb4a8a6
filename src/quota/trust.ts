// Trust tiers: a host is `new` (the default limits) or `trusted` (high limits), because an operator said so, its
// hostname matches a trusted pattern, or it was promoted after a clean period. Per-host overrides win over the tier.
import type { HostLimits, HostTier } from '../core/hosts.ts';
import type { RelayConfig } from '../config/config.ts';

/** What the policy reads of a host's row. */
export interface PolicyHost {
  hostname: string;
  tier: string;
  eventsPerHour: number | null;
  eventsPerDay: number | null;
  accountLimit: number | null;
}

export interface TierLimits {
  new: HostLimits;
  trusted: HostLimits;
}

/** `*.example.com` matches every subdomain of example.com; anything else matches exactly. */
export function matchesPattern(hostname: string, pattern: string): boolean {
  const p = pattern.trim().toLowerCase();
  if (p.startsWith('*.')) return hostname.endsWith(p.slice(1)) && hostname.length > p.length - 1;
  return hostname === p;
}

export function parsePatterns(list: string | null): string[] {
  return (list ?? '').split(',').map((p) => p.trim()).filter((p) => p.length > 0);
}

export function hostTier(host: { hostname: string; tier: string }, patterns: string[]): HostTier {
  if (host.tier === 'trusted' || patterns.some((p) => matchesPattern(host.hostname, p))) return 'trusted';
  return 'new';
}

export function hostLimits(host: PolicyHost, tiers: TierLimits, patterns: string[]): HostLimits {
  const base = tiers[hostTier(host, patterns)];
  return {
    perHour: host.eventsPerHour ?? base.perHour,
    perDay: host.eventsPerDay ?? base.perDay,
    accountLimit: host.accountLimit ?? base.accountLimit,
  };
}

/** The relay's host policy, built once from the configuration and handed to whoever needs a host's limits. */
export class HostPolicy {
  readonly patterns: string[];
  readonly tiers: TierLimits;

  constructor(
    config: Pick<
      RelayConfig,
      'hostEventsPerHour' | 'hostEventsPerDay' | 'hostAccountLimit' | 'trustedHosts' | 'trustedEventsPerHour' | 'trustedEventsPerDay' | 'trustedAccountLimit'
    >,
  ) {
    this.patterns = parsePatterns(config.trustedHosts);
    this.tiers = {
      new: { perHour: config.hostEventsPerHour, perDay: config.hostEventsPerDay, accountLimit: config.hostAccountLimit },
      trusted: { perHour: config.trustedEventsPerHour, perDay: config.trustedEventsPerDay, accountLimit: config.trustedAccountLimit },
    };
  }

  tierOf(host: { hostname: string; tier: string }): HostTier {
    return hostTier(host, this.patterns);
  }

  limitsOf(host: PolicyHost): HostLimits {
    return hostLimits(host, this.tiers, this.patterns);
  }
}
