/** Starts a real gateway in this process, on loopback, with its own database and tenants. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { loadConfig, type TenantDefinition } from '../../src/config.ts';
import { startGateway, type Gateway, type GatewayParts } from '../../src/gateway.ts';
import { createLogger } from '../../src/logger.ts';
import { after, before } from 'node:test';
import { createTestDatabase, type TestDatabase } from './database.ts';
import { MailPeer } from './mail-peer.ts';
import { freePort } from './gateway-process.ts';
import { startLocalDns } from './local-dns.ts';

export const ACME_API_TOKEN = 'acme-test-token-0123456789abcdef';

/** Acme: its Exchange sends from 127.0.0.1; its mail server is the given loopback peer. */
export function acmeTenant(mailServerPort: number, extra: Partial<TenantDefinition> = {}): TenantDefinition {
  return {
    name: 'Acme',
    domains: ['acme.test'],
    connectors: [{ name: 'exchange-online', ips: ['127.0.0.1/32'] }],
    mailServer: `smtp://127.0.0.1:${mailServerPort}`,
    members: [{ email: 'alice@acme.test', role: 'owner' }],
    apiTokens: [{ name: 'tests', token: ACME_API_TOKEN }],
    ...extra,
  };
}

/** Globex: a second tenant, whose Exchange sends from 127.0.0.9, to show that tenants never see each other. */
export function globexTenant(mailServerPort: number): TenantDefinition {
  return {
    name: 'Globex',
    domains: ['globex.test'],
    connectors: [{ name: 'globex-exchange', ips: ['127.0.0.9/32'] }],
    mailServer: `smtp://127.0.0.1:${mailServerPort}`,
    members: [{ email: 'gina@globex.test', role: 'owner' }],
    apiTokens: [],
  };
}

export async function startTestGateway(
  database: TestDatabase,
  tenants: TenantDefinition[] | undefined,
  env: Record<string, string> = {},
  parts: GatewayParts = {},
): Promise<Gateway> {
  // Sender authentication asks DNS: unless a test brings its own zone, a local server that knows no names
  // answers at once (SPF and DMARC "none"), as a machine without Internet access has no other.
  const dns = env.SEALPOST_DNS_SERVERS ? undefined : await startLocalDns({});
  const environment: Record<string, string> = {
    ...(dns ? { SEALPOST_DNS_SERVERS: dns.server } : {}),
    SEALPOST_DATA_DIR: database.dataDir,
    SEALPOST_SMTP_HOST: '127.0.0.1',
    SEALPOST_SMTP_PORT: '0',
    SEALPOST_HTTP_HOST: '127.0.0.1',
    SEALPOST_HTTP_PORT: '0',
    SEALPOST_HOSTNAME: 'gateway.sealpost.test',
    SEALPOST_WORKER_POLL_MS: '100',
    SEALPOST_RETRY_FIRST_SECONDS: '1',
    SEALPOST_RETRY_MAX_SECONDS: '2',
    SEALPOST_LOG_LEVEL: process.env.SEALPOST_TEST_LOG_LEVEL ?? 'silent',
    ...env,
  };
  if (database.url) environment.DATABASE_URL = database.url;
  if (tenants) {
    const file = join(database.dataDir, `tenants-${Date.now()}.yaml`);
    writeFileSync(file, stringify({ tenants }));
    environment.SEALPOST_CONFIG = file;
  }
  const config = loadConfig(environment);
  let gateway: Gateway;
  try {
    gateway = await startGateway(config, createLogger(config.logLevel), parts);
  } catch (error) {
    await dns?.close();
    throw error;
  }
  if (!dns) return gateway;
  const stop = gateway.stop.bind(gateway);
  gateway.stop = async () => {
    await stop();
    await dns.close();
  };
  return gateway;
}

/**
 * A gateway that browsers reach: its HTTP port is chosen up front so that its public URL, the address
 * in links and manifests, is the loopback address the browser opens.
 */
export async function startBrowserGateway(
  database: TestDatabase,
  tenants: TenantDefinition[],
  env: Record<string, string> = {},
  /** `localhost` where the browser needs a host name rather than an address (passkeys are bound to a domain). */
  host = '127.0.0.1',
): Promise<{ gateway: Gateway; origin: string }> {
  const port = await freePort();
  const origin = `http://${host}:${port}`;
  const gateway = await startTestGateway(database, tenants, { ...env, SEALPOST_HTTP_PORT: String(port), SEALPOST_PUBLIC_URL: origin });
  return { gateway, origin };
}

/**
 * For a describe block: a fresh database, Acme's mail server as a loopback peer and a gateway for them,
 * started before the block's tests and stopped after them. The fields are read inside the tests.
 */
export function acmeGatewayForBlock(env: Record<string, string> = {}): { gateway: Gateway; tenantMailServer: MailPeer; database: TestDatabase } {
  const context = {} as { gateway: Gateway; tenantMailServer: MailPeer; database: TestDatabase };
  before(async () => {
    context.database = await createTestDatabase();
    context.tenantMailServer = await MailPeer.start();
    context.gateway = await startTestGateway(context.database, [acmeTenant(context.tenantMailServer.port)], env);
  });
  after(async () => {
    await context.gateway.stop();
    await context.tenantMailServer.close();
    await context.database.cleanup();
  });
  return context;
}
