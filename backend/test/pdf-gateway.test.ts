/**
 * The password PDF through a real gateway, checked with qpdf and pdftotext: a message that asks for `pdf`
 * reaches the recipient as a cover mail with an AES-256 (R6) PDF that does not open without its password;
 * the password waits in the portal, behind the link the portal's own notification brings; with it the PDF
 * opens and holds the text and the attachment. The password has the portal message's lifecycle: revoked,
 * it is gone. A tenant that keeps the PDF off serves a PDF request by its other ways; a message too large
 * for a PDF is held with the reason, never sent in the clear.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { simpleParser } from 'mailparser';
import type { Gateway } from '../src/gateway.ts';
import { readTrace } from '../src/messages/message-trace.ts';
import { createTestDatabase, ownerDb, type TestDatabase } from './support/database.ts';
import { MailPeer, type ReceivedMail } from './support/mail-peer.ts';
import { PortalBrowser } from './support/portal-browser.ts';
import { tokenOf, waitFor } from './support/portal-mail.ts';
import { SmtpConversation } from './support/smtp-conversation.ts';
import { acmeTenant, globexTenant, startTestGateway } from './support/test-gateway.ts';

describe('the password PDF', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let mailServer: MailPeer;
  let relay: MailPeer;
  let folder: string;
  let sms: Server;
  const texts: Array<{ to: string; from: string; text: string; authorization?: string }> = [];
  let smsAnswer = 200;

  async function send(from: string, localAddress: string, to: string, subject: string, mode: string, extra = '', headers: string[] = []): Promise<string> {
    const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress });
    await smtp.command('EHLO exchange.test');
    const boundary = 'b-1';
    const message = [
      `From: Alice Anwalt <${from}>`,
      `To: <${to}>`,
      `Subject: ${subject}`,
      `Message-ID: <${Math.random().toString(36).slice(2)}@test>`,
      `X-Sealpost-Encrypt: ${mode}`,
      ...headers,
      'MIME-Version: 1.0',
      `Content-Type: multipart/mixed; boundary="${boundary}"`,
      '',
      `--${boundary}`,
      'Content-Type: text/plain; charset=us-ascii',
      '',
      'Sehr geehrte Damen und Herren, anbei der Vertragsentwurf Nr. 4711.',
      extra,
      `--${boundary}`,
      'Content-Type: text/plain; name="anlage.txt"',
      'Content-Disposition: attachment; filename="anlage.txt"',
      '',
      'Anlage: Paragraph 7 bleibt vertraulich.',
      `--${boundary}--`,
      '',
    ].join('\r\n');
    const result = await smtp.sendMessage(from, [to], message);
    await smtp.quit();
    assert.equal(result.final?.code, 250, result.final?.text);
    return result.final!.text.split('queued as ')[1]!;
  }
  const pdfOf = async (mail: ReceivedMail): Promise<string> => {
    const parsed = await simpleParser(mail.raw);
    const attachment = parsed.attachments.find((a) => a.contentType === 'application/pdf')!;
    const file = join(folder, `${Math.random().toString(36).slice(2)}.pdf`);
    writeFileSync(file, attachment.content);
    return file;
  };

  before(async () => {
    folder = mkdtempSync(join(tmpdir(), 'sealpost-pdf-gateway-'));
    database = await createTestDatabase();
    mailServer = await MailPeer.start();
    relay = await MailPeer.start();
    // The SMS provider: records what it is asked to send.
    sms = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        texts.push({ ...JSON.parse(Buffer.concat(chunks).toString('utf8')), authorization: req.headers.authorization });
        res.writeHead(smsAnswer).end('{}');
      });
    });
    await new Promise<void>((resolve) => sms.listen(0, '127.0.0.1', resolve));
    process.env.SEALPOST_TEST_SMS_TOKEN = 'sms-token-1';
    const initech = {
      name: 'Initech',
      domains: ['initech.test'],
      connectors: [{ name: 'initech-exchange', ips: ['127.0.0.7/32'] }],
      mailServer: `smtp://127.0.0.1:${mailServer.port}`,
      members: [{ email: 'ida@initech.test', role: 'owner' as const }],
      apiTokens: [],
      encryption: { ways: { pdf: true } },
      pdf: { password: 'sms' as const, sms: { url: `http://127.0.0.1:${(sms.address() as AddressInfo).port}/send`, tokenEnv: 'SEALPOST_TEST_SMS_TOKEN', from: 'Initech' } },
    };
    gateway = await startTestGateway(
      database,
      [acmeTenant(mailServer.port, { encryption: { ways: { pdf: true } } }), globexTenant(mailServer.port), initech],
      { SEALPOST_RELAY: `smtp://127.0.0.1:${relay.port}`, SEALPOST_HELD_RETRY_SECONDS: '1', SEALPOST_PDF_MAX_MESSAGE_BYTES: String(256 * 1024) },
    );
  });

  after(async () => {
    await gateway.stop();
    await mailServer.close();
    await relay.close();
    await new Promise((resolve) => sms.close(resolve));
    delete process.env.SEALPOST_TEST_SMS_TOKEN;
    await database.cleanup();
    rmSync(folder, { recursive: true, force: true });
  });

  test('the PDF opens only with the password the portal shows, and holds the text and the attachment; revoked, the password is gone', async () => {
    const id = await send('alice@acme.test', '127.0.0.1', 'mandant@kanzlei.de', 'Vertragsentwurf', 'pdf');
    const mail = await waitFor('the PDF mail', () => relay.received.find((m) => m.recipients.includes('mandant@kanzlei.de') && m.raw.toString().includes('application/pdf')));
    const raw = mail.raw.toString();
    assert.match(raw, /^Subject: Vertragsentwurf\r$/m);
    assert.doesNotMatch(raw, /Vertragsentwurf Nr\. 4711|Paragraph 7|X-Sealpost/, 'nothing of the content in the clear');
    assert.match((await simpleParser(mail.raw)).text ?? '', /Kennwort erhalten Sie über das sichere Portal/, 'a German cover for a .de recipient');
    const file = await pdfOf(mail);
    assert.notEqual(spawnSync('pdftotext', [file, '-']).status, 0, 'no text without the password');
    assert.notEqual(spawnSync('qpdf', ['--check', '--password=wrong', file]).status, 0, 'a wrong password does not open it');

    // The portal's notification brings the link; behind it, the password.
    const notification = await waitFor('the portal notification', () => relay.received.find((m) => m.recipients.includes('mandant@kanzlei.de') && !m.raw.toString().includes('application/pdf')));
    const browser = new PortalBrowser(gateway.httpPort);
    const opened = await browser.open(tokenOf(notification));
    assert.equal(opened.status, 200);
    const message = (await browser.request('GET', `/api/portal/messages/${opened.json().messageId}`)).json();
    assert.match(message.subject, /Kennwort für: Vertragsentwurf/);
    const password = /([A-Za-z2-9]{5}-[A-Za-z2-9]{5}-[A-Za-z2-9]{5}-[A-Za-z2-9]{5})/.exec(message.text)![1]!;

    const encryption = execFileSync('qpdf', ['--show-encryption', `--password=${password}`, file]).toString();
    assert.match(encryption, /R = 6/);
    assert.match(encryption, /AESv3/);
    execFileSync('qpdf', ['--check', `--password=${password}`, file], { stdio: 'pipe' });
    const text = execFileSync('pdftotext', ['-upw', password, file, '-']).toString();
    assert.match(text, /Vertragsentwurf Nr\. 4711/);
    const detach = join(folder, 'detached');
    execFileSync('mkdir', ['-p', detach]);
    execFileSync('pdfdetach', ['-upw', password, '-saveall', '-o', detach, file]);
    assert.match(readFileSync(join(detach, 'anlage.txt'), 'utf8'), /Paragraph 7 bleibt vertraulich/);

    const step = (await readTrace(ownerDb(gateway.database.db), id)).find((s) => s.step === 'protected')!.detail as { outcome: string; detail: Record<string, any> };
    assert.equal(step.outcome, 'stored');
    assert.equal(step.detail.password.channel, 'portal');
    assert.equal(step.detail.pdf.encryption, 'AES-256 (PDF 2.0, R6)');
    assert.equal(step.detail.pdf.attachments, 1);

    // The sender revokes the portal message: the password can no longer be read.
    const alice = { id: 'test', tenantId: gateway.directory.tenantForDomain('acme.test')!.id, address: 'alice@acme.test', role: 'owner' as const, csrfToken: '', expiresAt: new Date(Date.now() + 60_000), clientIp: '127.0.0.1', factorRequired: false, factorVerified: false };
    const sent = await gateway.portal.sent.listSent(alice);
    assert.ok(sent.some((m) => JSON.stringify(m).includes('Kennwort für: Vertragsentwurf')), 'the password is in the sender\'s sent list, where it can be revoked');
    await gateway.portal.sent.revoke(alice, id, 'mandant@kanzlei.de', { clientIp: '127.0.0.1' });
    const after = await browser.request('GET', `/api/portal/messages/${opened.json().messageId}`);
    assert.notEqual(after.status, 200, 'a revoked password is gone');
  });

  test('a tenant that keeps the PDF off serves a PDF request by its other ways; a message too large for a PDF is held', async () => {
    const globexId = await send('gina@globex.test', '127.0.0.9', 'someone@example.net', 'Globex PDF', 'pdf');
    await waitFor('the portal notification instead', () => relay.received.find((m) => m.recipients.includes('someone@example.net')));
    const routed = (await readTrace(ownerDb(gateway.database.db), globexId)).find((s) => s.step === 'routed')!.detail;
    assert.match(String(routed.reason), /"pdf" requested by the add-in header but switched off for the tenant/);

    const big = 'x'.repeat(76) + '\r\n';
    const id = await send('alice@acme.test', '127.0.0.1', 'big@example.net', 'Zu gross', 'pdf', big.repeat(Math.ceil((300 * 1024) / big.length)));
    const held = await waitFor('the hold', async () => {
      const text = JSON.stringify(await readTrace(ownerDb(gateway.database.db), id));
      return /the password PDF cannot be made \(too-large\)/.test(text) ? text : undefined;
    });
    assert.match(held, /never sent unprotected/);
    assert.equal(relay.received.find((m) => m.recipients.includes('big@example.net')), undefined, 'nothing in the clear, no portal message either');
  });

  test('by SMS: the password goes to the number the sender gave; without a number, or when the provider fails, the portal serves', async () => {
    const id = await send('ida@initech.test', '127.0.0.7', 'kunde@example.net', 'Angebot SMS', 'pdf', '', ['X-Sealpost-Sms: kunde@example.net=+49 151 2345678']);
    const mail = await waitFor('the PDF mail', () => relay.received.find((m) => m.recipients.includes('kunde@example.net') && m.raw.toString().includes('application/pdf')));
    assert.match((await simpleParser(mail.raw)).text ?? '', /by text message to your mobile phone/);
    const sent = await waitFor('the text message', () => texts.find((t) => t.text.includes('Angebot SMS')));
    assert.equal(sent.to, '+491512345678');
    assert.equal(sent.from, 'Initech');
    assert.equal(sent.authorization, 'Bearer sms-token-1');
    const password = /([A-Za-z2-9]{5}(?:-[A-Za-z2-9]{5}){3})/.exec(sent.text)![1]!;
    const file = await pdfOf(mail);
    assert.match(execFileSync('pdftotext', ['-upw', password, file, '-']).toString(), /Vertragsentwurf Nr\. 4711/);
    const step = (await readTrace(ownerDb(gateway.database.db), id)).find((s) => s.step === 'protected')!.detail as { detail: { password: Record<string, string> } };
    assert.deepEqual(step.detail.password, { channel: 'sms', to: '+491…678' }, 'the trace names the channel, not the whole number');
    assert.equal(relay.received.filter((m) => m.recipients.includes('kunde@example.net')).length, 1, 'no portal notification');

    const noNumber = await send('ida@initech.test', '127.0.0.7', 'other@example.net', 'Ohne Nummer', 'pdf');
    await waitFor('the portal notification', () => relay.received.find((m) => m.recipients.includes('other@example.net') && !m.raw.toString().includes('application/pdf')));
    const fallback = (await readTrace(ownerDb(gateway.database.db), noNumber)).find((s) => s.step === 'protected')!.detail as { detail: { password: Record<string, string> } };
    assert.equal(fallback.detail.password.channel, 'portal');
    assert.match(fallback.detail.password.smsFallback!, /gave no mobile number for other@example\.net/);

    smsAnswer = 503;
    const failing = await send('ida@initech.test', '127.0.0.7', 'third@example.net', 'Provider kaputt', 'pdf', '', ['X-Sealpost-Sms: third@example.net=+4915199999999']);
    await waitFor('the portal notification', () => relay.received.find((m) => m.recipients.includes('third@example.net') && !m.raw.toString().includes('application/pdf')));
    const failed = (await readTrace(ownerDb(gateway.database.db), failing)).find((s) => s.step === 'protected')!.detail as { detail: { password: Record<string, string> } };
    assert.match(failed.detail.password.smsFallback!, /answered HTTP 503/);
    smsAnswer = 200;
  });
});
