// Account state kept in memory, for benchmarks of the verification stage without a database.
import { blankAccountState, type AccountState, type AccountStates } from '../../src/verify/account-state.ts';

export function memoryAccountStates(): AccountStates {
  const state = new Map<string, AccountState>();
  return {
    async get(did: string) {
      return state.get(did) ?? null;
    },
    peek(did: string) {
      return state.get(did) ?? null;
    },
    update(did: string, change: Partial<AccountState>) {
      state.set(did, { ...blankAccountState(did), ...state.get(did), ...change });
    },
    forget(did: string) {
      state.delete(did);
    },
  } as unknown as AccountStates;
}
