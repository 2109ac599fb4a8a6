// Each test file gets a fresh database in the suite's PostgreSQL, so no test depends on another's state.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { openDatabase, type Database } from '../../src/storage/db.ts';

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

/** A client on a fresh database for the calling test file: connected before its tests, ended after them. */
export function testClient(): () => pg.Client {
  let client: pg.Client | null = null;
  beforeAll(async () => {
    client = new pg.Client({ connectionString: await createTestDatabase() });
    await client.connect();
  }, 60_000);
  afterAll(async () => {
    await client?.end();
  });
  return () => client!;
}

/** Migrated relay databases, fresh each: on the suite's PostgreSQL, or embedded in a directory of their own. */
export class TestDatabases {
  private readonly opened: Database[] = [];
  private readonly dirs: string[] = [];

  async open(engine: 'postgres' | 'embedded'): Promise<Database> {
    let dataDir = '';
    if (engine === 'embedded') {
      dataDir = mkdtempSync(join(tmpdir(), 'relay-db-'));
      this.dirs.push(dataDir);
    }
    const d = await openDatabase({ databaseUrl: engine === 'postgres' ? await createTestDatabase() : null, dataDir });
    this.opened.push(d);
    await d.migrate();
    return d;
  }

  /** Closes every database opened and removes the embedded ones' directories. */
  async closeAll(): Promise<void> {
    for (const d of this.opened.splice(0)) await d.close();
    for (const dir of this.dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  }
}
