/**
 * A sender who asked for protection never has the message sent in the clear because the request could not be
 * read: unknown, malformed, non-UTF-8 or contradictory X-Sealpost-Encrypt values fail closed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { asc, eq } from 'drizzle-orm';
import { messageTrace } from '../src/db/schema.ts';
import type { Gateway } from '../src/gateway.ts';
import { createTestDatabase, type TestDatabase, ownerDb } from './support/database.ts';
import { MailPeer } from './support/mail-peer.ts';
import { SmtpConversation } from './support/smtp-conversation.ts';
import { acmeTenant, startTestGateway } from './support/test-gateway.ts';

const SECRET = 'Settlement offer: 4.2 million, strictly confidential';

function draft(to: string, encryptHeaders: Buffer[]): Buffer {
  return Buffer.concat([
    Buffer.from(`From: Alice <alice@acme.test>\r\nTo: ${to}\r\nSubject: Offer\r\nMessage-ID: <${Math.random().toString(36).slice(2)}@acme.test>\r\n`),
    ...encryptHeaders.map((h) => Buffer.concat([Buffer.from('X-Sealpost-Encrypt: '), h, Buffer.from('\r\n')])),
    Buffer.from(`Content-Type: text/plain; charset=utf-8\r\n\r\n${SECRET}\r\n`),
  ]);
}

describe('an unreadable protection request fails closed', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let tenantMailServer: MailPeer;
  let relay: MailPeer;

  before(async () => {
    database = await createTestDatabase();
    tenantMailServer = await MailPeer.start();
    relay = await MailPeer.start();
    gateway = await startTestGateway(database, [acmeTenant(tenantMailServer.port)], { SEALPOST_RELAY: `smtp://127.0.0.1:${relay.port}` });
  });

  after(async () => {
    await gateway.stop();
    await tenantMailServer.close();
    await relay.close();
    await database.cleanup();
  });

  const cases: Array<[string, Buffer[]]> = [
    ['a byte that is not UTF-8 after the mode ("portal\\xff")', [Buffer.from([0x70, 0x6f, 0x72, 0x74, 0x61, 0x6c, 0xff])]],
    ['a look-alike of "none" written with a Cyrillic letter', [Buffer.from('non\u0435', 'utf8')]],
    ['two contradictory headers ("none" and "portal")', [Buffer.from('none'), Buffer.from('portal')]],
    ['an empty value', [Buffer.from('')]],
  ];

  for (const [what, headers] of cases) {
    test(`${what}: the recipient gets a portal notification, never the content, and the trace says why`, async () => {
      const to = `client-${Math.random().toString(36).slice(2, 8)}@example.net`;
      const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress: '127.0.0.1' });
      await smtp.command('EHLO exchange.acme.test');
      const result = await smtp.sendMessage('alice@acme.test', [to], draft(to, headers));
      await smtp.quit();
      assert.equal(result.final?.code, 250, result.final?.text);
      const id = result.final!.text.split('queued as ')[1]!;

      const mails = await relay.waitForMessages(relay.received.length + 1);
      const mail = mails.find((m) => m.recipients.includes(to));
      assert.ok(mail, 'the recipient got mail');
      assert.doesNotMatch(mail.raw.toString('utf8'), /Settlement offer/, 'the content did not leave in the clear');
      assert.match(mail.raw.toString('utf8'), /portal\/open\?token=/, 'a portal notification instead');

      const steps = await ownerDb(gateway.database.db).select().from(messageTrace).where(eq(messageTrace.messageId, id)).orderBy(asc(messageTrace.id));
      const request = steps.find((s) => s.step === 'request');
      assert.ok(request, 'a request step was traced');
      const detail = request.detail as { mode: string; failedClosed: boolean; notes: string[] };
      assert.equal(detail.mode, 'auto');
      assert.equal(detail.failedClosed, true);
      assert.match(detail.notes.join(' '), /fail closed/);
    });
  }
});
