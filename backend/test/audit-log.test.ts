import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { appendFileSync, copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { and, eq, gte, sql } from 'drizzle-orm';
import { AuditCheckpointer } from '../src/audit/audit-checkpointer.ts';
import { AuditCheckpointFile, AuditSigningKey, loadOrCreateAuditSigningKey } from '../src/audit/audit-checkpoints.ts';
import { AuditKeys } from '../src/vault/audit-keys.ts';
import { appendAudit, GENESIS_HASH, legacyEntryHash, verifyAuditChain, type AuditProblem } from '../src/audit/audit-log.ts';
import { openDatabase, queryRows, type DatabaseHandle, type Queryable } from '../src/db/client.ts';
import { auditLog, tenants } from '../src/db/schema.ts';
import { withTenants } from '../src/db/tenant-scope.ts';
import { createLogger } from '../src/logger.ts';
import { createTestDatabase, type TestDatabase, ownerDb } from './support/database.ts';

const keys = new AuditKeys(randomBytes(32));

describe('audit log', () => {
  let database: TestDatabase;
  let handle: DatabaseHandle;
  let tenantId: string;
  let otherTenantId: string;

  before(async () => {
    database = await createTestDatabase();
    handle = await openDatabase({ url: database.url, dataDir: database.dataDir });
    const rows = await ownerDb(handle.db).insert(tenants).values([{ name: 'Audited' }, { name: 'Other' }]).returning();
    tenantId = rows[0]!.id;
    otherTenantId = rows[1]!.id;
    for (let i = 0; i < 5; i += 1) {
      await appendAudit(handle.db, keys, {
        tenantId,
        action: i % 2 ? 'read' : 'sent',
        actorId: `actor-${i}`,
        actorAddress: 'client@example.net',
        clientIp: '127.0.0.1',
        subjectId: `message-${i}`,
        details: { integrity: 'verified', channel: 'portal', nested: { b: 2, a: [1, 'x'] } },
      });
    }
    await appendAudit(handle.db, keys, { tenantId: otherTenantId, action: 'signed_in', details: {} });
  });

  after(async () => {
    await handle.close();
    await database.cleanup();
  });

  test('each entry carries the hash of the one before and the chain verifies', async () => {
    const rows = await ownerDb(handle.db).select().from(auditLog).where(eq(auditLog.tenantId, tenantId)).orderBy(auditLog.seq);
    assert.equal(rows.length, 5);
    for (let i = 1; i < rows.length; i += 1) assert.equal(rows[i]!.prevHash, rows[i - 1]!.hash);
    const result = await verifyAuditChain(handle.db, keys);
    assert.deepEqual({ ok: result.ok, checked: result.checked, tenants: result.tenants }, { ok: true, checked: 6, tenants: 2 });
  });

  test('concurrent writers keep one unbroken chain per tenant', async () => {
    await Promise.all(
      Array.from({ length: 10 }, (_, i) => appendAudit(handle.db, keys, { tenantId: otherTenantId, action: 'read', subjectId: `parallel-${i}` })),
    );
    const result = await verifyAuditChain(handle.db, keys, { tenantId: otherTenantId });
    assert.equal(result.ok, true);
    assert.equal(result.checked, 11);
  });

  /** The database's own refusal, under the query wrapper's message. */
  const refusedAsAppendOnly = (error: unknown) => /append-only/.test(String((error as { cause?: unknown }).cause ?? error));

  test('UPDATE, DELETE and TRUNCATE of audit entries fail through the application', async () => {
    // In the tenant's own scope, where its entries are visible to the application's role.
    await assert.rejects(
      withTenants(handle.db, tenantId, (tx) => tx.update(auditLog).set({ action: 'deleted' }).where(eq(auditLog.tenantId, tenantId))),
      refusedAsAppendOnly,
    );
    await assert.rejects(
      withTenants(handle.db, tenantId, (tx) => tx.delete(auditLog).where(eq(auditLog.tenantId, tenantId))),
      refusedAsAppendOnly,
    );
    // TRUNCATE is refused to the application's role altogether, and to the owner by the trigger.
    await assert.rejects(handle.db.execute(sql`truncate audit_log`));
    await assert.rejects(ownerDb(handle.db).execute(sql`truncate audit_log`), refusedAsAppendOnly);
    assert.equal((await verifyAuditChain(handle.db, keys)).ok, true);
  });

  test('a row changed by a superuser who bypassed the trigger is reported as the first broken link', async () => {
    await ownerDb(handle.db).transaction(async (tx) => {
      await tx.execute(sql`alter table audit_log disable trigger audit_log_append_only`);
      await tx.execute(sql`update audit_log set details = '{"integrity":"failed"}'::jsonb where tenant_id = ${tenantId} and seq = 3`);
      await tx.execute(sql`alter table audit_log enable trigger audit_log_append_only`);
    });
    const result = await verifyAuditChain(handle.db, keys);
    assert.equal(result.ok, false);
    assert.equal(result.firstBroken?.tenantId, tenantId);
    assert.equal(result.firstBroken?.seq, 3);
    assert.match(result.firstBroken?.reason ?? '', /changed/);
    assert.equal((await verifyAuditChain(handle.db, keys, { tenantId: otherTenantId })).ok, true, 'other tenants are unaffected');
  });

  test('a row removed by a superuser is reported as a missing entry', async () => {
    await ownerDb(handle.db).transaction(async (tx) => {
      await tx.execute(sql`alter table audit_log disable trigger audit_log_append_only`);
      await tx.execute(sql`delete from audit_log where tenant_id = ${otherTenantId} and seq = 2`);
      await tx.execute(sql`alter table audit_log enable trigger audit_log_append_only`);
    });
    const result = await verifyAuditChain(handle.db, keys, { tenantId: otherTenantId });
    assert.equal(result.ok, false);
    assert.equal(result.firstBroken?.seq, 3);
    assert.match(result.firstBroken?.reason ?? '', /entry 2 is missing/);
  });
});

const repositoryRoot = fileURLToPath(new URL('../..', import.meta.url));

/** What the database owner can do whatever the triggers say: switch them off for the session and write at will. */
async function asDatabaseOwner(db: DatabaseHandle['db'], work: (tx: Queryable) => Promise<void>): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.execute(sql`set local session_replication_role = replica`);
    await work(tx);
  });
}

