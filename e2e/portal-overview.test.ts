/**
 * The admin console's overview in real Chromium against a real gateway: mail in, out and through the
 * portal, then an owner sees the totals and Fluent's line charts drawn, switches to the last 48 hours,
 * reads the numbers in the table, and sees the page in German; the API answers the same counts, refuses a
 * time zone that does not exist, and refuses a contact. axe and no horizontal scrolling at 360 px.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import MailComposer from 'nodemailer/lib/mail-composer';
import type { BrowserContext, Page } from 'playwright-core';
import type { Gateway } from '../backend/src/gateway.ts';
import { createTestDatabase, type TestDatabase } from '../backend/test/support/database.ts';
import { MailPeer } from '../backend/test/support/mail-peer.ts';
import { SmtpConversation } from '../backend/test/support/smtp-conversation.ts';
import { acmeTenant, startBrowserGateway } from '../backend/test/support/test-gateway.ts';
import { checkWidths } from './support/accessibility.ts';
import { requireBuiltPortal } from './support/built-portal.ts';
import { launchChromium, type LaunchedChromium } from './support/chromium.ts';
import { signedInPage, openConsolePage, consolePageNames } from './support/portal-sign-in.ts';

describe('overview in the portal', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let mailServer: MailPeer;
  let relay: MailPeer;
  let chromium: LaunchedChromium;
  let origin: string;
  const contexts: BrowserContext[] = [];

  async function send(from: string, to: string, localAddress: string, headers: Record<string, string> = {}) {
    const raw = await new MailComposer({ from, to, subject: 'Figures', text: 'Numbers.', headers }).compile().build();
    const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress });
    await smtp.command('EHLO mail.example');
    assert.equal((await smtp.sendMessage(from, [to], raw)).final?.code, 250);
    await smtp.quit();
  }

  const signedIn = (address: string): Promise<Page> =>
    signedInPage({ browser: chromium.browser, origin, mailServer, contexts }, address, '/portal/admin/overview', { context: { locale: 'en-GB', timezoneId: 'Europe/Berlin' } });

  before(async () => {
    requireBuiltPortal();
    database = await createTestDatabase();
    mailServer = await MailPeer.start();
    relay = await MailPeer.start();
    const tenant = acmeTenant(mailServer.port, { members: [{ email: 'alice@acme.test', role: 'owner' }, { email: 'carol@acme.test', role: 'contact' }] });
    ({ gateway, origin } = await startBrowserGateway(database, [tenant], { SEALPOST_RELAY: `smtp://127.0.0.1:${relay.port}` }));
    await send('bob@partner.example', 'alice@acme.test', '127.0.0.2');
    await send('eve@partner.example', 'alice@acme.test', '127.0.0.2');
    await send('alice@acme.test', 'client@example.net', '127.0.0.1');
    await send('alice@acme.test', 'patient@example.org', '127.0.0.1', { 'X-Sealpost-Encrypt': 'portal' });
    await mailServer.waitForMessages(2);
    await relay.waitForMessages(2);
    chromium = await launchChromium();
  });

  after(async () => {
    for (const context of contexts) await context.close();
    await chromium?.close();
    await gateway?.stop();
    await mailServer?.close();
    await relay?.close();
    await database?.cleanup();
  });

  test('an owner sees the totals and the charts, switches the period, reads the numbers, in English and German', async () => {
    const page = await signedIn('alice@acme.test');
    await openConsolePage(page, 'Overview');
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
    const totals = page.getByRole('definition');
    await totals.first().waitFor();
    const figures = await page.locator('dl[aria-label="Totals for the period"] div').allInnerTexts();
    assert.deepEqual(
      figures.map((f) => f.replace(/\s+/g, ' ').trim()),
      ['Received 2', 'Sent 2', 'Quarantined 0', 'Portal messages sent 1'],
    );
    const flow = page.getByRole('region', { name: 'Mail flow', exact: true });
    // Fluent's charts drew a line for each series (the axes' own paths have the class "domain").
    await flow.locator('svg path:not(.domain)').first().waitFor({ state: 'attached' });
    assert.ok((await flow.locator('svg path:not(.domain)').count()) >= 5, `lines drawn: ${await flow.locator('svg path:not(.domain)').count()}`);
    await checkWidths(page, 'overview');

    await page.getByRole('button', { name: 'Last 48 hours' }).click();
    await page.getByText('Show the numbers').click();
    const rows = page.getByRole('table').getByRole('row');
    assert.equal(await rows.count(), 49, 'a header and 48 hours');
    const received = await page.getByRole('table').locator('tbody tr td:nth-of-type(1)').allInnerTexts();
    assert.equal(received.reduce((sum, cell) => sum + Number(cell), 0), 2, 'the hours add up to the messages received');
    await page.getByText(/time zone Europe\/Berlin/).waitFor();

    await page.getByRole('button', { name: 'Deutsch', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Übersicht' }).waitFor();
    await page.getByRole('region', { name: 'Mailfluss', exact: true }).waitFor();
    await checkWidths(page, 'overview-de');
  });

  test('the API refuses a time zone that does not exist, and a contact', async () => {
    const page = await signedIn('carol@acme.test');
    assert.deepEqual(await consolePageNames(page), [], 'a contact is offered no console page');
    const status = await page.evaluate(async () => (await fetch('/api/portal/admin/overview', { credentials: 'same-origin' })).status);
    assert.equal(status, 403);
    const owner = await signedIn('alice@acme.test');
    const answer = await owner.evaluate(async () => {
      const response = await fetch('/api/portal/admin/overview?range=weeks&timeZone=Mars%2FOlympus', { credentials: 'same-origin' });
      return { status: response.status, body: (await response.json()) as { detail?: string } };
    });
    assert.equal(answer.status, 400);
    assert.match(answer.body.detail ?? '', /not a time zone/);
  });
});
