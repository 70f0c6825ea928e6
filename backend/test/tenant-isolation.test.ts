/**
 * Tenant isolation in the data layer: one tenant's transaction cannot read or write another tenant's rows,
 * neither through the scoped accessor nor through raw SQL under the role the gateway's queries run as, and
 * that role cannot switch the policies off.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { eq, sql } from 'drizzle-orm';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { appendAudit, readAudit } from '../src/audit/audit-log.ts';
import { GATEWAY_ROLE, openDatabase, queryRows, type DatabaseHandle } from '../src/db/client.ts';
import { auditLog, messages, messageTrace, recipients } from '../src/db/schema.ts';
import { withTenants } from '../src/db/tenant-scope.ts';
import { spoolMessages } from '../src/messages/spool.ts';
import { applyTenantDefinitions, tenantForApiToken } from '../src/tenants/tenant-directory.ts';
import { KeyVault } from '../src/vault/key-vault.ts';
import { createTestDatabase, type TestDatabase } from './support/database.ts';

/** Raw SQL as the gateway's role: its own connection on PostgreSQL, the embedded database's session on PGlite. */
interface RawSession {
  query<T>(text: string, values?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

async function gatewayRoleSession(database: TestDatabase, handle: DatabaseHandle): Promise<RawSession> {
  if (database.url) {
    const client = new pg.Client({ connectionString: database.url, options: `-c role=${GATEWAY_ROLE}` });
    await client.connect();
    return {
      query: async <T>(text: string, values?: unknown[]) => (await client.query(text, values)).rows as T[],
      close: () => client.end(),
    };
  }
  // PGlite has one session, which the gateway runs as its role already.
  const session = (handle.db as unknown as { $client: PGlite }).$client;
  return {
    query: async <T>(text: string, values?: unknown[]) => (await session.query<T>(text, values)).rows,
    close: async () => undefined,
  };
}

/** The database's refusal, which drizzle wraps in an error of its own. */
const refusedBy = (pattern: RegExp) => (error: unknown) => pattern.test(String((error as { cause?: unknown }).cause ?? error));

describe('tenant isolation', () => {
  let database: TestDatabase;
  let handle: DatabaseHandle;
  let vault: KeyVault;
  const ids: Record<'acme' | 'globex', { tenant: string; message: string }> = {
    acme: { tenant: '', message: randomUUID() },
    globex: { tenant: '', message: randomUUID() },
  };

  before(async () => {
    database = await createTestDatabase();
    handle = await openDatabase({ url: database.url, dataDir: database.dataDir });
    vault = new KeyVault(handle.db, randomBytes(32));
    await applyTenantDefinitions(handle.db, [
      { name: 'Acme', domains: ['acme.example'], connectors: [], members: [{ email: 'admin@acme.example', role: 'owner' }], apiTokens: [{ name: 'ci', token: 'spk_acme_token_0123456789abcdef' }] },
      { name: 'Globex', domains: ['globex.example'], connectors: [], members: [{ email: 'admin@globex.example', role: 'owner' }], apiTokens: [] },
    ]);
    const tenantRows = await queryRows<{ id: string; name: string }>(handle.db, sql`select id, name from tenants`);
    ids.acme.tenant = tenantRows.find((t) => t.name === 'Acme')!.id;
    ids.globex.tenant = tenantRows.find((t) => t.name === 'Globex')!.id;
    for (const name of ['acme', 'globex'] as const) {
      await spoolMessages(handle.db, vault, [
        {
          id: ids[name].message,
          tenantId: ids[name].tenant,
          direction: 'inbound',
          mailFrom: `someone@${name}-partner.example`,
          recipients: [`user@${name}.example`],
          clientAddress: '192.0.2.1',
          tls: false,
          raw: Buffer.from(`Subject: for ${name}\r\n\r\nconfidential to ${name}\r\n`),
          traceDetail: {},
        },
      ]);
      await appendAudit(handle.db, vault.auditKeys, { tenantId: ids[name].tenant, action: 'sent', subjectId: ids[name].message, details: {} });
    }
  });

  after(async () => {
    await handle.close();
    await database.cleanup();
  });

  test('the scoped accessor shows a tenant its own rows and nothing of another tenant', async () => {
    const { acme, globex } = ids;
    const own = await withTenants(handle.db, acme.tenant, (tx) => tx.select({ id: messages.id, tenantId: messages.tenantId }).from(messages));
    assert.deepEqual(own, [{ id: acme.message, tenantId: acme.tenant }]);
    const own2 = await withTenants(handle.db, acme.tenant, (tx) => tx.select().from(recipients));
    assert.deepEqual(own2.map((r) => r.address), ['user@acme.example']);
    assert.deepEqual((await readAudit(handle.db, acme.tenant)).map((e) => e.subjectId), [acme.message]);
    // Asked by id and by tenant, in Acme's scope, Globex's rows do not exist.
    const stolen = await withTenants(handle.db, acme.tenant, async (tx) => ({
      message: await tx.select().from(messages).where(eq(messages.id, globex.message)),
      byTenant: await tx.select().from(messages).where(eq(messages.tenantId, globex.tenant)),
      recipients: await tx.select().from(recipients).where(eq(recipients.messageId, globex.message)),
      audit: await tx.select().from(auditLog).where(eq(auditLog.tenantId, globex.tenant)),
      trace: await tx.select().from(messageTrace).where(eq(messageTrace.messageId, globex.message)),
    }));
    assert.deepEqual(stolen, { message: [], byTenant: [], recipients: [], audit: [], trace: [] });
    // Nor can it change them or write rows in Globex's name.
    const changed = await withTenants(handle.db, acme.tenant, (tx) =>
      tx.update(messages).set({ state: 'delivered' }).where(eq(messages.id, globex.message)).returning({ id: messages.id }),
    );
    assert.deepEqual(changed, []);
    await assert.rejects(
      withTenants(handle.db, acme.tenant, (tx) => tx.insert(messageTrace).values({ messageId: globex.message, tenantId: globex.tenant, step: 'forged', detail: {} })),
      refusedBy(/row-level security/),
    );
    // Without a scope, nothing at all.
    assert.deepEqual(await handle.db.select().from(messages), []);
    // A scope that names both sees both: that is what a worker that claimed both tenants' messages asks for.
    const both = await withTenants(handle.db, [acme.tenant, globex.tenant], (tx) => tx.select({ id: messages.id }).from(messages));
    assert.equal(both.length, 2);
  });

  test('raw SQL under the gateway role reads and writes only the tenant of its transaction', async () => {
    const { acme, globex } = ids;
    const raw = await gatewayRoleSession(database, handle);
    try {
      const [who] = await raw.query<{ user: string }>('select current_user as "user"');
      assert.equal(who!.user, GATEWAY_ROLE);
      assert.deepEqual(await raw.query('select id from messages'), [], 'no scope: no rows');
      await raw.query('begin');
      await raw.query(`select set_config('sealpost.tenant_ids', $1, true)`, [acme.tenant]);
      assert.deepEqual(await raw.query('select id from messages where id = $1', [globex.message]), []);
      assert.deepEqual(await raw.query('select tenant_id from message_trace where tenant_id = $1', [globex.tenant]), []);
      assert.deepEqual(await raw.query('select address from message_recipients where message_id = $1', [globex.message]), []);
      assert.deepEqual(await raw.query('select email from members where tenant_id = $1', [globex.tenant]), []);
      assert.deepEqual(
        (await raw.query<{ id: string }>('select id from messages')).map((r) => r.id),
        [acme.message],
      );
      assert.deepEqual(await raw.query('update messages set state = $1 where id = $2 returning id', ['delivered', globex.message]), []);
      assert.deepEqual(await raw.query('delete from audit_log where tenant_id = $1 returning id', [globex.tenant]), []);
      await raw.query('savepoint forged');
      await assert.rejects(
        raw.query(`insert into message_trace (message_id, tenant_id, step, detail) values ($1, $2, 'forged', '{}'::jsonb)`, [globex.message, globex.tenant]),
        refusedBy(/row-level security/),
      );
      await raw.query('rollback to savepoint forged');
      // The role cannot turn the policies off: it owns no table, and row_security=off makes reads fail, not pass.
      await assert.rejects(raw.query('alter table messages disable row level security'), refusedBy(/must be owner/));
      await raw.query('rollback');
      await raw.query('begin');
      await raw.query('set local row_security = off');
      await assert.rejects(raw.query('select id from messages'), refusedBy(/row-level security/));
      await raw.query('rollback');
      const [role] = await raw.query<{ rolsuper: boolean; rolbypassrls: boolean; owned: string | number }>(
        `select rolsuper, rolbypassrls, (select count(*) from pg_tables where tableowner = current_user) as owned
           from pg_roles where rolname = current_user`,
      );
      assert.deepEqual({ ...role!, owned: Number(role!.owned) }, { rolsuper: false, rolbypassrls: false, owned: 0 });
      // What may be asked across tenants answers with a tenant id only.
      const [token] = await raw.query<{ t: string }>('select sealpost_tenant_of_api_token($1) as t', ['0'.repeat(64)]);
      assert.equal(token!.t, null);
    } finally {
      await raw.query('rollback').catch(() => undefined);
      await raw.close();
    }
    // The directory is readable before a tenant is known, and an API token finds its tenant.
    assert.equal(await tenantForApiToken(handle.db, 'spk_acme_token_0123456789abcdef'), acme.tenant);
  });
});
