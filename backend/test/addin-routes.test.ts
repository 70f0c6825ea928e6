import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { and, eq } from 'drizzle-orm';
import MailComposer from 'nodemailer/lib/mail-composer';
import type { PreviewResponse } from '../../common/src/addin-api.ts';
import { loopHeaderName } from '../../common/src/headers.ts';
import { readCertificates } from '../src/certs/certificate-store.ts';
import { members } from '../src/db/schema.ts';
import type { Gateway } from '../src/gateway.ts';
import { updatePortalSettings } from '../src/portal/portal-settings.ts';
import { resolveRecipientMethods } from '../src/protect/method-resolution.ts';
import { createTestDatabase, ownerDb, type TestDatabase } from './support/database.ts';
import { LocalEntraIssuer } from './support/local-entra-issuer.ts';
import { MailPeer } from './support/mail-peer.ts';
import { SmtpConversation } from './support/smtp-conversation.ts';
import { ACME_API_TOKEN, acmeTenant, startTestGateway } from './support/test-gateway.ts';

const APP_ID = '6f1c2a9e-8d51-4b7a-9c33-0f2d7e5a1b10';
const ACME_ENTRA = '3b2f8c1d-4e5a-4f60-8a7b-9c0d1e2f3a4b';
const GLOBEX_ENTRA = '7d6c5b4a-3f2e-4d1c-8b0a-a9b8c7d6e5f4';
const FOREIGN_ENTRA = 'aa11bb22-cc33-4d44-8e55-ff6677889900';
const ALICE_OID = '0c9d8e7f-6a5b-4c3d-9e2f-1a0b9c8d7e6f';

