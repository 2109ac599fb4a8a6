import { describe, expect, it } from 'vitest';
import { ReasonError } from '../../../src/core/reason-error.ts';
import { CarError } from '../../../src/protocol/car.ts';
import { MissingBlockError, MstError } from '../../../src/protocol/mst/index.ts';
import { IdentityError } from '../../../src/identity/did-doc.ts';

describe('ReasonError', () => {
  it('carries its reason and message, and is named after the class thrown', () => {
    const err = new CarError('bad_cid', 'a block does not hash to its CID');
    expect(err).toBeInstanceOf(ReasonError);
    expect(err).toBeInstanceOf(Error);
    expect([err.reason, err.message, err.name]).toEqual(['bad_cid', 'a block does not hash to its CID', 'CarError']);
    expect(String(err.stack)).toMatch(/^CarError: a block does not hash/);
  });

  it('keeps what subclasses add, and their own names', () => {
    const missing = new MissingBlockError(new Uint8Array(36));
    expect(missing).toBeInstanceOf(MstError);
    expect([missing.reason, missing.name]).toEqual(['missing_block', 'MissingBlockError']);
    const limited = new IdentityError('rate_limited', 'the directory answered 429', 2_000);
    expect([limited.reason, limited.retryAfterMs, limited.name]).toEqual(['rate_limited', 2_000, 'IdentityError']);
  });
});
