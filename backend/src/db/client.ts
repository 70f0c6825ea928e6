/**
 * The database: embedded PGlite in the data folder when no DATABASE_URL is given, PostgreSQL otherwise.
 * The same migrations serve both and are applied at start-up, under an advisory lock so that several
 * gateway processes can start at once.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { sql } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePostgres } from 'drizzle-orm/node-postgres';
import { migrate as migratePostgres } from 'drizzle-orm/node-postgres/migrator';
import pg from 'pg';
import { releasePooledClientsOnFailedTransactions } from './pooled-transactions.ts';
import * as schema from './schema.ts';

export type Database = PgDatabase<PgQueryResultHKT, typeof schema>;
export type Transaction = Parameters<Parameters<Database['transaction']>[0]>[0];
/** Either the database or an open transaction: functions that take this work inside or outside one. */
export type Queryable = Database | Transaction;

export interface DatabaseHandle {
  db: Database;
  kind: 'pglite' | 'postgres';
  close(): Promise<void>;
}

const migrationsFolder = fileURLToPath(new URL('../../drizzle', import.meta.url));
const MIGRATION_LOCK_ID = 73_011_975;
/** The role the gateway's queries run as on PostgreSQL: no owner, no superuser, no BYPASSRLS. */
export const GATEWAY_ROLE = 'sealpost_gateway';

export interface OpenDatabaseOptions {
  url?: string;
  dataDir: string;
  poolSize?: number;
  /** Called for errors of idle pooled connections (a database restart), which must not crash the process. */
  onPoolError?: (error: Error) => void;
}

export async function openDatabase(options: OpenDatabaseOptions): Promise<DatabaseHandle> {
  if (options.url) {
    releasePooledClientsOnFailedTransactions();
    // Migrations run as the configured user, who owns the tables; everything else runs as the gateway role,
    // which row-level security always applies to (drizzle/0007_tenant_isolation.sql).
    const owner = new pg.Client({ connectionString: options.url, connectionTimeoutMillis: 5000 });
    owner.on('error', (error) => options.onPoolError?.(error));
    await owner.connect();
    try {
      await owner.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_ID]);
      try {
        await migratePostgres(drizzlePostgres(owner, { schema }), { migrationsFolder });
      } finally {
        await owner.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_ID]);
      }
    } finally {
      await owner.end();
    }
    const pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolSize ?? 10,
      connectionTimeoutMillis: 5000,
      idleTimeoutMillis: 30_000,
      // Set when the connection starts, so no query of this pool ever runs as the owner.
      options: `-c role=${GATEWAY_ROLE}`,
    });
    pool.on('error', (error) => options.onPoolError?.(error));
    // A connection that drops while checked out also emits 'error' on its client; without a listener that
    // would end the process during a database outage. The query in flight fails on its own.
    pool.on('connect', (client) => client.on('error', (error) => options.onPoolError?.(error)));
    const db = drizzlePostgres(pool, { schema }) as unknown as Database;
    return { db, kind: 'postgres', close: () => pool.end() };
  }

  const folder = join(options.dataDir, 'pglite');
  mkdirSync(folder, { recursive: true });
  const client = await PGlite.create({ dataDir: folder });
  const db = drizzlePglite(client, { schema }) as unknown as Database;
  await migratePglite(drizzlePglite(client, { schema }), { migrationsFolder });
  // The embedded database has one session: after the migrations it runs as the gateway role for good, so
  // row-level security applies here as on PostgreSQL.
  await client.exec(`set role ${GATEWAY_ROLE}`);
  return { db, kind: 'pglite', close: () => client.close() };
}

/** Rows of a raw SQL statement, on either driver. */
export async function queryRows<T>(db: Queryable, statement: ReturnType<typeof sql>): Promise<T[]> {
  const result = (await db.execute(statement)) as unknown as { rows: T[] };
  return result.rows;
}
