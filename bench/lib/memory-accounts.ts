// Account state kept in memory, for benchmarks of the verification stage without a database: what the account stage
// records after each verdict (accounts/transitions.ts), so each commit is checked against the one before it.
import { blankAccount, type AccountState, type AccountView } from '../../src/core/accounts.ts';
import type { AcceptedEvent } from '../../src/core/events.ts';
import { afterVerify } from '../../src/accounts/transitions.ts';

export interface MemoryAccounts extends AccountView {
  /** Records what a verified event established, as the account stage does. */
  record(event: AcceptedEvent): void;
  forget(did: string): void;
}

export function memoryAccounts(): MemoryAccounts {
  const state = new Map<string, AccountState>();
  return {
    async get(did) {
      return state.get(did) ?? null;
    },
    // Every account is in memory here, as a known account's state is in the relay's.
    hit(did) {
      return state.get(did) ?? null;
    },
    record(event) {
      state.set(event.did, afterVerify(state.get(event.did) ?? blankAccount(event.did), 1, event, Date.now(), null).state);
    },
    forget(did) {
      state.delete(did);
    },
  };
}
