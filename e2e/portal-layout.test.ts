/**
 * Every portal page at a phone's width (360 px) and a desktop's (1280 px), in real Chromium against the
 * real gateway, for a tenant with its own branding: nothing wider than the screen, no error in the console
 * and no failed request (no favicon 404, no 401 for a visitor without a session), axe clean, the tenant's
 * logo, name and colour on screen. Screenshots of every page go to test-output/screenshots/<page>-<width>.png.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import MailComposer from 'nodemailer/lib/mail-composer';
import type { BrowserContext, Page } from 'playwright-core';
import type { Gateway } from '../backend/src/gateway.ts';
import { createTestDatabase, type TestDatabase } from '../backend/test/support/database.ts';
import { MailPeer } from '../backend/test/support/mail-peer.ts';
import { magicLinkOf } from '../backend/test/support/portal-mail.ts';
import { SmtpConversation } from '../backend/test/support/smtp-conversation.ts';
import { acmeTenant, startBrowserGateway } from '../backend/test/support/test-gateway.ts';
import { assertAccessible } from './support/accessibility.ts';
import { requireBuiltPortal } from './support/built-portal.ts';
import { launchChromium, type LaunchedChromium } from './support/chromium.ts';
import { openConsolePage } from './support/portal-sign-in.ts';

const WIDTHS = [360, 1280] as const;
const SCREENSHOTS = join(import.meta.dirname, '..', 'test-output', 'screenshots');
const BRAND_COLOUR = '#7a1f5c';
const BRAND_NAME = 'Acme Legal';
const LOGO_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 32"><rect width="64" height="32" rx="6" fill="#7a1f5c"/>' +
  '<text x="32" y="22" font-family="sans-serif" font-size="16" font-weight="bold" fill="#fff" text-anchor="middle">ACME</text></svg>';
/** A recipient whose address alone is wider than a phone's screen. */
const RECIPIENT = 'accounts-payable.department.of-the-customer@subsidiary.example-customer-group.net';
const SUBJECT = 'Signed framework agreement 2026/2027 including all annexes, the data-processing addendum and the price list';

