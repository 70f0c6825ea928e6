/**
 * The tenant-scoped accessor: every read or write of a tenant's data runs in a transaction that names the
 * tenants it works for. On PostgreSQL the gateway's role is subject to row-level security
 * (drizzle/0007_tenant_isolation.sql), so rows of any other tenant are invisible to that transaction and
 * cannot be written by it, whatever its queries say. Most work names one tenant (a portal session, an API
 * token, an admin); a worker that has claimed a batch names the tenants of that batch, and only those.
 */
import { sql } from 'drizzle-orm';
import { PgTransaction } from 'drizzle-orm/pg-core';
import { queryRows, type Queryable, type Transaction } from './client.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Runs `work` in a transaction scoped to `tenants`. Given a transaction, it runs in a savepoint of it with
 * this scope, and the transaction's own scope is back afterwards.
 */
export async function withTenants<T>(db: Queryable, tenants: string | Iterable<string>, work: (tx: Transaction) => Promise<T>): Promise<T> {
  const scope = scopeValue(tenants);
  if (!(db instanceof PgTransaction)) {
    return db.transaction(async (tx) => {
      await setScope(tx, scope);
      return work(tx);
    });
  }
  return db.transaction(async (tx) => {
    const [outer] = await queryRows<{ previous: string | null }>(
      tx,
      sql`select current_setting('sealpost.tenant_ids', true) as previous, set_config('sealpost.tenant_ids', ${scope}, true)`,
    );
    const result = await work(tx);
    await tx.execute(sql`select set_config('sealpost.tenant_ids', ${outer?.previous ?? ''}, true)`);
    return result;
  });
}

/**
 * For functions that take either the database or a transaction: on the database, `work` runs in a
 * transaction scoped to the tenant; a transaction handed in belongs to a caller that has scoped it already.
 */
export function inTenantScope<T>(q: Queryable, tenantId: string, work: (q: Queryable) => Promise<T>): Promise<T> {
  return q instanceof PgTransaction ? work(q) : withTenants(q, tenantId, work);
}

/** Sets the scope for the rest of an open transaction (one that creates a tenant, then writes its rows). */
export async function scopeTransaction(tx: Transaction, tenants: string | Iterable<string>): Promise<void> {
  await setScope(tx, scopeValue(tenants));
}

/** The one place the scope is written: transaction-local, so a pooled connection never carries it on. */
async function setScope(tx: Transaction, scope: string): Promise<void> {
  await tx.execute(sql`select set_config('sealpost.tenant_ids', ${scope}, true)`);
}

/** Every tenant: for the jobs that serve all of them (the audit checkpoints, housekeeping). */
export async function allTenantIds(db: Queryable): Promise<string[]> {
  return (await queryRows<{ id: string }>(db, sql`select id from tenants order by id`)).map((r) => r.id);
}

function scopeValue(tenants: string | Iterable<string>): string {
  const list = typeof tenants === 'string' ? [tenants] : [...new Set(tenants)];
  for (const id of list) {
    // A tenant id always comes from the database; anything else is a programming error, not input to trust.
    if (!UUID.test(id)) throw new Error(`not a tenant id: ${JSON.stringify(id).slice(0, 60)}`);
  }
  return list.join(',');
}
