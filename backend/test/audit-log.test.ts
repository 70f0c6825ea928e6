import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eq, sql } from 'drizzle-orm';
import { appendAudit, verifyAuditChain } from '../src/audit/audit-log.ts';
import { openDatabase, type DatabaseHandle } from '../src/db/client.ts';
import { auditLog, tenants } from '../src/db/schema.ts';
import { createTestDatabase, type TestDatabase } from './support/database.ts';

describe('audit log', () => {
  let database: TestDatabase;
  let handle: DatabaseHandle;
  let tenantId: string;
  let otherTenantId: string;

  before(async () => {
    database = await createTestDatabase();
    handle = await openDatabase({ url: database.url, dataDir: database.dataDir });
    const rows = await handle.db.insert(tenants).values([{ name: 'Audited' }, { name: 'Other' }]).returning();
    tenantId = rows[0]!.id;
    otherTenantId = rows[1]!.id;
    for (let i = 0; i < 5; i += 1) {
      await appendAudit(handle.db, {
        tenantId,
        action: i % 2 ? 'read' : 'sent',
        actorId: `actor-${i}`,
        actorAddress: 'client@example.net',
        clientIp: '127.0.0.1',
        subjectId: `message-${i}`,
        details: { integrity: 'verified', channel: 'portal', nested: { b: 2, a: [1, 'x'] } },
      });
    }
    await appendAudit(handle.db, { tenantId: otherTenantId, action: 'signed_in', details: {} });
  });

  after(async () => {
    await handle.close();
    await database.cleanup();
  });

  test('each entry carries the hash of the one before and the chain verifies', async () => {
    const rows = await handle.db.select().from(auditLog).where(eq(auditLog.tenantId, tenantId)).orderBy(auditLog.seq);
    assert.equal(rows.length, 5);
    for (let i = 1; i < rows.length; i += 1) assert.equal(rows[i]!.prevHash, rows[i - 1]!.hash);
    const result = await verifyAuditChain(handle.db);
    assert.deepEqual({ ok: result.ok, checked: result.checked, tenants: result.tenants }, { ok: true, checked: 6, tenants: 2 });
  });

  test('concurrent writers keep one unbroken chain per tenant', async () => {
    await Promise.all(
      Array.from({ length: 10 }, (_, i) => appendAudit(handle.db, { tenantId: otherTenantId, action: 'read', subjectId: `parallel-${i}` })),
    );
    const result = await verifyAuditChain(handle.db, otherTenantId);
    assert.equal(result.ok, true);
    assert.equal(result.checked, 11);
  });

  /** The database's own refusal, under the query wrapper's message. */
  const refusedAsAppendOnly = (error: unknown) => /append-only/.test(String((error as { cause?: unknown }).cause ?? error));

  test('UPDATE, DELETE and TRUNCATE of audit entries fail through the application', async () => {
    await assert.rejects(handle.db.update(auditLog).set({ action: 'deleted' }).where(eq(auditLog.tenantId, tenantId)), refusedAsAppendOnly);
    await assert.rejects(handle.db.delete(auditLog).where(eq(auditLog.tenantId, tenantId)), refusedAsAppendOnly);
    await assert.rejects(handle.db.execute(sql`truncate audit_log`), refusedAsAppendOnly);
    assert.equal((await verifyAuditChain(handle.db)).ok, true);
  });

  test('a row changed by a superuser who bypassed the trigger is reported as the first broken link', async () => {
    await handle.db.transaction(async (tx) => {
      await tx.execute(sql`alter table audit_log disable trigger audit_log_append_only`);
      await tx.execute(sql`update audit_log set details = '{"integrity":"failed"}'::jsonb where tenant_id = ${tenantId} and seq = 3`);
      await tx.execute(sql`alter table audit_log enable trigger audit_log_append_only`);
    });
    const result = await verifyAuditChain(handle.db);
    assert.equal(result.ok, false);
    assert.equal(result.firstBroken?.tenantId, tenantId);
    assert.equal(result.firstBroken?.seq, 3);
    assert.match(result.firstBroken?.reason ?? '', /changed/);
    assert.equal((await verifyAuditChain(handle.db, otherTenantId)).ok, true, 'other tenants are unaffected');
  });

  test('a row removed by a superuser is reported as a missing entry', async () => {
    await handle.db.transaction(async (tx) => {
      await tx.execute(sql`alter table audit_log disable trigger audit_log_append_only`);
      await tx.execute(sql`delete from audit_log where tenant_id = ${otherTenantId} and seq = 2`);
      await tx.execute(sql`alter table audit_log enable trigger audit_log_append_only`);
    });
    const result = await verifyAuditChain(handle.db, otherTenantId);
    assert.equal(result.ok, false);
    assert.equal(result.firstBroken?.seq, 3);
    assert.match(result.firstBroken?.reason ?? '', /entry 2 is missing/);
  });
});
