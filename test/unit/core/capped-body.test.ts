import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { BodyCutShort, readCappedBody } from '../../../src/core/capped-body.ts';

function body(chunks: string[], end: 'end' | Error = 'end'): PassThrough {
  const s = new PassThrough();
  setImmediate(() => {
    for (const c of chunks) s.write(Buffer.from(c));
    if (end === 'end') s.end();
    else s.destroy(end);
  });
  return s;
}

describe('readCappedBody', () => {
  it('reads a body of up to the cap, in one chunk or many', async () => {
    expect(await readCappedBody(body(['{"a":1}']), 7)).toBe('{"a":1}');
    expect(await readCappedBody(body(['héllo', ' ', 'wörld']), 100)).toBe('héllo wörld');
    expect(await readCappedBody(body([]), 10)).toBe('');
  });

  it('gives null past the cap and stops reading', async () => {
    const s = body(['12345', '67890', 'more']);
    expect(await readCappedBody(s, 9)).toBeNull();
    expect(s.destroyed).toBe(true);
  });

  it('rejects a stream that fails, with what came of it and the cause', async () => {
    const cause = new Error('socket hang up');
    const err = await readCappedBody(body(['part', 'ial'], cause), 100).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BodyCutShort);
    expect((err as BodyCutShort).partial).toBe('partial');
    expect((err as BodyCutShort).cause).toBe(cause);
  });
});
