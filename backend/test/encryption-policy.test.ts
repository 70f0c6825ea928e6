/**
 * The tenant's encryption policy on a real gateway. Acme allows encryption (the default) and makes one
 * court's domain mandatory and a public authority's subdomains off:
 * - mail that asks for nothing goes encrypted to a recipient with a known key, as it is to one without, and
 *   through the portal to the court (mandatory; the portal serves mandatory mail);
 * - `off` sends as it is even where a key is known.
 * Globex makes everything mandatory and switches the portal and the PDF off: a recipient with a key gets
 * OpenPGP, one without gets nothing in the clear and the sender gets the reason back; a request for the
 * portal is served by the ways Globex keeps. The previews say the same as the gateway does.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as openpgp from 'openpgp';
import { readPgpKeys } from '../src/certs/pgp-keys.ts';
import type { Gateway } from '../src/gateway.ts';
import { readTrace } from '../src/messages/message-trace.ts';
import { encryptionPolicy, encryptModeFor, protectionFor } from '../src/tenants/encryption-policy.ts';
import { createTestDatabase, ownerDb, type TestDatabase } from './support/database.ts';
import { MailPeer } from './support/mail-peer.ts';
import { waitFor } from './support/portal-mail.ts';
import { SmtpConversation } from './support/smtp-conversation.ts';
import { ACME_API_TOKEN, acmeTenant, globexTenant, startTestGateway } from './support/test-gateway.ts';

const GLOBEX_TOKEN = 'globex-test-token-0123456789abcdef';

describe('the encryption policy', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let mailServer: MailPeer;
  let relay: MailPeer;

  async function send(from: string, localAddress: string, to: string, subject: string, headers: string[] = []): Promise<string> {
    const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress });
    await smtp.command('EHLO exchange.test');
    const message = [`From: <${from}>`, `To: <${to}>`, `Subject: ${subject}`, `Message-ID: <${Math.random().toString(36).slice(2)}@test>`, ...headers, '', 'Bitte vertraulich behandeln.', ''].join('\r\n');
    const result = await smtp.sendMessage(from, [to], message);
    await smtp.quit();
    assert.equal(result.final?.code, 250, result.final?.text);
    return result.final!.text.split('queued as ')[1]!;
  }
  const atRelay = (subject: string) => waitFor(`"${subject}" at the relay`, () => relay.received.find((m) => m.raw.toString().includes(`Subject: ${subject}`)));
  const steps = (id: string) => readTrace(ownerDb(gateway.database.db), id);
  async function storeKey(tenant: string, address: string): Promise<void> {
    const { publicKey } = await openpgp.generateKey({ type: 'ecc', curve: 'curve25519Legacy', userIDs: [{ email: address }], format: 'armored' });
    const id = gateway.directory.tenantForDomain(tenant)!.id;
    await gateway.pgpKeys.add(id, await readPgpKeys(Buffer.from(publicKey)), { source: 'import', by: 'tests' });
  }

  before(async () => {
    database = await createTestDatabase();
    mailServer = await MailPeer.start();
    relay = await MailPeer.start();
    gateway = await startTestGateway(
      database,
      [
        acmeTenant(mailServer.port, {
          encryption: { rules: [{ recipients: ['court.example'], mode: 'mandatory' }, { recipients: ['*.public.example'], mode: 'off' }] },
        }),
        { ...globexTenant(mailServer.port), apiTokens: [{ name: 'tests', token: GLOBEX_TOKEN }], encryption: { mode: 'mandatory', ways: { portal: false, pdf: false } } },
      ],
      { SEALPOST_RELAY: `smtp://127.0.0.1:${relay.port}`, SEALPOST_HELD_RETRY_SECONDS: '1' },
    );
    await storeKey('acme.test', 'bob@partner.example');
    await storeKey('acme.test', 'clerk@city.public.example');
    await storeKey('globex.test', 'bob@partner.example');
  });

  after(async () => {
    await gateway.stop();
    await mailServer.close();
    await relay.close();
    await database.cleanup();
  });

  test('modes by rule: the address, the domain, *.domain, else the tenant\'s; a request makes it mandatory', () => {
    const policy = encryptionPolicy({ mode: 'allow', rules: [{ recipients: ['boss@x.example', 'court.example'], mode: 'mandatory' }, { recipients: ['*.public.example'], mode: 'off' }] });
    assert.deepEqual(encryptModeFor(policy, 'Boss@X.example'), { mode: 'mandatory', rule: 0 });
    assert.equal(encryptModeFor(policy, 'judge@court.example').mode, 'mandatory');
    assert.equal(encryptModeFor(policy, 'judge@sub.court.example').mode, 'allow', 'a bare domain is that domain only');
    assert.equal(encryptModeFor(policy, 'a@city.public.example').mode, 'off');
    assert.equal(encryptModeFor(policy, 'a@public.example').mode, 'allow', '*.domain is for subdomains');
    assert.deepEqual(protectionFor(policy, { mode: 'auto' }, 'a@city.public.example').requirement, 'mandatory');
    assert.equal(protectionFor(policy, { mode: 'none' }, 'judge@court.example').requirement, 'mandatory', "'none' never lowers the policy");
    const noPortal = encryptionPolicy({ ways: { portal: false } });
    assert.deepEqual(protectionFor(noPortal, { mode: 'portal' }, 'x@y.example').protection, 'auto');
  });

  test('allow: encrypted where a key is known, as it is where none is; off: as it is; mandatory: through the portal', async () => {
    await send('alice@acme.test', '127.0.0.1', 'bob@partner.example', 'Allowed with key');
    const encrypted = await atRelay('Allowed with key');
    assert.match(encrypted.raw.toString(), /multipart\/encrypted; protocol="application\/pgp-encrypted"/);
    assert.doesNotMatch(encrypted.raw.toString(), /vertraulich behandeln/);

    const clearId = await send('alice@acme.test', '127.0.0.1', 'carol@partner.example', 'Allowed without key');
    const clear = await atRelay('Allowed without key');
    assert.match(clear.raw.toString(), /Bitte vertraulich behandeln/);
    const routed = (await steps(clearId)).find((s) => s.step === 'routed')!.detail;
    assert.equal(routed.protection, 'none');
    assert.match(String(routed.reason), /encryption is allowed, not required, and no certificate or key is known/);

    await send('alice@acme.test', '127.0.0.1', 'clerk@city.public.example', 'Off by rule');
    assert.match((await atRelay('Off by rule')).raw.toString(), /Bitte vertraulich behandeln/, 'off: as it is, even with a key known');

    const courtId = await send('alice@acme.test', '127.0.0.1', 'judge@court.example', 'Mandatory by rule');
    const notice = await waitFor('the portal notification to the court', () => relay.received.find((m) => m.recipients.includes('judge@court.example')));
    assert.doesNotMatch(notice.raw.toString(), /Bitte vertraulich behandeln/, 'the court gets a notification, not the message');
    const route = (await steps(courtId)).find((s) => s.step === 'routed')!.detail;
    assert.equal(route.protection, 'auto');
    assert.match(String(route.reason), /encryption rule 1: mandatory/);
  });

  test('mandatory without the portal: a key serves; no way returns the message to the sender with the reason; a portal request takes the ways kept', async () => {
    await send('gina@globex.test', '127.0.0.9', 'bob@partner.example', 'Globex with key');
    assert.match((await atRelay('Globex with key')).raw.toString(), /pgp-encrypted/);

    const refusedId = await send('gina@globex.test', '127.0.0.9', 'dora@nowhere.example', 'Globex without way');
    const bounce = await waitFor('the notice to the sender', () => mailServer.received.find((m) => m.recipients.includes('gina@globex.test') && m.raw.toString().includes('Globex without way')));
    assert.equal(bounce.mailFrom, '');
    assert.match(bounce.raw.toString().replace(/\r\n[ \t]+/g, ' '), /encryption is mandatory, but no way your organisation has switched on can reach this recipient/);
    assert.equal(relay.received.find((m) => m.recipients.includes('dora@nowhere.example')), undefined, 'nothing in the clear');
    assert.ok((await steps(refusedId)).some((s) => s.step === 'protected' && (s.detail as { outcome: string }).outcome === 'refused'));

    const asked = await send('gina@globex.test', '127.0.0.9', 'bob@partner.example', 'Globex asks for the portal', ['X-Sealpost-Encrypt: portal']);
    assert.match((await atRelay('Globex asks for the portal')).raw.toString(), /pgp-encrypted/);
    const route = (await steps(asked)).find((s) => s.step === 'routed')!.detail;
    assert.match(String(route.reason), /"portal" requested by the add-in header but switched off for the tenant/);
  });

  test('the previews say what the gateway does: refused where no enabled way serves, and the ways switched off', async () => {
    const preview = await gateway.http.inject({
      method: 'GET',
      url: '/api/admin/protection/preview?recipient=dora@nowhere.example&recipient=bob@partner.example',
      headers: { authorization: `Bearer ${GLOBEX_TOKEN}` },
    });
    assert.equal(preview.statusCode, 200, preview.body);
    const body = preview.json();
    assert.deepEqual(
      body.recipients.map((r: { address: string; method: string; reasonCode: string }) => [r.address, r.method, r.reasonCode]),
      [
        ['dora@nowhere.example', 'refused', 'no-way'],
        ['bob@partner.example', 'pgp', 'key-known'],
      ],
    );
    assert.deepEqual(
      Object.fromEntries(body.fallbackOrder.map((s: { mode: string; enabled: boolean }) => [s.mode, s.enabled])),
      { smime: true, pgp: true, pdf: false, portal: false },
    );
    const acme = await gateway.http.inject({ method: 'GET', url: '/api/admin/protection/preview?recipient=dora@nowhere.example', headers: { authorization: `Bearer ${ACME_API_TOKEN}` } });
    assert.equal(acme.json().recipients[0].method, 'portal', 'the preview is for a secured message: mandatory, so the portal serves');
  });
});
