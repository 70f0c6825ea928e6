/**
 * The attachment filter on a real gateway: a macro document is delivered without its macros (the tenant's
 * mail server receives the cleaned document and the notice; the trace says what was changed), and a program
 * hidden in an archive keeps the whole message in quarantine.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eq } from 'drizzle-orm';
import { simpleParser } from 'mailparser';
import { messages } from '../src/db/schema.ts';
import type { Gateway } from '../src/gateway.ts';
import { readTrace } from '../src/messages/message-trace.ts';
import { macroDocx, messageWith, pdfWith, windowsProgram, zipOf } from './support/attachment-files.ts';
import { createTestDatabase, ownerDb, type TestDatabase } from './support/database.ts';
import { MailPeer } from './support/mail-peer.ts';
import { waitFor } from './support/portal-mail.ts';
import { SmtpConversation } from './support/smtp-conversation.ts';
import { acmeTenant, startTestGateway } from './support/test-gateway.ts';

/** From the Internet: any loopback address but Acme's connector (127.0.0.1). */
const INTERNET = '127.0.0.5';

describe('MailGuard attachments on a real gateway', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let mailServer: MailPeer;
  const db = () => ownerDb(gateway.database.db);
  const stateOf = async (id: string) => (await db().select({ state: messages.state }).from(messages).where(eq(messages.id, id)))[0]?.state;

  async function send(data: string): Promise<string> {
    const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress: INTERNET });
    await smtp.command('EHLO mta.supplier.example');
    const result = await smtp.sendMessage('billing@supplier.example', ['alice@acme.test'], data);
    await smtp.quit();
    assert.equal(result.final?.code, 250, `accepted: ${result.final?.text ?? result.mail.text}`);
    return result.final!.text.split('queued as ')[1]!;
  }

  before(async () => {
    database = await createTestDatabase();
    mailServer = await MailPeer.start();
    gateway = await startTestGateway(database, [acmeTenant(mailServer.port)]);
  });

  after(async () => {
    await gateway.stop();
    await mailServer.close();
    await database.cleanup();
  });

  test('a macro document is delivered without its macros, the message says so, and the trace records it', async () => {
    const start = mailServer.received.length;
    const pdf = pdfWith();
    const id = await send(messageWith([
      { name: 'offer.pdf', content: pdf, type: 'application/pdf' },
      { name: 'order.docm', content: await macroDocx() },
    ], 'Order 4711'));
    const [mail] = (await mailServer.waitForMessages(start + 1)).slice(start);
    const parsed = await simpleParser(mail!.raw);
    assert.deepEqual(parsed.attachments.map((a) => a.filename), ['offer.pdf', 'order.docx']);
    assert.ok(parsed.attachments[0]!.content.equals(pdf));
    assert.match(parsed.text ?? '', /Sealpost changed the attachments of this message before delivering it:\n- order\.docm: its VBA macros were removed \(it is now order\.docx\)/);
    assert.equal(parsed.subject, 'Order 4711');
    const scored = (await readTrace(db(), id)).find((t) => t.step === 'scored');
    assert.equal(scored?.detail.action, 'deliver');
    assert.deepEqual(scored?.detail.disarmed, ['ATTACH_SANITISED: order.docm: its VBA macros were removed']);
    assert.ok((scored?.detail.symbols as string[]).some((s) => /^ATTACH_OFFICE_MACRO \(\+0\): .*it is cleaned$/.test(s)), JSON.stringify(scored?.detail.symbols));
  });

  test('a program inside an archive keeps the message in quarantine, and nothing of it is delivered', async () => {
    const start = mailServer.received.length;
    const archive = await zipOf([['docs/scan.exe', windowsProgram()]]);
    const id = await send(messageWith([{ name: 'scan.zip', content: archive }], 'Scan'));
    await waitFor('the quarantine', async () => ((await stateOf(id)) === 'quarantined' ? true : undefined));
    const scored = (await readTrace(db(), id)).find((t) => t.step === 'scored');
    assert.equal(scored?.detail.action, 'quarantine');
    assert.ok((scored?.detail.symbols as string[]).some((s) => /^ATTACH_EXECUTABLE \(\+10\): scan\.zip › docs\/scan\.exe is a Windows program$/.test(s)), JSON.stringify(scored?.detail.symbols));
    // The recipient is told of the quarantine; the message itself does not arrive.
    const notice = await waitFor('the quarantine notice', async () => mailServer.received.slice(start).find((m) => /quarantine/i.test(m.raw.toString())));
    assert.doesNotMatch(notice.raw.toString(), /TVqQ|TVoA/, 'no program bytes in the notice');
    assert.equal(mailServer.received.slice(start).length, 1);
  });
});
