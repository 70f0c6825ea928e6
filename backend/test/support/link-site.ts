/**
 * For the click-check tests: a web site on loopback whose /short redirects twice to a page asking for a
 * password and whose other pages are plain, counting every visit; and a message from the Internet with
 * links to it, sent over real SMTP, whose delivered copy gives the click links by their link text.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import type { Gateway } from '../../src/gateway.ts';
import type { MailPeer } from './mail-peer.ts';
import { SmtpConversation } from './smtp-conversation.ts';

export interface LinkSite {
  /** http://localhost:<port>: a name, so that the link is judged as a host and not as an IP address. */
  origin: string;
  visits: string[];
  close(): Promise<void>;
}

export async function startLinkSite(): Promise<LinkSite> {
  const visits: string[] = [];
  let origin = '';
  const server = createServer((request, response) => {
    visits.push(request.url ?? '');
    const path = (request.url ?? '').split('?')[0];
    if (path === '/short') response.writeHead(302, { location: '/hop' }).end();
    else if (path === '/hop') response.writeHead(301, { location: `${origin}/login` }).end();
    else if (path === '/login') {
      response.writeHead(200, { 'content-type': 'text/html' }).end('<title>Sign in</title><form method="post"><input name="user"><input type="password" name="pw"></form>');
    } else response.writeHead(200, { 'content-type': 'text/html' }).end('<title>Welcome</title><p>Welcome</p>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://localhost:${(server.address() as AddressInfo).port}`;
  return { origin, visits, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** The gateway settings the click tests share: a public address for the links, and loopback allowed to be followed. */
export const CLICK_TEST_ENV = {
  SEALPOST_PUBLIC_URL: 'https://gateway.sealpost.test',
  SEALPOST_LINK_FOLLOW_ALLOW: '127.0.0.0/8,::1',
  SEALPOST_LINK_FOLLOW_TIMEOUT_MS: '2000',
};

/**
 * Sends an HTML message from the Internet (127.0.0.5) to alice@acme.test and waits for its delivery;
 * answers the message id and the click tokens of its links by link text.
 */
export async function sendLinkMail(gateway: Gateway, mailServer: MailPeer, html: string): Promise<{ messageId: string; tokens: Map<string, string> }> {
  const start = mailServer.received.length;
  const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress: '127.0.0.5' });
  await smtp.command('EHLO mta.shop.example');
  const body =
    'From: Shop <news@shop.example>\r\nTo: <alice@acme.test>\r\nSubject: Your order\r\nMessage-ID: <order-1@shop.example>\r\n' +
    `MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n${html}\r\n`;
  const result = await smtp.sendMessage('news@shop.example', ['alice@acme.test'], body);
  await smtp.quit();
  assert.equal(result.final?.code, 250, result.final?.text);
  const [mail] = (await mailServer.waitForMessages(start + 1)).slice(start);
  const delivered = String((await simpleParser(mail!.raw)).html);
  const tokens = new Map<string, string>();
  for (const match of delivered.matchAll(/<a href="https:\/\/gateway\.sealpost\.test\/l\/([^"]+)">([^<]+)<\/a>/g)) tokens.set(match[2]!, match[1]!);
  return { messageId: result.final!.text.split('queued as ')[1]!, tokens };
}
