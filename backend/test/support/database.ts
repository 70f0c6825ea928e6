/**
 * A fresh database for one test file: PGlite in a temporary folder, or, when the suite runs on
 * PostgreSQL (SEALPOST_TEST_DATABASE=postgres with DATABASE_URL), a database of its own that is dropped
 * afterwards.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { drizzle } from 'drizzle-orm/node-postgres';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { GATEWAY_ROLE, type Database } from '../../src/db/client.ts';
import * as schema from '../../src/db/schema.ts';

export interface TestDatabase {
  kind: 'pglite' | 'postgres';
  /** DATABASE_URL for the gateway; undefined on PGlite. */
  url?: string;
  dataDir: string;
  cleanup(): Promise<void>;
}

export function testDatabaseKind(): 'pglite' | 'postgres' {
  return process.env.SEALPOST_TEST_DATABASE === 'postgres' && process.env.DATABASE_URL ? 'postgres' : 'pglite';
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sealpost-test-'));
  if (testDatabaseKind() === 'pglite') {
    return { kind: 'pglite', dataDir, cleanup: async () => rmSync(dataDir, { recursive: true, force: true }) };
  }
  const adminUrl = process.env.DATABASE_URL!;
  const name = `sealpost_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    kind: 'postgres',
    url: url.toString(),
    dataDir,
    async cleanup() {
      rmSync(dataDir, { recursive: true, force: true });
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      await client.query(`drop database if exists ${name} with (force)`);
      await client.end();
    },
  };
}

const owners = new Map<string, Database>();

/**
 * The database as its owner sees it, for a test that inspects or tampers with rows directly. The gateway's
 * own connections run as a role that row-level security confines to the tenants of each transaction; on
 * PostgreSQL this is a connection of the database's owner, on PGlite (one session, run as its owner) the
 * handle itself.
 */
export function ownerDb(db: Database): Database {
  const client = (db as unknown as { $client?: unknown }).$client;
  if (client instanceof PGlite) return pgliteOwner(db, client);
  if (!(client instanceof pg.Pool)) throw new Error('not a database handle of the gateway');
  const url = (client as unknown as { options: { connectionString: string } }).options.connectionString;
  let owner = owners.get(url);
  if (!owner) {
    const pool = new pg.Pool({ connectionString: url, max: 2, allowExitOnIdle: true });
    // The test database is dropped with its connections when the file ends.
    pool.on('error', () => undefined);
    owner = drizzle(pool, { schema }) as unknown as Database;
    owners.set(url, owner);
  }
  return owner;
}

let ownerTurn: Promise<unknown> = Promise.resolve();

/**
 * PGlite has one session, which the gateway runs as its role: a query of the owner view takes the owner's
 * role for just that query (one at a time) and gives the gateway role back. Queries built on the view are
 * run when awaited, so every builder the view hands out is wrapped down to its `then`.
 */
function pgliteOwner(db: Database, client: PGlite): Database {
  const asOwner = <T>(run: () => PromiseLike<T>): Promise<T> => {
    const turn = ownerTurn.then(async () => {
      await client.exec('reset role');
      try {
        return await run();
      } finally {
        await client.exec(`set role ${GATEWAY_ROLE}`);
      }
    });
    ownerTurn = turn.catch(() => undefined);
    return turn;
  };
  const wrap = (value: unknown): unknown => {
    if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return value;
    return new Proxy(value as object, {
      get(target, prop, receiver) {
        const member = Reflect.get(target, prop, receiver) as unknown;
        if (prop === 'then' && typeof member === 'function') {
          return (resolve: (v: unknown) => unknown, reject: (e: unknown) => unknown) =>
            asOwner(() => new Promise((ok, fail) => (member as Function).call(target, ok, fail))).then(resolve, reject);
        }
        if (typeof member !== 'function') return member;
        if (prop === 'transaction') return (...args: unknown[]) => asOwner(() => (member as Function).apply(target, args) as Promise<unknown>);
        return (...args: unknown[]) => wrap((member as Function).apply(target, args));
      },
    });
  };
  return wrap(db) as Database;
}
