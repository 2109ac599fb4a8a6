// COPY ... TO STDOUT through node-postgres's own parser (storage/copy-out.ts) on a real PostgreSQL: every piece of a
// large binary COPY in order, a statement that fails half-way rejects (and the connection is usable after), and a
// statement that is not a COPY is refused rather than read as one.
import { describe, expect, it } from 'vitest';
import { copyOut } from '../../src/storage/copy-out.ts';
import { BinaryCopyReader, int8At } from '../../src/storage/copy-binary.ts';
import { testClient } from '../helpers/db.ts';

const client = testClient();

async function readRows(text: string): Promise<Array<[number, number]>> {
  const rows: Array<[number, number]> = [];
  const reader = new BinaryCopyReader((b, t) => rows.push([int8At(b, t.starts[0]!), t.lengths[1]!]));
  await copyOut(client(), text, (piece) => reader.push(piece));
  reader.end();
  return rows;
}

describe('copyOut', () => {
  it('hands over a binary COPY of 20,000 rows (~50 MB) whole and in order', async () => {
    const rows = await readRows(`COPY (SELECT n::bigint, decode(repeat('ab', 1000 + n % 3000), 'hex') FROM generate_series(1, 20000) n) TO STDOUT (FORMAT binary)`);
    expect(rows).toHaveLength(20_000);
    rows.forEach(([n, len], i) => {
      expect(n).toBe(i + 1);
      expect(len).toBe(1000 + ((i + 1) % 3000));
    });
  });

  it('rejects a COPY that fails half-way, and the connection serves the next statement', async () => {
    await expect(readRows(`COPY (SELECT n::bigint, decode('ab', 'hex') || (1 / (5000 - n))::text::bytea FROM generate_series(1, 10000) n) TO STDOUT (FORMAT binary)`)).rejects.toThrow(/division by zero/);
    expect((await client().query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it('refuses a statement that returns rows instead of a COPY', async () => {
    await expect(copyOut(client(), 'SELECT 1', () => {})).rejects.toThrow(/not a COPY/);
    expect((await client().query('SELECT 2 AS two')).rows).toEqual([{ two: 2 }]);
  });

  it('rejects when what it hands over cannot be read, after the exchange is over', async () => {
    await expect(
      copyOut(client(), `COPY (SELECT n FROM generate_series(1, 1000) n) TO STDOUT (FORMAT binary)`, () => {
        throw new Error('reader refused');
      }),
    ).rejects.toThrow('reader refused');
    expect((await client().query('SELECT 3 AS three')).rows).toEqual([{ three: 3 }]);
  });
});
