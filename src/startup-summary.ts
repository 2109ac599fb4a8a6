// What an operator checks first after a start, in one log entry: which store and counters this process uses, how
// hosts are admitted and limited, whether the admin API is on, and the signature and hash paths (they set the ceiling).
import { redactCredentials, type RelayConfig } from './config/config.ts';

export interface StartupFacts {
  address: string;
  /** Where Prometheus scrapes (a port of its own). */
  metrics: string;
  /** The secp256k1 implementation in use (native or JS, scripts/build-native.sh). */
  signatures: string;
  /** The SHA-256 implementation the verify path hashes with (native or node:crypto, scripts/build-native.sh). */
  hashes: string;
  verifyWorkers: number;
}

export function startupSummary(config: RelayConfig, facts: StartupFacts): Record<string, unknown> {
  return {
    role: config.role,
    address: facts.address,
    metrics: facts.metrics,
    store: config.databaseUrl ? `PostgreSQL at ${hostOf(config.databaseUrl)}` : `embedded (${config.dataDir})`,
    counters: config.redisUrl ? `Redis at ${hostOf(config.redisUrl)}` : 'in-process (one relay process only)',
    crawlPolicy: config.crawlPolicy,
    limits: {
      eventsPerHour: config.hostEventsPerHour,
      eventsPerDay: config.hostEventsPerDay,
      accounts: config.hostAccountLimit,
    },
    trustedHosts: config.trustedHosts ?? 'none (every host gets the limits above; set RELAY_TRUSTED_HOSTS)',
    adminApi: config.adminPassword ? 'enabled at /admin' : 'disabled: RELAY_ADMIN_PASSWORD is unset',
    signatures: facts.signatures,
    hashes: facts.hashes,
    verifyWorkers: facts.verifyWorkers,
  };
}

function hostOf(url: string): string {
  try {
    return new URL(url).host || redactCredentials(url);
  } catch {
    return redactCredentials(url);
  }
}
