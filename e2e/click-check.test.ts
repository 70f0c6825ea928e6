/**
 * The click check in real Chromium: a reader whose browser speaks German clicks a rewritten link that
 * leads through redirects to a password page and sees the warning in German, with where the link really
 * goes; the page passes axe and fits 360 px; going on anyway reaches the page. A clean link opens the
 * page at once, and a changed link shows the refusal and opens nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import type { Gateway } from '../backend/src/gateway.ts';
import { createTestDatabase, type TestDatabase } from '../backend/test/support/database.ts';
import { CLICK_TEST_ENV, sendLinkMail, startLinkSite, type LinkSite } from '../backend/test/support/link-site.ts';
import { MailPeer } from '../backend/test/support/mail-peer.ts';
import { acmeTenant, startTestGateway } from '../backend/test/support/test-gateway.ts';
import { assertAccessible, checkWidths } from './support/accessibility.ts';
import { launchChromium, type LaunchedChromium } from './support/chromium.ts';


describe('the click check in Chromium', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let mailServer: MailPeer;
  let site: LinkSite;
  let chromium: LaunchedChromium;
  let tokens = new Map<string, string>();
  const contexts: BrowserContext[] = [];

  async function newPage(locale: string): Promise<Page> {
    const context = await chromium.browser.newContext({ locale });
    contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    return page;
  }
  const clickUrl = (token: string) => `http://127.0.0.1:${gateway.httpPort}/l/${token}`;

  before(async () => {
    site = await startLinkSite();
    database = await createTestDatabase();
    mailServer = await MailPeer.start();
    gateway = await startTestGateway(database, [acmeTenant(mailServer.port, { guard: { modules: { links: { rewrite: true } } } })], CLICK_TEST_ENV);
    chromium = await launchChromium();
    ({ tokens } = await sendLinkMail(gateway, mailServer, `<p><a href="${site.origin}/short">Zum Konto</a> <a href="${site.origin}/news">Neuigkeiten</a></p>`));
    assert.deepEqual([...tokens.keys()], ['Zum Konto', 'Neuigkeiten']);
  });

  after(async () => {
    for (const context of contexts) await context.close();
    await chromium?.close();
    await gateway?.stop();
    await mailServer?.close();
    await database?.cleanup();
    await site?.close();
  });

  test('a suspicious link shows the warning in German with the real destination, and the reader can go on', async () => {
    const page = await newPage('de-DE');
    await page.goto(clickUrl(tokens.get('Zum Konto')!));
    await page.getByRole('heading', { level: 1, name: 'Vorsicht bei diesem Link' }).waitFor();
    await page.getByText('Die Seite fragt nach einem Passwort.', { exact: false }).waitFor();
    const destination = await page.locator('.address').innerText();
    assert.equal(destination, `${site.origin}/login`);
    await checkWidths(page, 'click-warning');
    await page.getByRole('link', { name: 'Link trotzdem öffnen' }).click();
    await page.waitForURL(`${site.origin}/login`);
    assert.equal(await page.locator('input[type=password]').count(), 1);
  });

  test('a clean link opens at once, and a changed one shows the refusal and opens nothing', async () => {
    const page = await newPage('en-GB');
    await page.goto(clickUrl(tokens.get('Neuigkeiten')!));
    await page.waitForURL(`${site.origin}/news`);
    await page.getByText('Welcome').waitFor();

    const visits = site.visits.length;
    const token = tokens.get('Neuigkeiten')!;
    const answer = await page.goto(clickUrl(`${token.slice(0, -3)}${token.endsWith('AAA') ? 'BBB' : 'AAA'}`));
    assert.equal(answer?.status(), 400);
    await page.getByRole('heading', { level: 1, name: 'This link cannot be opened' }).waitFor();
    await assertAccessible(page, 'the click refusal');
    assert.equal(site.visits.length, visits);
  });
});
