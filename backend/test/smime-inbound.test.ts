/**
 * Inbound S/MIME through a real gateway, with mail made by OpenSSL: a message encrypted (CBC or GCM) to a
 * member whose key the tenant holds is delivered decrypted, with the signature inside judged against the
 * tenant's trust anchors and the signer's CRL served on loopback (pass, revoked, no anchor), stated in
 * Authentication-Results; mail the gateway cannot decrypt (encrypted to another key, or broken CMS) goes
 * on as it came with the reason traced; a tenant that wants S/MIME as received gets it so.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { certificatePem } from '../src/certs/certificate-store.ts';
import type { Gateway } from '../src/gateway.ts';
import { readTrace } from '../src/messages/message-trace.ts';
import { createTestDatabase, ownerDb, type TestDatabase } from './support/database.ts';
import { startLocalDns, type LocalDns } from './support/local-dns.ts';
import { MailPeer } from './support/mail-peer.ts';
import { waitFor } from './support/portal-mail.ts';
import { SmtpConversation } from './support/smtp-conversation.ts';
import { acmeTenant, globexTenant, startTestGateway } from './support/test-gateway.ts';

const BODY = 'Befund: Werte im Normbereich. Mit freundlichen Grüßen';

describe('inbound S/MIME', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let mailServer: MailPeer;
  let dns: LocalDns;
  let crlServer: Server;
  let folder: string;
  let crlUrl: string;
  let alicePem: string;
  let ginaPem: string;

  const path = (name: string) => join(folder, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe', cwd: folder });

  /** A certificate for `address` issued by the partner CA, naming the CRL on loopback. */
  function partnerCertificate(name: string, address: string) {
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', path(`${name}.key`), '-out', path(`${name}.csr`), '-subj', `/CN=${name}`);
    writeFileSync(
      path(`${name}.ext`),
      `subjectAltName=email:${address}\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=emailProtection\ncrlDistributionPoints=URI:${crlUrl}\n`,
    );
    openssl('x509', '-req', '-in', path(`${name}.csr`), '-CA', path('ca.pem'), '-CAkey', path('ca.key'), '-CAcreateserial', '-out', path(`${name}.pem`), '-days', '30', '-extfile', path(`${name}.ext`));
    return { cert: path(`${name}.pem`), key: path(`${name}.key`) };
  }

  function revoke(cert: string) {
    openssl('ca', '-config', path('ca.cnf'), '-keyfile', path('ca.key'), '-cert', path('ca.pem'), '-revoke', cert);
    openssl('ca', '-config', path('ca.cnf'), '-keyfile', path('ca.key'), '-cert', path('ca.pem'), '-gencrl', '-out', path('crl.pem'));
    openssl('crl', '-in', path('crl.pem'), '-outform', 'DER', '-out', path('crl.der'));
  }

  function signedEntity(signer: { cert: string; key: string }, out: string): string {
    writeFileSync(path('body.txt'), `Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n${BODY}\r\n`);
    openssl('cms', '-sign', '-in', path('body.txt'), '-signer', signer.cert, '-inkey', signer.key, '-out', path(out), '-crlfeol');
    return path(out);
  }

  function encrypted(input: string, recipientPem: string, cipher: string): string {
    writeFileSync(path('recipient.pem'), recipientPem);
    openssl('cms', '-encrypt', '-in', input, cipher, '-out', path('encrypted.eml'), '-crlfeol', path('recipient.pem'));
    return readFileSync(path('encrypted.eml'), 'latin1');
  }

  function message(from: string, to: string, subject: string, mime: string): string {
    return `From: <${from}>\r\nTo: <${to}>\r\nSubject: ${subject}\r\nMessage-ID: <${Math.random().toString(36).slice(2)}@partner.example>\r\n${mime.replace(/\r?\n/g, '\r\n')}`;
  }

  async function send(from: string, to: string, data: string): Promise<string> {
    const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress: '127.0.0.5' });
    await smtp.command('EHLO mta.partner.example');
    const result = await smtp.sendMessage(from, [to], data);
    await smtp.quit();
    assert.equal(result.final?.code, 250, result.final?.text);
    return result.final!.text.split('queued as ')[1]!;
  }

  const delivered = (subject: string) =>
    waitFor(`"${subject}" at the mail server`, async () => mailServer.received.find((m) => m.raw.toString('latin1').includes(`Subject: ${subject}`)));
  /** The header section with folded lines joined. */
  const unfolded = (raw: Buffer) => raw.toString('latin1').replace(/\r\n[ \t]+/g, ' ');
  const smimeSteps = async (id: string) => {
    const steps = await waitFor(`the smime steps of ${id}`, async () => {
      const trace = await readTrace(ownerDb(gateway.database.db), id);
      return trace.some((t) => t.step === 'scored') ? trace.filter((t) => t.step === 'smime').map((t) => t.detail as Record<string, unknown>) : undefined;
    });
    return steps;
  };

  before(async () => {
    folder = mkdtempSync(join(tmpdir(), 'sealpost-smime-in-'));
    // The partner's CA and its revocation list, served on loopback.
    openssl(
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path('ca.key'), '-out', path('ca.pem'), '-days', '60', '-subj', '/CN=Partner Root CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    );
    crlServer = createServer((request, response) => {
      if (request.url === '/partner.crl') response.end(readFileSync(path('crl.der')));
      else response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => crlServer.listen(0, '127.0.0.1', resolve));
    crlUrl = `http://127.0.0.1:${(crlServer.address() as AddressInfo).port}/partner.crl`;
    writeFileSync(path('ca.cnf'), '[ca]\ndefault_ca=partner\n[partner]\ndatabase=index.txt\ncrlnumber=crlnumber\ndefault_md=sha256\ndefault_crl_days=7\n');
    writeFileSync(path('index.txt'), '');
    writeFileSync(path('crlnumber'), '01\n');

    // Bob is in good standing; Mallory's certificate is revoked before anyone fetched the CRL (it is cached).
    partnerCertificate('bob', 'bob@partner.example');
    revoke(partnerCertificate('mallory', 'mallory@partner.example').cert);

    database = await createTestDatabase();
    mailServer = await MailPeer.start();
    dns = await startLocalDns({ 'partner.example': { TXT: ['v=spf1 ip4:127.0.0.0/8 -all'] }, '_dmarc.partner.example': { TXT: ['v=DMARC1; p=none'] } });
    gateway = await startTestGateway(
      database,
      [
        acmeTenant(mailServer.port, { smime: { trustAnchors: [readFileSync(path('ca.pem'), 'utf8')] } }),
        { ...globexTenant(mailServer.port), smime: { inbound: 'as-received' } },
      ],
      { SEALPOST_DNS_SERVERS: dns.server },
    );
    const acme = gateway.directory.tenantForDomain('acme.test')!;
    alicePem = certificatePem((await gateway.memberKeys.issue(acme.id, acme.name, 'alice@acme.test', { actor: 'test' })).certificate);
    const globex = gateway.directory.tenantForDomain('globex.test')!;
    ginaPem = certificatePem((await gateway.memberKeys.issue(globex.id, globex.name, 'gina@globex.test', { actor: 'test' })).certificate);
  });

  after(async () => {
    await gateway.stop();
    await mailServer.close();
    await dns.close();
    await new Promise((resolve) => crlServer.close(resolve));
    await database.cleanup();
    rmSync(folder, { recursive: true, force: true });
  });

  test('signed and encrypted mail to a member with a key here is delivered decrypted, its signature judged pass', async () => {
    const bob = { cert: path('bob.pem'), key: path('bob.key') };
    for (const cipher of ['-aes256', '-aes-256-gcm']) {
      const subject = `Befund ${cipher}`;
      const id = await send('bob@partner.example', 'alice@acme.test', message('bob@partner.example', 'alice@acme.test', subject, encrypted(signedEntity(bob, 'signed.eml'), alicePem, cipher)));
      const mail = await delivered(subject);
      const raw = mail.raw.toString('latin1');
      assert.doesNotMatch(raw, /application\/pkcs7-mime/, 'no longer encrypted');
      assert.match(raw, /Content-Type: multipart\/signed/, 'the signature travels on for the mail program');
      assert.ok(mail.raw.toString('utf8').includes(BODY));
      assert.match(unfolded(mail.raw), /Authentication-Results: [^;]+; smime=pass \([^)]*not revoked[^)]*\) body\.smime-identifier=bob@partner\.example/);
      const steps = await smimeSteps(id);
      assert.equal(steps[0]!.decrypted, true);
      assert.equal(steps[0]!.algorithm, cipher === '-aes256' ? 'aes-256-cbc' : 'aes-256-gcm');
      assert.equal(steps[0]!.recipient, 'alice@acme.test');
      assert.equal(steps[1]!.signature, 'pass');
      assert.equal(steps[1]!.revocation, 'good');
      assert.equal(steps[1]!.trust, 'anchor');
    }
  });

  test('a revoked signer fails, a signer no anchor vouches for is neutral', async () => {
    const mallory = { cert: path('mallory.pem'), key: path('mallory.key') };
    const revokedId = await send('mallory@partner.example', 'alice@acme.test', message('mallory@partner.example', 'alice@acme.test', 'Revoked', readFileSync(signedEntity(mallory, 'm.eml'), 'latin1')));
    assert.match(unfolded((await delivered('Revoked')).raw), /smime=fail \(the signer's certificate is revoked/);
    assert.equal((await smimeSteps(revokedId))[0]!.revocation, 'revoked');

    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path('eve.key'), '-out', path('eve.pem'), '-days', '5', '-subj', '/CN=eve', '-addext', 'subjectAltName=email:eve@partner.example');
    await send('eve@partner.example', 'alice@acme.test', message('eve@partner.example', 'alice@acme.test', 'Self-signed', readFileSync(signedEntity({ cert: path('eve.pem'), key: path('eve.key') }, 'e.eml'), 'latin1')));
    assert.match(unfolded((await delivered('Self-signed')).raw), /smime=neutral \(the signature verifies, but no trust anchor/);
  });

  test('mail the gateway cannot decrypt goes on as it came, with the reason traced; broken CMS never stops the stage', async () => {
    const carol = partnerCertificate('carol', 'carol@partner.example');
    const id = await send('bob@partner.example', 'alice@acme.test', message('bob@partner.example', 'alice@acme.test', 'Not for us', encrypted(path('body.txt'), readFileSync(carol.cert, 'utf8'), '-aes256')));
    assert.match((await delivered('Not for us')).raw.toString('latin1'), /application\/pkcs7-mime/);
    assert.match(String((await smimeSteps(id))[0]!.reason), /not encrypted for any key/);

    const broken = 'MIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"\r\nContent-Transfer-Encoding: base64\r\n\r\nMIIBIjANBgkqhkiG9w0BAQEFAAOC\r\n';
    const brokenId = await send('bob@partner.example', 'alice@acme.test', message('bob@partner.example', 'alice@acme.test', 'Broken CMS', broken));
    await delivered('Broken CMS');
    const steps = await smimeSteps(brokenId);
    assert.equal(steps[0]!.decrypted, false);
    assert.match(String(steps[0]!.reason), /not readable|malformed|no CMS/);
  });

  test('a tenant that wants S/MIME as received gets it encrypted', async () => {
    const bob = { cert: path('bob.pem'), key: path('bob.key') };
    const id = await send('bob@partner.example', 'gina@globex.test', message('bob@partner.example', 'gina@globex.test', 'As received', encrypted(signedEntity(bob, 'g.eml'), ginaPem, '-aes256')));
    assert.match((await delivered('As received')).raw.toString('latin1'), /application\/pkcs7-mime/);
    assert.match(String((await smimeSteps(id))[0]!.reason), /as received/);
  });
});
