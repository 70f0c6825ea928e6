/**
 * npm run audit:verify — walks every tenant's audit chain and reports the first broken link.
 * Uses the gateway's configuration (DATABASE_URL or the PGlite data folder). Exit code 1 when broken.
 */
import { verifyAuditChain } from '../backend/src/audit/audit-log.ts';
import { loadConfig } from '../backend/src/config.ts';
import { openDatabase } from '../backend/src/db/client.ts';

const config = loadConfig();
const tenantId = process.argv[2];
const database = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
try {
  const result = await verifyAuditChain(database.db, tenantId);
  if (result.ok) {
    console.log(`audit log intact: ${result.checked} entries in ${result.tenants} tenant chain(s)`);
  } else {
    const broken = result.firstBroken!;
    console.error(`audit log BROKEN at tenant ${broken.tenantId}, entry ${broken.seq} (row ${broken.id ?? '-'}): ${broken.reason}`);
    process.exitCode = 1;
  }
} finally {
  await database.close();
}
