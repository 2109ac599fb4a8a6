// What the HTTP layer is given: the configuration and the services it answers from.
import type { RelayConfig } from '../config/config.ts';
import type { Db } from '../storage/db.ts';
import type { CounterStore } from '../quota/counters.ts';
import type { HostsService } from '../services/hosts.ts';
import type { AccountsService } from '../services/accounts.ts';
import type { StatusService } from '../services/status.ts';
import type { CollectionsService } from '../services/collections.ts';

export interface ApiServices {
  config: RelayConfig;
  hosts: HostsService;
  accounts: AccountsService;
  status: StatusService;
  collections: CollectionsService;
  /** Read-only account queries of the sync API (storage/accounts.ts). */
  db: Db;
  /** The public endpoints' rate limits count here. */
  counters: CounterStore;
}
