import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { SmtpDeliveryClient } from '../src/delivery/smtp-client.ts';
import { freePort } from './support/gateway-process.ts';
import { MailPeer } from './support/mail-peer.ts';

const message = (n: number) => Buffer.from(`Subject: n${n}\r\n\r\n.leading dot\r\nbody\r\n`);

describe('the delivery SMTP client', () => {
  let peer: MailPeer;
  let client: SmtpDeliveryClient;

  before(async () => {
    peer = await MailPeer.start();
    client = new SmtpDeliveryClient({ heloName: 'gateway.sealpost.test', commandTimeoutMs: 2000, connectTimeoutMs: 2000 });
  });

  after(async () => {
    await client.close();
    await peer.close();
  });

  test('consecutive messages to one target reuse pooled connections, and the bytes arrive unchanged', async () => {
    const before = peer.connections;
    for (let i = 0; i < 20; i++) {
      const result = await client.send({ host: '127.0.0.1', port: peer.port }, { mailFrom: 'a@acme.test', recipients: ['b@example.net'] }, message(i));
      assert.equal(result.outcomes[0]!.status, 'delivered');
      assert.match(result.outcomes[0]!.reply, /^250 /);
    }
    assert.equal(peer.connections - before, 1, 'one connection served all twenty messages');
    assert.equal(peer.received.at(-1)!.raw.toString(), message(19).toString(), 'dot-stuffing is undone at the peer');
  });

  test('each recipient gets its own outcome: 4xx is deferred, 5xx failed, the rest delivered', async () => {
    peer.answer = (recipient) =>
      recipient.startsWith('busy') ? { code: 452, message: '4.2.2 mailbox full, try later' } : recipient.startsWith('gone') ? { code: 550, message: '5.1.1 no such user' } : undefined;
    const result = await client.send(
      { host: '127.0.0.1', port: peer.port },
      { mailFrom: 'a@acme.test', recipients: ['busy@example.net', 'gone@example.net', 'fine@example.net'] },
      message(1),
    );
    peer.answer = () => undefined;
    const byRecipient = Object.fromEntries(result.outcomes.map((o) => [o.recipient, o]));
    assert.equal(byRecipient['busy@example.net']!.status, 'deferred');
    assert.equal(byRecipient['busy@example.net']!.code, 452);
    assert.equal(byRecipient['gone@example.net']!.status, 'failed');
    assert.equal(byRecipient['gone@example.net']!.enhancedCode, '5.1.1');
    assert.match(byRecipient['gone@example.net']!.reply, /no such user/);
    assert.equal(byRecipient['fine@example.net']!.status, 'delivered');
  });

  test('a refused connection defers every recipient with the reason', async () => {
    const port = await freePort();
    const result = await client.send({ host: '127.0.0.1', port }, { mailFrom: 'a@acme.test', recipients: ['x@example.net'] }, message(1));
    assert.equal(result.outcomes[0]!.status, 'deferred');
    assert.match(result.outcomes[0]!.reply, /ECONNREFUSED/);
  });

  test('a peer that never answers is given up within the time limit, deferred', async () => {
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    const started = Date.now();
    const result = await client.send({ host: '127.0.0.1', port }, { mailFrom: 'a@acme.test', recipients: ['x@example.net'] }, message(1));
    silent.close();
    assert.equal(result.outcomes[0]!.status, 'deferred');
    assert.ok(Date.now() - started < 6000, 'it did not wait longer than its timeouts');
  });
});
