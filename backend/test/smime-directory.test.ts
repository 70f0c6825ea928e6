/**
 * Certificates from the tenant's LDAP directory (OpenLDAP's slapd, started here on loopback): a recipient
 * the store has no certificate for is looked up (a directory that is down is skipped with the problem
 * traced, the next one asked), the message is encrypted to the directory's certificate and OpenSSL decrypts
 * it; the trace names the source, the directory and the fingerprint, and the certificate is never stored.
 * `auto` chooses S/MIME for such a recipient too.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Attribute, Client } from 'ldapts';
import type { Gateway } from '../src/gateway.ts';
import { readTrace } from '../src/messages/message-trace.ts';
import { createTestDatabase, ownerDb, type TestDatabase } from './support/database.ts';
import { freePort } from './support/gateway-process.ts';
import { MailPeer } from './support/mail-peer.ts';
import { waitFor } from './support/portal-mail.ts';
import { SmtpConversation } from './support/smtp-conversation.ts';
import { acmeTenant, startTestGateway } from './support/test-gateway.ts';

const SECRET = 'Quartalszahlen Q3, nur für den Vorstand';
const BASE = 'dc=partner,dc=example';
const ADMIN = `cn=admin,${BASE}`;

describe('certificates from an LDAP directory', () => {
  let folder: string;
  let slapd: ChildProcess;
  let ldapUrl: string;
  let database: TestDatabase;
  let gateway: Gateway;
  let mailServer: MailPeer;
  let relay: MailPeer;
  const password = randomBytes(12).toString('hex');

  const path = (name: string) => join(folder, name);

  async function send(to: string, mode: string): Promise<string> {
    const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress: '127.0.0.1' });
    await smtp.command('EHLO exchange.acme.test');
    const raw = `From: Alice <alice@acme.test>\r\nTo: ${to}\r\nSubject: Zahlen ${mode}\r\nMessage-ID: <${randomBytes(6).toString('hex')}@acme.test>\r\nX-Sealpost-Encrypt: ${mode}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n${SECRET}\r\n`;
    const result = await smtp.sendMessage('alice@acme.test', [to], Buffer.from(raw, 'utf8'));
    await smtp.quit();
    assert.equal(result.final?.code, 250, result.final?.text);
    return result.final!.text.split('queued as ')[1]!;
  }

  before(async () => {
    folder = mkdtempSync(join(tmpdir(), 'sealpost-ldap-'));
    mkdirSync(path('db'));
    const port = await freePort();
    ldapUrl = `ldap://127.0.0.1:${port}`;
    writeFileSync(
      path('slapd.conf'),
      [
        'include /etc/ldap/schema/core.schema',
        'include /etc/ldap/schema/cosine.schema',
        'include /etc/ldap/schema/inetorgperson.schema',
        `pidfile ${path('slapd.pid')}`,
        'modulepath /usr/lib/ldap',
        'moduleload back_mdb',
        'database mdb',
        `suffix "${BASE}"`,
        `rootdn "${ADMIN}"`,
        `rootpw ${password}`,
        `directory ${path('db')}`,
        'maxsize 10485760',
        'access to * by users read by * none',
        '',
      ].join('\n'),
    );
    slapd = spawn('/usr/sbin/slapd', ['-f', path('slapd.conf'), '-h', `${ldapUrl}/`, '-d', '0'], { stdio: 'ignore' });
    const admin = new Client({ url: ldapUrl, timeout: 2000, connectTimeout: 2000 });
    await waitFor('slapd to answer', async () => {
      try {
        await admin.bind(ADMIN, password);
        return true;
      } catch {
        return undefined;
      }
    });
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path('dora.key'), '-out', path('dora.pem'), '-days', '10', '-subj', '/CN=Dora', '-addext', 'subjectAltName=email:dora@partner.example'], { stdio: 'pipe' });
    const doraDer = execFileSync('openssl', ['x509', '-in', path('dora.pem'), '-outform', 'DER']);
    await admin.add(BASE, { objectClass: ['dcObject', 'organization'], o: 'Partner', dc: 'partner' });
    await admin.add(`cn=Dora,${BASE}`, [
      new Attribute({ type: 'objectClass', values: ['inetOrgPerson'] }),
      new Attribute({ type: 'cn', values: ['Dora'] }),
      new Attribute({ type: 'sn', values: ['Dora'] }),
      new Attribute({ type: 'mail', values: ['dora@partner.example'] }),
      new Attribute({ type: 'userCertificate;binary', values: [doraDer] }),
    ]);
    await admin.unbind();

    process.env.SEALPOST_TEST_LDAP_PASSWORD = password;
    const deadPort = await freePort();
    database = await createTestDatabase();
    mailServer = await MailPeer.start();
    relay = await MailPeer.start();
    gateway = await startTestGateway(
      database,
      [
        acmeTenant(mailServer.port, {
          smime: {
            directories: [
              { url: `ldap://127.0.0.1:${deadPort}`, baseDn: BASE, timeoutMs: 500 },
              { url: ldapUrl, baseDn: BASE, bindDn: ADMIN, bindPasswordEnv: 'SEALPOST_TEST_LDAP_PASSWORD' },
            ],
          },
        }),
      ],
      { SEALPOST_RELAY: `smtp://127.0.0.1:${relay.port}` },
    );
  });

  after(async () => {
    await gateway?.stop();
    await mailServer?.close();
    await relay?.close();
    await database?.cleanup();
    slapd?.kill();
    delete process.env.SEALPOST_TEST_LDAP_PASSWORD;
    rmSync(folder, { recursive: true, force: true });
  });

  test("a recipient's certificate from the directory encrypts the message for this message only", async () => {
    const id = await send('dora@partner.example', 'smime');
    const mail = await waitFor('the mail to dora', async () => relay.received.find((m) => m.recipients.includes('dora@partner.example')));
    assert.doesNotMatch(mail.raw.toString('utf8'), /Quartalszahlen/);
    writeFileSync(path('in.eml'), mail.raw);
    const inner = execFileSync('openssl', ['cms', '-decrypt', '-in', path('in.eml'), '-recip', path('dora.pem'), '-inkey', path('dora.key')]).toString('latin1');
    // The 8-bit text travels base64-encoded inside.
    const [fields, body] = inner.split('\r\n\r\n');
    assert.match(fields!, /Content-Transfer-Encoding: base64/);
    assert.equal(Buffer.from(body!, 'base64').toString('utf8').trim(), SECRET);

    const steps = await readTrace(ownerDb(gateway.database.db), id);
    const step = steps.find((s) => s.step === 'protected')!.detail as { detail: { certificates: Array<Record<string, string>>; directoryProblems: Array<{ directory: string; problem: string }> } };
    const fingerprint = execFileSync('openssl', ['x509', '-in', path('dora.pem'), '-noout', '-fingerprint', '-sha256']).toString().split('=')[1]!.trim().replaceAll(':', '').toLowerCase();
    assert.deepEqual(
      { ...step.detail.certificates[0], notAfter: undefined },
      { recipient: 'dora@partner.example', fingerprint, source: 'ldap', directory: `${ldapUrl}`, keyTransport: 'rsa-oaep', notAfter: undefined },
    );
    assert.equal(step.detail.directoryProblems.length, 1, 'the directory that is down was skipped');
    assert.match(step.detail.directoryProblems[0]!.directory, /127\.0\.0\.1/);
    const acme = gateway.directory.tenantForDomain('acme.test')!;
    assert.deepEqual(await gateway.certificates.list(acme.id, 'dora'), [], 'a directory certificate is never stored');
    assert.ok(!readFileSync(path('slapd.conf'), 'utf8').includes('SEALPOST'), 'sanity: the password is not in any file of the gateway');
  });

  test('auto chooses S/MIME for a recipient the directory knows, the portal for one it does not', async () => {
    const before = relay.received.length;
    await send('dora@partner.example', 'auto');
    await send('nobody@partner.example', 'auto');
    const mails = await relay.waitForMessages(before + 2);
    const toDora = mails.slice(before).find((m) => m.recipients.includes('dora@partner.example'))!;
    const toNobody = mails.slice(before).find((m) => m.recipients.includes('nobody@partner.example'))!;
    assert.match(toDora.raw.toString('latin1'), /application\/pkcs7-mime/);
    assert.match(toNobody.raw.toString('latin1'), /portal\/open\?token=/);
  });
});
