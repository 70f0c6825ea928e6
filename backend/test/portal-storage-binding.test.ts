import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { and, eq, sql } from 'drizzle-orm';
import MailComposer from 'nodemailer/lib/mail-composer';
import { auditLog, messages, portalMessages, portalThreads } from '../src/db/schema.ts';
import type { Gateway } from '../src/gateway.ts';
import { accessBinding } from '../src/portal/portal-store.ts';
import { createTestDatabase, type TestDatabase, ownerDb } from './support/database.ts';
import { MailPeer } from './support/mail-peer.ts';
import { PortalBrowser } from './support/portal-browser.ts';
import { tokenOf } from './support/portal-mail.ts';
import { SmtpConversation } from './support/smtp-conversation.ts';
import { acmeTenant, startTestGateway } from './support/test-gateway.ts';

const SECRET_TEXT = 'Settlement offer: 1.2 million, strictly confidential.';
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

async function secretMessage(to: string, subject: string): Promise<Buffer> {
  return new MailComposer({
    from: 'Alice Lawyer <alice@acme.test>',
    to,
    subject,
    messageId: `<${Math.random().toString(36).slice(2)}@acme.test>`,
    text: SECRET_TEXT,
    headers: { 'X-Sealpost-Encrypt': 'portal' },
    attachments: [{ filename: 'offer.pdf', content: Buffer.from('%PDF-1.4 offer'), contentType: 'application/pdf' }],
  })
    .compile()
    .build();
}

