/**
 * A gateway whose configured host name is not one Exchange can use (a machine called "vm") still gives its
 * admins the setup: the refusal says which input is wrong and how to fix it, and the name can be given.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Gateway } from '../src/gateway.ts';
import { createTestDatabase, type TestDatabase } from './support/database.ts';
import { ACME_API_TOKEN, acmeTenant, startTestGateway } from './support/test-gateway.ts';

describe('Exchange setup on a machine whose name has no dot', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  const get = (path: string) => fetch(`http://127.0.0.1:${gateway.httpPort}${path}`, { headers: { authorization: `Bearer ${ACME_API_TOKEN}` } });

  before(async () => {
    database = await createTestDatabase();
    gateway = await startTestGateway(database, [acmeTenant(2601)], { SEALPOST_HOSTNAME: 'vm' });
  });

  after(async () => {
    await gateway.stop();
    await database.cleanup();
  });

  test('the refusal names the host name as the problem, not the addresses, and says how to fix it', async () => {
    const answer = await get('/api/admin/setup/exchange-online.ps1?gatewayIps=203.0.113.25');
    assert.equal(answer.status, 400);
    const problem = await answer.json();
    assert.equal(problem.type, 'urn:sealpost:problem:setup-gateway-host');
    assert.match(problem.detail, /"vm" is not a fully qualified host name/);
    assert.match(problem.detail, /SEALPOST_HOSTNAME/);
  });

  test('with the public host name given, the script and the DNS records use it', async () => {
    const script = await get('/api/admin/setup/exchange-online.ps1?gatewayIps=203.0.113.25&gatewayHost=mail.acme.test');
    assert.equal(script.status, 200);
    assert.match(await script.text(), /SmartHosts\s+'mail\.acme\.test'|'mail\.acme\.test'/);
    const dns = await (await get('/api/admin/setup/dns-records?gatewayIps=203.0.113.25&gatewayHost=mail.acme.test')).json();
    assert.ok(dns.records.some((r: { type: string; value: string }) => r.type === 'MX' && r.value.startsWith('mail.acme.test')));
  });

  test('a bad address is reported as the addresses, a bad given name as the host name', async () => {
    const ips = await (await get('/api/admin/setup/dns-records?gatewayIps=203.0.113.0/24&gatewayHost=mail.acme.test')).json();
    assert.equal(ips.type, 'urn:sealpost:problem:setup-gateway-ips');
    const host = await (await get(`/api/admin/setup/dns-records?gatewayIps=203.0.113.25&gatewayHost=${encodeURIComponent("mx.example'")}`)).json();
    assert.equal(host.type, 'urn:sealpost:problem:setup-gateway-host');
  });
});
