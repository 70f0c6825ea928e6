/**
 * A full portal storage told to the sender before the 250, on a real gateway over real SMTP from the
 * tenant's connector: a message that will be stored in the portal and certainly does not fit is refused
 * at the end of DATA with 552 5.2.2 and the reason; mail that does not go through the portal, or fits, is
 * accepted; and when the storage runs out only once the copy is written, the sender still gets the message
 * back, as a bounce in the tenant's language.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { and, eq, sql } from 'drizzle-orm';
import { simpleParser } from 'mailparser';
import MailComposer from 'nodemailer/lib/mail-composer';
import { messages, portalMessages } from '../src/db/schema.ts';
import type { Gateway } from '../src/gateway.ts';
import { prepareOutgoingMessage } from '../src/mail/outgoing-message.ts';
import { updatePortalSettings } from '../src/portal/portal-settings.ts';
import { createTestDatabase, ownerDb, type TestDatabase } from './support/database.ts';
import { MailPeer } from './support/mail-peer.ts';
import { waitFor } from './support/portal-mail.ts';
import { SmtpConversation } from './support/smtp-conversation.ts';
import { acmeTenant, startTestGateway } from './support/test-gateway.ts';

describe('a full portal storage at SMTP time', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let tenantMailServer: MailPeer;
  let relay: MailPeer;
  let acme: string;

  before(async () => {
    database = await createTestDatabase();
    tenantMailServer = await MailPeer.start();
    relay = await MailPeer.start();
    gateway = await startTestGateway(database, [acmeTenant(tenantMailServer.port)], { SEALPOST_RELAY: `smtp://127.0.0.1:${relay.port}` });
    acme = gateway.directory.tenantForDomain('acme.test')!.id;
  });

  after(async () => {
    await gateway.stop();
    await tenantMailServer.close();
    await relay.close();
    await database.cleanup();
  });

  beforeEach(async () => {
    await updatePortalSettings(gateway.database.db, acme, { memberQuotaBytes: {}, tenantQuotaBytes: null, language: null });
  });

  const db = () => ownerDb(gateway.database.db);

  async function message(options: { to: string[]; subject: string; encrypt?: string }): Promise<Buffer> {
    return new MailComposer({
      from: 'Alice Lawyer <alice@acme.test>',
      to: options.to,
      subject: options.subject,
      messageId: `<${Math.random().toString(36).slice(2)}@acme.test>`,
      text: 'The contract, clause 7 included.',
      headers: options.encrypt ? { 'X-Sealpost-Encrypt': options.encrypt } : {},
    })
      .compile()
      .build();
  }

  async function send(to: string[], raw: Buffer) {
    const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress: '127.0.0.1' });
    await smtp.command('EHLO exchange.acme.test');
    const result = await smtp.sendMessage('alice@acme.test', to, raw);
    await smtp.quit();
    return result;
  }

  const storedMessages = async () => Number((await db().select({ n: sql<number>`count(*)` }).from(messages))[0]!.n);
  const aliceUses = async () =>
    Number((await db().select({ n: sql<number>`coalesce(sum(size_bytes), 0)` }).from(portalMessages).where(eq(portalMessages.fromAddress, 'alice@acme.test')))[0]!.n);

  test("a portal message from a sender whose storage is full is refused after DATA with 552 5.2.2 and the reason; nothing is kept", async () => {
    await updatePortalSettings(gateway.database.db, acme, { memberQuotaBytes: { 'alice@acme.test': 100 } });
    const before = await storedMessages();
    const result = await send(['client@example.net', 'bob@acme.test'], await message({ to: ['client@example.net', 'bob@acme.test'], subject: 'Contract', encrypt: 'portal' }));
    assert.equal(result.rcpt.every((r) => r.code === 250), true, 'the recipients themselves are fine');
    assert.equal(result.final?.code, 552);
    assert.match(result.final!.text, /^5\.2\.2 Message refused: the sender's portal storage is full \(quota [^)]+\); delete or let expire/);
    assert.equal(await storedMessages(), before, 'the gateway keeps nothing: the sender has the message back');
  });

  test("'auto' that resolves to the portal is refused the same, and so is a message over the organisation's quota", async () => {
    await updatePortalSettings(gateway.database.db, acme, { memberQuotaBytes: { 'alice@acme.test': 100 } });
    const auto = await send(['client@example.net'], await message({ to: ['client@example.net'], subject: 'Auto', encrypt: 'auto' }));
    assert.equal(auto.final?.code, 552, auto.final?.text);

    await updatePortalSettings(gateway.database.db, acme, { memberQuotaBytes: {}, tenantQuotaBytes: 100 });
    const tenantFull = await send(['client@example.net'], await message({ to: ['client@example.net'], subject: 'Tenant full', encrypt: 'portal' }));
    assert.equal(tenantFull.final?.code, 552);
    assert.match(tenantFull.final!.text, /^5\.2\.2 Message refused: the organisation's portal storage is full/);
  });

  test('the same sender still sends mail that does not go through the portal, and a portal message that fits', async () => {
    await updatePortalSettings(gateway.database.db, acme, { memberQuotaBytes: { 'alice@acme.test': 100 } });
    const plain = await send(['client@example.net'], await message({ to: ['client@example.net'], subject: 'Lunch' }));
    assert.equal(plain.final?.code, 250, 'unprotected mail to outsiders needs no portal storage');
    const internal = await send(['bob@acme.test'], await message({ to: ['bob@acme.test'], subject: 'Internal', encrypt: 'portal' }));
    assert.equal(internal.final?.code, 250, 'a colleague gets no portal copy');

    await updatePortalSettings(gateway.database.db, acme, { memberQuotaBytes: {} });
    const fits = await send(['client@example.net'], await message({ to: ['client@example.net'], subject: 'Fits', encrypt: 'portal' }));
    assert.equal(fits.final?.code, 250);
    const id = fits.final!.text.split('queued as ')[1]!;
    await waitFor('the portal copy', async () => (await db().select().from(portalMessages).where(eq(portalMessages.sourceMessageId, id)))[0]);
  });

  test('a refusal is decided on a fresh read: storage freed a moment ago is seen at once', async () => {
    await updatePortalSettings(gateway.database.db, acme, { memberQuotaBytes: { 'alice@acme.test': 100 } });
    // A read from before the change serves for up to a second (a message it lets through is checked again
    // when stored, as the next test shows): past it, the lowered quota is read.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const full = await send(['client@example.net'], await message({ to: ['client@example.net'], subject: 'Full', encrypt: 'portal' }));
    assert.equal(full.final?.code, 552, full.final?.text);
    // Well within the second for which the read above serves this sender's next messages.
    await updatePortalSettings(gateway.database.db, acme, { memberQuotaBytes: {} });
    const fits = await send(['client@example.net'], await message({ to: ['client@example.net'], subject: 'Room again', encrypt: 'portal' }));
    assert.equal(fits.final?.code, 250, fits.final?.text);
    const id = fits.final!.text.split('queued as ')[1]!;
    await waitFor('the portal copy', async () => (await db().select().from(portalMessages).where(eq(portalMessages.sourceMessageId, id)))[0]);
  });

  test('storage that runs out only once the copy is written still returns the message, in the German the tenant chose', async () => {
    const raw = await message({ to: ['client@example.net'], subject: 'Knapp', encrypt: 'portal' });
    // Room for the message as it came, not for the copy with the gateway's Received line on top: the
    // check before the 250 lets it pass, the copy does not fit.
    const prepared = prepareOutgoingMessage(raw, 'external', [], ['[secure]', '[encrypt]']);
    assert.equal(prepared.outcome, 'ready');
    const room = (await aliceUses()) + (prepared.outcome === 'ready' ? prepared.raw.length : 0) + 20;
    await updatePortalSettings(gateway.database.db, acme, { memberQuotaBytes: { 'alice@acme.test': room }, language: 'de' });
    const start = tenantMailServer.received.length;
    const result = await send(['client@example.net'], raw);
    assert.equal(result.final?.code, 250, result.final?.text);
    const bounce = await waitFor('the bounce', async () =>
      tenantMailServer.received.slice(start).find((m) => m.recipients.includes('alice@acme.test') && m.raw.toString().includes('multipart/report')),
    );
    const parsed = await simpleParser(bounce.raw);
    assert.equal(parsed.subject, 'Unzustellbar: Knapp');
    assert.match(parsed.text ?? '', /konnte an einen oder mehrere Empfänger nicht zugestellt werden/);
    assert.match(bounce.raw.toString(), /Content-Language: de/);
    assert.match(bounce.raw.toString(), /Status: 5\.2\.2/, 'the machine-readable part stays as it is');
    assert.match(parsed.text ?? '', /portal storage is full/);
    const stored = await db().select().from(portalMessages).where(and(eq(portalMessages.toAddress, 'client@example.net'), eq(portalMessages.fromAddress, 'alice@acme.test')));
    assert.ok(!stored.some((m) => m.sourceMessageId === result.final!.text.split('queued as ')[1]), 'no copy was stored');
  });

  test('without a language of its own the tenant bounces in English to senders of an English domain', async () => {
    await updatePortalSettings(gateway.database.db, acme, { memberQuotaBytes: {} });
    relay.answer = (recipient) => (recipient === 'gone@example.net' ? { code: 550, message: '5.1.1 no such user' } : undefined);
    try {
      const start = tenantMailServer.received.length;
      const result = await send(['gone@example.net'], await message({ to: ['gone@example.net'], subject: 'Hello' }));
      assert.equal(result.final?.code, 250);
      const bounce = await waitFor('the bounce', async () =>
        tenantMailServer.received.slice(start).find((m) => m.recipients.includes('alice@acme.test') && m.raw.toString().includes('multipart/report')),
      );
      const parsed = await simpleParser(bounce.raw);
      assert.equal(parsed.subject, 'Undelivered Mail Returned to Sender: Hello');
      assert.match(bounce.raw.toString(), /Content-Language: en/);
    } finally {
      relay.answer = () => undefined;
    }
  });
});
