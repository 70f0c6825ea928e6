/**
 * The portal in real Chromium against the real gateway: an external recipient opens the notification's
 * link, reads the message with its inline image, downloads an attachment, replies with a file, and meets
 * the pages for unusable links and a changed network. Accessibility is checked with axe in both languages.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { and, eq, isNull } from 'drizzle-orm';
import { simpleParser } from 'mailparser';
import MailComposer from 'nodemailer/lib/mail-composer';
import type { BrowserContext, Page } from 'playwright-core';
import { portalLinks } from '../backend/src/db/schema.ts';
import type { Gateway } from '../backend/src/gateway.ts';
import { updatePortalSettings } from '../backend/src/portal/portal-settings.ts';
import { hashSecret } from '../backend/src/portal/tokens.ts';
import { createTestDatabase, ownerDb, type TestDatabase } from '../backend/test/support/database.ts';
import { MailPeer } from '../backend/test/support/mail-peer.ts';
import { SmtpConversation } from '../backend/test/support/smtp-conversation.ts';
import { acmeTenant, startBrowserGateway } from '../backend/test/support/test-gateway.ts';
import { launchChromium, type LaunchedChromium } from './support/chromium.ts';
import { assertAccessible } from './support/accessibility.ts';
import { startForwarder, type Forwarder } from './support/portal-forwarder.ts';
import { magicLinkOf, tokenOf, waitFor } from '../backend/test/support/portal-mail.ts';
import { requireBuiltPortal } from './support/built-portal.ts';

const RECIPIENT = 'client@example.net';
const BODY_TEXT = 'Dear client, the signed contract is attached. Clause 7 stays confidential.';
const PDF_NAME = 'Vertrag Müller.pdf';
const PDF_BYTES = Buffer.from('%PDF-1.4\n% contract for Müller\n1 0 obj <<>> endobj\n%%EOF\n', 'utf8');
/** A 1×1 PNG, so the browser really decodes the inline image. */
const LOGO_PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');
const REPLY_TEXT = 'Signed and returned, see the attached file.';
const REPLY_FILE = { name: 'signed-contract.pdf', mimeType: 'application/pdf', buffer: Buffer.from('%PDF-1.4 signed by the client') };

/** Switches the portal's language with the header's button and waits for <html lang>. */
async function switchLanguage(page: Page, to: 'en' | 'de'): Promise<void> {
  await page.getByRole('button', { name: to === 'de' ? 'Deutsch' : 'English', exact: true }).click();
  await page.waitForFunction((lang) => document.documentElement.lang === lang, to);
}