describe('portal messages at rest', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let tenantMailServer: MailPeer;
  let relay: MailPeer;

  /** Sends a portal message through SMTP; answers its stored row and the recipient's link token. */
  async function sendPortalMessage(to: string, subject: string) {
    const start = relay.received.length;
    const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress: '127.0.0.1' });
    await smtp.command('EHLO exchange.acme.test');
    const result = await smtp.sendMessage('alice@acme.test', [to], await secretMessage(to, subject));
    await smtp.quit();
    assert.equal(result.final?.code, 250, `accepted: ${result.final?.text ?? result.mail.text}`);
    const messageId = result.final!.text.split('queued as ')[1]!;
    const mails = await relay.waitForMessages(start + 1);
    const notification = mails.slice(start).find((m) => m.recipients.includes(to))!;
    const [row] = await ownerDb(gateway.database.db).select().from(portalMessages).where(eq(portalMessages.sourceMessageId, messageId));
    assert.ok(row, 'the portal copy is stored');
    return { messageId, row, token: tokenOf(notification) };
  }

  /** The stored EML as the gateway's vault opens it (with the row's own access binding). */
  async function storedEml(row: typeof portalMessages.$inferSelect): Promise<Buffer> {
    const [thread] = await ownerDb(gateway.database.db).select().from(portalThreads).where(eq(portalThreads.id, row.threadId));
    return gateway.vault.open(row.tenantId, `${row.id}:eml`, { content: row.content, wrappedDataKey: row.wrappedDataKey }, undefined, accessBinding(row, thread!));
  }

  async function integrityFailures(portalMessageId: string) {
    return ownerDb(gateway.database.db)
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.subjectId, portalMessageId), eq(auditLog.action, 'integrity_failed')));
  }

  before(async () => {
    database = await createTestDatabase();
    tenantMailServer = await MailPeer.start();
    relay = await MailPeer.start();
    gateway = await startTestGateway(database, [acmeTenant(tenantMailServer.port, { members: [{ email: 'alice@acme.test', role: 'owner' }] })], {
      SEALPOST_RELAY: `smtp://127.0.0.1:${relay.port}`,
    });
  });

  after(async () => {
    await gateway.stop();
    await tenantMailServer.close();
    await relay.close();
    await database.cleanup();
  });

  test('content_sha256 is a keyed fingerprint, not the SHA-256 of the plaintext, and an untouched message still verifies', async () => {
    const { messageId, row, token } = await sendPortalMessage('fingerprint@example.net', 'Fingerprint');
    const eml = await storedEml(row);
    assert.match(eml.toString('utf8'), /Settlement offer/, 'the test reads the real stored plaintext');
    assert.match(row.contentSha256, /^hmac-sha256:[0-9a-f]{64}$/);
    assert.ok(!row.contentSha256.includes(sha256(eml)), 'a guessed plaintext cannot be confirmed from the database');

    const [spooled] = await ownerDb(gateway.database.db).select().from(messages).where(eq(messages.id, messageId));
    const raw = await gateway.vault.open(spooled!.tenantId, spooled!.id, { content: spooled!.content, wrappedDataKey: spooled!.wrappedDataKey });
    assert.match(spooled!.contentSha256, /^hmac-sha256:[0-9a-f]{64}$/);
    assert.ok(!spooled!.contentSha256.includes(sha256(raw)), 'the spooled message is fingerprinted with a key too');

    const browser = new PortalBrowser(gateway.httpPort);
    assert.equal((await browser.open(token)).status, 200);
    const view = await browser.request('GET', `/api/portal/messages/${row.id}`);
    assert.equal(view.status, 200);
    assert.equal(view.json().integrity, 'verified');
    assert.match(view.json().text, /Settlement offer/);
  });

  test("a row moved to another reader with SQL (to_address and thread) fails its integrity check and shows that reader nothing", async () => {
    const victim = await sendPortalMessage('victim@example.net', 'Settlement for the victim');
    const attacker = await sendPortalMessage('attacker@example.net', 'Hello attacker');
    const browser = new PortalBrowser(gateway.httpPort);
    assert.equal((await browser.open(attacker.token)).status, 200);
    assert.equal((await browser.request('GET', `/api/portal/messages/${victim.row.id}`)).status, 404, 'before the move the attacker cannot see it');

    await ownerDb(gateway.database.db).execute(
      sql`update portal_messages set to_address = 'attacker@example.net', thread_id = ${attacker.row.threadId} where id = ${victim.row.id}`,
    );

    const view = await browser.request('GET', `/api/portal/messages/${victim.row.id}`);
    assert.equal(view.status, 200, 'the moved row passes the access check, so only the seal can stop it');
    assert.equal(view.json().integrity, 'failed');
    assert.equal(view.json().text, '');
    assert.equal(view.json().subject, '', 'the sealed subject does not open either');
    assert.doesNotMatch(view.body.toString('utf8'), /Settlement/);
    assert.deepEqual(view.json().attachments, []);

    const download = await browser.request('GET', `/api/portal/messages/${victim.row.id}/attachments/0`);
    assert.equal(download.status, 409);
    assert.equal(download.json().type, 'urn:sealpost:problem:integrity-failed');
    assert.doesNotMatch(download.body.toString('utf8'), /PDF/);

    const thread = await browser.request('GET', `/api/portal/threads/${attacker.row.threadId}`);
    assert.equal(thread.status, 200);
    const moved = thread.json().messages.find((m: { id: string }) => m.id === victim.row.id);
    assert.deepEqual([moved.subject, moved.preview], ['', ''], 'the listing does not show the moved subject or preview');
    assert.doesNotMatch(thread.body.toString('utf8'), /Settlement for the victim/);

    assert.equal((await integrityFailures(victim.row.id)).length, 2, 'the view and the download were each audited');
  });

  test("a thread whose external address was changed with SQL shows the new reader nothing of it", async () => {
    const victim = await sendPortalMessage('victim2@example.net', 'Settlement two');
    const intruder = await sendPortalMessage('intruder@example.net', 'Hello intruder');
    const browser = new PortalBrowser(gateway.httpPort);
    assert.equal((await browser.open(intruder.token)).status, 200);

    await ownerDb(gateway.database.db).execute(sql`update portal_threads set external_address = 'intruder@example.net' where id = ${victim.row.threadId}`);
    const view = await browser.request('GET', `/api/portal/messages/${victim.row.id}`);
    assert.equal(view.status, 200);
    assert.equal(view.json().integrity, 'failed');
    assert.doesNotMatch(view.body.toString('utf8'), /Settlement/);
    assert.equal((await integrityFailures(victim.row.id)).length, 1);
  });

  test('the version marker cannot be used to downgrade a row: a plain SHA-256 in content_sha256 fails the integrity check', async () => {
    const { row, token } = await sendPortalMessage('downgrade@example.net', 'Downgrade');
    const eml = await storedEml(row);
    await ownerDb(gateway.database.db).update(portalMessages).set({ contentSha256: sha256(eml) }).where(eq(portalMessages.id, row.id));
    const browser = new PortalBrowser(gateway.httpPort);
    await browser.open(token);
    const view = await browser.request('GET', `/api/portal/messages/${row.id}`);
    assert.equal(view.json().integrity, 'failed', 'the seal was made with the access binding, so the old way does not open it');
    assert.equal(view.json().text, '');
  });

  test('a row stored before the access binding (plain SHA-256, ids-only seal) still opens with integrity verified', async () => {
    const { row, token } = await sendPortalMessage('legacy@example.net', 'Legacy');
    const eml = await storedEml(row);
    const meta = await gateway.vault.open(
      row.tenantId,
      `${row.id}:meta`,
      { content: row.meta, wrappedDataKey: row.metaWrappedDataKey },
      undefined,
      accessBinding(row, (await ownerDb(gateway.database.db).select().from(portalThreads).where(eq(portalThreads.id, row.threadId)))[0]!),
    );
    // What the store wrote before: seals with only the tenant and object ids, and a plain SHA-256.
    const oldEml = await gateway.vault.seal(row.tenantId, `${row.id}:eml`, eml);
    const oldMeta = await gateway.vault.seal(row.tenantId, `${row.id}:meta`, meta);
    await ownerDb(gateway.database.db)
      .update(portalMessages)
      .set({ content: oldEml.content, wrappedDataKey: oldEml.wrappedDataKey, meta: oldMeta.content, metaWrappedDataKey: oldMeta.wrappedDataKey, contentSha256: sha256(eml) })
      .where(eq(portalMessages.id, row.id));
    const browser = new PortalBrowser(gateway.httpPort);
    await browser.open(token);
    const view = await browser.request('GET', `/api/portal/messages/${row.id}`);
    assert.equal(view.json().integrity, 'verified');
    assert.equal(view.json().subject, 'Legacy');
    assert.match(view.json().text, /Settlement offer/);
  });
});