/** Changes one entry and recomputes every hash after it the way the unkeyed chain did: plain SHA-256. */
async function rewriteAndRehash(tx: Queryable, tenantId: string, seq: number, details: Record<string, unknown>): Promise<void> {
  const rows = await tx.select().from(auditLog).where(and(eq(auditLog.tenantId, tenantId), gte(auditLog.seq, seq - 1))).orderBy(auditLog.seq);
  let prevHash = seq === 1 ? GENESIS_HASH : rows.shift()!.hash;
  for (const row of rows) {
    const changed = { ...row, seq: Number(row.seq), prevHash, details: Number(row.seq) === seq ? details : row.details };
    const hash = legacyEntryHash(changed);
    await tx.update(auditLog).set({ details: changed.details, prevHash, hash }).where(eq(auditLog.id, row.id));
    prevHash = hash;
  }
}

/** Runs `npm run audit:verify` (the script itself) on the test's data folder. */
function runAuditVerify(database: TestDatabase, args: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', SEALPOST_DATA_DIR: database.dataDir };
  if (database.url) env.DATABASE_URL = database.url;
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'scripts/audit-verify.ts', ...args], { cwd: repositoryRoot, env, timeout: 120_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

test('a configured audit signing key is used as it is, and a public key alone is refused for signing', () => {
  const folder = mkdtempSync(join(tmpdir(), 'sealpost-signing-key-'));
  try {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const configured = join(folder, 'signing.pem');
    writeFileSync(configured, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const key = loadOrCreateAuditSigningKey(configured, join(folder, 'generated.key'));
    assert.equal(key.generatedFile, undefined);
    assert.equal(key.publicKeyPem, publicKey.export({ type: 'spki', format: 'pem' }));
    const publicOnly = join(folder, 'public.pem');
    writeFileSync(publicOnly, key.publicKeyPem);
    assert.throws(() => loadOrCreateAuditSigningKey(publicOnly, join(folder, 'generated.key')), /holds a public key/);
    const rsa = join(folder, 'rsa.pem');
    writeFileSync(rsa, generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    assert.throws(() => loadOrCreateAuditSigningKey(rsa, join(folder, 'generated.key')), /Ed25519/);
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});

const kindsAndSeqs = (problems: AuditProblem[]) => problems.map((p) => `${p.kind}@${p.seq}`);

describe('the audit chain against the database owner: keyed hashes and signed checkpoints outside the database', () => {
  let database: TestDatabase;
  let handle: DatabaseHandle;
  let auditKeys: AuditKeys;
  let signingKey: AuditSigningKey;
  let checkpointFile: AuditCheckpointFile;
  const tenant: Record<'rewritten' | 'truncated' | 'untouched' | 'legacy', string> = { rewritten: '', truncated: '', untouched: '', legacy: '' };

  const checkpoints = () => ({ file: checkpointFile, signingKey });
  const checkpointer = () =>
    new AuditCheckpointer({ db: handle.db, keys: auditKeys, signingKey, file: checkpointFile, logger: createLogger('silent'), intervalMs: 60_000, everyEntries: 1000 });
  const verify = (tenantId: string, keys = auditKeys) => verifyAuditChain(handle.db, keys, { tenantId, checkpoints: checkpoints() });
  const open = async () => {
    handle = await openDatabase({ url: database.url, dataDir: database.dataDir });
  };

  before(async () => {
    database = await createTestDatabase();
    // The keys live where the gateway keeps them, so that npm run audit:verify finds them as it would in production.
    const masterKey = randomBytes(32);
    writeFileSync(join(database.dataDir, 'master.key'), `${masterKey.toString('base64')}\n`, { mode: 0o600 });
    auditKeys = AuditKeys.fromMasterKey(masterKey);
    signingKey = loadOrCreateAuditSigningKey(undefined, join(database.dataDir, 'audit-signing.key'));
    checkpointFile = new AuditCheckpointFile(join(database.dataDir, 'audit-checkpoints.jsonl'));
    await open();
    const rows = await ownerDb(handle.db)
      .insert(tenants)
      .values([{ name: 'Rewritten' }, { name: 'Truncated' }, { name: 'Untouched' }, { name: 'Legacy' }])
      .returning();
    [tenant.rewritten, tenant.truncated, tenant.untouched, tenant.legacy] = rows.map((r) => r.id) as [string, string, string, string];
    for (const tenantId of [tenant.rewritten, tenant.truncated, tenant.untouched]) {
      for (let i = 1; i <= 6; i += 1) {
        await appendAudit(handle.db, auditKeys, {
          tenantId,
          action: 'attachment_downloaded',
          actorId: `session-${i}`,
          subjectId: `message-${i}`,
          details: { integrity: 'verified', attachment: i },
        });
      }
    }
    const run = await checkpointer().checkpoint();
    assert.deepEqual(run.refused, []);
    assert.equal(run.written.length, 3);
  });

  after(async () => {
    await handle.close();
    await database.cleanup();
  });

  test('an untouched chain verifies with every signed checkpoint matched, and npm run audit:verify says intact', async () => {
    const result = await verifyAuditChain(handle.db, auditKeys, { checkpoints: checkpoints() });
    assert.deepEqual(result.problems, []);
    assert.deepEqual({ ok: result.ok, checked: result.checked, tenants: result.tenants, checkpoints: result.checkpoints }, { ok: true, checked: 18, tenants: 3, checkpoints: 3 });

    await handle.close();
    try {
      const script = await runAuditVerify(database);
      assert.equal(script.code, 0, script.stderr);
      assert.match(script.stdout, /audit log intact: 18 entries in 3 tenant chain\(s\), 3 signed checkpoint\(s\)/);
      // Against a copy kept elsewhere, checked with the public key alone (what the admin API exports).
      const elsewhere = mkdtempSync(join(tmpdir(), 'sealpost-checkpoint-copy-'));
      const copy = join(elsewhere, 'checkpoints.jsonl');
      const publicKey = join(elsewhere, 'audit-public.pem');
      copyFileSync(checkpointFile.path, copy);
      writeFileSync(publicKey, signingKey.publicKeyPem);
      const fromCopy = await runAuditVerify(database, ['--checkpoints', copy, '--public-key', publicKey]);
      rmSync(elsewhere, { recursive: true, force: true });
      assert.equal(fromCopy.code, 0, fromCopy.stderr);
      assert.ok(fromCopy.stdout.includes(`3 signed checkpoint(s) from ${copy} matched`), fromCopy.stdout);
    } finally {
      await open();
    }
  });

  test('an entry edited with the triggers switched off and the chain re-hashed with plain SHA-256 is reported as altered, and the checkpoint shows it even without the key', async () => {
    await asDatabaseOwner(ownerDb(handle.db), (tx) => rewriteAndRehash(tx, tenant.rewritten, 3, { integrity: 'failed', attachment: 3 }));
    const [edited] = await ownerDb(handle.db).select().from(auditLog).where(and(eq(auditLog.tenantId, tenant.rewritten), eq(auditLog.seq, 3)));
    assert.deepEqual(edited!.details, { integrity: 'failed', attachment: 3 }, 'the database owner did change the row');

    const result = await verify(tenant.rewritten);
    assert.equal(result.ok, false);
    assert.deepEqual(kindsAndSeqs(result.problems), ['altered@3', 'altered@4', 'altered@5', 'altered@6', 'checkpoint_mismatch@6']);
    assert.equal(result.firstBroken?.seq, 3);
    assert.match(result.firstBroken?.reason ?? '', /changed after it was written/);

    // Someone without the audit key (an external auditor with the exported checkpoints) still sees the rewrite.
    const withoutKey = await verify(tenant.rewritten, new AuditKeys(randomBytes(32)));
    assert.ok(withoutKey.problems.some((p) => p.kind === 'checkpoint_mismatch' && p.seq === 6 && /rewritten/.test(p.reason)));

    const run = await checkpointer().checkpoint();
    assert.ok(!run.written.some((c) => c.tenantId === tenant.rewritten), 'no checkpoint vouches for a rewritten chain');
    assert.ok(run.refused.some((p) => p.tenantId === tenant.rewritten && p.kind === 'checkpoint_mismatch' && p.seq === 6));
    assert.equal((await verify(tenant.untouched)).ok, true, 'other tenants are unaffected');
  });

  test('the newest entries deleted after a checkpoint are reported as truncated after that checkpoint', async () => {
    await asDatabaseOwner(ownerDb(handle.db), async (tx) => {
      await tx.delete(auditLog).where(and(eq(auditLog.tenantId, tenant.truncated), gte(auditLog.seq, 5)));
    });
    // The shorter chain is still a valid chain: without the checkpoint nothing would show.
    assert.equal((await verifyAuditChain(handle.db, auditKeys, { tenantId: tenant.truncated })).ok, true);

    const result = await verify(tenant.truncated);
    assert.equal(result.ok, false);
    assert.deepEqual(kindsAndSeqs(result.problems), ['truncated@6']);
    assert.match(result.problems[0]!.reason, /the chain ends at entry 4, but checkpoint 6 .* entries after 4 were removed/);

    const run = await checkpointer().checkpoint();
    assert.ok(run.refused.some((p) => p.tenantId === tenant.truncated && p.kind === 'truncated'));
  });

  test('a forged or edited checkpoint is reported as a bad signature and vouches for nothing', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const impostor = new AuditSigningKey(publicKey, privateKey);
    const [head] = await queryRows<{ hash: string }>(ownerDb(handle.db), sql`select hash from audit_log where tenant_id = ${tenant.untouched} and seq = 6`);
    // Claims a longer chain, signed by another key under this deployment's key id.
    const forged = { ...impostor.sign({ tenantId: tenant.untouched, seq: 60, hash: head!.hash, at: new Date().toISOString(), legacyThrough: 0 }), keyId: signingKey.keyId };
    // A genuine checkpoint with its seq changed afterwards.
    const genuine = signingKey.sign({ tenantId: tenant.untouched, seq: 6, hash: head!.hash, at: new Date().toISOString(), legacyThrough: 0 });
    const edited = { ...genuine, seq: 7 };
    appendFileSync(checkpointFile.path, `${JSON.stringify(forged)}\n${JSON.stringify(edited)}\n`);

    const result = await verify(tenant.untouched);
    assert.equal(result.ok, false);
    assert.deepEqual(kindsAndSeqs(result.problems), ['bad_checkpoint_signature@60', 'bad_checkpoint_signature@7']);
    assert.ok(result.problems.every((p) => /signature does not verify/.test(p.reason)));
    assert.ok(!result.problems.some((p) => p.kind === 'truncated'), 'a forged checkpoint cannot make a whole chain look truncated');
  });

  test('entries hashed before the chain was keyed are accepted only as far as the first checkpoint vouches for them', async () => {
    let prevHash = GENESIS_HASH;
    for (let seq = 1; seq <= 3; seq += 1) {
      const entry = { tenantId: tenant.legacy, seq, at: new Date(), action: 'read', actorId: null, actorAddress: null, clientIp: null, subjectId: `old-${seq}`, details: {}, prevHash };
      const hash = legacyEntryHash(entry);
      await ownerDb(handle.db).insert(auditLog).values({ ...entry, hash });
      prevHash = hash;
    }
    assert.deepEqual(kindsAndSeqs((await verify(tenant.legacy)).problems), ['altered@1', 'altered@2', 'altered@3'], 'no checkpoint vouches for them yet');

    const run = await checkpointer().checkpoint();
    const first = run.written.find((c) => c.tenantId === tenant.legacy);
    assert.deepEqual({ seq: first?.seq, legacyThrough: first?.legacyThrough }, { seq: 3, legacyThrough: 3 });
    await appendAudit(handle.db, auditKeys, { tenantId: tenant.legacy, action: 'read', subjectId: 'new-4' });
    assert.deepEqual((await verify(tenant.legacy)).problems, []);

    // An unkeyed entry after the vouched-for ones is not legacy, it is a forgery.
    const [last] = await ownerDb(handle.db).select().from(auditLog).where(and(eq(auditLog.tenantId, tenant.legacy), eq(auditLog.seq, 4)));
    const forged = { tenantId: tenant.legacy, seq: 5, at: new Date(), action: 'read', actorId: null, actorAddress: null, clientIp: null, subjectId: 'forged', details: {}, prevHash: last!.hash };
    await ownerDb(handle.db).insert(auditLog).values({ ...forged, hash: legacyEntryHash(forged) });
    assert.deepEqual(kindsAndSeqs((await verify(tenant.legacy)).problems), ['altered@5']);
  });

  test('a chain rewritten from end to end is reported in a bounded list that counts the rest', async (t) => {
    const [bulk] = await ownerDb(handle.db).insert(tenants).values({ name: 'Bulk' }).returning();
    const entries = Array.from({ length: 2000 }, (_, i) => ({ tenantId: bulk!.id, action: 'read' as const, subjectId: `message-${i}` }));
    await appendAudit(handle.db, auditKeys, entries);
    let started = performance.now();
    assert.equal((await verify(bulk!.id)).ok, true);
    t.diagnostic(`verifying 2000 intact entries took ${Math.round(performance.now() - started)} ms`);

    await asDatabaseOwner(ownerDb(handle.db), async (tx) => {
      await tx.execute(sql`update audit_log set action = 'deleted' where tenant_id = ${bulk!.id}::uuid`);
    });
    started = performance.now();
    const result = await verify(bulk!.id);
    t.diagnostic(`verifying 2000 altered entries took ${Math.round(performance.now() - started)} ms`);
    assert.equal(result.checked, 2000);
    assert.equal(result.problems.length, 51);
    assert.ok(result.problems.every((p) => p.kind === 'altered'));
    assert.match(result.problems.at(-1)!.reason, /^1950 more problems in this tenant's chain are not listed; the last: /);
    assert.equal(result.problems.at(-1)!.seq, 2000);
  });

  test('npm run audit:verify names the tenant, entry and kind of every problem and exits with 1', async () => {
    await handle.close();
    try {
      const script = await runAuditVerify(database);
      assert.equal(script.code, 1, script.stdout);
      const escaped = (id: string) => id.replace(/-/g, '\\-');
      assert.match(script.stderr, /audit log BROKEN: \d+ problem\(s\)/);
      assert.match(script.stderr, new RegExp(`tenant ${escaped(tenant.rewritten)} entry 3 \\(row \\d+\\): altered: `));
      assert.match(script.stderr, new RegExp(`tenant ${escaped(tenant.rewritten)} entry 6 \\(row \\d+\\): checkpoint_mismatch: `));
      assert.match(script.stderr, new RegExp(`tenant ${escaped(tenant.truncated)} entry 6: truncated: the chain ends at entry 4`));
      assert.match(script.stderr, new RegExp(`tenant ${escaped(tenant.untouched)} entry 60: bad_checkpoint_signature: `));
      assert.match(script.stderr, new RegExp(`tenant ${escaped(tenant.legacy)} entry 5 \\(row \\d+\\): altered: `));
    } finally {
      await open();
    }
  });
});
