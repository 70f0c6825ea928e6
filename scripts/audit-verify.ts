/**
 * npm run audit:verify [-- <tenant id>] [--checkpoints <file>] [--public-key <PEM file>]
 *
 * Checks every tenant's audit chain (or one tenant's): each entry's HMAC and link to the one before, and the
 * signed checkpoints — that each verifies, that the entry at its seq is the one it signed, and that the chain
 * still reaches the newest one. Prints every problem (tenant, entry, kind, why) and exits with 1 when there is one.
 *
 * Uses the gateway's configuration: DATABASE_URL or the PGlite data folder, the master key (or
 * SEALPOST_AUDIT_KEY), and the checkpoint file and signing key of the data folder. --checkpoints and
 * --public-key check against a copy kept elsewhere (what GET /api/admin/audit/checkpoints exported) instead.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AuditCheckpointFile, signingKeyFromPem } from '../backend/src/audit/audit-checkpoints.ts';
import { AuditKeys } from '../backend/src/vault/audit-keys.ts';
import { formatAuditProblem, verifyAuditChain } from '../backend/src/audit/audit-log.ts';
import { configOrExit } from './script-config.ts';
import { openDatabase } from '../backend/src/db/client.ts';
import { loadExistingMasterKey } from '../backend/src/vault/key-vault.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { checkpoints: { type: 'string' }, 'public-key': { type: 'string' } },
});
const config = configOrExit();
const tenantId = positionals[0];

const keys = config.audit.key
  ? new AuditKeys(config.audit.key)
  : AuditKeys.fromMasterKey(loadExistingMasterKey(config.masterKey, join(config.dataDir, 'master.key')));
const keyFile = values['public-key'] ?? config.audit.signingKeyFile ?? join(config.dataDir, 'audit-signing.key');
const checkpointFile = values.checkpoints ?? config.audit.checkpointFile;
const checkpoints = existsSync(keyFile)
  ? { file: new AuditCheckpointFile(checkpointFile), signingKey: signingKeyFromPem(readFileSync(keyFile, 'utf8'), keyFile) }
  : undefined;
if (!checkpoints) {
  console.error(`WARNING: no audit signing key at ${keyFile}: signed checkpoints are not checked, removed newest entries go unseen`);
}

const database = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
try {
  const result = await verifyAuditChain(database.db, keys, { tenantId, checkpoints });
  if (result.ok) {
    console.log(
      `audit log intact: ${result.checked} entries in ${result.tenants} tenant chain(s), ` +
        `${result.checkpoints} signed checkpoint(s) from ${checkpoints ? checkpointFile : 'nowhere'} matched`,
    );
  } else {
    console.error(`audit log BROKEN: ${result.problems.length} problem(s) in ${result.checked} entries of ${result.tenants} tenant chain(s)`);
    for (const problem of result.problems) console.error(`  ${formatAuditProblem(problem)}`);
    process.exitCode = 1;
  }
} finally {
  await database.close();
}
