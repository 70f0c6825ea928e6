/**
 * A message MailGuard rejects after the 250 sends its sender the policy's rejection notice only when sender
 * authentication verified the sender (here SPF, answered by a real DNS server on loopback); a sender that
 * fails DMARC gets nothing, as its address may be anyone's.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eq } from 'drizzle-orm';
import { messages } from '../src/db/schema.ts';
import type { Gateway } from '../src/gateway.ts';
import { readTrace } from '../src/messages/message-trace.ts';
import { createTestDatabase, ownerDb, type TestDatabase } from './support/database.ts';
import { startLocalDns, type LocalDns } from './support/local-dns.ts';
import { MailPeer } from './support/mail-peer.ts';
import { waitFor } from './support/portal-mail.ts';
import { SmtpConversation } from './support/smtp-conversation.ts';
import { acmeTenant, startTestGateway } from './support/test-gateway.ts';

const phish = (from: string) =>
  `From: <${from}>\r\nTo: board@acme.test\r\nReply-To: <pay@elsewhere.example>\r\nSubject: Board pack\r\nMessage-ID: <${Math.random().toString(36).slice(2)}@x.example>\r\n\r\nPlease pay.\r\n`;

describe('rejection notices', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let mailServer: MailPeer;
  let relay: MailPeer;
  let dns: LocalDns;

  const send = async (from: string) => {
    const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress: '127.0.0.5' });
    await smtp.command('EHLO mta.outside.example');
    const result = await smtp.sendMessage(from, ['board@acme.test'], phish(from));
    await smtp.quit();
    assert.equal(result.final?.code, 250, result.final?.text);
    const id = result.final!.text.split('queued as ')[1]!;
    await waitFor('the verdict', async () => {
      const [row] = await ownerDb(gateway.database.db).select({ state: messages.state }).from(messages).where(eq(messages.id, id));
      return row?.state === 'rejected' ? row.state : undefined;
    });
    return id;
  };

  before(async () => {
    database = await createTestDatabase();
    mailServer = await MailPeer.start();
    relay = await MailPeer.start();
    dns = await startLocalDns({
      'partner.example': { TXT: ['v=spf1 ip4:127.0.0.0/8 -all'] },
      '_dmarc.partner.example': { TXT: ['v=DMARC1; p=none'] },
      'forged.example': { TXT: ['v=spf1 ip4:192.0.2.0/24 -all'] },
      '_dmarc.forged.example': { TXT: ['v=DMARC1; p=reject'] },
    });
    gateway = await startTestGateway(
      database,
      [acmeTenant(mailServer.port, { guard: { scores: { REPLYTO_DOMAIN_DIFFERS: 20 }, onBlock: 'reject', rejection: { subject: 'Not accepted: {{subject}}' } } })],
      { SEALPOST_DNS_SERVERS: dns.server, SEALPOST_RELAY: `smtp://127.0.0.1:${relay.port}` },
    );
  });

  after(async () => {
    await gateway.stop();
    await mailServer.close();
    await relay.close();
    await dns.close();
    await database.cleanup();
  });

  test('a verified sender gets the policy\'s notice from the null sender', async () => {
    const id = await send('billing@partner.example');
    const notice = await waitFor('the notice at the relay', () => relay.received.find((m) => m.recipients.includes('billing@partner.example')));
    assert.equal(notice.mailFrom, '');
    const text = notice.raw.toString().replace(/=\r\n/g, '');
    assert.match(text, /Subject: Not accepted: Board pack/);
    assert.match(text, /board@acme\.test/);
    assert.match(text, /reply-to domain elsewhere\.example/);
    const rejected = (await readTrace(ownerDb(gateway.database.db), id)).find((t) => t.step === 'rejected');
    assert.equal(rejected?.detail.rejectionNotice, 'sent to billing@partner.example');
  });

  test('a sender that fails DMARC gets nothing', async () => {
    const id = await send('ceo@forged.example');
    const rejected = (await readTrace(ownerDb(gateway.database.db), id)).find((t) => t.step === 'rejected');
    assert.equal(rejected?.detail.rejectionNotice, 'none: the sender failed DMARC and may be forged');
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.ok(!relay.received.some((m) => m.recipients.includes('ceo@forged.example')));
  });
});
