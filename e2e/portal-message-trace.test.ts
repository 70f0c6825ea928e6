/**
 * The message trace in the portal's admin console, in real Chromium against a real gateway: an analyst
 * signs in, finds an inbound message by the sender's domain, opens its timeline (steps and deliveries),
 * and sees the page in German; a contact has no such page. axe and no horizontal scrolling at 360 px.
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

describe('message trace in the portal', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let mailServer: MailPeer;
  let chromium: LaunchedChromium;
  let origin: string;
  const contexts: BrowserContext[] = [];

  const signedIn = (address: string): Promise<Page> =>
    signedInPage({ browser: chromium.browser, origin, mailServer, contexts }, address, '/portal/admin/messages');

  before(async () => {
    requireBuiltPortal();
    database = await createTestDatabase();
    mailServer = await MailPeer.start();
    const tenant = acmeTenant(mailServer.port, {
      members: [
        { email: 'ann@acme.test', role: 'analyst' },
        { email: 'carol@acme.test', role: 'contact' },
      ],
    });
    ({ gateway, origin } = await startBrowserGateway(database, [tenant]));
    for (const { from, subject } of [
      { from: 'bob@partner.example', subject: 'Quarterly figures' },
      { from: 'eve@elsewhere.example', subject: 'Hello' },
    ]) {
      const raw = await new MailComposer({ from, to: 'ann@acme.test', subject, text: 'Hi.', messageId: `<${subject.replace(/\s/g, '-')}@mail.example>` }).compile().build();
      const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress: '127.0.0.2' });
      await smtp.command('EHLO mail.example');
      assert.equal((await smtp.sendMessage(from, ['ann@acme.test'], raw)).final?.code, 250);
      await smtp.quit();
    }
    await mailServer.waitForMessages(2);
    chromium = await launchChromium();
  });

  after(async () => {
    for (const context of contexts) await context.close();
    await chromium?.close();
    await gateway?.stop();
    await mailServer?.close();
    await database?.cleanup();
  });

  test('an analyst finds a message by the sender domain and reads its timeline, in English and German', async () => {
    const page = await signedIn('ann@acme.test');
    await openConsolePage(page, 'Message trace');
    await page.getByRole('heading', { level: 1, name: 'Message trace' }).waitFor();
    const results = page.getByRole('table');
    await results.getByText('eve@elsewhere.example').first().waitFor();
    await checkWidths(page, 'message-trace');

    await page.getByLabel('Sender (address or domain)').fill('Partner.Example');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.getByText('1 message(s), newest first').waitFor();
    assert.equal(await results.getByText('eve@elsewhere.example').count(), 0);
    await page.getByRole('button', { name: /Timeline of the message from bob@partner\.example/ }).click();

    await page.getByRole('heading', { level: 1, name: 'Timeline of one message' }).waitFor();
    const steps = page.getByRole('list').last();
    await steps.getByText('received', { exact: true }).waitFor();
    await steps.getByText('delivered', { exact: true }).waitFor();
    await page.getByRole('table', { name: 'Deliveries' }).getByText('ann@acme.test').waitFor();
    await checkWidths(page, 'message-trace-timeline');

    await page.getByRole('button', { name: 'Deutsch', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Verlauf einer Nachricht' }).waitFor();
    await page.getByRole('button', { name: 'Zurück zur Suche' }).click();
    await page.getByRole('heading', { level: 1, name: 'Nachrichtenverfolgung' }).waitFor();
    await page.getByLabel('Absender (Adresse oder Domain)').waitFor();
    await checkWidths(page, 'message-trace-de');
  });

  test('a contact has no message trace, and the API refuses them', async () => {
    const page = await signedIn('carol@acme.test');
    assert.deepEqual(await consolePageNames(page), [], 'a contact is offered no console page');
    const status = await page.evaluate(async () => (await fetch('/api/portal/admin/messages', { credentials: 'same-origin' })).status);
    assert.equal(status, 403);
  });
});
