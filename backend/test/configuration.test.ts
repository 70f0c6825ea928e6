import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { eq } from 'drizzle-orm';
import { loadConfig } from '../src/config.ts';
import { connectors, members, tenants } from '../src/db/schema.ts';
import { createTestDatabase, ownerDb } from './support/database.ts';
import { freePort, GatewayProcess } from './support/gateway-process.ts';
import { startTestGateway } from './support/test-gateway.ts';

describe('configuration', () => {
  test('defaults need nothing: data in ./data, SMTP on 2525, HTTP on 8080, embedded database', () => {
    const config = loadConfig({});
    assert.equal(config.smtp.port, 2525);
    assert.equal(config.http.port, 8080);
    assert.match(config.dataDir, /\/data$/);
    assert.equal(config.databaseUrl, undefined);
    assert.equal(config.tenants, undefined);
  });

  test('an invalid value stops the start with a message that names the variable', () => {
    assert.throws(() => loadConfig({ SEALPOST_SMTP_PORT: 'twenty-five' }), /SEALPOST_SMTP_PORT/);
    assert.throws(() => loadConfig({ SEALPOST_RELAY: 'mail.example.com' }), /SEALPOST_RELAY: must look like smtp:\/\//);
    assert.throws(() => loadConfig({ SEALPOST_MASTER_KEY: 'c2hvcnQ=' }), /SEALPOST_MASTER_KEY: must be 32 bytes/);
    assert.throws(() => loadConfig({ DATABASE_URL: 'mysql://x' }), /DATABASE_URL/);
    assert.throws(() => loadConfig({ SEALPOST_TLS_CERT: '/x.pem' }), /SEALPOST_TLS_CERT and SEALPOST_TLS_KEY/);
    assert.throws(() => loadConfig({ SEALPOST_AUDIT_KEY: 'c2hvcnQ=' }), /SEALPOST_AUDIT_KEY: must be 32 bytes/);
    assert.throws(() => loadConfig({ SEALPOST_METRICS_TOKEN: 'short' }), /SEALPOST_METRICS_TOKEN: must be at least 24 characters/);
    assert.throws(() => loadConfig({ SEALPOST_METRICS_PORT: 'ninety' }), /SEALPOST_METRICS_PORT/);
  });

  test('the tunnel settings are checked together, and a wrong file names its setting', () => {
    const folder = mkdtempSync(join(tmpdir(), 'sealpost-tunnel-config-'));
    try {
      const make = (name: string) => {
        execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${name}`, '-keyout', join(folder, `${name}.key`), '-out', join(folder, `${name}.pem`)], { stdio: 'ignore' });
        return { cert: join(folder, `${name}.pem`), key: join(folder, `${name}.key`) };
      };
      const own = make('own');
      const peer = make('peer');
      const full = { SEALPOST_TUNNEL_ROLE: 'gateway', SEALPOST_TUNNEL_CERT: own.cert, SEALPOST_TUNNEL_KEY: own.key, SEALPOST_TUNNEL_PEER_CERT: peer.cert, SEALPOST_TUNNEL_PEER: 'smtp://portal.internal:2526' };
      const config = loadConfig(full);
      assert.equal(config.tunnel?.role, 'gateway');
      assert.equal(config.tunnel?.port, 2526);
      assert.equal(config.tunnel?.host, '127.0.0.1');
      assert.equal(loadConfig({}).tunnel, undefined, 'one process by default');
      assert.throws(() => loadConfig({ SEALPOST_TUNNEL_ROLE: 'gateway' }), /SEALPOST_TUNNEL_CERT, SEALPOST_TUNNEL_KEY, SEALPOST_TUNNEL_PEER_CERT, SEALPOST_TUNNEL_PEER: required with SEALPOST_TUNNEL_ROLE=gateway/);
      assert.throws(() => loadConfig({ SEALPOST_TUNNEL_PEER: 'smtp://x:1' }), /SEALPOST_TUNNEL_PEER: is used only with SEALPOST_TUNNEL_ROLE/);
      assert.throws(() => loadConfig({ ...full, SEALPOST_TUNNEL_ROLE: 'both' }), /SEALPOST_TUNNEL_ROLE: must be "gateway" or "portal"/);
      assert.throws(() => loadConfig({ ...full, SEALPOST_TUNNEL_KEY: peer.key }), /SEALPOST_TUNNEL_KEY: is not the key of the certificate in SEALPOST_TUNNEL_CERT/);
      assert.throws(() => loadConfig({ ...full, SEALPOST_TUNNEL_PEER_CERT: own.key }), /SEALPOST_TUNNEL_PEER_CERT: .* holds no PEM certificate/);
      assert.throws(() => loadConfig({ ...full, SEALPOST_TUNNEL_CERT: join(folder, 'missing.pem') }), /SEALPOST_TUNNEL_CERT: cannot read/);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  test('a tenant file with a mistake is refused with the path of the mistake', () => {
    const folder = mkdtempSync(join(tmpdir(), 'sealpost-config-'));
    try {
      const file = join(folder, 'tenants.yaml');
      writeFileSync(file, 'tenants:\n  - name: Acme\n    domains: [not a domain]\n');
      assert.throws(() => loadConfig({ SEALPOST_CONFIG: file }), /tenants\.0\.domains\.0: must be a domain name/);
      writeFileSync(file, 'tenants:\n  - name: A\n    domains: [a.test]\n  - name: B\n    domains: [A.test]\n');
      assert.throws(() => loadConfig({ SEALPOST_CONFIG: file }), /domain a\.test belongs to two tenants/);
      assert.throws(() => loadConfig({ SEALPOST_CONFIG: join(folder, 'missing.yaml') }), /SEALPOST_CONFIG: cannot read/);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  test('a misspelt key in the tenant file is an error that names it and suggests the valid one', () => {
    const folder = mkdtempSync(join(tmpdir(), 'sealpost-config-'));
    try {
      const file = join(folder, 'tenants.yaml');
      writeFileSync(file, 'tenants:\n  - name: Acme\n    domains: [acme.test]\n    mailserver: smtp://127.0.0.1:2601\n');
      assert.throws(() => loadConfig({ SEALPOST_CONFIG: file }), /tenants\.0\.mailserver: unknown key \(did you mean "mailServer"\?\)/);
      writeFileSync(file, 'tenants:\n  - name: Acme\n    domains: [acme.test]\n    connectors:\n      - { name: exo, ips: [127.0.0.1/32], smtpAtuh: { user: a, passwordHash: b } }\n');
      assert.throws(() => loadConfig({ SEALPOST_CONFIG: file }), /tenants\.0\.connectors\.0\.smtpAtuh: unknown key \(did you mean "smtpAuth"\?\)/);
      writeFileSync(file, 'tenant:\n  - name: Acme\n');
      assert.throws(() => loadConfig({ SEALPOST_CONFIG: file }), /tenant: unknown key \(did you mean "tenants"\?\)/);
      writeFileSync(file, 'tenants:\n  - name: Acme\n    domains: [acme.test]\n    colour: red\n');
      assert.throws(() => loadConfig({ SEALPOST_CONFIG: file }), /tenants\.0\.colour: unknown key$/m);
      // The password PDF's sender-told passwords: a yes or no, spelt as the schema spells it.
      writeFileSync(file, 'tenants:\n  - name: Acme\n    domains: [acme.test]\n    pdf: { senderPasword: true }\n');
      assert.throws(() => loadConfig({ SEALPOST_CONFIG: file }), /tenants\.0\.pdf\.senderPasword: unknown key \(did you mean "senderPassword"\?\)/);
      writeFileSync(file, 'tenants:\n  - name: Acme\n    domains: [acme.test]\n    pdf: { senderPassword: sometimes }\n');
      assert.throws(() => loadConfig({ SEALPOST_CONFIG: file }), /tenants\.0\.pdf\.senderPassword/);
      writeFileSync(file, 'tenants:\n  - name: Acme\n    domains: [acme.test]\n    pdf: { password: portal, senderPassword: true }\n');
      assert.equal(loadConfig({ SEALPOST_CONFIG: file }).tenants?.[0]?.pdf?.senderPassword, true);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  test('the tenant file is applied at start-up: created, then updated, never deleted', async () => {
    const database = await createTestDatabase();
    try {
      const first = await startTestGateway(database, [
        { name: 'Acme', domains: ['acme.test'], connectors: [{ name: 'exo', ips: ['10.0.0.0/8'] }], members: [{ email: 'Alice@Acme.test', role: 'owner' }], apiTokens: [] },
      ]);
      await first.stop();
      const second = await startTestGateway(database, [
        { name: 'Acme', domains: ['acme.test', 'acme-mail.test'], connectors: [{ name: 'exo', ips: ['192.0.2.0/24'] }], members: [], apiTokens: [], mailServer: 'smtp://127.0.0.1:2601' },
      ]);
      try {
        const db = ownerDb(second.database.db);
        const [tenant] = await db.select().from(tenants).where(eq(tenants.name, 'Acme'));
        assert.equal(tenant?.mailServer, 'smtp://127.0.0.1:2601');
        assert.deepEqual(second.directory.tenantById(tenant!.id)?.domains.sort(), ['acme-mail.test', 'acme.test']);
        const [connector] = await db.select().from(connectors).where(eq(connectors.tenantId, tenant!.id));
        assert.deepEqual(connector?.ips, ['192.0.2.0/24']);
        const memberRows = await db.select().from(members).where(eq(members.tenantId, tenant!.id));
        assert.deepEqual(memberRows.map((m) => m.email), ['alice@acme.test'], 'members absent from the file are kept');
        assert.equal(second.directory.connectorsForAddress('192.0.2.7').length, 1);
        assert.equal(second.directory.connectorsForAddress('10.1.2.3').length, 0);
      } finally {
        await second.stop();
      }
    } finally {
      await database.cleanup();
    }
  });

  test('a port already in use stops the start with a message that names its setting, not a stack trace', async () => {
    const { createServer } = await import('node:net');
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    const folder = mkdtempSync(join(tmpdir(), 'sealpost-config-'));
    try {
      const gateway = new GatewayProcess({
        SEALPOST_DATA_DIR: folder,
        SEALPOST_SMTP_HOST: '127.0.0.1',
        SEALPOST_SMTP_PORT: String(port),
        SEALPOST_HTTP_HOST: '127.0.0.1',
        SEALPOST_HTTP_PORT: String(await freePort()),
      });
      await assert.rejects(gateway.start(120_000), (error: Error) => {
        assert.match(error.message, new RegExp(`SEALPOST_SMTP_PORT ${port} is already in use on 127\\.0\\.0\\.1`));
        assert.doesNotMatch(error.message, /    at /, 'no stack trace');
        return true;
      });
    } finally {
      taken.close();
      rmSync(folder, { recursive: true, force: true });
    }
  });

  test('a DATABASE_URL that cannot be reached stops the start with a message that names it, without its password', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'sealpost-config-'));
    try {
      const gateway = new GatewayProcess({
        SEALPOST_DATA_DIR: folder,
        DATABASE_URL: `postgres://sealpost:hunter2@127.0.0.1:${await freePort()}/sealpost`,
        SEALPOST_SMTP_PORT: String(await freePort()),
        SEALPOST_HTTP_PORT: String(await freePort()),
      });
      await assert.rejects(gateway.start(120_000), (error: Error) => {
        assert.match(error.message, /DATABASE_URL postgres:\/\/sealpost:\*\*\*@127\.0\.0\.1:\d+\/sealpost cannot be used: the connection was refused/);
        assert.doesNotMatch(error.message, /hunter2/);
        assert.doesNotMatch(error.message, /    at /, 'no stack trace');
        return true;
      });
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  test('a lost demo API token is replaced with npm run api-token, and the new one opens the admin API', async () => {
    const { spawnSync } = await import('node:child_process');
    const database = await createTestDatabase();
    try {
      const first = await startTestGateway(database, undefined);
      assert.ok(first.demo?.apiToken, 'the first start created the demo tenant');
      await first.stop();
      const env: NodeJS.ProcessEnv = { ...process.env, SEALPOST_DATA_DIR: database.dataDir, ...(database.url ? { DATABASE_URL: database.url } : {}) };
      delete env.SEALPOST_CONFIG;
      if (!database.url) delete env.DATABASE_URL;
      const issued = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/api-token.ts', '--tenant', 'Demo'], { env, encoding: 'utf8' });
      assert.equal(issued.status, 0, issued.stderr);
      const token = /^(spk_\S+)$/m.exec(issued.stdout)?.[1];
      assert.ok(token, issued.stdout);
      const unknown = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/api-token.ts', '--tenant', 'Nope'], { env, encoding: 'utf8' });
      assert.equal(unknown.status, 2);
      assert.match(unknown.stderr, /No tenant named "Nope".*Tenants: Demo/);

      const second = await startTestGateway(database, undefined);
      try {
        const call = (bearer: string) =>
          fetch(`http://127.0.0.1:${second.httpPort}/api/admin/messages`, { headers: { authorization: `Bearer ${bearer}` } });
        assert.equal((await call(token)).status, 200);
        assert.equal((await call(first.demo.apiToken)).status, 401, 'the lost token no longer works');
      } finally {
        await second.stop();
      }
    } finally {
      await database.cleanup();
    }
  });

  test('npm start refuses an invalid environment and names the variable', async () => {
    const gateway = new GatewayProcess({ SEALPOST_SMTP_PORT: '99999', SEALPOST_HTTP_PORT: String(await freePort()) });
    await assert.rejects(gateway.start(120_000), /SEALPOST_SMTP_PORT/);
  });
});
