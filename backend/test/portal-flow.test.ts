import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { and, eq, sql } from 'drizzle-orm';
import { simpleParser } from 'mailparser';
import MailComposer from 'nodemailer/lib/mail-composer';
import { auditLog, portalLinks, portalMessages, portalThreads } from '../src/db/schema.ts';
import { verifyAuditChain } from '../src/audit/audit-log.ts';
import type { Gateway } from '../src/gateway.ts';
import { resolveRecipientMethods } from '../src/protect/method-resolution.ts';
import { createTestDatabase, type TestDatabase, ownerDb } from './support/database.ts';
import { MailPeer } from './support/mail-peer.ts';
import { SmtpConversation } from './support/smtp-conversation.ts';
import { acmeTenant, globexTenant, startTestGateway } from './support/test-gateway.ts';
import { tokenOf, waitFor } from './support/portal-mail.ts';
import { PortalBrowser as Browser } from './support/portal-browser.ts';

async function send(gateway: Gateway, from: string, to: string[], data: string | Buffer) {
  const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress: '127.0.0.1' });
  await smtp.command('EHLO exchange.acme.test');
  const result = await smtp.sendMessage(from, to, data);
  await smtp.quit();
  assert.equal(result.final?.code, 250, `accepted: ${result.final?.text ?? result.mail.text}`);
  return result.final!.text.split('queued as ')[1]!;
}

const CONTRACT_TEXT = 'Dear client, please find the contract attached. Confidential clause 7.';

async function contractMessage(options: { to: string; subject: string; headers?: Record<string, string>; inReplyTo?: string }): Promise<Buffer> {
  return new MailComposer({
    from: 'Alice Lawyer <alice@acme.test>',
    to: options.to,
    subject: options.subject,
    messageId: `<${Math.random().toString(36).slice(2)}@acme.test>`,
    text: CONTRACT_TEXT,
    html: `<p>${CONTRACT_TEXT}</p><img src="cid:logo@acme"><img src="https://tracker.example/p.gif"><script>alert(1)</script><a href="javascript:alert(2)">x</a>`,
    headers: { 'X-Sealpost-Encrypt': 'portal', ...(options.headers ?? {}) },
    ...(options.inReplyTo ? { inReplyTo: options.inReplyTo, references: [options.inReplyTo] } : {}),
    attachments: [
      { filename: 'Vertrag Müller "final".pdf', content: Buffer.from('%PDF-1.4 contract body'), contentType: 'application/pdf' },
      { filename: 'logo.png', cid: 'logo@acme', content: Buffer.from('89504e470d0a1a0a', 'hex'), contentType: 'image/png' },
    ],
  })
    .compile()
    .build();
}

function multipartReply(text: string, file: { name: string; content: Buffer; type: string }) {
  const form = new FormData();
  form.append('text', text);
  form.append('attachments', new Blob([new Uint8Array(file.content)], { type: file.type }), file.name);
  const response = new Response(form);
  return { contentType: response.headers.get('content-type')!, body: response.arrayBuffer().then((b) => Buffer.from(b)) };
}

