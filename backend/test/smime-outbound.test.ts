/**
 * Outbound S/MIME through a real gateway: a message that asks for `smime` leaves as application/pkcs7-mime
 * that `openssl cms -decrypt` opens for each recipient whose certificate the tenant's store holds, with the
 * header fields outside and the content (and nothing of the sender's instructions) inside; a recipient
 * without a certificate is held, never sent in the clear, and gets the message once a certificate is
 * imported; `auto` chooses S/MIME for a recipient with a certificate and the portal for one without.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { asc, eq } from 'drizzle-orm';
import { readCertificates } from '../src/certs/certificate-store.ts';
import { deliveries, messageTrace } from '../src/db/schema.ts';
import type { Gateway } from '../src/gateway.ts';
import { createTestDatabase, ownerDb, type TestDatabase } from './support/database.ts';
import { MailPeer, type ReceivedMail } from './support/mail-peer.ts';
import { waitFor } from './support/portal-mail.ts';
import { SmtpConversation } from './support/smtp-conversation.ts';
import { acmeTenant, startTestGateway } from './support/test-gateway.ts';

const SECRET = 'Vergleichsangebot: 1,8 Mio. EUR, streng vertraulich';

describe('outbound S/MIME', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let tenantMailServer: MailPeer;
  let relay: MailPeer;
  let folder: string;
  let tenantId: string;
  const people = new Map<string, { cert: string; key: string; der: Buffer }>();

  const person = (address: string) => {
    const name = address.split('@')[0]!;
    const key = join(folder, `${name}.key`);
    const cert = join(folder, `${name}.pem`);
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '30', '-subj', `/CN=${name}`, '-addext', `subjectAltName=email:${address}`],
      { stdio: 'pipe' },
    );
    const der = execFileSync('openssl', ['x509', '-in', cert, '-outform', 'DER']);
    people.set(address, { cert, key, der });
    return people.get(address)!;
  };
  const importCertificate = (address: string) =>
    gateway.certificates.add(tenantId, readCertificates(people.get(address)!.der), { source: 'import', by: 'alice@acme.test' });
  const opensslDecrypt = (mail: ReceivedMail, address: string): string => {
    const file = join(folder, `${randomBytes(4).toString('hex')}.eml`);
    writeFileSync(file, mail.raw);
    const who = people.get(address)!;
    return execFileSync('openssl', ['cms', '-decrypt', '-in', file, '-recip', who.cert, '-inkey', who.key], { stdio: 'pipe' }).toString('utf8');
  };

  async function send(to: string[], mode: string): Promise<string> {
    const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress: '127.0.0.1' });
    await smtp.command('EHLO exchange.acme.test');
    const message = [
      'From: Alice <alice@acme.test>',
      `To: ${to.join(', ')}`,
      'Subject: Vergleich',
      `Message-ID: <${randomBytes(6).toString('hex')}@acme.test>`,
      `X-Sealpost-Encrypt: ${mode}`,
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 8bit',
      '',
      SECRET,
      '',
    ].join('\r\n');
    const result = await smtp.sendMessage('alice@acme.test', to, message);
    await smtp.quit();
    assert.equal(result.final?.code, 250, result.final?.text);
    return result.final!.text.split('queued as ')[1]!;
  }

  const traceOf = (id: string) => ownerDb(gateway.database.db).select().from(messageTrace).where(eq(messageTrace.messageId, id)).orderBy(asc(messageTrace.id));
  const mailTo = (address: string) => relay.received.find((m) => m.recipients.includes(address));

  before(async () => {
    folder = mkdtempSync(join(tmpdir(), 'sealpost-smime-out-'));
    database = await createTestDatabase();
    tenantMailServer = await MailPeer.start();
    relay = await MailPeer.start();
    gateway = await startTestGateway(database, [acmeTenant(tenantMailServer.port)], {
      SEALPOST_RELAY: `smtp://127.0.0.1:${relay.port}`,
      SEALPOST_HELD_RETRY_SECONDS: '1',
    });
    tenantId = gateway.directory.tenantForDomain('acme.test')!.id;
    for (const address of ['bob@partner.example', 'carol@partner.example', 'dave@partner.example', 'erin@other.example']) person(address);
    await importCertificate('bob@partner.example');
    await importCertificate('dave@partner.example');
  });

  after(async () => {
    await gateway.stop();
    await tenantMailServer.close();
    await relay.close();
    await database.cleanup();
    rmSync(folder, { recursive: true, force: true });
  });

  test('each recipient with a certificate gets mail OpenSSL decrypts; one without is held until a certificate is imported', async () => {
    const bob = 'bob@partner.example';
    const carol = 'carol@partner.example';
    const dave = 'dave@partner.example';
    const id = await send([bob, carol, dave], 'smime');

    const encrypted = await waitFor('the encrypted mail', () => mailTo(bob));
    assert.deepEqual([...encrypted.recipients].sort(), [bob, dave], 'one copy for the recipients with certificates');
    const raw = encrypted.raw.toString('utf8');
    assert.match(raw, /Content-Type: application\/pkcs7-mime; smime-type=enveloped-data/);
    assert.match(raw, /^Subject: Vergleich\r$/m, 'the header fields stay outside');
    assert.doesNotMatch(raw, /Vergleichsangebot|X-Sealpost/i, 'neither the content nor the instructions in the clear');
    for (const address of [bob, dave]) {
      const inner = opensslDecrypt(encrypted, address);
      assert.match(inner, /^Content-Type: text\/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nVergleichsangebot/, 'the entity: its content fields, one empty line, the body');
      assert.ok(inner.includes(SECRET), `${address} reads the content`);
    }
    assert.throws(() => opensslDecrypt(encrypted, carol), 'carol cannot read what was not encrypted for her');

    const held = await waitFor('carol held', async () => {
      const rows = await ownerDb(gateway.database.db).select().from(deliveries).where(eq(deliveries.messageId, id));
      const row = rows.find((r) => r.recipient === carol);
      return row?.status === 'held' ? row : undefined;
    });
    assert.match(held.lastReply ?? '', /no valid S\/MIME certificate is known for carol@partner\.example/);
    assert.equal(mailTo(carol), undefined, 'nothing went to carol in the clear');

    const steps = await traceOf(id);
    const bobStep = steps.find((s) => s.step === 'protected' && (s.detail as { recipient: string }).recipient === bob);
    const detail = bobStep?.detail as { outcome: string; detail: { contentEncryption: string; certificates: Array<{ recipient: string; fingerprint: string; source: string }> } };
    assert.equal(detail.outcome, 'stored');
    assert.equal(detail.detail.contentEncryption, 'aes-256-cbc', 'CBC unless every recipient advertised GCM');
    const [stored] = readCertificates(people.get(bob)!.der);
    assert.deepEqual(
      detail.detail.certificates.find((c) => c.recipient === bob),
      { recipient: bob, fingerprint: stored!.fingerprint, notAfter: stored!.notAfter.toISOString(), source: 'import', keyTransport: 'rsa-oaep' },
    );
    const carolStep = steps.find((s) => s.step === 'protected' && (s.detail as { recipient: string }).recipient === carol);
    assert.equal((carolStep?.detail as { outcome: string }).outcome, 'unavailable');

    // Carol's certificate arrives: the held delivery is protected for her and sent.
    await importCertificate(carol);
    const forCarol = await waitFor('carol after the import', () => mailTo(carol));
    assert.deepEqual(forCarol.recipients, [carol]);
    assert.ok(opensslDecrypt(forCarol, carol).includes(SECRET));
    assert.doesNotMatch(forCarol.raw.toString('utf8'), /Vergleichsangebot/);
  });

  test('a recipient that advertised AES-GCM and no OAEP gets AuthEnvelopedData with its key wrapped by PKCS#1 v1.5', async () => {
    const gina = 'gina@partner.example';
    person(gina);
    await gateway.certificates.add(tenantId, readCertificates(people.get(gina)!.der), {
      source: 'signed-mail',
      by: gina,
      capabilities: ['2.16.840.1.101.3.4.1.46', '2.16.840.1.101.3.4.1.42', '1.2.840.113549.1.1.1'],
    });
    await send([gina], 'smime');
    const mail = await waitFor('the mail to gina', () => mailTo(gina));
    assert.match(mail.raw.toString('utf8'), /smime-type=authEnveloped-data/);
    assert.ok(opensslDecrypt(mail, gina).includes(SECRET));
    const file = join(folder, 'gina.eml');
    writeFileSync(file, mail.raw);
    const printed = execFileSync('openssl', ['cms', '-cmsout', '-print', '-in', file]).toString();
    assert.match(printed, /aes-256-gcm|id-aes256-GCM/);
    assert.match(printed, /algorithm: rsaEncryption/);
  });

  test('auto encrypts with S/MIME where a certificate is known and uses the portal where none is', async () => {
    const bob = 'bob@partner.example';
    const erin = 'erin@other.example';
    const before = relay.received.length;
    const id = await send([bob, erin], 'auto');
    const mails = await relay.waitForMessages(before + 2);
    const toBob = mails.slice(before).find((m) => m.recipients.includes(bob))!;
    const toErin = mails.slice(before).find((m) => m.recipients.includes(erin))!;
    assert.ok(opensslDecrypt(toBob, bob).includes(SECRET));
    assert.match(toErin.raw.toString('utf8'), /portal\/open\?token=/);
    assert.doesNotMatch(toErin.raw.toString('utf8'), /Vergleichsangebot/);
    const steps = await traceOf(id);
    const forBob = steps.find((s) => s.step === 'protected' && (s.detail as { recipient: string }).recipient === bob);
    assert.equal((forBob?.detail as { outcome: string }).outcome, 'stored');
  });
});
