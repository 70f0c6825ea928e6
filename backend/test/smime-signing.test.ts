/**
 * Signed S/MIME from a real gateway, checked by OpenSSL: a member's key imported as PKCS#12 through the
 * admin API signs their mail (detached multipart/signed inside the encryption), `openssl cms -decrypt`
 * then `openssl cms -verify` read it and the signature advertises what mail to the signer may use; a
 * tenant that lets its CA issue keys gets one for a member at the first signed message, in opaque form,
 * verified against the CA certificate the admin API hands out; a member without a key who asks for a
 * signature is held with the reason, never sent unsigned.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { and, eq } from 'drizzle-orm';
import { readCertificates } from '../src/certs/certificate-store.ts';
import { auditLog, deliveries } from '../src/db/schema.ts';
import type { Gateway } from '../src/gateway.ts';
import { createLogger } from '../src/logger.ts';
import { runHousekeeping } from '../src/portal/housekeeping.ts';
import { createTestDatabase, ownerDb, type TestDatabase } from './support/database.ts';
import { MailPeer, type ReceivedMail } from './support/mail-peer.ts';
import { waitFor } from './support/portal-mail.ts';
import { SmtpConversation } from './support/smtp-conversation.ts';
import { ACME_API_TOKEN, acmeTenant, startTestGateway } from './support/test-gateway.ts';

const SECRET = 'Gutachten Nr. 17: Befund vertraulich, äöü';
const GLOBEX_TOKEN = 'globex-signing-token-0123456789abc';

describe('signed S/MIME', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let mailServer: MailPeer;
  let relay: MailPeer;
  let folder: string;
  let base: string;

  const file = (name: string, content?: Buffer | string) => {
    const path = join(folder, name);
    if (content !== undefined) writeFileSync(path, content);
    return path;
  };
  const makeKey = (address: string) => {
    const name = address.replace(/[^a-z]/g, '-');
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', file(`${name}.key`), '-out', file(`${name}.pem`), '-days', '30', '-subj', `/CN=${name}`, '-addext', `subjectAltName=email:${address}`],
      { stdio: 'pipe' },
    );
    return { cert: file(`${name}.pem`), key: file(`${name}.key`) };
  };
  const api = (path: string, token: string, init: RequestInit = {}) =>
    fetch(`${base}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers as Record<string, string>) } });

  async function send(from: string, to: string, options: string, localAddress: string): Promise<string> {
    const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress });
    await smtp.command('EHLO exchange.test');
    const message = [
      `From: ${from}`,
      `To: ${to}`,
      'Subject: Gutachten',
      `Message-ID: <${randomBytes(6).toString('hex')}@test>`,
      'X-Sealpost-Encrypt: smime',
      ...(options ? [`X-Sealpost-Options: ${options}`] : []),
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 8bit',
      '',
      SECRET,
      '',
    ].join('\r\n');
    const envelopeFrom = from.includes('<') ? from.slice(from.indexOf('<') + 1, from.indexOf('>')) : from;
    const result = await smtp.sendMessage(envelopeFrom, [to], Buffer.from(message, 'utf8'));
    await smtp.quit();
    assert.equal(result.final?.code, 250, result.final?.text);
    return result.final!.text.split('queued as ')[1]!;
  }

  const decrypt = (mail: ReceivedMail, who: { cert: string; key: string }) =>
    execFileSync('openssl', ['cms', '-decrypt', '-in', file('in.eml', mail.raw), '-recip', who.cert, '-inkey', who.key], { stdio: 'pipe' });

  const bob = { address: 'bob@partner.example', cert: '', key: '' };

  before(async () => {
    folder = mkdtempSync(join(tmpdir(), 'sealpost-smime-sign-'));
    Object.assign(bob, makeKey(bob.address));
    database = await createTestDatabase();
    mailServer = await MailPeer.start();
    relay = await MailPeer.start();
    gateway = await startTestGateway(
      database,
      [
        acmeTenant(mailServer.port, { members: [{ email: 'alice@acme.test', role: 'owner' }, { email: 'oscar@acme.test', role: 'operator' }] }),
        {
          name: 'Globex',
          domains: ['globex.test'],
          connectors: [{ name: 'globex-exchange', ips: ['127.0.0.9/32'] }],
          mailServer: `smtp://127.0.0.1:${mailServer.port}`,
          members: [{ email: 'gina@globex.test', role: 'owner', name: 'Gina Globex' }],
          apiTokens: [{ name: 'tests', token: GLOBEX_TOKEN }],
          smime: { autoIssue: true, signatureForm: 'opaque' },
        },
      ],
      { SEALPOST_RELAY: `smtp://127.0.0.1:${relay.port}`, SEALPOST_HELD_RETRY_SECONDS: '1' },
    );
    base = `http://127.0.0.1:${gateway.httpPort}`;
    for (const domain of ['acme.test', 'globex.test']) {
      const tenant = gateway.directory.tenantForDomain(domain)!;
      await gateway.certificates.add(tenant.id, readCertificates(readFileSync(bob.cert)), { source: 'import', by: 'test' });
    }
  });

  after(async () => {
    await gateway.stop();
    await mailServer.close();
    await relay.close();
    await database.cleanup();
    rmSync(folder, { recursive: true, force: true });
  });

  test("a member's PKCS#12 key imported through the admin API signs their mail; OpenSSL decrypts and verifies it", async () => {
    const alice = makeKey('alice@acme.test');
    execFileSync('openssl', ['pkcs12', '-export', '-inkey', alice.key, '-in', alice.cert, '-out', file('alice.p12'), '-passout', 'pass:Geheim-42'], { stdio: 'pipe' });
    const p12 = readFileSync(file('alice.p12'));
    const wrong = await api('/api/admin/member-keys?address=alice@acme.test', ACME_API_TOKEN, {
      method: 'POST',
      headers: { 'content-type': 'application/x-pkcs12', 'x-sealpost-password': 'wrong' },
      body: p12,
    });
    assert.equal(wrong.status, 400);
    assert.match(((await wrong.json()) as { detail: string }).detail, /does not open with this password/);
    const foreign = await api('/api/admin/member-keys?address=gina@globex.test', ACME_API_TOKEN, {
      method: 'POST',
      headers: { 'content-type': 'application/x-pkcs12', 'x-sealpost-password': 'Geheim-42' },
      body: p12,
    });
    assert.equal(foreign.status, 400, 'a key for another tenant\'s address is refused');
    const imported = await api('/api/admin/member-keys?address=alice@acme.test', ACME_API_TOKEN, {
      method: 'POST',
      headers: { 'content-type': 'application/x-pkcs12', 'x-sealpost-password': 'Geheim-42' },
      body: p12,
    });
    assert.equal(imported.status, 201, await imported.clone().text());
    const listed = (await (await api('/api/admin/member-keys', ACME_API_TOKEN)).json()) as { keys: Array<Record<string, unknown>> };
    assert.equal(listed.keys.length, 1);
    assert.equal(listed.keys[0]!.address, 'alice@acme.test');
    assert.ok(!JSON.stringify(listed).includes('PRIVATE KEY'), 'the list never shows a private key');
    const acmeId = gateway.directory.tenantForDomain('acme.test')!.id;
    const [row] = await ownerDb(gateway.database.db).select().from(auditLog).where(and(eq(auditLog.tenantId, acmeId), eq(auditLog.action, 'member_key_imported')));
    assert.ok(row, 'the import is audited');

    await send('Alice <alice@acme.test>', bob.address, 'sign', '127.0.0.1');
    const mail = await waitFor('the signed mail', () => relay.received.find((m) => m.recipients.includes(bob.address) && m.mailFrom === 'alice@acme.test'));
    assert.doesNotMatch(mail.raw.toString('utf8'), /Gutachten Nr/);
    const inner = decrypt(mail, bob);
    assert.match(inner.toString('latin1'), /^Content-Type: multipart\/signed; protocol="application\/pkcs7-signature"; micalg=sha-256/);
    const verified = execFileSync('openssl', ['cms', '-verify', '-in', file('signed.eml', inner), '-CAfile', alice.cert], { stdio: 'pipe' }).toString('utf8');
    assert.match(verified, /Content-Transfer-Encoding: base64/, 'the 8-bit text was made 7-bit before signing');
    const text = execFileSync('openssl', ['cms', '-verify', '-in', file('signed.eml'), '-CAfile', alice.cert, '-out', file('content.eml')], { stdio: 'pipe' });
    void text;
    const body = readFileSync(file('content.eml'), 'latin1').split('\r\n\r\n')[1]!;
    assert.equal(Buffer.from(body, 'base64').toString('utf8').trim(), SECRET);
    const printed = execFileSync('openssl', ['cms', '-cmsout', '-print', '-in', file('signed.eml')]).toString();
    assert.match(printed, /S\/MIME Capabilities|smimeCapabilities|1\.2\.840\.113549\.1\.9\.15/);
  });

  test('a tenant whose CA issues keys signs a member at the first request, opaque, verifiable against its CA', async () => {
    const id = await send('Gina Globex <gina@globex.test>', bob.address, 'sign', '127.0.0.9');
    const mail = await waitFor('the mail from gina', () => relay.received.find((m) => m.mailFrom === 'gina@globex.test'));
    const inner = decrypt(mail, bob).toString('latin1');
    assert.match(inner, /^Content-Type: application\/pkcs7-mime; smime-type=signed-data/);
    const ca = await api('/api/admin/member-keys/ca', GLOBEX_TOKEN);
    assert.equal(ca.status, 200);
    const caPem = await ca.text();
    assert.match(caPem, /BEGIN CERTIFICATE/);
    const out = execFileSync('openssl', ['cms', '-verify', '-in', file('opaque.eml', inner), '-CAfile', file('ca.pem', caPem), '-purpose', 'smimesign'], { stdio: 'pipe' }).toString('utf8');
    assert.match(out, /Content-Transfer-Encoding: base64/);
    const signer = execFileSync('openssl', ['cms', '-verify', '-in', file('opaque.eml'), '-CAfile', file('ca.pem'), '-signer', file('signer.pem'), '-out', '/dev/null'], { stdio: 'pipe' });
    void signer;
    const subject = execFileSync('openssl', ['x509', '-in', file('signer.pem'), '-noout', '-subject', '-ext', 'subjectAltName']).toString();
    assert.match(subject, /Gina Globex/);
    assert.match(subject, /email:gina@globex\.test/);
    const keys = (await (await api('/api/admin/member-keys', GLOBEX_TOKEN)).json()) as { keys: Array<{ source: string; address: string }> };
    assert.deepEqual(keys.keys.map((k) => [k.address, k.source]), [['gina@globex.test', 'tenant-ca']]);
    const rows = await ownerDb(gateway.database.db).select().from(deliveries).where(eq(deliveries.messageId, id));
    assert.equal(rows[0]!.status, 'delivered');
  });

  test("an owner exports a member's key as PKCS#12 or PEM that OpenSSL opens with the password, and the export is audited", async () => {
    const listed = (await (await api('/api/admin/member-keys?address=gina@globex.test', GLOBEX_TOKEN)).json()) as { keys: Array<{ id: string; fingerprint: string }> };
    const key = listed.keys[0]!;
    const noPassword = await api(`/api/admin/member-keys/${key.id}/export`, GLOBEX_TOKEN);
    assert.equal(noPassword.status, 400);
    const short = await api(`/api/admin/member-keys/${key.id}/export`, GLOBEX_TOKEN, { headers: { 'x-sealpost-password': 'short' } });
    assert.equal(short.status, 400);
    const p12 = await api(`/api/admin/member-keys/${key.id}/export`, GLOBEX_TOKEN, { headers: { 'x-sealpost-password': 'Export-Passwort-1' } });
    assert.equal(p12.status, 200);
    assert.equal(p12.headers.get('content-type'), 'application/x-pkcs12');
    const opened = execFileSync('openssl', ['pkcs12', '-in', file('gina.p12', Buffer.from(await p12.arrayBuffer())), '-passin', 'pass:Export-Passwort-1', '-nodes'], { stdio: 'pipe' }).toString();
    assert.match(opened, /BEGIN PRIVATE KEY/);
    assert.match(opened, /subject=.*gina@globex\.test/);
    const pem = await api(`/api/admin/member-keys/${key.id}/export?format=pem`, GLOBEX_TOKEN, { headers: { 'x-sealpost-password': 'Export-Passwort-1' } });
    const text = await pem.text();
    assert.match(text, /BEGIN ENCRYPTED PRIVATE KEY/);
    execFileSync('openssl', ['pkey', '-in', file('gina.pem', text), '-passin', 'pass:Export-Passwort-1', '-noout'], { stdio: 'pipe' });
    assert.throws(() => execFileSync('openssl', ['pkey', '-in', file('gina.pem'), '-passin', 'pass:wrong', '-noout'], { stdio: 'pipe' }));
    const globexId = gateway.directory.tenantForDomain('globex.test')!.id;
    const exported = await ownerDb(gateway.database.db).select().from(auditLog).where(and(eq(auditLog.tenantId, globexId), eq(auditLog.action, 'member_key_exported')));
    assert.deepEqual(exported.map((e) => (e.details as { format: string }).format).sort(), ['pem', 'pkcs12']);
  });

  test("owners and operators are told once about keys and certificates that expire within 30 days", async () => {
    const housekeep = () =>
      runHousekeeping({
        db: gateway.database.db,
        vault: gateway.vault,
        directory: gateway.directory,
        tenants: gateway.portal.tenants,
        logger: createLogger('silent'),
        publicUrl: gateway.config.http.publicUrl,
        hostname: gateway.config.smtp.hostname,
        onSpooled: () => gateway.pipeline.signal.notify(),
      });
    const acmeId = gateway.directory.tenantForDomain('acme.test')!.id;
    // Alice's imported key and Bob's certificate run 30 days; a certificate with a successor is not listed.
    const carol = makeKey('carol@partner.example');
    await gateway.certificates.add(acmeId, readCertificates(readFileSync(carol.cert)), { source: 'import', by: 'test' });
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', file('carol2.key'), '-out', file('carol2.pem'), '-days', '400', '-subj', '/CN=carol2', '-addext', 'subjectAltName=email:carol@partner.example'], { stdio: 'pipe' });
    await gateway.certificates.add(acmeId, readCertificates(readFileSync(file('carol2.pem'))), { source: 'import', by: 'test' });
    const start = mailServer.received.length;
    const report = await housekeep();
    const warned = report.certificateWarnings.find((w) => w.tenantId === acmeId);
    assert.equal(warned?.certificates, 2);
    const notices = await waitFor('the expiry warnings', () => {
      const found = mailServer.received
        .slice(start)
        .filter((m) => m.recipients.some((r) => r.endsWith('@acme.test')) && m.raw.toString('utf8').replace(/\r\n[ \t]+/g, ' ').includes('expire within 30 days'));
      return found.length === 2 ? found : undefined;
    });
    assert.deepEqual(notices.flatMap((n) => n.recipients).sort(), ['alice@acme.test', 'oscar@acme.test']);
    const text = notices[0]!.raw.toString('utf8');
    assert.match(text, /alice@acme\.test\s+\(member key/);
    assert.match(text, /bob@partner\.example\s+\(partner certificate/);
    assert.doesNotMatch(text, /carol@partner\.example/, 'a certificate with a successor is not listed');
    const again = await housekeep();
    assert.equal(again.certificateWarnings.find((w) => w.tenantId === acmeId), undefined, 'each is warned of once');
  });

  test('a member without a key who asks for a signature is held with the reason, never sent unsigned', async () => {
    const id = await send('Oscar <oscar@acme.test>', bob.address, 'sign', '127.0.0.1');
    const held = await waitFor('the held delivery', async () => {
      const [row] = await ownerDb(gateway.database.db).select().from(deliveries).where(eq(deliveries.messageId, id));
      return row?.status === 'held' ? row : undefined;
    });
    assert.match(held.lastReply ?? '', /oscar@acme\.test has no valid S\/MIME key to sign with/);
    assert.equal(relay.received.find((m) => m.mailFrom === 'oscar@acme.test'), undefined);

    // Once the tenant's CA issues oscar a key, the held message is signed and sent.
    const issued = await api('/api/admin/member-keys/issue?address=oscar@acme.test', ACME_API_TOKEN, { method: 'POST' });
    assert.equal(issued.status, 201);
    const mail = await waitFor('oscar after the issue', () => relay.received.find((m) => m.mailFrom === 'oscar@acme.test'));
    assert.match(decrypt(mail, bob).toString('latin1'), /multipart\/signed/);
  });
});
