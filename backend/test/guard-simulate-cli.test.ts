/**
 * `npm run guard:simulate`: the script itself, on a real database holding a tenant's policies from its
 * tenant file, prints the policy the routing picks, each symbol with its reason, the score and the verdict,
 * and stores or delivers nothing; bad input gets a clear message and exit code 2.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { openDatabase } from '../src/db/client.ts';
import { messages } from '../src/db/schema.ts';
import { applyTenantDefinitions } from '../src/tenants/tenant-directory.ts';
import { createTestDatabase, ownerDb, type TestDatabase } from './support/database.ts';

const repositoryRoot = fileURLToPath(new URL('../../', import.meta.url));

function simulate(database: TestDatabase, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    SEALPOST_DATA_DIR: database.dataDir,
    // No DNS answers here: a refused question is a temporary error at once, never a wait.
    SEALPOST_DNS_SERVERS: '127.0.0.1:9',
    SEALPOST_DNS_TIMEOUT_MS: '500',
  };
  if (database.url) env.DATABASE_URL = database.url;
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'scripts/guard-simulate.ts', ...args], { cwd: repositoryRoot, env, timeout: 120_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('npm run guard:simulate', () => {
  let database: TestDatabase;
  let eml: string;

  before(async () => {
    database = await createTestDatabase();
    const handle = await openDatabase({ url: database.url, dataDir: database.dataDir });
    await applyTenantDefinitions(handle.db, [
      {
        name: 'Acme',
        domains: ['acme.test'],
        connectors: [],
        members: [{ email: 'alice@acme.test', role: 'owner' }],
        apiTokens: [],
        guard: {
          policies: [{ name: 'Finance', priority: 1, match: { recipients: ['finance@acme.test'] }, scores: { REPLYTO_DOMAIN_DIFFERS: 20 } }],
        },
      },
    ]);
    await handle.close();
    eml = join(database.dataDir, 'suspicious.eml');
    writeFileSync(
      eml,
      'From: Billing <billing@supplier.example>\r\nTo: finance@acme.test\r\nReply-To: pay@elsewhere.example\r\nSubject: Overdue\r\n\r\nPay today.\r\n',
    );
  });

  after(async () => database.cleanup());

  test('prints the policy, each symbol with its reason, the score and the verdict', async () => {
    const { code, stdout, stderr } = await simulate(database, [eml, '--tenant', 'Acme', '--ip', '198.51.100.7']);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /^policy: +Finance$/m);
    assert.match(stdout, /^score: +\d+(\.\d+)? \(flag at 5, block at 15\)$/m);
    assert.match(stdout, /^verdict: +QUARANTINE: quarantined/m);
    assert.match(stdout, /REPLYTO_DOMAIN_DIFFERS +20 +reply-to domain elsewhere\.example/);
    assert.match(stdout, /recipients taken from To\/Cc/);

    const json = await simulate(database, [eml, '--tenant', 'Acme', '--rcpt', 'alice@acme.test', '--json']);
    assert.equal(json.code, 0, json.stderr);
    const result = JSON.parse(json.stdout) as { policy: { name: string }; action: string };
    assert.equal(result.policy.name, 'Default', 'routing picks the policy by recipient');
    assert.notEqual(result.action, 'quarantine');

    const handle = await openDatabase({ url: database.url, dataDir: database.dataDir });
    try {
      assert.equal((await ownerDb(handle.db).select({ id: messages.id }).from(messages)).length, 0, 'nothing is stored');
    } finally {
      await handle.close();
    }
  });

  test('bad input gets a clear message and exit code 2', async () => {
    const missing = await simulate(database, [join(database.dataDir, 'nope.eml'), '--tenant', 'Acme']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /Cannot read .*nope\.eml/);
    const unknown = await simulate(database, [eml, '--tenant', 'Initech']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /No tenant named "Initech"\. Tenants: Acme/);
    const policy = await simulate(database, [eml, '--tenant', 'Acme', '--policy', 'Nope']);
    assert.equal(policy.code, 2);
    assert.match(policy.stderr, /no policy named "Nope"/);
  });
});
