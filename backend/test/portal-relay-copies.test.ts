/**
 * Relay mode on a real gateway: a portal message that also goes to a colleague is delivered to the
 * colleague as mail and kept for them in the portal conversation's thread, so the colleague, signed in,
 * reads the whole conversation (the message and the external recipient's reply). The external recipient
 * and the sender never see the colleague's copy; the colleague replies, marks read and deletes only what
 * is theirs.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { and, eq } from 'drizzle-orm';
import MailComposer from 'nodemailer/lib/mail-composer';
import { portalMessages } from '../src/db/schema.ts';
import type { Gateway } from '../src/gateway.ts';
import { readTrace } from '../src/messages/message-trace.ts';
import { createTestDatabase, ownerDb, type TestDatabase } from './support/database.ts';
import { MailPeer } from './support/mail-peer.ts';
import { PortalBrowser as Browser } from './support/portal-browser.ts';
import { tokenOf, waitFor } from './support/portal-mail.ts';
import { SmtpConversation } from './support/smtp-conversation.ts';
import { acmeTenant, startTestGateway } from './support/test-gateway.ts';

const CLIENT = 'client@example.net';
const COLLEAGUE = 'carol@acme.test';

describe('relay mode: colleagues keep a portal copy of the conversation', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let tenantMailServer: MailPeer;
  let relay: MailPeer;

  before(async () => {
    database = await createTestDatabase();
    tenantMailServer = await MailPeer.start();
    relay = await MailPeer.start();
    gateway = await startTestGateway(
      database,
      [acmeTenant(tenantMailServer.port, { members: [{ email: 'alice@acme.test', role: 'owner' }, { email: COLLEAGUE, role: 'contact' }] })],
      { SEALPOST_RELAY: `smtp://127.0.0.1:${relay.port}` },
    );
  });

  after(async () => {
    await gateway.stop();
    await tenantMailServer.close();
    await relay.close();
    await database.cleanup();
  });

  const db = () => ownerDb(gateway.database.db);

  async function sendToClientAndColleague(subject: string): Promise<string> {
    const raw = await new MailComposer({
      from: 'Alice Lawyer <alice@acme.test>',
      to: CLIENT,
      cc: COLLEAGUE,
      subject,
      messageId: `<${Math.random().toString(36).slice(2)}@acme.test>`,
      text: 'Clause 7 stays confidential.',
      headers: { 'X-Sealpost-Encrypt': 'portal' },
    })
      .compile()
      .build();
    const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress: '127.0.0.1' });
    await smtp.command('EHLO exchange.acme.test');
    const result = await smtp.sendMessage('alice@acme.test', [CLIENT, COLLEAGUE], raw);
    await smtp.quit();
    assert.equal(result.final?.code, 250, result.final?.text);
    return result.final!.text.split('queued as ')[1]!;
  }

  async function signIn(address: string): Promise<Browser> {
    const browser = new Browser(gateway.httpPort);
    const start = tenantMailServer.received.length;
    assert.equal((await browser.request('POST', '/api/portal/sign-in', { json: { email: address } })).status, 202);
    const mail = await waitFor('the sign-in link', async () => tenantMailServer.received.slice(start).find((m) => m.recipients.includes(address) && /sign-in/.test(m.raw.toString())));
    assert.equal((await browser.open(tokenOf(mail))).status, 200);
    return browser;
  }

  test('the colleague gets the mail and a copy in the thread, and signed in reads the whole conversation; nobody else sees the copy', async () => {
    const relayStart = relay.received.length;
    const id = await sendToClientAndColleague('Settlement draft');
    const delivered = await waitFor('the mail to the colleague', async () =>
      tenantMailServer.received.find((m) => m.recipients.includes(COLLEAGUE) && m.raw.toString().includes('Clause 7 stays confidential')),
    );
    assert.ok(delivered, 'the colleague still gets the whole message as mail');
    const notification = (await relay.waitForMessages(relayStart + 1)).slice(relayStart).find((m) => m.recipients.includes(CLIENT))!;

    const rows = await waitFor('both portal copies', async () => {
      const found = await db().select().from(portalMessages).where(eq(portalMessages.sourceMessageId, id));
      return found.length === 2 ? found : undefined;
    });
    const external = rows.find((r) => r.toAddress === CLIENT)!;
    const internal = rows.find((r) => r.toAddress === COLLEAGUE)!;
    assert.equal(external.deliveryMode, 'portal_secure');
    assert.equal(internal.deliveryMode, 'relay');
    assert.equal(internal.direction, 'from-member');
    assert.equal(internal.threadId, external.threadId, "the colleague's copy is in the conversation's thread");
    assert.ok(!internal.content.includes(Buffer.from('Clause 7')), 'sealed like every copy');
    await waitFor("the colleague's copy in the trace", async () =>
      (await readTrace(db(), id)).some((t) => t.step === 'portal_copy' && t.detail.recipient === COLLEAGUE && t.detail.outcome === 'stored') || undefined,
    );

    // The client reads and answers in the portal; the copy for the colleague is not theirs to see.
    const client = new Browser(gateway.httpPort);
    const opened = (await client.open(tokenOf(notification))).json();
    const clientThread = (await client.request('GET', `/api/portal/threads/${external.threadId}`)).json();
    assert.deepEqual(clientThread.messages.map((m: { id: string }) => m.id), [external.id]);
    assert.equal((await client.request('GET', `/api/portal/messages/${internal.id}`)).status, 404);
    const form = new FormData();
    form.append('text', 'Agreed, with one change.');
    const body = new Response(form);
    const replied = await client.request('POST', `/api/portal/messages/${opened.messageId}/replies`, {
      body: Buffer.from(await body.arrayBuffer()),
      contentType: body.headers.get('content-type')!,
    });
    assert.equal(replied.status, 201, replied.body.toString());
    const replyId = replied.json().messageId as string;

    // The colleague signs in and follows the conversation: the message once (as their copy) and the reply.
    const colleague = await signIn(COLLEAGUE);
    const threads = (await colleague.request('GET', '/api/portal/threads')).json().threads;
    assert.deepEqual(threads.map((t: { id: string }) => t.id), [external.threadId]);
    assert.equal(threads[0].counterpart, CLIENT);
    const detail = (await colleague.request('GET', `/api/portal/threads/${external.threadId}`)).json();
    assert.deepEqual(detail.messages.map((m: { id: string }) => m.id), [internal.id, replyId], 'the whole conversation, the message once');
    assert.equal(detail.canReply, false, 'only the external recipient replies in the portal');
    const view = await colleague.request('GET', `/api/portal/messages/${internal.id}`);
    assert.equal(view.status, 200);
    assert.match(view.json().text, /Clause 7 stays confidential/);
    assert.equal((await colleague.request('GET', `/api/portal/messages/${replyId}`)).json().text.trim(), 'Agreed, with one change.');
    const [replyRow] = await db().select().from(portalMessages).where(eq(portalMessages.id, replyId));
    assert.equal(replyRow!.firstReadAt, null, "the colleague reading the reply does not mark it read for the sender");
    assert.equal((await colleague.request('DELETE', `/api/portal/messages/${replyId}`)).status, 403, 'nor deletes it');

    // The sender sees the conversation as before: the message once, the reply.
    const alice = await signIn('alice@acme.test');
    const aliceThread = (await alice.request('GET', `/api/portal/threads/${external.threadId}`)).json();
    assert.deepEqual(aliceThread.messages.map((m: { id: string }) => m.id), [external.id, replyId]);

    // Deleting their copy ends the colleague's view of the conversation; the copy is gone.
    assert.equal((await colleague.request('DELETE', `/api/portal/messages/${internal.id}`)).status, 204);
    assert.deepEqual((await colleague.request('GET', '/api/portal/threads')).json().threads, []);
    assert.equal((await db().select().from(portalMessages).where(eq(portalMessages.id, internal.id))).length, 0);
    assert.equal((await colleague.request('GET', `/api/portal/messages/${replyId}`)).status, 404);
  });

  test("a colleague's reply from Outlook joins the conversation, and everyone sees each message once", async () => {
    const messageId = `<${Math.random().toString(36).slice(2)}@acme.test>`;
    const first = await new MailComposer({
      from: 'alice@acme.test',
      to: CLIENT,
      cc: COLLEAGUE,
      subject: 'Reply-all matter',
      messageId,
      text: 'Please review.',
      headers: { 'X-Sealpost-Encrypt': 'portal' },
    })
      .compile()
      .build();
    const sendAs = async (from: string, to: string[], raw: Buffer) => {
      const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress: '127.0.0.1' });
      await smtp.command('EHLO exchange.acme.test');
      const result = await smtp.sendMessage(from, to, raw);
      await smtp.quit();
      assert.equal(result.final?.code, 250, result.final?.text);
      return result.final!.text.split('queued as ')[1]!;
    };
    const firstId = await sendAs('alice@acme.test', [CLIENT, COLLEAGUE], first);
    const [external] = await waitFor('the first copies', async () => {
      const found = await db().select().from(portalMessages).where(eq(portalMessages.sourceMessageId, firstId));
      return found.length === 2 ? found.filter((r) => r.toAddress === CLIENT) : undefined;
    });
    // The colleague answers everyone from Outlook: a reply to a portal message stays in the portal.
    const reply = await new MailComposer({
      from: COLLEAGUE,
      to: CLIENT,
      cc: 'alice@acme.test',
      subject: 'Re: Reply-all matter',
      inReplyTo: messageId,
      references: [messageId],
      text: 'Looks fine to me.',
    })
      .compile()
      .build();
    const replyId = await sendAs(COLLEAGUE, [CLIENT, 'alice@acme.test'], reply);
    const copies = await waitFor('the reply copies', async () => {
      const found = await db().select().from(portalMessages).where(eq(portalMessages.sourceMessageId, replyId));
      return found.length === 2 ? found : undefined;
    });
    const toClient = copies.find((r) => r.toAddress === CLIENT)!;
    const toAlice = copies.find((r) => r.toAddress === 'alice@acme.test')!;
    assert.equal(toClient.threadId, external!.threadId, 'the reply joined the conversation by In-Reply-To');
    assert.equal(toAlice.deliveryMode, 'relay');

    const alice = await signIn('alice@acme.test');
    const aliceView = (await alice.request('GET', `/api/portal/threads/${external!.threadId}`)).json();
    assert.deepEqual(aliceView.messages.map((m: { id: string }) => m.id), [external!.id, toAlice.id], 'her message, and the reply once (her own copy)');
    const colleague = await signIn(COLLEAGUE);
    const colleagueView = (await colleague.request('GET', `/api/portal/threads/${external!.threadId}`)).json();
    const colleagueCopy = (await db().select().from(portalMessages).where(and(eq(portalMessages.sourceMessageId, firstId), eq(portalMessages.toAddress, COLLEAGUE))))[0]!;
    assert.deepEqual(colleagueView.messages.map((m: { id: string }) => m.id), [colleagueCopy.id, toClient.id], 'the message once (their copy), and their own reply');
  });

  test('to two outsiders, the colleague keeps a copy in each conversation and follows both; revisiting stores nothing twice', async () => {
    const second = 'partner@example.org';
    const raw = await new MailComposer({
      from: 'Alice Lawyer <alice@acme.test>',
      to: [CLIENT, second],
      cc: COLLEAGUE,
      subject: 'Joint venture terms',
      text: 'Both of you, please review.',
      headers: { 'X-Sealpost-Encrypt': 'portal' },
    })
      .compile()
      .build();
    const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress: '127.0.0.1' });
    await smtp.command('EHLO exchange.acme.test');
    const result = await smtp.sendMessage('alice@acme.test', [CLIENT, second, COLLEAGUE], raw);
    await smtp.quit();
    assert.equal(result.final?.code, 250, result.final?.text);
    const id = result.final!.text.split('queued as ')[1]!;
    const rows = await waitFor('two outsiders and two colleague copies', async () => {
      const found = await db().select().from(portalMessages).where(eq(portalMessages.sourceMessageId, id));
      return found.length === 4 ? found : undefined;
    });
    const outsiders = rows.filter((r) => r.deliveryMode === 'portal_secure');
    const internal = rows.filter((r) => r.toAddress === COLLEAGUE);
    assert.deepEqual(outsiders.map((r) => r.toAddress).sort(), [CLIENT, second].sort());
    assert.notEqual(outsiders[0]!.threadId, outsiders[1]!.threadId, 'each outsider has a conversation of their own');
    assert.deepEqual(internal.map((r) => r.threadId).sort(), outsiders.map((r) => r.threadId).sort(), "a colleague's copy in each of them");
    // The copies are stored as the message is processed; its trace is written when the processing step ends.
    const stored = await waitFor("the colleague's two copies in the trace", async () => {
      const found = (await readTrace(db(), id)).filter((t) => t.step === 'portal_copy' && t.detail.recipient === COLLEAGUE && t.detail.outcome === 'stored');
      return found.length >= 2 ? found : undefined;
    });
    assert.equal(stored.length, 2);

    const colleague = await signIn(COLLEAGUE);
    const threads = (await colleague.request('GET', '/api/portal/threads')).json().threads as Array<{ id: string; counterpart: string }>;
    for (const outsider of outsiders) {
      const thread = threads.find((t) => t.id === outsider.threadId);
      assert.equal(thread?.counterpart, outsider.toAddress, `the colleague follows the conversation with ${outsider.toAddress}`);
    }

    for (const copy of internal) {
      const again = await gateway.portal.copies.storeInternalCopies({ messageId: id, tenantId: copy.tenantId, raw, threadId: copy.threadId, recipients: [COLLEAGUE] });
      assert.deepEqual(again.map((o) => o.outcome), ['kept']);
    }
    assert.equal((await db().select().from(portalMessages).where(and(eq(portalMessages.sourceMessageId, id), eq(portalMessages.toAddress, COLLEAGUE)))).length, 2);
  });

  test('a resumed message keeps one copy per colleague, and a conversation the colleague was not copied on stays closed to them', async () => {
    const id = await sendToClientAndColleague('Second matter');
    const [internal] = await waitFor('the copy', async () => {
      const found = await db().select().from(portalMessages).where(and(eq(portalMessages.sourceMessageId, id), eq(portalMessages.toAddress, COLLEAGUE)));
      return found.length === 1 ? found : undefined;
    });
    const again = await gateway.portal.copies.storeInternalCopies({ messageId: id, tenantId: internal!.tenantId, raw: Buffer.from('Subject: x\r\n\r\nx\r\n'), threadId: internal!.threadId, recipients: [COLLEAGUE] });
    assert.deepEqual(again.map((o) => o.outcome), ['kept']);
    assert.equal((await db().select().from(portalMessages).where(and(eq(portalMessages.sourceMessageId, id), eq(portalMessages.toAddress, COLLEAGUE)))).length, 1);

    // A conversation the colleague was never part of stays closed to them.
    const raw = await new MailComposer({ from: 'alice@acme.test', to: 'other@example.net', subject: 'Not for colleagues', text: 'Private.', headers: { 'X-Sealpost-Encrypt': 'portal' } }).compile().build();
    const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress: '127.0.0.1' });
    await smtp.command('EHLO exchange.acme.test');
    const privateId = (await smtp.sendMessage('alice@acme.test', ['other@example.net'], raw)).final!.text.split('queued as ')[1]!;
    await smtp.quit();
    const [privateCopy] = await waitFor('the private copy', async () => {
      const found = await db().select().from(portalMessages).where(eq(portalMessages.sourceMessageId, privateId));
      return found.length === 1 ? found : undefined;
    });
    const colleague = await signIn(COLLEAGUE);
    const threads = (await colleague.request('GET', '/api/portal/threads')).json().threads;
    const ids = threads.map((t: { id: string }) => t.id);
    assert.ok(ids.includes(internal!.threadId), 'the conversation they were copied on');
    assert.ok(!ids.includes(privateCopy!.threadId), 'not one they were never part of');
    assert.equal((await colleague.request('GET', `/api/portal/messages/${privateCopy!.id}`)).status, 404);
    assert.equal((await colleague.request('GET', `/api/portal/threads/${privateCopy!.threadId}`)).status, 404);
  });
});