describe('the portal at 360 px and 1280 px', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let tenantMailServer: MailPeer;
  let relay: MailPeer;
  let chromium: LaunchedChromium;
  let origin: string;
  let link: string;
  const contexts: BrowserContext[] = [];

  before(async () => {
    requireBuiltPortal();
    mkdirSync(SCREENSHOTS, { recursive: true });
    database = await createTestDatabase();
    tenantMailServer = await MailPeer.start();
    relay = await MailPeer.start();
    const logo = `data:image/svg+xml;base64,${Buffer.from(LOGO_SVG).toString('base64')}`;
    ({ gateway, origin } = await startBrowserGateway(
      database,
      [acmeTenant(tenantMailServer.port, { branding: { name: BRAND_NAME, colour: BRAND_COLOUR, logo } })],
      { SEALPOST_RELAY: `smtp://127.0.0.1:${relay.port}` },
    ));
    chromium = await launchChromium();

    const raw = await new MailComposer({
      from: 'Alice Lawyer <alice@acme.test>',
      to: RECIPIENT,
      subject: SUBJECT,
      text: 'Dear client,\r\n\r\nthe signed agreement is attached.\r\n\r\nhttps://acme.test/a/very/long/path/that/does/not/break/on/its/own/because/it/has/no/spaces/at/all',
      headers: { 'X-Sealpost-Encrypt': 'portal' },
      attachments: [{ filename: 'framework-agreement-2026-2027-signed-by-both-parties-final-version.pdf', content: Buffer.from('%PDF-1.4\n%%EOF\n'), contentType: 'application/pdf' }],
    })
      .compile()
      .build();
    const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress: '127.0.0.1' });
    await smtp.command('EHLO exchange.acme.test');
    const result = await smtp.sendMessage('alice@acme.test', [RECIPIENT], raw);
    await smtp.quit();
    assert.equal(result.final?.code, 250, `the gateway accepted the message: ${result.final?.text}`);
    const [notification] = await relay.waitForMessages(1);
    link = magicLinkOf(notification!);
  });

  after(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await chromium?.close();
    await gateway?.stop();
    await tenantMailServer?.close();
    await relay?.close();
    await database?.cleanup();
  });

  /** A browser tab that records every console error and every failed or refused request. */
  async function tab(): Promise<{ page: Page; problems: string[] }> {
    const context = await chromium.browser.newContext({ locale: 'en-GB', viewport: { width: WIDTHS[0], height: 780 } });
    contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('requestfailed', (request) => problems.push(`failed: ${request.url()} ${request.failure()?.errorText ?? ''}`));
    page.on('response', (response) => {
      if (response.status() >= 400) problems.push(`${response.status()}: ${response.request().method()} ${response.url()}`);
    });
    return { page, problems };
  }

  /** At each width: the page's h1 is there, nothing overflows, axe is clean, no problem was logged; then a screenshot. */
  async function checkPage(page: Page, problems: string[], name: string, heading: string | RegExp, options: { branded?: boolean; primaryButton?: string } = {}) {
    for (const width of WIDTHS) {
      await page.setViewportSize({ width, height: 780 });
      await page.getByRole('heading', { level: 1, name: heading }).waitFor();
      await page.waitForFunction(() => !document.querySelector('[role="progressbar"]'));
      const size = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
      assert.ok(size.scroll <= size.client, `${name} at ${width} px is ${size.scroll} px wide, wider than its ${size.client} px`);
      if (options.branded !== false) {
        await page.getByRole('banner').getByText(BRAND_NAME, { exact: true }).waitFor();
        const logo = page.getByRole('banner').locator('img');
        await logo.evaluate((img: HTMLImageElement) => img.decode());
        assert.ok(await logo.evaluate((img: HTMLImageElement) => img.naturalWidth > 0), `${name}: the tenant's logo is shown`);
        if (options.primaryButton) {
          // The pointer may rest where the last click was, over this button: its hover shade is not the brand colour.
          await page.mouse.move(0, 0);
          await page.waitForTimeout(300);
          const colour = await page.getByRole('button', { name: options.primaryButton, exact: true }).evaluate((b) => getComputedStyle(b).backgroundColor);
          assert.equal(colour, 'rgb(122, 31, 92)', `${name}: the primary button wears the brand colour`);
        }
      }
      await assertAccessible(page, `${name} at ${width} px`);
      await page.screenshot({ path: join(SCREENSHOTS, `${name}-${width}.png`), fullPage: true });
    }
    assert.deepEqual(problems, [], `${name}: no console errors or failed requests`);
  }

  test('a visitor without a session: the start page and a page that does not exist', async () => {
    const { page, problems } = await tab();
    await page.goto(`${origin}/portal/`);
    await checkPage(page, problems, 'start', 'Welcome to the secure message portal', { branded: false });
    const field = page.getByLabel('Your work e-mail address');
    await field.fill(RECIPIENT);
    for (const width of WIDTHS) {
      await page.setViewportSize({ width, height: 780 });
      const box = (await field.boundingBox())!;
      const room = await page.evaluate(() => document.querySelector('main')!.getBoundingClientRect().width);
      // Full width on a phone (the page's own padding aside), room for a long address on a large screen.
      const wanted = width < 600 ? room - 48 : 360;
      assert.ok(box.width >= wanted, `the e-mail field is ${box.width} px wide at ${width} px, at least ${wanted} wanted`);
    }
    await page.goto(`${origin}/portal/nowhere`);
    await checkPage(page, problems, 'not-found', 'Page not found', { branded: false });
  });

  test('the recipient: the open page before and after opening, the message with its reply form, and the inbox', async () => {
    const { page, problems } = await tab();
    await page.goto(link);
    await checkPage(page, problems, 'open', 'Your secure message', { primaryButton: 'Open message' });
    await page.getByRole('button', { name: 'Open message' }).click();
    await page.waitForURL(/\/portal\/threads\/[^/?]+\?message=/);
    await page.getByRole('heading', { level: 1, name: SUBJECT }).waitFor();
    await page.getByRole('heading', { level: 2, name: 'Message from Alice Lawyer' }).waitFor();
    assert.equal(await page.getByText(SUBJECT, { exact: true }).count(), 1, 'the subject is shown once');
    await page.getByText('Messages: 1 · a conversation holds up to').waitFor();
    await page.getByRole('heading', { level: 3, name: 'Reply' }).waitFor();
    await checkPage(page, problems, 'message', SUBJECT, { primaryButton: 'Send reply' });

    await page.getByRole('link', { name: 'Inbox' }).click();
    await checkPage(page, problems, 'inbox', 'Inbox');
    await page.getByRole('link', { name: SUBJECT }).waitFor();

    // A date in German reads 02.12.2026, 14:05.
    await page.getByRole('button', { name: 'Deutsch', exact: true }).click();
    await page.waitForFunction(() => document.documentElement.lang === 'de');
    const date = await page.locator('tbody td').last().innerText();
    assert.ok(await page.locator('tbody td').last().isVisible(), 'the date column is shown at the last width, 1280 px');
    assert.match(date, /^\d{2}\.\d{2}\.\d{4}, \d{2}:\d{2}$/, `the German date ${date}`);
    await checkPage(page, problems, 'inbox-de', 'Posteingang');
    await page.getByRole('button', { name: 'English', exact: true }).click();
  });

  test('a member: the sign-in link, the sent page and the setup page', async () => {
    const { page, problems } = await tab();
    await page.goto(`${origin}/portal/`);
    await page.getByLabel('Your work e-mail address').fill('alice@acme.test');
    const start = tenantMailServer.received.length;
    await page.getByRole('button', { name: 'E-mail me a sign-in link' }).click();
    await page.getByText('If this address belongs to a member, a link is on its way.').waitFor();
    const [mail] = (await tenantMailServer.waitForMessages(start + 1)).slice(start);
    await page.goto(magicLinkOf(mail!).replaceAll('&amp;', '&'));
    await checkPage(page, problems, 'sign-in-link', 'Sign in to your secure messages', { primaryButton: 'Sign in' });
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL(/\/portal\/sent$/);
    await page.getByRole('article', { name: SUBJECT }).waitFor();
    await checkPage(page, problems, 'sent', 'Sent secure messages');
    await openConsolePage(page, 'Exchange setup');
    await checkPage(page, problems, 'setup', 'Connect Outlook and Exchange');
  });
});
