/**
 * Certificate auto-import on a real gateway, with messages OpenSSL signs and sender authentication answered
 * by a DNS server on loopback: a signed message from a verified sender puts its certificate into the store
 * and the trace says so; a different certificate for the same address is kept beside it and the owners and
 * operators are told; a message whose sender is not verified, whose signature was changed, or whose
 * certificate names another address imports nothing and the trace says why — and each is still delivered;
 * a tenant whose file turns auto-import off takes nothing.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Gateway } from '../src/gateway.ts';
import { readTrace } from '../src/messages/message-trace.ts';
import { createTestDatabase, ownerDb, type TestDatabase } from './support/database.ts';
import { startLocalDns, type LocalDns } from './support/local-dns.ts';
import { MailPeer } from './support/mail-peer.ts';
import { waitFor } from './support/portal-mail.ts';
import { SmtpConversation } from './support/smtp-conversation.ts';
import { acmeTenant, globexTenant, startTestGateway } from './support/test-gateway.ts';

describe('certificates from signed inbound mail', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let mailServer: MailPeer;
  let dns: LocalDns;
  let folder: string;

  function certificate(name: string, address: string): { cert: string; key: string } {
    const key = join(folder, `${name}.key`);
    const cert = join(folder, `${name}.pem`);
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '30', '-subj', `/CN=${name}`, '-addext', `subjectAltName=email:${address}`], { stdio: 'pipe' });
    return { cert, key };
  }

  /** A message from `from` to `to`, signed by OpenSSL with the certificate (multipart/signed, CRLF lines). */
  function signed(from: string, to: string, subject: string, signer: { cert: string; key: string }): string {
    const body = join(folder, 'body.txt');
    writeFileSync(body, 'Content-Type: text/plain; charset=utf-8\r\n\r\nPlease find the contract attached.\r\n');
    const out = join(folder, 'signed.eml');
    execFileSync('openssl', ['smime', '-sign', '-binary', '-in', body, '-signer', signer.cert, '-inkey', signer.key, '-out', out]);
    const smime = readFileSync(out, 'latin1');
    return `From: <${from}>\r\nTo: <${to}>\r\nSubject: ${subject}\r\nMessage-ID: <${Math.random().toString(36).slice(2)}@example>\r\n${smime.replace(/\r?\n/g, '\r\n')}`;
  }

  async function send(from: string, to: string, data: string): Promise<string> {
    const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress: '127.0.0.5' });
    await smtp.command('EHLO mta.partner.example');
    const result = await smtp.sendMessage(from, [to], data);
    await smtp.quit();
    assert.equal(result.final?.code, 250, result.final?.text);
    return result.final!.text.split('queued as ')[1]!;
  }

  const certificateStep = async (id: string) =>
    waitFor(`the certificate step of ${id}`, async () => (await readTrace(ownerDb(gateway.database.db), id)).find((t) => t.step === 'certificate')?.detail);
  const delivered = (subject: string) => waitFor(`"${subject}" at the mail server`, async () => mailServer.received.find((m) => m.raw.toString().includes(`Subject: ${subject}`)));
  const acmeId = () => gateway.directory.allTenants().find((t) => t.name === 'Acme')!.id;

  before(async () => {
    folder = mkdtempSync(join(tmpdir(), 'sealpost-autoimport-'));
    database = await createTestDatabase();
    mailServer = await MailPeer.start();
    dns = await startLocalDns({
      'partner.example': { TXT: ['v=spf1 ip4:127.0.0.0/8 -all'] },
      '_dmarc.partner.example': { TXT: ['v=DMARC1; p=none'] },
      'forged.example': { TXT: ['v=spf1 ip4:192.0.2.0/24 -all'] },
    });
    gateway = await startTestGateway(
      database,
      [
        acmeTenant(mailServer.port, {
          members: [
            { email: 'alice@acme.test', role: 'owner' },
            { email: 'oscar@acme.test', role: 'operator' },
            { email: 'ann@acme.test', role: 'analyst' },
          ],
        }),
        { ...globexTenant(mailServer.port), smime: { autoImport: false } },
      ],
      { SEALPOST_DNS_SERVERS: dns.server },
    );
  });

  after(async () => {
    await gateway.stop();
    await mailServer.close();
    await dns.close();
    await database.cleanup();
    rmSync(folder, { recursive: true, force: true });
  });

  test('a signed message from a verified sender puts its certificate into the store, and the trace names it', async () => {
    const bob = certificate('bob-1', 'bob@partner.example');
    const id = await send('bob@partner.example', 'alice@acme.test', signed('bob@partner.example', 'alice@acme.test', 'Contract', bob));
    await delivered('Contract');
    const step = await certificateStep(id);
    const fingerprint = execFileSync('openssl', ['x509', '-in', bob.cert, '-noout', '-fingerprint', '-sha256']).toString().split('=')[1]!.trim().replaceAll(':', '').toLowerCase();
    assert.equal(step.imported, true);
    assert.equal(step.outcome, 'added');
    assert.equal(step.fingerprint, fingerprint);
    assert.equal(step.source, 'signed mail');
    assert.match(String(step.notAfter), /^\d{4}-\d\d-\d\dT/);
    const stored = await gateway.certificates.validFor(acmeId(), 'bob@partner.example');
    assert.deepEqual(stored.map((c) => [c.fingerprint, c.source, c.messageId]), [[fingerprint, 'signed-mail', id]]);
    // What the signer advertised (OpenSSL lists AES-256-CBC first, and no OAEP) is kept for encrypting to it.
    assert.equal((step.capabilities as string[])[0], '2.16.840.1.101.3.4.1.42');
    assert.deepEqual(stored[0]!.capabilities, step.capabilities);

    // The same certificate again is only seen again.
    const again = await send('bob@partner.example', 'alice@acme.test', signed('bob@partner.example', 'alice@acme.test', 'Contract 2', bob));
    assert.equal((await certificateStep(again)).outcome, 'known');
  });

  test('a different certificate for the address is kept beside the first, and owners and operators are told', async () => {
    const start = mailServer.received.length;
    const id = await send('bob@partner.example', 'alice@acme.test', signed('bob@partner.example', 'alice@acme.test', 'New key', certificate('bob-2', 'bob@partner.example')));
    const step = await certificateStep(id);
    assert.equal(step.outcome, 'changed');
    assert.equal((step.previousFingerprints as string[]).length, 1);
    assert.deepEqual((step.alerted as string[]).sort(), ['alice@acme.test', 'oscar@acme.test'], 'owners and operators, not analysts');
    const notices = await waitFor('the change notices', async () => {
      const found = mailServer.received.slice(start).filter((m) => m.raw.toString().includes('certificate of bob@partner.example changed'));
      return found.length === 2 ? found : undefined;
    });
    assert.ok(notices.every((n) => n.mailFrom === ''));
    assert.match(notices[0]!.raw.toString().replace(/=\r\n/g, ''), /check with the sender by another way/);
    assert.equal((await gateway.certificates.list(acmeId(), 'bob@partner.example')).length, 2);
    await delivered('New key');
  });

  test('an unverified sender, a changed signature or a certificate for another address imports nothing, and the message is still delivered', async () => {
    const mallory = certificate('mallory', 'ceo@forged.example');
    const forged = await send('ceo@forged.example', 'alice@acme.test', signed('ceo@forged.example', 'alice@acme.test', 'Forged', mallory));
    assert.match(String((await certificateStep(forged)).reason), /sender authentication did not verify/);
    await delivered('Forged');

    const carol = certificate('carol', 'carol@partner.example');
    const message = signed('carol@partner.example', 'alice@acme.test', 'Changed text', carol).replace('Please find the contract attached.', 'Please pay the invoice attached.');
    const tampered = await send('carol@partner.example', 'alice@acme.test', message);
    assert.match(String((await certificateStep(tampered)).reason), /does not verify/);
    await delivered('Changed text');

    const other = await send('dave@partner.example', 'alice@acme.test', signed('dave@partner.example', 'alice@acme.test', 'Borrowed', carol));
    assert.equal((await certificateStep(other)).reason, 'the certificate names carol@partner.example, but the message is from dave@partner.example');
    assert.deepEqual(await gateway.certificates.list(acmeId(), 'carol@'), []);
    assert.deepEqual(await gateway.certificates.list(acmeId(), 'forged.example'), []);
  });

  test('a tenant whose file turns auto-import off takes nothing from signed mail', async () => {
    const id = await send('erin@partner.example', 'gina@globex.test', signed('erin@partner.example', 'gina@globex.test', 'For Globex', certificate('erin', 'erin@partner.example')));
    await delivered('For Globex');
    const trace = await readTrace(ownerDb(gateway.database.db), id);
    assert.ok(trace.some((t) => t.step === 'scored'));
    assert.ok(!trace.some((t) => t.step === 'certificate'));
    const globex = gateway.directory.allTenants().find((t) => t.name === 'Globex')!.id;
    assert.deepEqual(await gateway.certificates.list(globex), []);
  });
});
