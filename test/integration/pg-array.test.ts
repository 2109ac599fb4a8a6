// Array parameters written as PostgreSQL array literals (storage/pg-array.ts) read back by a real PostgreSQL as the
// arrays they were: every kind of element the relay sends, the characters an array literal gives meaning to, and
// NULLs, through both the one-join fast paths and the general one.
import { describe, expect, it } from 'vitest';
import { pgArrayLiteral, type ArrayElement } from '../../src/storage/pg-array.ts';
import { testClient } from '../helpers/db.ts';

const client = testClient();

async function roundTrip(values: readonly ArrayElement[], type: string): Promise<unknown[]> {
  const res = await client().query(`SELECT $1::${type}[] AS a`, [pgArrayLiteral(values)]);
  return res.rows[0].a as unknown[];
}

describe('pgArrayLiteral', () => {
  it('writes the common cases in one join', () => {
    expect(pgArrayLiteral([])).toBe('{}');
    expect(pgArrayLiteral([1, 2, 3])).toBe('{1,2,3}');
    expect(pgArrayLiteral(['did:plc:a', 'did:plc:b'])).toBe('{"did:plc:a","did:plc:b"}');
  });

  it('reads back as the same text[], whatever the strings hold', async () => {
    const awkward = ['', 'NULL', 'null', 'a,b', '{x}', ' padded ', 'quote"inside', 'back\\slash', '\\"both', 'ünïcødé ✓', 'tab\there', 'line\nbreak'];
    expect(await roundTrip(awkward, 'text')).toEqual(awkward);
    expect(await roundTrip(['plain', null, 'and"quoted', undefined], 'text')).toEqual(['plain', null, 'and"quoted', null]);
    expect(await roundTrip(['only', 'plain', 'strings'], 'text')).toEqual(['only', 'plain', 'strings']);
  });

  it('reads back as the same numbers, booleans and times', async () => {
    const big = [0, -1, 2 ** 53 - 1, 1_796_419_700_733_680];
    expect((await roundTrip(big, 'bigint')).map(String)).toEqual(big.map(String));
    expect(await roundTrip([1, null, 3], 'integer')).toEqual([1, null, 3]);
    expect((await roundTrip([10n, 20n], 'bigint')).map(String)).toEqual(['10', '20']);
    expect(await roundTrip([true, false, null], 'boolean')).toEqual([true, false, null]);
    const at = new Date('2026-12-04T21:30:00.123Z');
    expect(((await roundTrip([at.toISOString()], 'timestamptz')) as Date[]).map((d) => d.getTime())).toEqual([at.getTime()]);
  });
});
