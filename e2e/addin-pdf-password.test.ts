/**
 * The task pane's choice of how a password PDF's password travels, in Chromium on the fake Outlook host,
 * against a real gateway whose tenant keeps the PDF on, sends passwords by SMS and lets senders tell them.
 * "I tell it myself" shows the gateway's password once and puts only its sealed ticket on the draft; the
 * draft, sent through the gateway, arrives as a PDF that opens with that password. SMS numbers are checked
 * before they reach the draft. Needs the built add-in (dist/addin).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { simpleParser } from 'mailparser';
import MailComposer from 'nodemailer/lib/mail-composer';
import type { BrowserContext, Page } from 'playwright-core';
import { SmtpConversation } from '../backend/test/support/smtp-conversation.ts';
import { waitFor } from '../backend/test/support/portal-mail.ts';
import { axeViolations } from './support/accessibility.ts';
import { launchChromium, type LaunchedChromium } from './support/chromium.ts';
import { requireBuiltAddin, startAddinGateway, useFakeOutlook, type AddinGateway, type FakeOutlookConfig } from './support/fake-outlook/setup.ts';

const PASSWORD = /^[A-Za-z0-9]{5}(?:-[A-Za-z0-9]{5}){3}$/;

async function eventually<T>(what: string, probe: () => Promise<T>, accept: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = await probe();
  while (!accept(last)) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}; last seen: ${JSON.stringify(last)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    last = await probe();
  }
  return last;
}

describe('the task pane: how the PDF password travels', () => {
  let env: AddinGateway;
  let chromium: LaunchedChromium;
  let folder: string;
  const contexts: BrowserContext[] = [];
  const pageErrors: string[] = [];

  before(async () => {
    requireBuiltAddin();
    folder = mkdtempSync(join(tmpdir(), 'sealpost-addin-pdf-'));
    env = await startAddinGateway({
      tenant: {
        encryption: { ways: { pdf: true } },
        // The provider is never asked here: no message with numbers is sent.
        pdf: { password: 'sms', sms: { url: 'http://127.0.0.1:9/sms' }, senderPassword: true },
      },
    });
    chromium = await launchChromium();
  });

  after(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await chromium?.close();
    await env?.stop();
    rmSync(folder, { recursive: true, force: true });
  });

  async function openPane(config: FakeOutlookConfig): Promise<Page> {
    const context = await chromium.browser.newContext();
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: env.base });
    contexts.push(context);
    const page = await context.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await useFakeOutlook(page, { accessToken: env.aliceToken(), ...config });
    await page.goto(env.taskpaneUrl);
    return page;
  }
  const headersOf = (page: Page) =>
    page.evaluate(() => (window as unknown as { __fakeOutlook: { item: { internetHeaders: Record<string, string> } } }).__fakeOutlook.item.internetHeaders);

  async function choosePdf(page: Page): Promise<void> {
    const secure = page.getByRole('switch', { name: 'Send this message securely' });
    await secure.waitFor({ state: 'visible', timeout: 15_000 });
    await eventually('the Secure switch to be enabled', () => secure.isEnabled(), (enabled) => enabled);
    await secure.click();
    await page.getByRole('radio', { name: 'Password-protected PDF' }).check();
  }

  test('"I tell it myself" shows the password once, puts only its ticket on the draft, and the sent PDF opens with it', async () => {
    const before = pageErrors.length;
    const page = await openPane({ item: { subject: 'Settlement offer', to: ['client@example.net'] } });
    await choosePdf(page);
    const ways = page.getByRole('radiogroup', { name: 'How the PDF password reaches the recipients' });
    assert.equal(await ways.getByRole('radio', { name: /^By SMS/ }).isChecked(), true, "the tenant's way is the default");
    assert.deepEqual(await ways.getByRole('radio').allInnerTexts().then((labels) => labels.length), 3);

    await ways.getByRole('radio', { name: /^I tell it myself/ }).check();
    const shown = page.getByTestId('sender-password');
    await shown.waitFor({ timeout: 10_000 });
    const password = await shown.inputValue();
    assert.match(password, PASSWORD);
    assert.match(await page.getByTestId('sender-password-notice').innerText(), /Tell the recipients this password another way.*not shown again/s);

    const headers = await eventually('the ticket on the draft', () => headersOf(page), (h) => Boolean(h['X-Sealpost-Pdf-Password']));
    assert.equal(headers['X-Sealpost-Encrypt'], 'pdf');
    assert.ok(!JSON.stringify(headers).includes(password), 'the password itself is in no header of the draft');
    assert.equal(headers['X-Sealpost-Sms'], undefined);

    // Keyboard: the copy button is reached and pressed without a mouse.
    await page.getByRole('button', { name: 'Copy password' }).focus();
    await page.keyboard.press('Enter');
    await page.getByText('The password is copied.').waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), password);
    assert.deepEqual(await axeViolations(page), [], 'the pane with the password shown');

    // The draft goes through the gateway: the recipient's PDF opens with the password the sender was shown.
    const raw = await new MailComposer({ from: 'Alice <alice@acme.test>', to: 'client@example.net', subject: 'Settlement offer', text: 'We offer 40,000 EUR.', headers }).compile().build();
    const relayedBefore = env.relay.received.length;
    const smtp = await SmtpConversation.open(env.gateway.smtpPort, { localAddress: '127.0.0.1' });
    await smtp.command('EHLO exchange.acme.test');
    const sent = await smtp.sendMessage('alice@acme.test', ['client@example.net'], raw);
    await smtp.quit();
    assert.equal(sent.final?.code, 250, sent.final?.text);
    const mail = await waitFor('the PDF mail', () => env.relay.received.slice(relayedBefore).find((m) => m.raw.toString().includes('application/pdf')));
    const file = join(folder, 'offer.pdf');
    writeFileSync(file, (await simpleParser(mail.raw)).attachments.find((a) => a.contentType === 'application/pdf')!.content);
    assert.equal(spawnSync('qpdf', ['--check', `--password=${password}`, file]).status, 0, 'the shown password opens the PDF');
    assert.match(spawnSync('pdftotext', ['-upw', password, file, '-']).stdout.toString(), /40,000 EUR/);

    // Reopened, the pane cannot show the password again, and the draft keeps its ticket.
    await page.reload();
    await page.getByText('A password you were shown earlier is set on this message').waitFor({ timeout: 15_000 });
    assert.equal(await page.getByTestId('sender-password').count(), 0, 'the password is not shown again');
    assert.equal((await headersOf(page))['X-Sealpost-Pdf-Password'], headers['X-Sealpost-Pdf-Password']);

    // Another way takes the ticket off the draft.
    await page.getByRole('radio', { name: /^Through the Sealpost portal/ }).check();
    await eventually('the ticket to leave the draft', () => headersOf(page), (h) => h['X-Sealpost-Pdf-Password'] === undefined && h['X-Sealpost-Encrypt'] === 'pdf');
    assert.deepEqual(pageErrors.slice(before), [], 'no uncaught errors');
  });

  test('SMS: a field per recipient who gets the PDF, a number that is not E.164 is refused with a clear message and never reaches the draft', async () => {
    const page = await openPane({ item: { subject: 'Numbers', to: ['bob@acme.test', 'client@example.net'] } });
    await choosePdf(page);
    const field = page.getByLabel('Mobile number for client@example.net');
    await field.waitFor({ timeout: 10_000 });
    assert.equal(await page.getByLabel('Mobile number for bob@acme.test').count(), 0, 'no field for a recipient inside the organisation');

    await field.fill('0151 2345678');
    await field.press('Tab');
    await page.getByText('This is not a mobile number in international format').waitFor();
    assert.equal((await headersOf(page))['X-Sealpost-Sms'], undefined, 'an invalid number is not written');

    await field.fill('+49 151 234-5678');
    await eventually('the number on the draft', () => headersOf(page), (h) => h['X-Sealpost-Sms'] === 'client@example.net=+491512345678');
    await field.press('Tab');
    assert.equal(await page.getByText('This is not a mobile number in international format').count(), 0, 'the message goes once the number is right');

    await field.fill('');
    await eventually('the number to leave the draft', () => headersOf(page), (h) => h['X-Sealpost-Sms'] === undefined);
  });

  test('with Automatic the choice appears only while the gateway would send someone a PDF', async () => {
    const page = await openPane({ item: { subject: 'Auto', to: ['bob@acme.test'] } });
    const secure = page.getByRole('switch', { name: 'Send this message securely' });
    await secure.waitFor({ state: 'visible', timeout: 15_000 });
    await eventually('the Secure switch to be enabled', () => secure.isEnabled(), (enabled) => enabled);
    await secure.click();
    assert.equal(await page.getByRole('radio', { name: /^Automatic/ }).isChecked(), true);
    await page.locator('tr[data-recipient="bob@acme.test"]').waitFor();
    assert.equal(await page.getByTestId('pdf-password').count(), 0, 'a recipient inside the organisation gets no PDF');
    await page.evaluate(() => (window as unknown as { __fakeOutlook: { setRecipients(field: string, a: string[]): void } }).__fakeOutlook.setRecipients('cc', ['client@example.net']));
    await page.locator('tr[data-recipient="client@example.net"][data-method="pdf"]').waitFor();
    await page.getByRole('radiogroup', { name: 'How the PDF password reaches the recipients' }).waitFor();
    await page.getByLabel('Mobile number for client@example.net').fill('+1 555 0100 200');
    await eventually('the number on the draft', () => headersOf(page), (h) => h['X-Sealpost-Encrypt'] === 'auto' && h['X-Sealpost-Sms'] === 'client@example.net=+15550100200');
  });

  test('in German the password choices and the number message speak German', async () => {
    const page = await openPane({ displayLanguage: 'de-DE', item: { subject: 'Zahlen', to: ['kunde@example.de'] } });
    const secure = page.getByRole('switch', { name: 'Diese Nachricht sicher senden' });
    await secure.waitFor({ timeout: 15_000 });
    await eventually('the switch to be enabled', () => secure.isEnabled(), (enabled) => enabled);
    await secure.click();
    await page.getByRole('radio', { name: 'Passwortgeschütztes PDF' }).check();
    await page.getByRole('radiogroup', { name: 'Wie das PDF-Kennwort zu den Empfängern kommt' }).waitFor();
    const field = page.getByLabel('Mobilnummer für kunde@example.de');
    await field.fill('12345');
    await field.press('Tab');
    await page.getByText('Das ist keine Mobilnummer im internationalen Format').waitFor();
    assert.deepEqual(await axeViolations(page), [], 'the German pane with a number message');
  });
});
