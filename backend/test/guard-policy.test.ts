/** Each tenant's guard policy comes from the tenant file, is stored with the tenant and decides its verdicts. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { loadConfig, type TenantDefinition } from '../src/config.ts';
import { openDatabase, type DatabaseHandle } from '../src/db/client.ts';
import { DEFAULT_GUARD_POLICY, resolveGuardPolicy } from '../src/guard/policy.ts';
import { createTenantGuard } from '../src/guard/tenant-guard.ts';
import { GuardPolicyStore } from '../src/guard/policy-store.ts';
import { applyTenantDefinitions, TenantDirectory } from '../src/tenants/tenant-directory.ts';
import { guardInput, manyParts, plainText } from './support/crafted-mail.ts';
import { createTestDatabase, type TestDatabase } from './support/database.ts';

function withTenantFile(text: string, use: (file: string) => void): void {
  const folder = mkdtempSync(join(tmpdir(), 'sealpost-guard-config-'));
  try {
    const file = join(folder, 'tenants.yaml');
    writeFileSync(file, text);
    use(file);
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

const tenantWithGuard = (guard: string) => `tenants:\n  - name: Acme\n    domains: [acme.test]\n    guard:\n${guard}`;

describe('the guard section of the tenant file', () => {
  test('is read with what it names; everything else keeps the defaults', () => {
    withTenantFile(
      tenantWithGuard(
        '      thresholds: { flag: 4, block: 20 }\n      scores: { REPLYTO_DOMAIN_DIFFERS: 7 }\n' +
          '      disabledChecks: [message-structure]\n      onCheckFailure: { action: flag }\n      limits: { maxParts: 50 }\n',
      ),
      (file) => {
        const [tenant] = loadConfig({ SEALPOST_CONFIG: file }).tenants!;
        const policy = resolveGuardPolicy(tenant!.guard);
        assert.deepEqual(policy.thresholds, { flag: 4, block: 20 });
        assert.deepEqual(policy.scores, { REPLYTO_DOMAIN_DIFFERS: 7 });
        assert.deepEqual([...policy.disabledChecks], ['message-structure']);
        assert.deepEqual(policy.onCheckFailure, { action: 'flag', score: 0 });
        assert.deepEqual(policy.limits, { maxParts: 50, maxNestingDepth: 12, maxHeaderLineBytes: 998 });
      },
    );
    assert.equal(resolveGuardPolicy(undefined), DEFAULT_GUARD_POLICY);
    assert.equal(DEFAULT_GUARD_POLICY.onCheckFailure.action, 'quarantine', 'by default a failed check does not let mail pass');
  });

  test('a misspelt key is an error that names it and suggests the right one', () => {
    withTenantFile(tenantWithGuard('      tresholds: { flag: 4, block: 20 }\n'), (file) => {
      assert.throws(() => loadConfig({ SEALPOST_CONFIG: file }), /tenants\.0\.guard\.tresholds: unknown key \(did you mean "thresholds"\?\)/);
    });
    withTenantFile(tenantWithGuard('      limits: { maxNestingDept: 4 }\n'), (file) => {
      assert.throws(() => loadConfig({ SEALPOST_CONFIG: file }), /tenants\.0\.guard\.limits\.maxNestingDept: unknown key \(did you mean "maxNestingDepth"\?\)/);
    });
    withTenantFile('tenants:\n  - name: Acme\n    domains: [acme.test]\n    gaurd: {}\n', (file) => {
      assert.throws(() => loadConfig({ SEALPOST_CONFIG: file }), /tenants\.0\.gaurd: unknown key \(did you mean "guard"\?\)/);
    });
  });

  test('values that cannot work are refused with the reason', () => {
    const refused: Array<[string, RegExp]> = [
      ['      disabledChecks: [reply-to]\n', /tenants\.0\.guard\.disabledChecks\.0: .*"message-structure"\|"reply-to-domain"/],
      ['      onCheckFailure: { action: deliver }\n', /tenants\.0\.guard\.onCheckFailure\.action: .*"flag"\|"quarantine"\|"reject"/],
      ['      thresholds: { flag: 10, block: 5 }\n', /tenants\.0\.guard\.thresholds: must rise: flag <= block/],
      ['      onFlag: { quarantine: true, subjectPrefix: "[SPAM]" }\n', /tenants\.0\.guard\.onFlag: quarantine instead of marking cannot be combined/],
      ['      scores: { replyto_domain_differs: 2 }\n', /tenants\.0\.guard\.scores\.replyto_domain_differs: is not a symbol: symbol names are upper case/],
      ['      limits: { maxParts: 0 }\n', /tenants\.0\.guard\.limits\.maxParts: /],
    ];
    for (const [guard, message] of refused) {
      withTenantFile(tenantWithGuard(guard), (file) => assert.throws(() => loadConfig({ SEALPOST_CONFIG: file }), message, guard));
    }
  });
});

describe("each tenant's verdicts follow its own stored policy", () => {
  let database: TestDatabase;
  let handle: DatabaseHandle;
  before(async () => {
    database = await createTestDatabase();
    handle = await openDatabase({ url: database.url, dataDir: database.dataDir });
  });
  after(async () => {
    await handle.close();
    await database.cleanup();
  });

  test('a strict tenant quarantines what a tenant on the defaults only flags, and a disabled check finds nothing', async () => {
    const tenants: TenantDefinition[] = [
      { name: 'Strict', domains: ['strict.test'], connectors: [], members: [], apiTokens: [], guard: { thresholds: { flag: 2, block: 4 } } },
      { name: 'Plain', domains: ['plain.test'], connectors: [], members: [], apiTokens: [] },
      { name: 'Relaxed', domains: ['relaxed.test'], connectors: [], members: [], apiTokens: [], guard: { disabledChecks: ['message-structure'], scores: { REPLYTO_DOMAIN_DIFFERS: 0 } } },
    ];
    // Through the file format, as an operator writes it.
    withTenantFile(stringify({ tenants }), (file) => assert.equal(loadConfig({ SEALPOST_CONFIG: file }).tenants!.length, 3));
    await applyTenantDefinitions(handle.db, tenants);
    const directory = new TenantDirectory(handle.db);
    await directory.refresh();
    const guard = createTenantGuard({ policies: new GuardPolicyStore(handle.db), directory });
    const idOf = (name: string) => directory.allTenants().find((t) => t.name === name)!.id;

    const suspicious = manyParts(300);
    const strict = await guard(guardInput(suspicious, { tenantId: idOf('Strict') }));
    const plain = await guard(guardInput(suspicious, { tenantId: idOf('Plain') }));
    const relaxed = await guard(guardInput(suspicious, { tenantId: idOf('Relaxed') }));
    assert.equal(strict.action, 'quarantine');
    assert.equal(plain.action, 'flag');
    assert.equal(relaxed.action, 'deliver');
    assert.deepEqual(relaxed.findings, []);

    const replyTo = plainText({ 'Reply-To': 'pay@elsewhere.example' });
    const relaxedReplyTo = await guard(guardInput(replyTo, { tenantId: idOf('Relaxed') }));
    assert.deepEqual(relaxedReplyTo.findings.map((f) => [f.symbol, f.score]), [['REPLYTO_DOMAIN_DIFFERS', 0]]);
    assert.equal((await guard(guardInput(replyTo, { tenantId: idOf('Strict') }))).action, 'quarantine');

    const unknown = await guard(guardInput(plainText(), { tenantId: '00000000-0000-4000-8000-000000000000' }));
    assert.equal(unknown.action, 'quarantine', 'a message for a tenant the directory does not know is not waved through');
  });
});