describe('Outlook add-in API', () => {
  let database: TestDatabase;
  let issuer: LocalEntraIssuer;
  let gateway: Gateway;
  let tenantMailServer: MailPeer;
  let relay: MailPeer;
  let base: string;

  const aliceToken = (overrides: Record<string, unknown> = {}) =>
    issuer.sign(issuer.claims({ tid: ACME_ENTRA, oid: ALICE_OID, aud: APP_ID, email: 'alice@acme.test' }, overrides));

  async function call(method: string, path: string, token?: string, body?: unknown) {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, text, json: () => JSON.parse(text) };
  }

  before(async () => {
    database = await createTestDatabase();
    issuer = await LocalEntraIssuer.start();
    tenantMailServer = await MailPeer.start();
    relay = await MailPeer.start();
    gateway = await startTestGateway(
      database,
      [
        acmeTenant(tenantMailServer.port, {
          domains: ['acme.test', 'acme-law.test'],
          members: [
            { email: 'alice@acme.test', role: 'owner' },
            { email: 'carol@acme.test', role: 'contact' },
          ],
          entra: { applicationId: APP_ID, tenantIds: [ACME_ENTRA] },
          smartAlert: { externalRecipientsWithAttachments: true, keywords: ['privileged', 'vertraulich'] },
        }),
        {
          name: 'Globex',
          domains: ['globex.test'],
          connectors: [{ name: 'globex-exchange', ips: ['127.0.0.9/32'] }],
          members: [{ email: 'gina@globex.test', role: 'owner' }],
          apiTokens: [],
          entra: { applicationId: randomUUID(), tenantIds: [GLOBEX_ENTRA] },
        },
      ],
      { SEALPOST_ENTRA_AUTHORITY: issuer.url, SEALPOST_RELAY: `smtp://127.0.0.1:${relay.port}` },
    );
    base = `http://127.0.0.1:${gateway.httpPort}`;
  });

  after(async () => {
    await gateway.stop();
    await tenantMailServer.close();
    await relay.close();
    await issuer.close();
    await database.cleanup();
  });

  test('a signed-in member gets the settings of their tenant, and is known by object id afterwards', async () => {
    const answer = await call('GET', '/api/addin/settings', aliceToken());
    assert.equal(answer.status, 200, answer.text);
    const settings = answer.json();
    assert.equal(settings.tenantName, 'Acme');
    assert.deepEqual(settings.tenantDomains, ['acme-law.test', 'acme.test']);
    assert.deepEqual(settings.allowedModes, ['auto', 'portal', 'smime', 'pgp'], 'only the modes this gateway can carry out and the tenant keeps (the PDF is off by default)');
    assert.equal(settings.defaultExpiryDays, undefined, 'by default a secure message does not expire');
    assert.equal(settings.maxExpiryDays, undefined, 'and the tenant sets no limit');
    assert.equal(settings.subjectTrigger, '[secure]');
    assert.deepEqual(settings.smartAlert, { externalRecipientsWithAttachments: true, keywords: ['privileged', 'vertraulich'] }, "the tenant's own send-time rule");
    assert.match(answer.headers.get('server-timing') ?? '', /^app;dur=\d/);

    const [row] = await ownerDb(gateway.database.db)
      .select()
      .from(members)
      .where(and(eq(members.email, 'alice@acme.test')));
    assert.equal(row?.entraObjectId, ALICE_OID, 'the object id was remembered');
    // After a rename in Entra the object id still finds her.
    const renamed = await call('GET', '/api/addin/settings', aliceToken({ preferred_username: 'alice.lawyer@acme.test' }));
    assert.equal(renamed.status, 200, renamed.text);
  });

  test('another Entra user with a member address already bound to an object id is refused', async () => {
    const impostor = issuer.sign(issuer.claims({ tid: ACME_ENTRA, oid: randomUUID(), aud: APP_ID, email: 'alice@acme.test' }));
    const answer = await call('GET', '/api/addin/settings', impostor);
    assert.equal(answer.status, 403);
    assert.equal(answer.headers.get('content-type'), 'application/problem+json; charset=utf-8');
  });

  test('the preview shows internal recipients relayed and external ones in the portal, as the gateway resolves them', async () => {
    const answer = await call('POST', '/api/addin/preview', aliceToken(), {
      mode: 'auto',
      recipients: ['bob@acme.test', 'Partner@Acme-Law.test', 'client@example.net', 'not an address'],
    });
    assert.equal(answer.status, 200, answer.text);
    const preview = answer.json() as PreviewResponse;
    const byAddress = Object.fromEntries(preview.recipients.map((r) => [r.address, r]));
    assert.equal(byAddress['bob@acme.test']?.method, 'relay');
    assert.equal(byAddress['partner@acme-law.test']?.method, 'relay');
    assert.equal(byAddress['client@example.net']?.method, 'portal');
    assert.equal(byAddress['not an address']?.method, 'held');

    const acme = gateway.directory.tenantForDomain('acme.test')!;
    const expected = await resolveRecipientMethods({ directory: gateway.directory }, acme.id, ['bob@acme.test', 'client@example.net']);
    for (const resolution of expected) {
      assert.equal(byAddress[resolution.recipient]?.method, resolution.method);
      assert.equal(byAddress[resolution.recipient]?.reason, resolution.reason);
      assert.equal(byAddress[resolution.recipient]?.reasonCode, resolution.reasonCode);
    }
    assert.equal(byAddress['bob@acme.test']?.reasonCode, 'internal');
    assert.equal(byAddress['client@example.net']?.reasonCode, 'nothing-known');
    assert.equal(byAddress['not an address']?.reasonCode, 'invalid-address');
  });

  test('an explicit mode the tenant switched off is shown as the way that serves instead; OpenPGP without a key as held', async () => {
    const pdf = (await call('POST', '/api/addin/preview', aliceToken(), { mode: 'pdf', recipients: ['client@example.net', 'bob@acme.test'] })).json();
    assert.deepEqual(
      pdf.recipients.map((r: { method: string }) => r.method),
      ['portal', 'relay'],
    );
    assert.match(pdf.recipients[0].reason, /a password-protected PDF is switched off for your organisation; instead: no certificate or key known/);
    // OpenPGP is available, but needs the recipient's key: without a stored one the preview says held, and why.
    const pgp = (await call('POST', '/api/addin/preview', aliceToken(), { mode: 'pgp', recipients: ['client@example.net'] })).json();
    assert.equal(pgp.recipients[0].method, 'held');
    assert.equal(pgp.recipients[0].reasonCode, 'no-pgp-key');
    const portal = (await call('POST', '/api/addin/preview', aliceToken(), { mode: 'portal', recipients: ['client@example.net'] })).json();
    assert.deepEqual(portal.recipients[0], { address: 'client@example.net', method: 'portal', reasonCode: 'sender-chose', reason: 'the sender chose the Sealpost portal' });
  });

  test('the preview reads the certificate store: S/MIME where a valid certificate is known, held where none is', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'sealpost-addin-cert-'));
    try {
      const pem = join(folder, 'cert.pem');
      execFileSync(
        'openssl',
        ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(folder, 'key.pem'), '-out', pem, '-days', '10', '-subj', '/CN=Certified', '-addext', 'subjectAltName=email:certified@example.net'],
        { stdio: 'pipe' },
      );
      const acme = gateway.directory.tenantForDomain('acme.test')!;
      await gateway.certificates.add(acme.id, readCertificates(readFileSync(pem)), { source: 'import', by: 'alice@acme.test' });
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
    const recipients = ['certified@example.net', 'client@example.net'];
    const auto = (await call('POST', '/api/addin/preview', aliceToken(), { mode: 'auto', recipients })).json() as PreviewResponse;
    assert.deepEqual(
      auto.recipients.map((r) => [r.method, r.reasonCode]),
      [
        ['smime', 'certificate-known'],
        ['portal', 'nothing-known'],
      ],
    );
    const smime = (await call('POST', '/api/addin/preview', aliceToken(), { mode: 'smime', recipients })).json() as PreviewResponse;
    assert.deepEqual(
      smime.recipients.map((r) => [r.method, r.reasonCode]),
      [
        ['smime', 'sender-chose'],
        ['held', 'no-certificate'],
      ],
    );
    assert.match(smime.recipients[1]!.reason, /no valid S\/MIME certificate is known.*held/);
  });

  test('the preview answers for 500 recipients and refuses 501', async () => {
    const many = Array.from({ length: 500 }, (_, i) => (i % 5 === 0 ? `colleague${i}@acme.test` : `client${i}@example${i % 7}.net`));
    const answer = await call('POST', '/api/addin/preview', aliceToken(), { mode: 'auto', recipients: many });
    assert.equal(answer.status, 200);
    const preview = answer.json() as PreviewResponse;
    assert.equal(preview.recipients.length, 500);
    assert.equal(preview.recipients.filter((r) => r.method === 'relay').length, 100);
    assert.equal(preview.recipients.filter((r) => r.method === 'portal').length, 400);
    const tooMany = await call('POST', '/api/addin/preview', aliceToken(), { mode: 'auto', recipients: [...many, 'one@more.net'] });
    assert.equal(tooMany.status, 400);
    assert.equal(tooMany.headers.get('content-type'), 'application/problem+json; charset=utf-8');
  });

  test('without a token, or with a forged, expired or misaddressed one, the answer is 401', async () => {
    const none = await call('GET', '/api/addin/settings');
    assert.equal(none.status, 401);
    assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer/);
    const now = Math.floor(Date.now() / 1000);
    const bad = [
      'garbage',
      issuer.sign(issuer.claims({ tid: ACME_ENTRA, oid: ALICE_OID, aud: APP_ID, email: 'alice@acme.test' }), { foreignKey: true, kid: issuer.currentKid }),
      aliceToken({ exp: now - 3600, nbf: now - 7200, iat: now - 7200 }),
      aliceToken({ aud: randomUUID() }),
      issuer.sign(issuer.claims({ tid: ACME_ENTRA, oid: ALICE_OID, aud: APP_ID, email: 'alice@acme.test' }), { alg: 'none' }),
    ];
    for (const token of bad) {
      const answer = await call('GET', '/api/addin/settings', token);
      assert.equal(answer.status, 401, `refused: ${answer.text}`);
      assert.match(answer.headers.get('www-authenticate') ?? '', /invalid_token/);
    }
  });

  test('an Entra tenant on no allow-list, or a user who is no member, gets 403', async () => {
    const foreign = issuer.sign(issuer.claims({ tid: FOREIGN_ENTRA, oid: randomUUID(), aud: APP_ID, email: 'mallory@foreign.test' }));
    const answer = await call('POST', '/api/addin/preview', foreign, { mode: 'auto', recipients: ['x@example.net'] });
    assert.equal(answer.status, 403);
    assert.equal(answer.json().type, 'urn:sealpost:problem:tenant-not-allowed');
    const stranger = issuer.sign(issuer.claims({ tid: ACME_ENTRA, oid: randomUUID(), aud: APP_ID, email: 'dave@acme.test' }));
    assert.equal((await call('GET', '/api/addin/settings', stranger)).status, 403);
  });

  test('the sender sees a portal message sent from Outlook, changes its expiry and revokes it', async () => {
    const raw = new MailComposer({
      from: 'alice@acme.test',
      to: 'client@example.net',
      subject: 'Contract from Outlook',
      text: 'Confidential.',
      headers: { 'X-Sealpost-Encrypt': 'portal' },
    })
      .compile()
      .build();
    const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress: '127.0.0.1' });
    await smtp.command('EHLO exchange.acme.test');
    const result = await smtp.sendMessage('alice@acme.test', ['client@example.net'], await raw);
    await smtp.quit();
    assert.equal(result.final?.code, 250);
    const messageId = result.final!.text.split('queued as ')[1]!;
    await relay.waitForMessages(1);

    const sent = (await call('GET', '/api/addin/sent', aliceToken())).json();
    const message = sent.messages.find((m: { id: string }) => m.id === messageId);
    assert.ok(message, 'the message is listed');
    assert.equal(message.subject, 'Contract from Outlook');
    assert.deepEqual(message.recipients.map((r: { address: string }) => r.address), ['client@example.net']);

    const later = new Date(Date.now() + 5 * 86_400_000).toISOString();
    const changed = await call('PATCH', `/api/addin/sent/${messageId}`, aliceToken(), { expiresAt: later });
    assert.equal(changed.status, 200, changed.text);
    assert.equal(changed.json().expiresAt, later);
    await updatePortalSettings(gateway.database.db, gateway.directory.tenantForDomain('acme.test')!.id, { maxExpiryDays: 90 });
    try {
      const limited = (await call('GET', '/api/addin/settings', aliceToken())).json();
      assert.equal(limited.maxExpiryDays, 90, 'the pane learns the tenant maximum');
      const capped = await call('PATCH', `/api/addin/sent/${messageId}`, aliceToken(), { expiresAt: '2999-01-01T00:00:00Z' });
      assert.ok(new Date(capped.json().expiresAt).getTime() < Date.now() + 91 * 86_400_000, 'capped by the tenant maximum');
    } finally {
      await updatePortalSettings(gateway.database.db, gateway.directory.tenantForDomain('acme.test')!.id, { maxExpiryDays: null });
    }

    const carol = issuer.sign(issuer.claims({ tid: ACME_ENTRA, oid: randomUUID(), aud: APP_ID, email: 'carol@acme.test' }));
    assert.equal((await call('POST', `/api/addin/sent/${messageId}/revoke`, carol, {})).status, 404, 'not her message');

    const revoked = await call('POST', `/api/addin/sent/${messageId}/revoke`, aliceToken(), {});
    assert.equal(revoked.status, 204, revoked.text);
    const after = (await call('GET', '/api/addin/sent', aliceToken())).json();
    assert.ok(after.messages.find((m: { id: string }) => m.id === messageId).recipients[0].revokedAt);
  });

  test('the task pane learns how to sign a sender in from their address, without a token', async () => {
    const known = await call('GET', '/api/addin-sign-in?address=alice%40acme-law.test');
    assert.equal(known.status, 200, known.text);
    assert.deepEqual(known.json(), {
      applicationId: APP_ID,
      authority: `${issuer.url}/${ACME_ENTRA}`,
      scopes: [`api://${new URL(gateway.config.http.publicUrl).host}/${APP_ID}/access_as_user`],
    });
    const unknown = await call('GET', '/api/addin-sign-in?address=someone%40example.org');
    assert.equal(unknown.status, 404);
    assert.match(unknown.json().detail, /no Sealpost tenant with Entra ID sign-in/);
    assert.equal((await call('GET', '/api/addin-sign-in?address=not-an-address')).status, 400);
  });

  test('the admin downloads the Exchange scripts and DNS records for their tenant with the API token', async () => {
    assert.equal((await call('GET', '/api/admin/setup/exchange-online.ps1')).status, 401);
    const online = await call('GET', '/api/admin/setup/exchange-online.ps1', ACME_API_TOKEN);
    assert.equal(online.status, 200);
    assert.match(online.headers.get('content-disposition') ?? '', /connect-sealpost\.ps1/);
    assert.ok(online.text.startsWith('\uFEFF') || online.text.startsWith('#'), 'a UTF-8 script');
    assert.match(online.text, /\$TenantName = 'Acme'/);
    assert.match(online.text, /\$GatewayHost = 'gateway\.sealpost\.test'/);
    assert.ok(online.text.includes(`ExceptIfHeaderMatchesMessageHeader  = '${loopHeaderName('acme-law.test')}'`), 'the loop header of the first domain, alphabetically');

    const onprem = await call('GET', '/api/admin/setup/exchange-onprem.ps1?gatewayIps=203.0.113.25', ACME_API_TOKEN);
    assert.equal(onprem.status, 200);
    assert.match(onprem.text, /New-SendConnector/);
    assert.match(onprem.text, /'203\.0\.113\.25'/);
    assert.equal((await call('GET', "/api/admin/setup/exchange-onprem.ps1?gatewayIps=1.2.3.4');evil", ACME_API_TOKEN)).status, 400);

    const dns = (await call('GET', '/api/admin/setup/dns-records?gatewayIps=203.0.113.25', ACME_API_TOKEN)).json();
    const mx = dns.records.filter((r: { type: string }) => r.type === 'MX');
    assert.deepEqual(mx.map((r: { name: string }) => r.name).sort(), ['acme-law.test.', 'acme.test.']);
    assert.ok(mx.every((r: { value: string }) => r.value === 'gateway.sealpost.test.'));
    assert.match(dns.zone, /acme\.test\.\t3600\tIN\tTXT\t"v=spf1 ip4:203\.0\.113\.25 a:gateway\.sealpost\.test include:spf\.protection\.outlook\.com -all"/);
  });
});
