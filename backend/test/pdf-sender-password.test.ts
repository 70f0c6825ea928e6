/**
 * The password PDF with a password the sender tells the recipients, through a real gateway: the add-in API
 * issues a password and its sealed ticket to a signed-in member; a message from that member carrying the
 * ticket (X-Sealpost-Pdf-Password) becomes PDFs that open with that password, checked with qpdf and
 * pdftotext, and no password goes out. A ticket that was changed, belongs to another member, has expired
 * or comes from a tenant that does not allow it leaves the tenant's way in charge, and the trace says why.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { simpleParser } from 'mailparser';
import type { PdfPasswordResponse } from '../../common/src/addin-api.ts';
import { and, eq } from 'drizzle-orm';
import { auditLog } from '../src/db/schema.ts';
import type { Gateway } from '../src/gateway.ts';
import { readTrace } from '../src/messages/message-trace.ts';
import { issuePasswordTicket, passwordTicketKey, pdfPassword } from '../src/protect/pdf-passwords.ts';
import { createTestDatabase, ownerDb, type TestDatabase } from './support/database.ts';
import { LocalEntraIssuer } from './support/local-entra-issuer.ts';
import { MailPeer, type ReceivedMail } from './support/mail-peer.ts';
import { waitFor } from './support/portal-mail.ts';
import { SmtpConversation } from './support/smtp-conversation.ts';
import { acmeTenant, startTestGateway } from './support/test-gateway.ts';

const APP_ID = '6f1c2a9e-8d51-4b7a-9c33-0f2d7e5a1b10';
const ACME_ENTRA = '3b2f8c1d-4e5a-4f60-8a7b-9c0d1e2f3a4b';
const GLOBEX_ENTRA = '7d6c5b4a-3f2e-4d1c-8b0a-a9b8c7d6e5f4';
const PASSWORD = /^[A-Za-z0-9]{5}(?:-[A-Za-z0-9]{5}){3}$/;

describe('the password PDF with a password the sender tells', () => {
  const masterKey = randomBytes(32);
  let database: TestDatabase;
  let issuer: LocalEntraIssuer;
  let gateway: Gateway;
  let mailServer: MailPeer;
  let relay: MailPeer;
  let folder: string;
  let base: string;

  // One Entra object id per member: a member's address, once bound to an object id, signs in no other.
  const objectIds = new Map<string, string>();
  const token = (tid: string, email: string) => {
    if (!objectIds.has(email)) objectIds.set(email, randomUUID());
    return issuer.sign(issuer.claims({ tid, oid: objectIds.get(email)!, aud: APP_ID, email }));
  };
  async function fetchPassword(tid: string, email: string): Promise<{ status: number; body: PdfPasswordResponse & { title?: string } }> {
    const response = await fetch(`${base}/api/addin/pdf-password`, { method: 'POST', headers: { authorization: `Bearer ${token(tid, email)}` } });
    return { status: response.status, body: (await response.json()) as PdfPasswordResponse & { title?: string } };
  }

  async function send(from: string, localAddress: string, to: string[], subject: string, ticket: string): Promise<string> {
    const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress });
    await smtp.command('EHLO exchange.test');
    const message = [
      `From: Alice Anwalt <${from}>`,
      `To: ${to.map((t) => `<${t}>`).join(', ')}`,
      `Subject: ${subject}`,
      `Message-ID: <${randomUUID()}@test>`,
      'X-Sealpost-Encrypt: pdf',
      `X-Sealpost-Pdf-Password: ${ticket}`,
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=us-ascii',
      '',
      'Anbei der Vergleichsvorschlag, Aktenzeichen 12 O 345/26.',
      '',
    ].join('\r\n');
    const result = await smtp.sendMessage(from, to, message);
    await smtp.quit();
    assert.equal(result.final?.code, 250, result.final?.text);
    return result.final!.text.split('queued as ')[1]!;
  }

  const pdfMailFor = (recipient: string, subject: string) =>
    waitFor(`the PDF mail to ${recipient}`, () => relay.received.find((m) => m.recipients.includes(recipient) && m.raw.toString().includes('application/pdf') && m.raw.toString().includes(subject)));
  async function pdfOf(mail: ReceivedMail): Promise<string> {
    const attachment = (await simpleParser(mail.raw)).attachments.find((a) => a.contentType === 'application/pdf')!;
    const file = join(folder, `${randomUUID()}.pdf`);
    writeFileSync(file, attachment.content);
    return file;
  }
  const opensWith = (file: string, password: string) => spawnSync('qpdf', ['--check', `--password=${password}`, file]).status === 0;
  const derivedPassword = (messageId: string, recipient: string) =>
    pdfPassword(createHmac('sha256', masterKey).update('sealpost:pdf-password-key').digest(), messageId, recipient);
  async function passwordStep(messageId: string): Promise<Record<string, string>> {
    const step = await waitFor('the protected step', async () => (await readTrace(ownerDb(gateway.database.db), messageId)).find((s) => s.step === 'protected'));
    return (step.detail as { detail: { password: Record<string, string> } }).detail.password;
  }
  const aliceSession = () => ({
    id: 'test',
    tenantId: gateway.directory.tenantForDomain('acme.test')!.id,
    address: 'alice@acme.test',
    role: 'owner' as const,
    csrfToken: '',
    expiresAt: new Date(Date.now() + 60_000),
    clientIp: '127.0.0.1',
    factorRequired: false,
    factorVerified: false,
  });

  before(async () => {
    folder = mkdtempSync(join(tmpdir(), 'sealpost-pdf-sender-'));
    database = await createTestDatabase();
    issuer = await LocalEntraIssuer.start();
    mailServer = await MailPeer.start();
    relay = await MailPeer.start();
    gateway = await startTestGateway(
      database,
      [
        acmeTenant(mailServer.port, {
          members: [
            { email: 'alice@acme.test', role: 'owner' },
            { email: 'bob@acme.test', role: 'contact' },
          ],
          entra: { applicationId: APP_ID, tenantIds: [ACME_ENTRA] },
          encryption: { ways: { pdf: true } },
          pdf: { senderPassword: true },
        }),
        {
          name: 'Globex',
          domains: ['globex.test'],
          connectors: [{ name: 'globex-exchange', ips: ['127.0.0.9/32'] }],
          mailServer: `smtp://127.0.0.1:${mailServer.port}`,
          members: [{ email: 'gina@globex.test', role: 'owner' }],
          apiTokens: [],
          entra: { applicationId: APP_ID, tenantIds: [GLOBEX_ENTRA] },
          encryption: { ways: { pdf: true } },
        },
      ],
      { SEALPOST_ENTRA_AUTHORITY: issuer.url, SEALPOST_RELAY: `smtp://127.0.0.1:${relay.port}`, SEALPOST_MASTER_KEY: masterKey.toString('base64') },
    );
    base = `http://127.0.0.1:${gateway.httpPort}`;
  });

  after(async () => {
    await gateway.stop();
    await mailServer.close();
    await relay.close();
    await issuer.close();
    await database.cleanup();
    rmSync(folder, { recursive: true, force: true });
  });

  test('the add-in offers the ways the tenant allows, and issues a password with its ticket only where senders may tell it', async () => {
    const settings = (await (await fetch(`${base}/api/addin/settings`, { headers: { authorization: `Bearer ${token(ACME_ENTRA, 'alice@acme.test')}` } })).json()) as { pdfPassword?: unknown };
    assert.deepEqual(settings.pdfPassword, { ways: ['portal', 'sender'], default: 'portal' });
    const issued = await fetchPassword(ACME_ENTRA, 'alice@acme.test');
    assert.equal(issued.status, 200);
    assert.match(issued.body.password, PASSWORD);
    assert.ok(!issued.body.ticket.includes(issued.body.password), 'the ticket does not show the password');
    assert.match(issued.body.ticket, /^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*){4}$/, 'a compact JWE, safe in a header');
    const days = (Date.parse(issued.body.expiresAt) - Date.now()) / 86_400_000;
    assert.ok(days > 29.9 && days <= 30, `the ticket serves 30 days (${days})`);
    assert.notEqual((await fetchPassword(ACME_ENTRA, 'alice@acme.test')).body.password, issued.body.password, 'every request draws a new password');

    const acme = gateway.directory.tenantForDomain('acme.test')!.id;
    const audited = await ownerDb(gateway.database.db)
      .select({ details: auditLog.details })
      .from(auditLog)
      .where(and(eq(auditLog.tenantId, acme), eq(auditLog.action, 'pdf_password_issued'), eq(auditLog.actorAddress, 'alice@acme.test')));
    assert.equal(audited.length, 2, 'each issued password is in the audit log');
    assert.ok(!JSON.stringify(audited).includes(issued.body.password), 'without the password');

    const refused = await fetchPassword(GLOBEX_ENTRA, 'gina@globex.test');
    assert.equal(refused.status, 403);
    assert.match(refused.body.title!, /does not let senders tell the password/);
  });

  test("a message with its sender's ticket opens with the ticket's password for every recipient, and no password goes out", async () => {
    const { body } = await fetchPassword(ACME_ENTRA, 'alice@acme.test');
    const recipients = ['mandant@kanzlei.de', 'client@example.net'];
    const id = await send('alice@acme.test', '127.0.0.1', recipients, 'Vergleich', body.ticket);
    for (const recipient of recipients) {
      const mail = await pdfMailFor(recipient, 'Vergleich');
      const raw = mail.raw.toString();
      assert.doesNotMatch(raw, /X-Sealpost|Aktenzeichen/i, 'no control header and nothing of the content in the clear');
      assert.ok(!raw.includes(body.ticket) && !raw.includes(body.password), 'neither the ticket nor the password travels with the mail');
      assert.match((await simpleParser(mail.raw)).text ?? '', recipient.endsWith('.de') ? /teilt Ihnen der Absender auf anderem Weg mit/ : /The sender tells you its password another way/);
      const file = await pdfOf(mail);
      assert.ok(!opensWith(file, derivedPassword(id, recipient)), 'the password the gateway would have derived does not open it');
      assert.ok(opensWith(file, body.password), "the ticket's password opens it");
      assert.match(execFileSync('qpdf', ['--show-encryption', `--password=${body.password}`, file]).toString(), /R = 6/);
      const text = execFileSync('pdftotext', ['-upw', body.password, file, '-']).toString();
      assert.match(text, /Aktenzeichen 12 O 345\/26/);
      assert.ok(!text.includes(body.ticket), 'the ticket is not printed in the PDF');
    }
    assert.deepEqual(await passwordStep(id), { channel: 'sender', ticketExpires: body.expiresAt });
    const trace = JSON.stringify(await readTrace(ownerDb(gateway.database.db), id));
    assert.ok(!trace.includes(body.password) && !trace.includes(body.ticket), 'the trace holds neither the password nor the ticket');
    assert.match(trace, /sender-told \(sealed ticket\)/, 'the request step says the sender tells the password');
    // No portal message holds a password, and no notification went to the recipients.
    const sent = await gateway.portal.sent.listSent(aliceSession());
    assert.ok(!sent.some((m) => JSON.stringify(m).includes('Vergleich')), 'no password message in the portal');
    for (const recipient of recipients) assert.equal(relay.received.filter((m) => m.recipients.includes(recipient)).length, 1, `only the PDF went to ${recipient}`);
  });

  test("a changed ticket, another member's ticket, an expired ticket and a ticket where the tenant forbids it fall back to the tenant's way, traced", async () => {
    const { body } = await fetchPassword(ACME_ENTRA, 'alice@acme.test');
    const parts = body.ticket.split('.');
    const ciphertext = parts[3]!;
    parts[3] = (ciphertext[0] === 'A' ? 'B' : 'A') + ciphertext.slice(1);
    const bobs = (await fetchPassword(ACME_ENTRA, 'bob@acme.test')).body;
    const expired = await issuePasswordTicket(passwordTicketKey(masterKey), { tenantId: aliceSession().tenantId, member: 'alice@acme.test' }, new Date(Date.now() - 31 * 86_400_000));
    const cases = [
      { name: 'changed', from: 'alice@acme.test', address: '127.0.0.1', ticket: parts.join('.'), password: body.password, reason: /not sealed by this gateway or was changed/ },
      { name: 'foreign', from: 'alice@acme.test', address: '127.0.0.1', ticket: bobs.ticket, password: bobs.password, reason: /made for bob@acme\.test, who is not the sender of this message \(alice@acme\.test\)/ },
      { name: 'expired', from: 'alice@acme.test', address: '127.0.0.1', ticket: expired.ticket, password: expired.password, reason: /the password ticket expired/ },
      { name: 'forbidden', from: 'gina@globex.test', address: '127.0.0.9', ticket: body.ticket, password: body.password, reason: /does not allow passwords the sender tells/ },
    ];
    for (const item of cases) {
      const recipient = `${item.name}@example.net`;
      const id = await send(item.from, item.address, [recipient], `Fallback ${item.name}`, item.ticket);
      const file = await pdfOf(await pdfMailFor(recipient, `Fallback ${item.name}`));
      const password = await passwordStep(id);
      assert.equal(password.channel, 'portal', item.name);
      assert.match(password.senderPasswordRefused!, item.reason, item.name);
      assert.ok(!JSON.stringify(password).includes(item.password), 'the reason never holds the password');
      assert.ok(!opensWith(file, item.password), `${item.name}: the ticket's password does not open it`);
      assert.ok(opensWith(file, derivedPassword(id, recipient)), `${item.name}: the portal's password opens it`);
      await waitFor('the portal notification', () => relay.received.find((m) => m.recipients.includes(recipient) && !m.raw.toString().includes('application/pdf')));
    }
  });
});
