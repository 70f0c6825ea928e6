/**
 * The click check on a real gateway: a message from the Internet arrives over SMTP with a policy that
 * rewrites links and removes tracking parameters; the tenant's mail server receives it with click links.
 * Clicking one of them (HTTP to the gateway) re-checks the link and follows it through its redirects on a
 * loopback web server: a clean link goes straight on without its tracking parameters, a link that ends on
 * a password page shows the warning with the real destination (in English or German), from where the
 * reader may go on; a link whose token was changed is refused and nothing is fetched. Every click is in
 * the message's trace.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Gateway } from '../src/gateway.ts';
import { readTrace } from '../src/messages/message-trace.ts';
import { createTestDatabase, ownerDb, type TestDatabase } from './support/database.ts';
import { MailPeer } from './support/mail-peer.ts';
import { CLICK_TEST_ENV, sendLinkMail, startLinkSite, type LinkSite } from './support/link-site.ts';
import { acmeTenant, startTestGateway } from './support/test-gateway.ts';

describe('the click check on a real gateway', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let mailServer: MailPeer;
  let site: LinkSite;
  let messageId = '';
  let tokens = new Map<string, string>();

  const click = (token: string, headers: Record<string, string> = {}, query = '') =>
    fetch(`http://127.0.0.1:${gateway.httpPort}/l/${token}${query}`, { redirect: 'manual', headers });

  before(async () => {
    site = await startLinkSite();
    database = await createTestDatabase();
    mailServer = await MailPeer.start();
    gateway = await startTestGateway(database, [acmeTenant(mailServer.port, { guard: { modules: { links: { rewrite: true, removeTracking: true } } } })], CLICK_TEST_ENV);
    ({ messageId, tokens } = await sendLinkMail(
      gateway,
      mailServer,
      `<p>Track it <a href="${site.origin}/clean?utm_source=mail&amp;id=7">here</a> or sign in <a href="${site.origin}/short">to your account</a>.</p>`,
    ));
    assert.deepEqual([...tokens.keys()], ['here', 'to your account']);
  });

  after(async () => {
    await gateway.stop();
    await mailServer.close();
    await database.cleanup();
    await site.close();
  });

  test('a clean link goes straight on, without its tracking parameters', async () => {
    const answer = await click(tokens.get('here')!);
    assert.equal(answer.status, 302);
    assert.equal(answer.headers.get('location'), `${site.origin}/clean?id=7`);
    assert.equal(answer.headers.get('referrer-policy'), 'no-referrer');
    assert.ok(site.visits.includes('/clean?id=7'), 'the link was checked where it leads before the reader went on');
  });

  test('a link that ends on a password page shows where it really goes, in the reader’s language, and lets the reader go on', async () => {
    const answer = await click(tokens.get('to your account')!, { 'accept-language': 'en-GB,en;q=0.9' });
    assert.equal(answer.status, 200);
    assert.match(answer.headers.get('content-security-policy') ?? '', /default-src 'none'/);
    const page = await answer.text();
    assert.match(page, /<h1>Be careful with this link<\/h1>/);
    assert.match(page, /The page asks for a password/);
    assert.match(page, /The link is passed on 2 times before it arrives/);
    assert.match(page, new RegExp(`<span class="address">http://<strong>localhost:\\d+</strong>/login</span>`));
    assert.match(page, /<li>http:\/\/localhost:\d+\/short<\/li><li>http:\/\/localhost:\d+\/hop<\/li>/);
    const proceed = /<a class="proceed" href="([^"]+)"[^>]*>Open the link anyway<\/a>/.exec(page)?.[1];
    assert.equal(proceed, `/l/${tokens.get('to your account')}?go=1`);

    const german = await (await click(tokens.get('to your account')!, { 'accept-language': 'de-DE,de;q=0.9,en;q=0.5' })).text();
    assert.match(german, /<html lang="de">/);
    assert.match(german, /<h1>Vorsicht bei diesem Link<\/h1>/);
    assert.match(german, /Die Seite fragt nach einem Passwort/);
    assert.match(german, /Link trotzdem öffnen/);

    const onward = await click(tokens.get('to your account')!, {}, '?go=1');
    assert.equal(onward.status, 302);
    assert.equal(onward.headers.get('location'), `${site.origin}/short`);
  });

  test('a link whose token was changed is refused with a page that says so, and nothing is fetched', async () => {
    const token = tokens.get('here')!;
    const [header, payload, signature] = token.split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString());
    const forged = Buffer.from(JSON.stringify({ ...claims, u: `${site.origin}/login` })).toString('base64url');
    const before = site.visits.length;
    // The signature's first character is changed, not its last: the last base64url character of a 32-byte
    // signature carries two unused bits, so changing it can leave the same signature (and the test would pass by chance).
    const changedSignature = `${signature!.startsWith('A') ? 'Q' : 'A'}${signature!.slice(1)}`;
    for (const candidate of [`${header}.${forged}.${signature}`, `${header}.${payload}.${changedSignature}`]) {
      const answer = await click(candidate, { 'accept-language': 'en' });
      assert.equal(answer.status, 400);
      assert.match(await answer.text(), /The link was changed after it was sent, or it was not made by your organisation’s mail protection\. It was not opened\./);
    }
    const cut = await click(token.slice(0, 30), { 'accept-language': 'de' });
    assert.equal(cut.status, 400);
    assert.match(await cut.text(), /Der Link ist unvollständig/);
    assert.equal(site.visits.length, before, 'nothing was fetched for a refused link');
  });

  test('every click is in the message’s trace', async () => {
    const clicks = (await readTrace(ownerDb(gateway.database.db), messageId)).filter((t) => t.step === 'link_clicked').map((t) => t.detail);
    assert.deepEqual(
      clicks.map((c) => [c.outcome, c.url]),
      [
        ['opened', `${site.origin}/clean?id=7`],
        ['warned', `${site.origin}/short`],
        ['warned', `${site.origin}/short`],
        ['opened after warning', `${site.origin}/short`],
      ],
    );
    assert.deepEqual(clicks[1]!.symbols, ['LINK_REDIRECTS', 'LINK_LOGIN_FORM']);
    assert.equal(clicks[1]!.destination, `${site.origin}/login`);
    const scored = (await readTrace(ownerDb(gateway.database.db), messageId)).find((t) => t.step === 'scored');
    assert.deepEqual(scored?.detail.disarmed, [
      'LINK_REWRITTEN: 2 links now go through the click check, which checks them again when clicked',
      'LINK_TRACKING_REMOVED: tracking parameters (utm_source) were removed from 1 link',
    ]);
  });
});
