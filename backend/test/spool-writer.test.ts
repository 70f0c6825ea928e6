/**
 * Group commit at intake: messages of concurrent sessions share a commit, each is acknowledged only after
 * its own rows are committed, and a message the database refuses is refused alone.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { inArray, sql } from 'drizzle-orm';
import { openDatabase, queryRows, type DatabaseHandle } from '../src/db/client.ts';
import { messages, messageTrace, recipients } from '../src/db/schema.ts';
import { withTenants } from '../src/db/tenant-scope.ts';
import { SpoolWriter, type SpoolRequest } from '../src/messages/spool.ts';
import { applyTenantDefinitions } from '../src/tenants/tenant-directory.ts';
import { KeyVault } from '../src/vault/key-vault.ts';
import { createTestDatabase, type TestDatabase } from './support/database.ts';

describe('the intake spool writer', () => {
  let database: TestDatabase;
  let handle: DatabaseHandle;
  let vault: KeyVault;
  const tenants: Record<string, string> = {};

  before(async () => {
    database = await createTestDatabase();
    handle = await openDatabase({ url: database.url, dataDir: database.dataDir });
    vault = new KeyVault(handle.db, randomBytes(32));
    await applyTenantDefinitions(handle.db, [
      { name: 'Acme', domains: ['acme.example'], connectors: [], members: [{ email: 'admin@acme.example', role: 'owner' }], apiTokens: [] },
      { name: 'Globex', domains: ['globex.example'], connectors: [], members: [{ email: 'admin@globex.example', role: 'owner' }], apiTokens: [] },
    ]);
    for (const row of await queryRows<{ id: string; name: string }>(handle.db, sql`select id, name from tenants`)) tenants[row.name] = row.id;
  });

  after(async () => {
    await handle?.close();
    await database?.cleanup();
  });

  const request = (tenant: 'Acme' | 'Globex', index: number, id: string = randomUUID()): SpoolRequest => ({
    id,
    tenantId: tenants[tenant]!,
    direction: 'inbound',
    mailFrom: `sender${index}@partner.example`,
    recipients: [`user${index}@${tenant.toLowerCase()}.example`, `other${index}@${tenant.toLowerCase()}.example`],
    clientAddress: '192.0.2.1',
    tls: false,
    raw: Buffer.from(`Subject: message ${index}\r\n\r\nbody ${index}\r\n`),
    traceDetail: {},
  });

  test('messages that arrive together commit in fewer transactions than messages, each whole with its recipients and trace', async () => {
    const writer = new SpoolWriter(handle.db, vault, { maxConcurrentCommits: 1 });
    const requests = Array.from({ length: 40 }, (_, i) => request(i % 2 ? 'Acme' : 'Globex', i));
    await Promise.all(requests.map((r) => writer.spool([r])));
    assert.equal(writer.written.messages, 40);
    assert.ok(writer.written.commits < 40 / 2, `40 concurrent messages took ${writer.written.commits} commits`);
    const ids = requests.map((r) => r.id);
    await withTenants(handle.db, Object.values(tenants), async (tx) => {
      const stored = await tx.select().from(messages).where(inArray(messages.id, ids));
      assert.equal(stored.length, 40);
      for (const row of stored) {
        const original = requests.find((r) => r.id === row.id)!;
        assert.equal(row.tenantId, original.tenantId);
        assert.deepEqual(await vault.open(row.tenantId, row.id, { content: row.content, wrappedDataKey: row.wrappedDataKey }, tx), original.raw);
      }
      assert.equal((await tx.select().from(recipients).where(inArray(recipients.messageId, ids))).length, 80);
      assert.equal((await tx.select().from(messageTrace).where(inArray(messageTrace.messageId, ids))).length, 40);
    });
  });

  test('a message the database refuses is refused alone; the others in its batch are committed', async () => {
    const writer = new SpoolWriter(handle.db, vault, { maxConcurrentCommits: 1 });
    const first = request('Acme', 100);
    await writer.spool([first]);
    const batch = [request('Acme', 101), request('Globex', 102), request('Acme', 103, first.id), request('Globex', 104)];
    const outcomes = await Promise.allSettled(batch.map((r) => writer.spool([r])));
    assert.deepEqual(
      outcomes.map((o) => o.status),
      ['fulfilled', 'fulfilled', 'rejected', 'fulfilled'],
    );
    const stored = await withTenants(handle.db, Object.values(tenants), (tx) =>
      tx.select({ id: messages.id }).from(messages).where(inArray(messages.id, batch.map((r) => r.id))),
    );
    assert.equal(stored.length, 4, 'three new messages and the first one, stored once');
  });
});
