/**
 * The message trace in the admin console and the admin API: real messages in and out of a gateway, then
 * searched by sender (address or domain, any case), recipient, Message-ID, time range, direction, state and
 * verdict, a page at a time; one message's timeline with every step and delivery. Every console role reads
 * it, a recipient outside the organisation does not, a tenant never sees another's messages, and a search
 * that cannot be answered says why.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import MailComposer from 'nodemailer/lib/mail-composer';
import type { Gateway } from '../src/gateway.ts';
import { createTestDatabase, type TestDatabase } from './support/database.ts';
import { MailPeer } from './support/mail-peer.ts';
import { PortalBrowser } from './support/portal-browser.ts';
import { tokenOf, waitFor } from './support/portal-mail.ts';
import { SmtpConversation } from './support/smtp-conversation.ts';
import { ACME_API_TOKEN, acmeTenant, globexTenant, startTestGateway } from './support/test-gateway.ts';

describe('message trace search', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let acmeMail: MailPeer;
  let globexMail: MailPeer;
  let relay: MailPeer;
  const started = new Date(Date.now() - 1000);

  async function send(from: string, to: string[], subject: string, localAddress: string, messageId: string) {
    const raw = await new MailComposer({ from, to, subject, text: `About ${subject}.`, messageId }).compile().build();
    const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress });
    await smtp.command('EHLO sender.example');
    const result = await smtp.sendMessage(from, to, raw);
    await smtp.quit();
    assert.equal(result.final?.code, 250, result.final?.text);
  }

  async function signedIn(address: string, mail: MailPeer): Promise<PortalBrowser> {
    const browser = new PortalBrowser(gateway.httpPort);
    const start = mail.received.length;
    await browser.request('POST', '/api/portal/sign-in', { json: { email: address } });
    const [signIn] = (await mail.waitForMessages(start + 1)).slice(start);
    assert.equal((await browser.open(tokenOf(signIn!))).status, 200);
    return browser;
  }

  const search = async (browser: PortalBrowser, query: Record<string, string>) => {
    const answer = await browser.request('GET', `/api/portal/admin/messages?${new URLSearchParams(query)}`);
    return { status: answer.status, body: answer.json() };
  };

  before(async () => {
    database = await createTestDatabase();
    acmeMail = await MailPeer.start();
    globexMail = await MailPeer.start();
    relay = await MailPeer.start();
    gateway = await startTestGateway(
      database,
      [
        acmeTenant(acmeMail.port, {
          members: [
            { email: 'alice@acme.test', role: 'owner' },
            { email: 'ann@acme.test', role: 'analyst' },
            { email: 'aud@acme.test', role: 'auditor' },
            { email: 'carol@acme.test', role: 'contact' },
          ],
        }),
        globexTenant(globexMail.port),
      ],
      { SEALPOST_RELAY: `smtp://127.0.0.1:${relay.port}` },
    );
    // Outbound from Acme's Exchange (one recipient in mixed case, as senders write them), inbound from the
    // Internet, and one to Globex.
    await send('alice@acme.test', ['client@example.net'], 'Offer', '127.0.0.1', '<offer-1@acme.test>');
    await send('alice@acme.test', ['Someone@Customer.example'], 'Invoice', '127.0.0.1', '<invoice-2@acme.test>');
    await send('Bob@Partner.example', ['alice@acme.test'], 'Question', '127.0.0.2', '<question-3@partner.example>');
    await send('bob@partner.example', ['gina@globex.test'], 'For Globex', '127.0.0.2', '<globex-4@partner.example>');
    await relay.waitForMessages(2).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}: ${relay.received.map((m) => m.recipients.join()).join('; ')}`);
    });
    await acmeMail.waitForMessages(1);
    await globexMail.waitForMessages(1);
  });

  after(async () => {
    await gateway.stop();
    await acmeMail.close();
    await globexMail.close();
    await relay.close();
    await database.cleanup();
  });

  test('an owner finds messages by sender, recipient, Message-ID, time, direction, state and verdict', async () => {
    const owner = await signedIn('alice@acme.test', acmeMail);
    const ids = (body: { messages: Array<{ messageIdHeader: string }> }) => body.messages.map((m) => m.messageIdHeader).sort();

    assert.deepEqual(ids((await search(owner, { sender: 'BOB@partner.example' })).body), ['<question-3@partner.example>'], 'an address, in any case');
    assert.deepEqual(ids((await search(owner, { sender: 'partner.example' })).body), ['<question-3@partner.example>'], 'a domain; Globex mail is not there');
    assert.deepEqual(ids((await search(owner, { sender: '@acme.test' })).body), ['<invoice-2@acme.test>', '<offer-1@acme.test>']);
    assert.deepEqual(ids((await search(owner, { recipient: 'someone@customer.example' })).body), ['<invoice-2@acme.test>']);
    assert.deepEqual(ids((await search(owner, { recipient: 'example.net' })).body), ['<offer-1@acme.test>']);
    assert.deepEqual(ids((await search(owner, { messageId: 'offer-1@acme.test' })).body), ['<offer-1@acme.test>'], 'with or without brackets');
    assert.deepEqual(ids((await search(owner, { direction: 'inbound', sender: 'partner.example' })).body), ['<question-3@partner.example>']);
    assert.equal((await search(owner, { direction: 'outbound', sender: 'partner.example' })).body.messages.length, 0);
    assert.equal((await search(owner, { from: new Date(Date.now() + 60_000).toISOString() })).body.messages.length, 0, 'nothing after now');
    assert.ok((await search(owner, { from: started.toISOString(), to: new Date(Date.now() + 1000).toISOString() })).body.messages.length >= 3);

    await waitFor('the inbound message delivered', async () => {
      const { body } = await search(owner, { sender: 'partner.example', state: 'delivered' });
      return body.messages.length === 1 ? true : undefined;
    });
    const inbound = (await search(owner, { sender: 'partner.example', verdict: 'deliver' })).body.messages[0];
    assert.equal(inbound.verdict, 'deliver');
    assert.equal(typeof inbound.score, 'number');
    assert.deepEqual(inbound.recipients, ['alice@acme.test']);
    assert.equal((await search(owner, { sender: 'partner.example', verdict: 'quarantine' })).body.messages.length, 0);
  });

  test('results come a page at a time, newest first, and the timeline shows every step and delivery', async () => {
    const owner = await signedIn('alice@acme.test', acmeMail);
    const first = await search(owner, { sender: '@acme.test', limit: '1' });
    assert.equal(first.body.messages.length, 1);
    assert.equal(first.body.messages[0].messageIdHeader, '<invoice-2@acme.test>', 'the newest first');
    assert.ok(first.body.next);
    const second = await search(owner, { sender: '@acme.test', limit: '1', after: first.body.next });
    assert.equal(second.body.messages[0].messageIdHeader, '<offer-1@acme.test>');
    assert.equal(second.body.next, undefined, 'the last page says so');

    const id = second.body.messages[0].id;
    await waitFor('the offer delivered', async () => ((await owner.request('GET', `/api/portal/admin/messages/${id}`)).json().deliveries?.[0]?.status === 'delivered' ? true : undefined));
    const timeline = (await owner.request('GET', `/api/portal/admin/messages/${id}`)).json();
    const steps = timeline.trace.map((t: { step: string }) => t.step);
    for (const step of ['received', 'parsed', 'routed', 'delivered']) assert.ok(steps.includes(step), `${step} in ${steps.join(', ')}`);
    assert.equal(timeline.deliveries[0].recipient, 'client@example.net');
    assert.equal(timeline.deliveries[0].status, 'delivered');
    assert.match(timeline.deliveries[0].lastReply, /^250/);
  });

  test('every console role reads the trace; a recipient outside does not, and no tenant sees another', async () => {
    for (const member of ['ann@acme.test', 'aud@acme.test']) {
      const browser = await signedIn(member, acmeMail);
      assert.equal((await search(browser, { sender: 'partner.example' })).body.messages.length, 1, member);
    }
    const contact = await signedIn('carol@acme.test', acmeMail);
    assert.equal((await search(contact, {})).status, 403, 'a contact has no console');
    const globex = await signedIn('gina@globex.test', globexMail);
    const theirs = await search(globex, { sender: 'partner.example' });
    assert.deepEqual(theirs.body.messages.map((m: { messageIdHeader: string }) => m.messageIdHeader), ['<globex-4@partner.example>']);
    const acmeMessage = (await search(await signedIn('alice@acme.test', acmeMail), { messageId: 'offer-1@acme.test' })).body.messages[0];
    assert.equal((await globex.request('GET', `/api/portal/admin/messages/${acmeMessage.id}`)).status, 404, "another tenant's message is not found");

    // The admin API answers the same search with its token.
    const api = await fetch(`http://127.0.0.1:${gateway.httpPort}/api/admin/message-search?sender=partner.example`, { headers: { authorization: `Bearer ${ACME_API_TOKEN}` } });
    assert.equal(api.status, 200);
    assert.equal(((await api.json()) as { messages: unknown[] }).messages.length, 1);
  });

  test('a search that cannot be answered says why', async () => {
    const owner = await signedIn('alice@acme.test', acmeMail);
    const notAnAddress = await search(owner, { sender: 'no such; thing' });
    assert.equal(notAnAddress.status, 400);
    assert.match(notAnAddress.body.detail, /neither an address nor a domain/);
    const inverted = await search(owner, { from: new Date().toISOString(), to: new Date(Date.now() - 3_600_000).toISOString() });
    assert.equal(inverted.status, 400);
    assert.match(inverted.body.detail, /ends before it starts/);
    assert.equal((await search(owner, { after: 'bm90LWEtY3Vyc29y' })).status, 400);
    const unknownState = await search(owner, { state: 'lost' });
    assert.equal(unknownState.status, 400);
    assert.match(JSON.stringify(unknownState.body), /state/);
  });
});