describe('message portal', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let tenantMailServer: MailPeer;
  let relay: MailPeer;
  let globexMailServer: MailPeer;

  /** Sends a portal message and returns the link token of its notification. */
  async function sendPortalMessage(to: string, subject: string, headers: Record<string, string> = {}, inReplyTo?: string) {
    const start = relay.received.length;
    const id = await send(gateway, 'alice@acme.test', [to], await contractMessage({ to, subject, headers, inReplyTo }));
    const mails = await relay.waitForMessages(start + 1);
    const notification = mails.slice(start).find((m) => m.recipients.includes(to))!;
    return { id, notification, token: tokenOf(notification) };
  }

  before(async () => {
    database = await createTestDatabase();
    tenantMailServer = await MailPeer.start();
    globexMailServer = await MailPeer.start();
    relay = await MailPeer.start();
    gateway = await startTestGateway(
      database,
      [
        acmeTenant(tenantMailServer.port, { members: [{ email: 'alice@acme.test', role: 'owner' }, { email: 'carol@acme.test', role: 'contact' }] }),
        globexTenant(globexMailServer.port),
      ],
      { SEALPOST_RELAY: `smtp://127.0.0.1:${relay.port}` },
    );
  });

  after(async () => {
    await gateway.stop();
    await tenantMailServer.close();
    await globexMailServer.close();
    await relay.close();
    await database.cleanup();
  });

  test('a portal message to an external recipient is stored encrypted, not relayed, and its notification carries a magic link', async () => {
    const { id, notification } = await sendPortalMessage('client@example.net', 'Contract for signature');
    assert.equal(notification.mailFrom, 'alice@acme.test', 'bounces of the notification go to the sender');
    const text = notification.raw.toString('utf8');
    assert.doesNotMatch(text, /Confidential clause 7/, 'the notification does not carry the content');
    assert.doesNotMatch(text, /^X-Sealpost-/im);
    const parsed = await simpleParser(notification.raw);
    assert.ok(parsed.html && parsed.text, 'HTML and plain text');
    assert.match(parsed.subject ?? '', /Secure message from .*Contract for signature/);
    assert.ok(!relay.received.some((m) => m.raw.toString().includes('Confidential clause 7')), 'the message itself never reached the relay');

    const [row] = await ownerDb(gateway.database.db).select().from(portalMessages).where(eq(portalMessages.sourceMessageId, id));
    assert.ok(row);
    assert.equal(row.toAddress, 'client@example.net');
    assert.equal(row.deliveryMode, 'portal_secure');
    assert.ok(!row.content.includes(Buffer.from('Confidential')), 'stored ciphertext only');
    assert.ok(!row.meta.includes(Buffer.from('Contract')), 'the subject is sealed too');
  });

  test('the notification is German for a .de recipient', async () => {
    const { notification } = await sendPortalMessage('kunde@beispiel.de', 'Vertrag');
    const parsed = await simpleParser(notification.raw);
    assert.match(parsed.subject ?? '', /^Sichere Nachricht von/);
  });

  test('storing is idempotent per message and recipient when the delivery worker calls twice', async () => {
    const { id } = await sendPortalMessage('twice@example.net', 'Twice');
    const before = await ownerDb(gateway.database.db).select().from(portalMessages).where(eq(portalMessages.sourceMessageId, id));
    const outcome = await gateway.portal.copies.storeForRecipient({ messageId: id, tenantId: before[0]!.tenantId, recipient: 'twice@example.net', raw: await contractMessage({ to: 'twice@example.net', subject: 'Twice' }) });
    assert.equal(outcome.kind, 'handled');
    const afterRows = await ownerDb(gateway.database.db).select().from(portalMessages).where(eq(portalMessages.sourceMessageId, id));
    assert.equal(afterRows.length, 1);
  });

  test('copies stored at the same moment each get their own data key, link, notification and audit entries, once, and the chain verifies', async () => {
    const { id } = await sendPortalMessage('together@example.net', 'Together');
    const [first] = await ownerDb(gateway.database.db).select().from(portalMessages).where(eq(portalMessages.sourceMessageId, id));
    const raw = await contractMessage({ to: 'together@example.net', subject: 'Together' });
    const start = relay.received.length;
    // together-1 twice: the same copy asked for twice at once is stored once.
    const recipients = ['together-1@example.net', 'together-2@example.net', 'together-3@example.net', 'together-1@example.net', 'together-4@example.net'];
    const outcomes = await Promise.all(recipients.map((recipient) => gateway.portal.copies.storeForRecipient({ messageId: id, tenantId: first!.tenantId, recipient, raw })));
    assert.deepEqual(outcomes.map((o) => o.kind), recipients.map(() => 'handled'));

    const rows = await ownerDb(gateway.database.db).select().from(portalMessages).where(eq(portalMessages.sourceMessageId, id));
    assert.deepEqual(rows.map((r) => r.toAddress).sort(), ['together-1@example.net', 'together-2@example.net', 'together-3@example.net', 'together-4@example.net', 'together@example.net']);
    assert.equal(new Set(rows.map((r) => r.wrappedDataKey.toString('hex'))).size, rows.length, 'one data key per stored copy');
    for (const outcome of outcomes) {
      const detail = (outcome as unknown as { detail: { portalMessageId: string; threadId: string } }).detail;
      const row = rows.find((r) => r.id === detail.portalMessageId);
      assert.ok(row, 'the outcome names a stored copy');
      assert.equal(row.threadId, detail.threadId, 'the outcome names the copy\'s own thread');
    }
    const mails = await relay.waitForMessages(start + 4);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const notified = relay.received.slice(start).flatMap((m) => m.recipients).sort();
    assert.deepEqual(notified, ['together-1@example.net', 'together-2@example.net', 'together-3@example.net', 'together-4@example.net'], 'one notification per copy');
    assert.ok(mails.slice(start).every((m) => tokenOf(m)), 'each notification carries its link');

    const entries = await ownerDb(gateway.database.db).select().from(auditLog).where(eq(auditLog.actorId, id));
    for (const row of rows.filter((r) => r.toAddress !== 'together@example.net')) {
      assert.deepEqual(entries.filter((e) => e.subjectId === row.id).map((e) => e.action).sort(), ['link_issued', 'sent'], `audit entries of ${row.toAddress}`);
    }
    const chain = await verifyAuditChain(gateway.database.db, gateway.vault.auditKeys, { tenantId: first!.tenantId });
    assert.equal(chain.ok, true, JSON.stringify(chain.problems));
  });

  test('GET of the open page does not consume the link; POST consumes it and starts an HttpOnly SameSite=Strict session', async () => {
    const { token } = await sendPortalMessage('reader@example.net', 'Read me');
    const browser = new Browser(gateway.httpPort);
    const page = await browser.request('GET', `/portal/open?token=${token}`);
    assert.notEqual(page.status, 500);
    const [link] = await ownerDb(gateway.database.db).select().from(portalLinks).where(and(eq(portalLinks.address, 'reader@example.net')));
    assert.equal(link!.usedAt, null, 'a scanner fetching the link consumed nothing');
    assert.equal(link!.tokenHash.length, 64, 'only a hash of the token is stored');
    assert.notEqual(link!.tokenHash, token);

    const opened = await browser.open(token);
    assert.equal(opened.status, 200);
    const cookies = ([] as string[]).concat(opened.headers['set-cookie'] ?? []);
    assert.equal(cookies.length, 2, 'a session cookie and a browser-bound secret');
    for (const cookie of cookies) {
      assert.match(cookie, /HttpOnly/);
      assert.match(cookie, /SameSite=Strict/);
    }
    assert.ok(opened.json().threadId);

    const again = await new Browser(gateway.httpPort).open(token);
    assert.equal(again.status, 410);
    assert.equal(again.json().type, 'urn:sealpost:problem:link-unusable', 'the same link again is unusable');
  });

  test('used, expired and tampered links all get the same link-unusable problem', async () => {
    const { token } = await sendPortalMessage('late@example.net', 'Late');
    await ownerDb(gateway.database.db)
      .update(portalLinks)
      .set({ expiresAt: new Date(Date.now() - 1000) })
      .where(eq(portalLinks.address, 'late@example.net'));
    const expired = await new Browser(gateway.httpPort).open(token);
    const tampered = await new Browser(gateway.httpPort).open(`${token.slice(0, -2)}xx`);
    for (const answer of [expired, tampered]) {
      assert.equal(answer.status, 410);
      assert.equal(answer.json().type, 'urn:sealpost:problem:link-unusable');
    }
    assert.deepEqual(expired.json(), tampered.json(), 'nothing tells them apart');
  });

  test('the message view returns the text, sanitised HTML and attachments with integrity verified; downloads are safe', async () => {
    const { token } = await sendPortalMessage('view@example.net', 'With attachment');
    const browser = new Browser(gateway.httpPort);
    const opened = await browser.open(token);
    const view = await browser.request('GET', `/api/portal/messages/${opened.json().messageId}`);
    assert.equal(view.status, 200);
    const message = view.json();
    assert.equal(message.integrity, 'verified');
    assert.match(message.text, /Confidential clause 7/);
    assert.doesNotMatch(message.html, /<script|javascript:|tracker\.example/i);
    assert.match(message.html, new RegExp(`/api/portal/messages/${message.id}/inline/\\d+`), 'cid: points at the inline URL');
    assert.equal(message.hasBlockedRemoteContent, true);
    const pdf = message.attachments.find((a: { filename: string }) => a.filename.endsWith('.pdf'));
    assert.equal(pdf.filename, 'Vertrag Müller "final".pdf');

    const download = await browser.request('GET', `/api/portal/messages/${message.id}/attachments/${pdf.id}`);
    assert.equal(download.status, 200);
    assert.equal(download.body.toString(), '%PDF-1.4 contract body');
    assert.equal(download.headers['x-content-type-options'], 'nosniff');
    assert.match(String(download.headers['content-security-policy']), /sandbox/);
    assert.equal(
      download.headers['content-disposition'],
      `attachment; filename="Vertrag Mu_ller _final_.pdf"; filename*=UTF-8''Vertrag%20Mu%CC%88ller%20%22final%22.pdf`.replace('Mu%CC%88ller', 'M%C3%BCller'),
    );

    const remote = await browser.request('GET', `/api/portal/messages/${message.id}?remote=allow`);
    assert.match(remote.json().html, /tracker\.example/);

    const audit = await ownerDb(gateway.database.db).select().from(auditLog).where(eq(auditLog.subjectId, message.id));
    assert.ok(audit.some((e) => e.action === 'read' && e.details.integrity === 'verified'));
    assert.ok(audit.some((e) => e.action === 'attachment_downloaded'));
  });

  test('attachments named with NUL, CR, LF, quotes, an emoji or a broken UTF-16 name download with 200 and a safe Content-Disposition', async () => {
    const to = 'names@example.net';
    const eml = [
      'From: Alice Lawyer <alice@acme.test>',
      `To: <${to}>`,
      // A NUL in the subject reaches the reader only through an encoded word; the raw header has none.
      'Subject: =?UTF-8?Q?Odd=00names?=',
      `Message-ID: <${Math.random().toString(36).slice(2)}@acme.test>`,
      'X-Sealpost-Encrypt: portal',
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="names"',
      '',
      '--names',
      'Content-Type: text/plain; charset=utf-8',
      '',
      'Two files with odd names.',
      '--names',
      'Content-Type: application/octet-stream',
      "Content-Disposition: attachment; filename*=UTF-8''a%00b%0D%0Ac%22d%F0%9F%98%80.txt",
      '',
      'first file',
      '--names',
      'Content-Type: application/octet-stream',
      // RFC 2231 in UTF-16: a high surrogate with no low one, which encodeURIComponent refuses.
      "Content-Disposition: attachment; filename*=UTF-16BE''%D8%00%00x",
      '',
      'second file',
      '--names--',
      '',
    ].join('\r\n');
    const start = relay.received.length;
    await send(gateway, 'alice@acme.test', [to], eml);
    const mails = await relay.waitForMessages(start + 1);
    const notification = mails.slice(start).find((m) => m.recipients.includes(to))!;
    const notificationHeader = notification.raw.subarray(0, notification.raw.indexOf('\r\n\r\n'));
    assert.equal(notificationHeader.indexOf(0), -1, 'the decoded NUL of the subject is not written into the notification');
    const browser = new Browser(gateway.httpPort);
    const opened = await browser.open(tokenOf(notification));
    assert.equal(opened.status, 200);
    const view = await browser.request('GET', `/api/portal/messages/${opened.json().messageId}`);
    assert.equal(view.status, 200);
    const message = view.json();
    assert.equal(message.attachments.length, 2);

    const expected = [
      { body: 'first file', disposition: `attachment; filename="a_b__c_d__.txt"; filename*=UTF-8''a%EF%BF%BDb__c%22d%F0%9F%98%80.txt` },
      { body: 'second file', disposition: `attachment; filename="_x"; filename*=UTF-8''%EF%BF%BDx` },
    ];
    for (const [index, attachment] of message.attachments.entries()) {
      const download = await browser.request('GET', `/api/portal/messages/${message.id}/attachments/${attachment.id}`);
      assert.equal(download.status, 200, `attachment ${index}: ${download.body.toString()}`);
      assert.equal(download.body.toString(), expected[index]!.body);
      assert.equal(download.headers['content-disposition'], expected[index]!.disposition);
    }
    // The names are sealed in the audit log; an authorised read opens them, made storable.
    const tenantId = gateway.directory.allTenants().find((t) => t.name === 'Acme')!.id;
    const audit = await gateway.portal.tenants.readAudit(tenantId, { subjectId: message.id });
    const names = audit.filter((e) => e.action === 'attachment_downloaded').map((e) => String(e.details.filename));
    assert.deepEqual(names.sort(), ['a\uFFFDb\r\nc"d😀.txt', '\uFFFDx'].sort(), 'the audit keeps the names, made storable');
  });

  test('tampering with the stored ciphertext shows integrity failed and writes an audit entry', async () => {
    const { id, token } = await sendPortalMessage('tamper@example.net', 'Tamper');
    const [row] = await ownerDb(gateway.database.db).select().from(portalMessages).where(eq(portalMessages.sourceMessageId, id));
    const flipped = Buffer.from(row!.content);
    flipped[flipped.length - 5] = flipped[flipped.length - 5]! ^ 0xff;
    await ownerDb(gateway.database.db).update(portalMessages).set({ content: flipped }).where(eq(portalMessages.id, row!.id));
    const browser = new Browser(gateway.httpPort);
    const integrityAudits = async () =>
      (await ownerDb(gateway.database.db).select().from(auditLog).where(and(eq(auditLog.subjectId, row!.id), eq(auditLog.action, 'integrity_failed')))).length;
    // Opening the link brings the message with it: already failed, and audited as shown.
    const opened = (await browser.open(token)).json();
    assert.equal(opened.message.integrity, 'failed');
    assert.equal(opened.message.text, '');
    assert.equal(await integrityAudits(), 1);
    // Every time it is shown again, again.
    const view = await browser.request('GET', `/api/portal/messages/${row!.id}`);
    assert.equal(view.status, 200);
    assert.equal(view.json().integrity, 'failed');
    assert.equal(view.json().text, '');
    assert.equal(await integrityAudits(), 2);
  });

  test('after an IP change the session answers session-ip-changed and a fresh link can be requested', async () => {
    const { token } = await sendPortalMessage('mobile@example.net', 'On the move');
    const browser = new Browser(gateway.httpPort);
    await browser.open(token);
    assert.equal((await browser.request('GET', '/api/portal/threads')).status, 200);
    browser.localAddress = '127.0.0.2';
    const moved = await browser.request('GET', '/api/portal/threads');
    assert.equal(moved.status, 401);
    assert.equal(moved.json().type, 'urn:sealpost:problem:session-ip-changed');

    const start = relay.received.length;
    const asked = await browser.request('POST', '/api/portal/links/request', { json: {} });
    assert.equal(asked.status, 202);
    const fresh = (await relay.waitForMessages(start + 1))[start]!;
    assert.deepEqual(fresh.recipients, ['mobile@example.net']);
    assert.equal((await new Browser(gateway.httpPort, '127.0.0.2').open(tokenOf(fresh))).status, 200);
  });

  test('a reply with an attachment reaches the tenant mail server, addressed to the original sender, with In-Reply-To', async () => {
    const { id, token } = await sendPortalMessage('replier@example.net', 'Please sign', { 'X-Sealpost-Options': 'read-receipt' });
    const browser = new Browser(gateway.httpPort);
    const opened = (await browser.open(token)).json();
    const tenantStart = tenantMailServer.received.length;
    await browser.request('GET', `/api/portal/messages/${opened.messageId}`);
    const receipt = await waitFor('the read receipt', async () =>
      tenantMailServer.received.slice(tenantStart).find((m) => /Read: Please sign/.test(m.raw.toString())),
    );
    assert.deepEqual(receipt.recipients, ['alice@acme.test']);

    const limits = (await browser.request('GET', '/api/portal/limits')).json();
    assert.ok(limits.maxAttachmentBytes > 0 && limits.maxAttachments > 0);

    const form = multipartReply('Signed, see attachment.', { name: 'signed.pdf', content: Buffer.from('%PDF signed'), type: 'application/pdf' });
    const start = tenantMailServer.received.length;
    const replied = await browser.request('POST', `/api/portal/messages/${opened.messageId}/replies`, { body: await form.body, contentType: form.contentType });
    assert.equal(replied.status, 201, replied.body.toString());
    const mail = await waitFor('the reply at the tenant mail server', async () =>
      tenantMailServer.received.slice(start).find((m) => m.raw.toString().includes('Signed, see attachment.')),
    );
    assert.deepEqual(mail.recipients, ['alice@acme.test']);
    const parsed = await simpleParser(mail.raw);
    const [source] = await ownerDb(gateway.database.db).select().from(portalMessages).where(eq(portalMessages.sourceMessageId, id));
    assert.equal(parsed.inReplyTo, source!.messageIdHeader);
    assert.equal(parsed.from?.value[0]?.address, 'replier@example.net');
    assert.equal(parsed.attachments[0]?.filename, 'signed.pdf');
    assert.equal(parsed.attachments[0]?.content.toString(), '%PDF signed');
    assert.match(mail.raw.toString(), /^X-Sealpost-acme-test: true\r$/m, 'the loop header is set');

    const thread = (await browser.request('GET', `/api/portal/threads/${opened.threadId}`)).json();
    assert.equal(thread.messages.length, 2);
    assert.equal(thread.messages[1].direction, 'from-recipient');

    // Alice answers from Outlook to the reply: it stays in the portal, in the same thread.
    const relayStart = relay.received.length;
    const outlookReply = await new MailComposer({
      from: 'alice@acme.test',
      to: 'replier@example.net',
      subject: 'Re: Please sign',
      inReplyTo: parsed.messageId,
      references: [parsed.messageId!],
      text: 'Thanks, received. Secret follow-up.',
    })
      .compile()
      .build();
    await send(gateway, 'alice@acme.test', ['replier@example.net'], outlookReply);
    const notice = (await relay.waitForMessages(relayStart + 1))[relayStart]!;
    assert.doesNotMatch(notice.raw.toString(), /Secret follow-up/);
    const threadAfter = await waitFor('the Outlook reply in the thread', async () => {
      const detail = (await browser.request('GET', `/api/portal/threads/${opened.threadId}`)).json();
      return detail.messages.length === 3 ? detail : undefined;
    });
    assert.equal(threadAfter.messages[2].direction, 'from-member');
  });

  test('a reply whose HTML loads remote CSS reaches the member without any remote address', async () => {
    const { token } = await sendPortalMessage('styler@example.net', 'Styled answer');
    const browser = new Browser(gateway.httpPort);
    const opened = (await browser.open(token)).json();
    const html =
      '<style>@import "https://tracker.example/a.css";' +
      'p{color:red;background-image:image-set("https://tracker.example/b.png" 1x)}' +
      '@font-face{font-family:T;src:url(//tracker.example/t.woff2)}</style>' +
      '<p style="background:url(&quot;http://tracker.example/c.gif&quot;)">Styled reply body</p>' +
      `<div style="background:url(${' '.repeat(4_000)}https://tracker.example/d.gif)">x</div>` +
      '<div style="background:u\\72l(https://tracker.example/e.gif)">y</div>' +
      `<span style='background:url("https://tracker.example/f.gif'>z</span>` +
      '<img src="https://tracker.example/g.gif">';
    const form = new FormData();
    form.append('text', 'Styled reply body');
    form.append('html', html);
    const body = new Response(form);
    const start = tenantMailServer.received.length;
    const started = performance.now();
    const replied = await browser.request('POST', `/api/portal/messages/${opened.messageId}/replies`, {
      body: Buffer.from(await body.arrayBuffer()),
      contentType: body.headers.get('content-type')!,
    });
    const elapsed = performance.now() - started;
    assert.equal(replied.status, 201, replied.body.toString());
    assert.ok(elapsed < 5_000, `the reply was stored in ${elapsed.toFixed(0)} ms`);
    const mail = await waitFor('the styled reply at the tenant mail server', async () =>
      tenantMailServer.received.slice(start).find((m) => m.raw.toString().includes('Styled reply body')),
    );
    const parsed = await simpleParser(mail.raw);
    assert.ok(parsed.html, 'the reply carries its HTML part');
    assert.match(parsed.html, /p\{color:red;background-image:image-set\(none 1x\)\}/, 'the harmless styles are kept');
    assert.match(parsed.html, /Styled reply body/);
    assert.doesNotMatch(parsed.html, /tracker\.example|https?:|\/\//i, parsed.html);
    assert.doesNotMatch(mail.raw.toString(), /tracker/i);
  });

  test('a message sent with no-reply cannot be answered', async () => {
    const { token } = await sendPortalMessage('quiet@example.net', 'No answers', { 'X-Sealpost-Options': 'no-reply' });
    const browser = new Browser(gateway.httpPort);
    const opened = (await browser.open(token)).json();
    const view = (await browser.request('GET', `/api/portal/messages/${opened.messageId}`)).json();
    assert.equal(view.canReply, false);
    const form = multipartReply('hi', { name: 'a.txt', content: Buffer.from('a'), type: 'text/plain' });
    const replied = await browser.request('POST', `/api/portal/messages/${opened.messageId}/replies`, { body: await form.body, contentType: form.contentType });
    assert.equal(replied.status, 403);
    assert.equal(replied.json().type, 'urn:sealpost:problem:replies-disabled');
  });

  test('the 31st message of a thread is refused: a reply gets thread-full, a new message starts a new thread', async () => {
    const { token } = await sendPortalMessage('busy@example.net', 'Long conversation');
    const browser = new Browser(gateway.httpPort);
    const opened = (await browser.open(token)).json();
    await ownerDb(gateway.database.db).update(portalThreads).set({ messageCount: 30 }).where(eq(portalThreads.id, opened.threadId));
    const form = multipartReply('one more', { name: 'a.txt', content: Buffer.from('a'), type: 'text/plain' });
    const replied = await browser.request('POST', `/api/portal/messages/${opened.messageId}/replies`, { body: await form.body, contentType: form.contentType });
    assert.equal(replied.status, 409);
    assert.equal(replied.json().type, 'urn:sealpost:problem:thread-full');
    assert.match(replied.json().detail, /at most 30 messages/);

    const next = await sendPortalMessage('busy@example.net', 'Long conversation');
    const nextOpened = (await new Browser(gateway.httpPort).open(next.token)).json();
    assert.notEqual(nextOpened.threadId, opened.threadId);
  });

  test('one recipient cannot read another recipient\'s message, another tenant\'s, or an admin route', async () => {
    const first = await sendPortalMessage('first@example.net', 'For first only');
    const second = await sendPortalMessage('second@example.net', 'For second only');
    const firstBrowser = new Browser(gateway.httpPort);
    const firstOpened = (await firstBrowser.open(first.token)).json();
    const secondBrowser = new Browser(gateway.httpPort);
    const secondOpened = (await secondBrowser.open(second.token)).json();

    assert.equal((await secondBrowser.request('GET', `/api/portal/messages/${firstOpened.messageId}`)).status, 404);
    assert.equal((await secondBrowser.request('GET', `/api/portal/threads/${firstOpened.threadId}`)).status, 404);
    assert.equal((await secondBrowser.request('GET', `/api/portal/messages/${firstOpened.messageId}/attachments/0`)).status, 404);
    const threads = (await secondBrowser.request('GET', '/api/portal/threads')).json().threads;
    assert.deepEqual(threads.map((t: { id: string }) => t.id), [secondOpened.threadId]);

    // Globex sends to the same external address: Acme's session does not see it, and the reverse.
    const globexStart = relay.received.length;
    const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress: '127.0.0.9' });
    await smtp.command('EHLO exchange.globex.test');
    const globexMail = await new MailComposer({ from: 'gina@globex.test', to: 'first@example.net', subject: 'Globex secret', text: 'globex only', headers: { 'X-Sealpost-Encrypt': 'portal' } }).compile().build();
    assert.equal((await smtp.sendMessage('gina@globex.test', ['first@example.net'], globexMail)).final?.code, 250);
    await smtp.quit();
    const globexToken = tokenOf((await relay.waitForMessages(globexStart + 1))[globexStart]!);
    const globexBrowser = new Browser(gateway.httpPort);
    const globexOpened = (await globexBrowser.open(globexToken)).json();
    assert.equal((await firstBrowser.request('GET', `/api/portal/messages/${globexOpened.messageId}`)).status, 404);
    assert.equal((await globexBrowser.request('GET', `/api/portal/messages/${firstOpened.messageId}`)).status, 404);

    const admin = await firstBrowser.request('GET', '/api/portal/admin/audit/verify');
    assert.equal(admin.status, 403);
    assert.equal(admin.json().type, 'urn:sealpost:problem:forbidden');
    assert.equal((await new Browser(gateway.httpPort).request('GET', '/api/portal/threads')).status, 401);

    const noCsrf = new Browser(gateway.httpPort);
    noCsrf.cookies = new Map(secondBrowser.cookies);
    assert.equal((await noCsrf.request('DELETE', `/api/portal/messages/${secondOpened.messageId}`)).status, 403, 'state changes need the CSRF header');
  });

  test('a member signs in by link, sees who read what was sent, revokes access and changes the expiry; the audit chain verifies', async () => {
    const sent = await sendPortalMessage('partner@example.net', 'Member view');
    const recipient = new Browser(gateway.httpPort);
    const recipientOpened = (await recipient.open(sent.token)).json();
    await recipient.request('GET', `/api/portal/messages/${recipientOpened.messageId}`);

    const start = tenantMailServer.received.length;
    const member = new Browser(gateway.httpPort);
    assert.equal((await member.request('POST', '/api/portal/sign-in', { json: { email: 'alice@acme.test' } })).status, 202);
    assert.equal((await member.request('POST', '/api/portal/sign-in', { json: { email: 'nobody@unknown.test' } })).status, 202);
    const signInMail = (await tenantMailServer.waitForMessages(start + 1))[start]!;
    assert.equal((await member.open(tokenOf(signInMail))).status, 200);
    const session = (await member.request('GET', '/api/portal/session')).json();
    assert.equal(session.role, 'owner');

    const list = (await member.request('GET', '/api/portal/sent')).json().messages;
    const entry = list.find((m: { id: string }) => m.id === sent.id);
    assert.ok(entry.recipients[0].firstReadAt, 'the member sees that it was read');

    const farFuture = new Date(Date.now() + 365 * 86_400_000).toISOString();
    const open = await member.request('PATCH', `/api/portal/sent/${sent.id}`, { json: { expiresAt: farFuture } });
    assert.equal(open.json().expiresAt, farFuture, 'without a tenant maximum any later date stands');
    const limit = await member.request('PATCH', '/api/portal/admin/settings', { json: { maxExpiryDays: 90 } });
    assert.equal(limit.status, 200, limit.body.toString('utf8'));
    const changed = await member.request('PATCH', `/api/portal/sent/${sent.id}`, { json: { expiresAt: farFuture } });
    assert.equal(changed.status, 200);
    assert.ok(new Date(changed.json().expiresAt).getTime() <= Date.now() + 91 * 86_400_000, 'capped by the tenant maximum');
    const unlimited = await member.request('PATCH', '/api/portal/admin/settings', { json: { maxExpiryDays: null } });
    assert.equal(unlimited.json().maxExpiryDays, undefined, 'null takes the maximum away again');

    assert.equal((await member.request('POST', `/api/portal/sent/${sent.id}/revoke`, { json: {} })).status, 204);
    const gone = await recipient.request('GET', `/api/portal/messages/${recipientOpened.messageId}`);
    assert.equal(gone.status, 410);

    const verify = await member.request('GET', '/api/portal/admin/audit/verify');
    assert.equal(verify.status, 200);
    assert.equal(verify.json().ok, true);
    assert.ok(verify.json().checked > 5);
    const actions = new Set((await member.request('GET', '/api/portal/admin/audit?limit=1000')).json().entries.map((e: { action: string }) => e.action));
    for (const action of ['sent', 'read', 'signed_in', 'link_issued', 'revoked', 'expiry_changed', 'attachment_downloaded', 'replied', 'integrity_failed']) {
      assert.ok(actions.has(action), `the audit log has ${action}`);
    }

    const contact = new Browser(gateway.httpPort);
    const contactStart = tenantMailServer.received.length;
    await contact.request('POST', '/api/portal/sign-in', { json: { email: 'carol@acme.test' } });
    await contact.open(tokenOf((await tenantMailServer.waitForMessages(contactStart + 1))[contactStart]!));
    assert.equal((await contact.request('GET', '/api/portal/admin/audit/verify')).status, 403, 'a contact is no admin');

    const script = await member.request('GET', '/api/portal/admin/setup/exchange-online.ps1?gatewayIps=203.0.113.25');
    assert.equal(script.status, 200, 'an owner signed in to the portal downloads the Exchange setup');
    assert.match(String(script.headers['content-disposition']), /attachment; filename="connect-sealpost.ps1"/);
    assert.match(script.body.toString('utf8'), /New-OutboundConnector[\s\S]*acme\.test/);
    const dns = await member.request('GET', '/api/portal/admin/setup/dns-records?gatewayIps=203.0.113.25');
    assert.ok(dns.json().records.some((r: { type: string; name: string }) => r.type === 'MX' && r.name.startsWith('acme.test')));
    assert.equal((await contact.request('GET', '/api/portal/admin/setup/dns-records')).status, 403, 'a contact gets no setup');
    assert.equal((await recipient.request('GET', '/api/portal/admin/setup/dns-records')).status, 403, 'a recipient gets no setup');
    assert.equal((await new Browser(gateway.httpPort).request('GET', '/api/portal/admin/setup/dns-records')).status, 401);
  });

  test('asking for new links is rate-limited per address', async () => {
    const browser = new Browser(gateway.httpPort, '127.0.0.3');
    const answers = [];
    for (let i = 0; i < 7; i += 1) answers.push((await browser.request('POST', '/api/portal/links/request', { json: { email: 'spam@example.net' } })).status);
    assert.deepEqual(answers.slice(0, 5), [202, 202, 202, 202, 202]);
    assert.equal(answers[6], 429);
  });

  test('auto resolves to the portal when no certificate or key is known', async () => {
    const tenantId = gateway.directory.allTenants().find((t) => t.name === 'Acme')!.id;
    const resolved = await resolveRecipientMethods({ directory: gateway.directory }, tenantId, ['x@example.net', 'bob@acme.test']);
    assert.deepEqual(resolved, [
      { recipient: 'x@example.net', method: 'portal', reasonCode: 'nothing-known', reason: 'no certificate or key known' },
      { recipient: 'bob@acme.test', method: 'relay', reasonCode: 'internal', reason: 'internal recipient: delivered to the tenant mail server' },
    ]);
    const { notification } = await sendPortalMessage('auto@example.net', 'Auto mode', { 'X-Sealpost-Encrypt': 'auto' });
    assert.deepEqual(notification.recipients, ['auto@example.net']);
  });

  test('a sender over quota is told so before the 250, with the reason', async () => {
    const tenantId = gateway.directory.allTenants().find((t) => t.name === 'Acme')!.id;
    await ownerDb(gateway.database.db).execute(
      sql`insert into portal_tenant_settings (tenant_id, settings) values (${tenantId}, ${JSON.stringify({ memberQuotaBytes: { 'alice@acme.test': 10 } })}::jsonb)
          on conflict (tenant_id) do update set settings = excluded.settings`,
    );
    // The check reads a sender's storage and settings at most once a second: a read from the tests before
    // (which had room) may serve for that second; past it, the lowered quota is what counts.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    try {
      const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress: '127.0.0.1' });
      await smtp.command('EHLO exchange.acme.test');
      const result = await smtp.sendMessage('alice@acme.test', ['full@example.net'], await contractMessage({ to: 'full@example.net', subject: 'Too much' }));
      await smtp.quit();
      assert.equal(result.final?.code, 552);
      assert.match(result.final!.text, /^5\.2\.2 .*portal storage is full/);
    } finally {
      await ownerDb(gateway.database.db).execute(sql`update portal_tenant_settings set settings = '{}'::jsonb where tenant_id = ${tenantId}`);
    }
  });
});
