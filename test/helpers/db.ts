// Each test file gets a fresh database in the suite's PostgreSQL, so no test depends on another's state.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export function baseDatabaseUrl(): string {
  const url = process.env.TEST_DATABASE_URL;
  if (!url) throw new Error('TEST_DATABASE_URL is not set: run the suite with `npm test`, which starts PostgreSQL');
  return url;
}

export async function createTestDatabase(): Promise<string> {
  const base = baseDatabaseUrl();
  const name = `relay_test_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: base });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(base);
  url.pathname = `/${name}`;
  return url.toString();
}
