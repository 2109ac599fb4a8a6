// Array parameters as PostgreSQL array literals, written here instead of by node-postgres: its encoder quotes every
// element (numbers too) through two regular-expression replaces and grows the literal one concatenation at a time,
// the largest source of garbage on the sequencer's batch statement (docs/perf-journal.md, session 16). The literal
// goes as a text parameter and the statement's cast (`$1::bigint[]`) reads it, as it did node-postgres's.
import { sql, type SQL } from 'drizzle-orm';

export type ArrayElement = string | number | bigint | boolean | null | undefined;

/** Characters an element in double quotes must escape. */
const ESCAPED = /["\\]/;

/** A one-dimensional array literal: `{1,2}`, `{"a","b"}`; null and undefined are NULL. */
export function pgArrayLiteral(values: readonly ArrayElement[]): string {
  if (values.length === 0) return '{}';
  // The common cases (every element a number, or a string with nothing to escape) in one join.
  let numbers = true;
  let plain = true;
  for (const v of values) {
    if (typeof v !== 'number') numbers = false;
    if (typeof v !== 'string' || ESCAPED.test(v)) plain = false;
    if (!numbers && !plain) break;
  }
  if (numbers) return `{${values.join(',')}}`;
  if (plain) return `{"${values.join('","')}"}`;
  const parts = new Array<string>(values.length);
  for (let i = 0; i < values.length; i++) parts[i] = element(values[i]);
  return `{${parts.join(',')}}`;
}

function element(v: ArrayElement): string {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'boolean') return v ? 't' : 'f';
  if (typeof v !== 'string') return String(v);
  // Two plain replaces are faster than one with a substitution pattern.
  return `"${ESCAPED.test(v) ? v.replace(/\\/g, '\\\\').replace(/"/g, '\\"') : v}"`;
}

/** An array as one statement parameter; cast it in the statement (`${arrayParam(ids)}::integer[]`). */
export function arrayParam(values: readonly ArrayElement[]): SQL {
  return sql`${pgArrayLiteral(values)}`;
}
