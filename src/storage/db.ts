// Opens the relay's database: PostgreSQL through node-postgres, or the embedded PGlite engine when no URL is set.
// Both run the same drizzle schema and migrations; the rest of the relay sees one `Database` interface.
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { migrate as migratePg } from 'drizzle-orm/node-postgres/migrator';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import pg from 'pg';
import * as schema from './schema.ts';
import { retrying } from '../core/retry.ts';

export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../drizzle', import.meta.url));

/** Advisory lock key space of this relay (arbitrary constant), so its locks never collide with other users'. */
const LOCK_NAMESPACE = 0x52454c;
const MIGRATION_LOCK = 0;

/**
 * A connection for writers that send several statements of a transaction at once (the sequencer's batches): on it
 * node-postgres writes each statement without waiting for the answers to the ones before (pipeline mode).
 */
export interface Pipeline {
  /** The connection for one transaction; `release(err)` after a failure closes it rather than reuse it. */
  checkout(): Promise<{ db: Db; release(err?: Error): void }>;
}

export interface Database {
  readonly kind: 'postgres' | 'embedded';
  readonly db: Db;
  /** On PostgreSQL; the embedded engine runs every statement in turn. */
  readonly pipeline: Pipeline | null;
  /** Applies pending migrations; safe when several relay processes start at once. */
  migrate(): Promise<void>;
  /** Subscribes to a NOTIFY channel; returns the unsubscribe function. */
  listen(channel: string, onPayload: (payload: string) => void): Promise<() => Promise<void>>;
  /**
   * Session-scoped exclusive claims (e.g. "this process crawls host 7"). They live as long as this process's
   * lock connection: if the process dies, PostgreSQL releases them. `onLost` fires if that connection breaks.
   */
  tryClaim(id: number): Promise<boolean>;
  release(id: number): Promise<void>;
  onClaimsLost(cb: () => void): void;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export async function openDatabase(opts: { databaseUrl: string | null; dataDir: string }): Promise<Database> {
  return opts.databaseUrl ? openPostgres(opts.databaseUrl) : openEmbedded(opts.dataDir);
}

async function openPostgres(url: string): Promise<Database> {
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  // An idle client erroring (e.g. server restart) must not crash the process; the pool replaces it.
  pool.on('error', () => {});
  // A client checked out of the pool (a transaction between statements) has no pool listener: if the server goes
  // away then, its 'error' event would crash the process. Its pending and next queries fail instead, the caller
  // retries, and the pool discards the broken client on release.
  pool.on('connect', (client) => client.on('error', () => {}));
  const db = drizzlePg(pool, { schema }) as unknown as Db;
  // A pool of one: the sequencer writes one batch at a time, and the pool replaces a connection that broke. Its own,
  // because pipeline mode refuses queries that read a portal across round trips (the COPY readers of the log).
  const writePool = new pg.Pool({ connectionString: url, max: 1, pipeline: true } as pg.PoolConfig);
  writePool.on('error', () => {});
  writePool.on('connect', (client) => client.on('error', () => {}));
  const onClient = new WeakMap<pg.PoolClient, Db>();
  const pipeline: Pipeline = {
    async checkout() {
      const client = await writePool.connect();
      let cdb = onClient.get(client);
      if (!cdb) onClient.set(client, (cdb = drizzlePg(client) as unknown as Db));
      return { db: cdb, release: (err) => client.release(err ?? false) };
    },
  };
  const listeners = new Map<string, Set<(payload: string) => void>>();
  let listenClient: pg.PoolClient | null = null;
  let lockClient: pg.PoolClient | null = null;
  const claimsLost: Array<() => void> = [];
  let closed = false;

  async function getListenClient(): Promise<pg.PoolClient> {
    if (listenClient) return listenClient;
    const client = await pool.connect();
    client.on('notification', (msg) => {
      for (const cb of listeners.get(msg.channel) ?? []) cb(msg.payload ?? '');
    });
    client.on('error', () => {
      listenClient = null;
      client.release(true);
      if (!closed) void reconnectListeners();
    });
    listenClient = client;
    return client;
  }

  async function reconnectListeners(): Promise<void> {
    const listening = await retrying(
      async () => {
        const client = await getListenClient();
        for (const channel of listeners.keys()) await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
        return true;
      },
      { baseMs: 100, stop: () => closed },
    );
    // A notification may have been missed while disconnected; wake every listener so it re-reads.
    if (listening) for (const set of listeners.values()) for (const cb of set) cb('');
  }

  async function getLockClient(): Promise<pg.PoolClient> {
    if (lockClient) return lockClient;
    const client = await pool.connect();
    client.on('error', () => {
      if (lockClient === client) lockClient = null;
      client.release(true);
      for (const cb of claimsLost) cb();
    });
    lockClient = client;
    return client;
  }

  return {
    kind: 'postgres',
    db,
    pipeline,
    async migrate() {
      const client = await pool.connect();
      try {
        await client.query('SELECT pg_advisory_lock($1, $2)', [LOCK_NAMESPACE, MIGRATION_LOCK]);
        await migratePg(drizzlePg(client), { migrationsFolder: MIGRATIONS_DIR });
      } finally {
        await client.query('SELECT pg_advisory_unlock($1, $2)', [LOCK_NAMESPACE, MIGRATION_LOCK]).catch(() => {});
        client.release();
      }
    },
    async listen(channel, onPayload) {
      let set = listeners.get(channel);
      if (!set) {
        set = new Set();
        listeners.set(channel, set);
        const client = await getListenClient();
        await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      }
      set.add(onPayload);
      return async () => {
        set!.delete(onPayload);
      };
    },
    async tryClaim(id) {
      const client = await getLockClient();
      const res = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS ok', [LOCK_NAMESPACE, id]);
      return res.rows[0]!.ok;
    },
    async release(id) {
      if (!lockClient) return;
      await lockClient.query('SELECT pg_advisory_unlock($1, $2)', [LOCK_NAMESPACE, id]);
    },
    onClaimsLost(cb) {
      claimsLost.push(cb);
    },
    async ping() {
      await pool.query('SELECT 1');
    },
    async close() {
      closed = true;
      listenClient?.release();
      lockClient?.release();
      listenClient = lockClient = null;
      await Promise.all([pool.end(), writePool.end()]);
    },
  };
}

async function openEmbedded(dataDir: string): Promise<Database> {
  const { PGlite } = await import('@electric-sql/pglite');
  mkdirSync(dataDir, { recursive: true });
  const client = new PGlite(dataDir);
  await client.waitReady;
  const db = drizzlePglite(client, { schema }) as unknown as Db;
  return {
    kind: 'embedded',
    db,
    pipeline: null,
    async migrate() {
      await migratePglite(drizzlePglite(client), { migrationsFolder: MIGRATIONS_DIR });
    },
    async listen(channel, onPayload) {
      return client.listen(channel, onPayload);
    },
    // One process owns an embedded store, so every claim succeeds.
    async tryClaim() {
      return true;
    },
    async release() {},
    onClaimsLost() {},
    async ping() {
      await client.query('SELECT 1');
    },
    async close() {
      await client.close();
    },
  };
}
