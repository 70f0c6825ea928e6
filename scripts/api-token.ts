/**
 * npm run api-token -- --tenant <name> [--name <token name>]
 * Issues a new admin API token for a tenant and prints it once; a token of the same name is replaced, so a
 * lost token (for example the demo token of a first start that failed) is never a dead end.
 * Uses the gateway's configuration (DATABASE_URL or the PGlite data folder).
 */
import { parseArgs } from 'node:util';
import { and, eq } from 'drizzle-orm';
import { configOrExit } from './script-config.ts';
import { openDatabase } from '../backend/src/db/client.ts';
import { withTenants } from '../backend/src/db/tenant-scope.ts';
import { apiTokens, tenants } from '../backend/src/db/schema.ts';
import { generateApiToken, hashApiToken } from '../backend/src/tenants/secrets.ts';

const { values } = parseArgs({ options: { tenant: { type: 'string', default: 'Demo' }, name: { type: 'string' } } });
const tenantName = values.tenant!;
const tokenName = values.name ?? (tenantName === 'Demo' ? 'demo' : 'admin');

const config = configOrExit();
const database = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
try {
  const [tenant] = await database.db.select({ id: tenants.id }).from(tenants).where(eq(tenants.name, tenantName));
  if (!tenant) {
    const known = await database.db.select({ name: tenants.name }).from(tenants);
    process.stderr.write(
      `No tenant named "${tenantName}" in ${config.databaseUrl ? 'DATABASE_URL' : config.dataDir}. ` +
        `Tenants: ${known.map((t) => t.name).join(', ') || 'none (start Sealpost once first)'}.\n`,
    );
    process.exitCode = 2;
  } else {
    const token = generateApiToken();
    const tokenHash = hashApiToken(token);
    const replaced = await withTenants(database.db, tenant.id, async (tx) => {
      const rows = await tx
        .update(apiTokens)
        .set({ tokenHash })
        .where(and(eq(apiTokens.tenantId, tenant.id), eq(apiTokens.name, tokenName)))
        .returning({ name: apiTokens.name });
      if (rows.length === 0) await tx.insert(apiTokens).values({ tenantId: tenant.id, name: tokenName, tokenHash });
      return rows;
    });
    process.stdout.write(
      `${replaced.length ? 'Replaced' : 'Issued'} the API token "${tokenName}" of tenant ${tenantName} (shown once; it is stored hashed):\n${token}\n`,
    );
  }
} finally {
  await database.close();
}