describe('the portal in the browser', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let tenantMailServer: MailPeer;
  let relay: MailPeer;
  let chromium: LaunchedChromium;
  let forwarder: Forwarder | undefined;
  let origin: string;
  let token: string;
  /** The recipient's browser, kept from opening the link on. */
  let reader: BrowserContext;
  let page: Page;
  let threadPath: string;
  /** The thread page with the first message chosen. */
  let messageUrl: string;

  before(async () => {
    requireBuiltPortal();
    database = await createTestDatabase();
    tenantMailServer = await MailPeer.start();
    relay = await MailPeer.start();
    ({ gateway, origin } = await startBrowserGateway(database, [acmeTenant(tenantMailServer.port)], {
      SEALPOST_RELAY: `smtp://127.0.0.1:${relay.port}`,
    }));
    chromium = await launchChromium();

    const raw = await new MailComposer({
      from: 'Alice Lawyer <alice@acme.test>',
      to: RECIPIENT,
      subject: 'Contract for signature',
      text: BODY_TEXT,
      html: `<p>${BODY_TEXT}</p><p><img src="cid:logo@acme" alt="Acme logo" width="1" height="1"></p><p><a href="https://acme.test/terms">Terms</a></p>`,
      headers: { 'X-Sealpost-Encrypt': 'portal' },
      attachments: [
        { filename: PDF_NAME, content: PDF_BYTES, contentType: 'application/pdf' },
        { filename: 'logo.png', cid: 'logo@acme', content: LOGO_PNG, contentType: 'image/png' },
      ],
    })
      .compile()
      .build();
    const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress: '127.0.0.1' });
    await smtp.command('EHLO exchange.acme.test');
    const result = await smtp.sendMessage('alice@acme.test', [RECIPIENT], raw);
    await smtp.quit();
    assert.equal(result.final?.code, 250, `the gateway accepted the message: ${result.final?.text}`);
    const [notification] = await relay.waitForMessages(1);
    assert.deepEqual(notification!.recipients, [RECIPIENT]);
    token = tokenOf(notification!);
  });

  after(async () => {
    await forwarder?.close();
    await chromium?.close();
    await gateway?.stop();
    await tenantMailServer?.close();
    await relay?.close();
    await database?.cleanup();
  });

  async function linkRow(linkToken: string) {
    const [row] = await ownerDb(gateway.database.db).select().from(portalLinks).where(eq(portalLinks.tokenHash, hashSecret(linkToken)));
    assert.ok(row, 'the link is stored');
    return row;
  }

  test("a mail scanner's plain GET of the link consumes nothing", async () => {
    const scanned = await fetch(`${origin}/portal/open?token=${token}`);
    assert.equal(scanned.status, 200);
    assert.match(await scanned.text(), /<div id="?root"?>/, 'the scanner gets the portal page');
    assert.equal(scanned.headers.get('x-frame-options'), 'DENY');
    assert.equal((await linkRow(token)).usedAt, null, 'the link is still unused after the scanner fetched it');
  });

  test('the recipient opens the link with the Open message button and reads the message with its inline image', async () => {
    reader = await chromium.browser.newContext({ acceptDownloads: true, locale: 'en-GB' });
    page = await reader.newPage();
    page.setDefaultTimeout(10_000);
    await page.goto(`${origin}/portal/open?token=${token}`);
    await page.getByRole('heading', { level: 1, name: 'Your secure message' }).waitFor();
    assert.equal((await linkRow(token)).usedAt, null, 'loading the page in the browser consumed nothing either');
    await assertAccessible(page, 'the open page in English');
    await switchLanguage(page, 'de');
    await page.getByRole('button', { name: 'Nachricht öffnen' }).waitFor();
    await assertAccessible(page, 'the open page in German');
    await switchLanguage(page, 'en');

    await page.getByRole('button', { name: 'Open message' }).click();
    await page.waitForURL(/\/portal\/threads\/[^/?]+\?message=/);
    threadPath = new URL(page.url()).pathname;
    messageUrl = page.url();
    assert.ok((await linkRow(token)).usedAt, 'pressing the button used the link');

    const frame = page.frameLocator('iframe[title="Message content"]');
    await frame.getByText('Clause 7 stays confidential').waitFor();
    const image = frame.getByRole('img', { name: 'Acme logo' });
    await waitFor('the inline image to load', () => image.evaluate((img: HTMLImageElement) => (img.complete && img.naturalWidth > 0 ? true : undefined)));
    assert.match((await image.getAttribute('src')) ?? '', /^\/api\/portal\/messages\/[^/]+\/inline\/\d+$/, 'the cid: image comes from the portal');
    assert.equal(await frame.getByRole('link', { name: 'Terms' }).getAttribute('rel'), 'noopener noreferrer');

    const iframe = page.locator('iframe[title="Message content"]');
    const sandbox = (await iframe.getAttribute('sandbox')) ?? '';
    assert.doesNotMatch(sandbox, /allow-scripts/, 'the message frame runs no script');
    assert.match((await iframe.getAttribute('srcdoc')) ?? '', /^<!doctype html><html[^>]*><head><meta http-equiv="Content-Security-Policy" content="default-src 'none'/);

    // The subject is the page's title once; the message below is named by its sender.
    await page.getByRole('heading', { level: 1, name: 'Contract for signature' }).waitFor();
    await page.getByRole('heading', { level: 2, name: 'Message from Alice Lawyer' }).waitFor();
    assert.equal(await page.getByText('Contract for signature', { exact: true }).count(), 1, 'the subject is shown once');
    await assertAccessible(page, 'the message view in English');
    await switchLanguage(page, 'de');
    await page.getByRole('heading', { name: 'Anhänge' }).waitFor();
    await assertAccessible(page, 'the message view in German');
    await switchLanguage(page, 'en');
  });

  test('an attachment downloads with its file name and bytes intact', async () => {
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: PDF_NAME }).click()]);
    assert.equal(download.suggestedFilename(), PDF_NAME);
    const path = await download.path();
    assert.deepEqual(readFileSync(path), PDF_BYTES);
  });

  test("a reply with an attachment reaches the tenant's mail server, addressed to the sender, with the file", async () => {
    await page.getByText('Up to 10 files, 20 MB each, 25 MB in all.').waitFor();
    await page.getByLabel('Your reply').fill(REPLY_TEXT);
    await page.locator('input[type="file"]').setInputFiles(REPLY_FILE);
    await page.getByText(`${REPLY_FILE.name} (`).waitFor();
    const start = tenantMailServer.received.length;
    await page.getByRole('button', { name: 'Send reply' }).click();
    await page.getByText('Your reply was sent.').waitFor();
    await waitFor('the thread to show the reply', async () =>
      (await page.getByRole('region', { name: 'Messages in this conversation' }).getByRole('listitem').count()) === 2 ? true : undefined,
    );

    const mail = await waitFor('the reply at the tenant mail server', () =>
      tenantMailServer.received.slice(start).find((m) => m.raw.toString('utf8').includes('Signed and returned')),
    );
    assert.deepEqual(mail.recipients, ['alice@acme.test']);
    const parsed = await simpleParser(mail.raw);
    assert.equal(parsed.from?.value[0]?.address, RECIPIENT);
    assert.match(parsed.text ?? '', /Signed and returned, see the attached file\./);
    const file = parsed.attachments.find((a) => a.filename === REPLY_FILE.name);
    assert.ok(file, 'the reply carries the file');
    assert.deepEqual(file.content, REPLY_FILE.buffer);
  });

  test('the inbox lists the conversation with its counterpart and both messages', async () => {
    await page.getByRole('navigation').getByRole('link', { name: 'Inbox' }).click();
    const row = page.getByRole('row', { name: /Contract for signature/ });
    await row.waitFor();
    assert.match((await row.innerText()).replace(/\s+/g, ' '), /Contract for signature alice@acme\.test 2 /);
    await row.getByRole('link', { name: 'Contract for signature' }).click();
    await page.waitForURL((url) => url.pathname === threadPath);
    // The newest message is the reply, which has no HTML: it is shown as plain text, never as HTML.
    await page.locator('pre').getByText('Signed and returned, see the attached file.').waitFor();
    assert.equal(await page.locator('iframe').count(), 0);
  });

  test('the same link again shows the can-no-longer-be-used page, and asking there sends a new notification', async () => {
    const other = await chromium.browser.newContext({ locale: 'en-GB' });
    try {
      const second = await other.newPage();
      second.setDefaultTimeout(10_000);
      await second.goto(`${origin}/portal/open?token=${token}`);
      await second.getByRole('button', { name: 'Open message' }).click();
      await second.getByRole('heading', { level: 1, name: 'This link can no longer be used' }).waitFor();
      assert.equal(await second.locator('iframe').count(), 0, 'nothing of the message is shown');
      await assertAccessible(second, 'the unusable-link page in English');
      await switchLanguage(second, 'de');
      await second.getByRole('heading', { level: 1, name: 'Dieser Link kann nicht mehr verwendet werden' }).waitFor();
      await assertAccessible(second, 'the unusable-link page in German');

      const start = relay.received.length;
      await second.getByRole('button', { name: 'Neuen Link senden' }).click();
      await second.getByText('ist ein neuer Link unterwegs').waitFor();
      const [fresh] = (await relay.waitForMessages(start + 1)).slice(start);
      assert.deepEqual(fresh!.recipients, [RECIPIENT]);
      assert.notEqual(tokenOf(fresh!), token, 'the new notification carries a new link');
    } finally {
      await other.close();
    }
  });

  test('an expired link shows the same can-no-longer-be-used page', async () => {
    const fresh = tokenOf(relay.received.at(-1)!);
    assert.equal((await linkRow(fresh)).usedAt, null);
    await ownerDb(gateway.database.db)
      .update(portalLinks)
      .set({ expiresAt: new Date(Date.now() - 60_000) })
      .where(and(eq(portalLinks.tokenHash, hashSecret(fresh)), isNull(portalLinks.usedAt)));
    const other = await chromium.browser.newContext({ locale: 'en-GB' });
    try {
      const expired = await other.newPage();
      expired.setDefaultTimeout(10_000);
      await expired.goto(`${origin}/portal/open?token=${fresh}`);
      await expired.getByRole('button', { name: 'Open message' }).click();
      await expired.getByRole('heading', { level: 1, name: 'This link can no longer be used' }).waitFor();
      await expired.getByRole('button', { name: 'Send me a new link' }).waitFor();
    } finally {
      await other.close();
    }
  });

  test('after a change of network the portal offers a fresh link instead of the content', async () => {
    forwarder = await startForwarder(gateway.httpPort, '127.0.0.2');
    const moved = await reader.newPage();
    moved.setDefaultTimeout(10_000);
    await moved.goto(`http://127.0.0.1:${forwarder.port}${threadPath}`);
    await moved.getByRole('heading', { level: 1, name: 'Your network changed' }).waitFor();
    assert.equal(await moved.locator('iframe').count(), 0, 'the message is not shown');
    assert.equal(await moved.getByText('Clause 7').count(), 0);

    // The same browser on its first network still reads: only the network changed.
    await page.goto(messageUrl);
    await page.frameLocator('iframe[title="Message content"]').getByText('Clause 7 stays confidential').waitFor();

    const start = relay.received.length;
    await moved.getByRole('button', { name: 'Send me a new link' }).click();
    await moved.getByText('A fresh link is on its way').waitFor();
    const [fresh] = (await relay.waitForMessages(start + 1)).slice(start);
    assert.deepEqual(fresh!.recipients, [RECIPIENT], 'the fresh link goes to the address of the session');
  });
  test('a member signs in on the start page, sees who read the message, changes its expiry within the maximum and revokes it', async () => {
    const context = await chromium.browser.newContext({ locale: 'en-GB' });
    try {
      const member = await context.newPage();
      member.setDefaultTimeout(10_000);
      await member.goto(`${origin}/portal/`);
      await member.getByRole('heading', { level: 1, name: 'Welcome to the secure message portal' }).waitFor();
      await member.getByLabel('Your work e-mail address').fill('alice@acme.test');
      const start = tenantMailServer.received.length;
      await member.getByRole('button', { name: 'E-mail me a sign-in link' }).click();
      await member.getByText('If this address belongs to a member, a link is on its way.').waitFor();
      const [signIn] = (await tenantMailServer.waitForMessages(start + 1)).slice(start);
      assert.deepEqual(signIn!.recipients, ['alice@acme.test']);

      const signInLink = magicLinkOf(signIn!).replaceAll('&amp;', '&');
      assert.match(signInLink, /&for=sign-in/, 'the sign-in link says what it is for');
      await member.goto(signInLink);
      await member.getByRole('heading', { level: 1, name: 'Sign in to your secure messages' }).waitFor();
      await member.getByRole('button', { name: 'Sign in', exact: true }).click();
      await member.waitForURL(/\/portal\/sent$/);
      const item = member.getByRole('article', { name: 'Contract for signature' });
      await item.getByText(/^Read /).waitFor();
      await member.getByText('Signed in as alice@acme.test').waitFor();

      // The tenant sets a maximum (by default there is none).
      await updatePortalSettings(gateway.database.db, gateway.directory.tenantForDomain('acme.test')!.id, { maxExpiryDays: 90 });
      const farAway = new Date(Date.now() + 400 * 86_400_000).toISOString().slice(0, 10);
      await item.getByLabel('Available until').fill(farAway);
      await item.getByRole('button', { name: 'Change expiry' }).click();
      await item.getByText(/^Now available until /).waitFor();
      const capped = await item.getByLabel('Available until').inputValue();
      assert.ok(new Date(capped).getTime() <= Date.now() + 91 * 86_400_000, `the expiry ${capped} is capped by the tenant maximum`);

      await item.getByRole('button', { name: `Revoke access for ${RECIPIENT}` }).click();
      await item.getByText(/^Revoked /).waitFor();
      await page.goto(messageUrl);
      await page.getByText('This message has expired or the sender withdrew access.').first().waitFor();
      assert.equal(await page.locator('iframe').count(), 0, 'the recipient no longer sees the message');
    } finally {
      await context.close();
    }
  });
});
