/**
 * npm run guard:simulate -- message.eml [--tenant <name>] [--rcpt <address>]... [--from <address>] [--ip <address>]
 *                           [--helo <name>] [--policy <policy name>] [--json]
 * What the inbound checks would decide for a message, without delivering or storing anything: which policy
 * applies, every symbol with its reason, the score against the thresholds, and the verdict. Uses the
 * gateway's configuration (DATABASE_URL or the PGlite data folder, SEALPOST_GEOIP_DB, SEALPOST_DNS_SERVERS);
 * stop a gateway that uses the same PGlite folder first (PGlite allows one process).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { configOrExit } from './script-config.ts';
import { openDatabase } from '../backend/src/db/client.ts';
import { guardOutsideSources } from '../backend/src/guard/outside-sources.ts';
import { GuardPolicyStore } from '../backend/src/guard/policy-store.ts';
import { resolveGuardPolicy } from '../backend/src/guard/policy.ts';
import { simulateMessage, SimulationInputError } from '../backend/src/guard/simulation.ts';
import { createTenantGuard, gatewayGuardChecks } from '../backend/src/guard/tenant-guard.ts';
import { createLogger } from '../backend/src/logger.ts';
import { TenantDirectory } from '../backend/src/tenants/tenant-directory.ts';

const usage = 'usage: npm run guard:simulate -- message.eml [--tenant <name>] [--rcpt <address>]... [--from <address>] [--ip <address>] [--helo <name>] [--policy <name>] [--json]';
let parsed;
try {
  parsed = parseArgs({
    allowPositionals: true,
    options: {
      tenant: { type: 'string', default: 'Demo' },
      rcpt: { type: 'string', multiple: true },
      from: { type: 'string' },
      ip: { type: 'string' },
      helo: { type: 'string' },
      policy: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
} catch (error) {
  process.stderr.write(`${(error as Error).message}\n${usage}\n`);
  process.exit(2);
}
const { values, positionals } = parsed;
if (positionals.length !== 1) {
  process.stderr.write(`Name one message file.\n${usage}\n`);
  process.exit(2);
}
let raw: Buffer;
try {
  raw = readFileSync(positionals[0]!);
} catch (error) {
  process.stderr.write(`Cannot read ${positionals[0]}: ${(error as Error).message}\n`);
  process.exit(2);
}
const config = configOrExit();

const logger = createLogger('warn');
const database = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
try {
  const directory = new TenantDirectory(database.db);
  await directory.refresh();
  const tenant = directory.allTenants().find((t) => t.name === values.tenant);
  if (!tenant) {
    const known = directory.allTenants().map((t) => t.name);
    process.stderr.write(`No tenant named "${values.tenant}". Tenants: ${known.join(', ') || 'none (start Sealpost once first)'}.\n`);
    process.exitCode = 2;
  } else {
    const policies = new GuardPolicyStore(database.db);
    const services = { hostname: config.smtp.hostname, directory, policies, ...(await guardOutsideSources(config.guard, logger)) };
    const guard = createTenantGuard({ policies, directory, logger, checks: gatewayGuardChecks(services) });
    let policy;
    if (values.policy) {
      const stored = (await policies.list(tenant.id)).find((p) => p.name.toLowerCase() === values.policy!.toLowerCase());
      if (!stored) throw new SimulationInputError(`tenant ${tenant.name} has no policy named "${values.policy}"`);
      const { id, source: _s, revision: _r, updatedAt: _u, updatedBy: _b, ...settings } = stored;
      policy = resolveGuardPolicy(settings, id);
    }
    const result = await simulateMessage(guard, {
      tenant: { id: tenant.id, name: tenant.name, domains: tenant.domains, members: tenant.members },
      raw,
      mailFrom: values.from,
      recipients: values.rcpt,
      remoteAddress: values.ip,
      helo: values.helo,
      policy,
      recipientGroups: (envelope) => policies.recipientGroups(envelope),
    });
    if (values.json) {
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    } else {
      const lines = [
        `policy:   ${result.policy.name}`,
        `envelope: from ${result.envelope.mailFrom || '<>'} to ${result.envelope.recipients.join(', ')} via ${result.envelope.remoteAddress}`,
        `score:    ${result.score} (flag at ${result.thresholds.flag}, block at ${result.thresholds.block})`,
        `verdict:  ${result.action.toUpperCase()}: ${result.outcome}`,
        'symbols:',
        ...(result.findings.length === 0 ? ['  (none)'] : result.findings.map((f) => `  ${f.symbol.padEnd(32)} ${String(f.score).padStart(6)}${f.action ? ` [${f.action}]` : ''}  ${f.reason}`)),
        ...result.headers.map((h) => `${h.name}: ${h.value}`),
        ...(result.parts
          ? ['split by policy:', ...result.parts.map((part) => `  ${part.recipients.join(', ')}: "${part.policy.name}", score ${part.score}, ${part.action.toUpperCase()}: ${part.outcome}`)]
          : []),
        ...(result.assumptions.length ? ['assumed:', ...result.assumptions.map((a) => `  ${a}`)] : []),
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    }
  }
} catch (error) {
  if (!(error instanceof SimulationInputError)) throw error;
  process.stderr.write(`${error.message}\n`);
  process.exitCode = 2;
} finally {
  await database.close();
}
