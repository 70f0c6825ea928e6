/**
 * The Outlook task pane in Chromium, on a fake Outlook compose host, against a real gateway whose add-in
 * API validates tokens from a local Entra-like issuer. Needs the built add-in (dist/addin).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import MailComposer from 'nodemailer/lib/mail-composer';
import type { BrowserContext, Page } from 'playwright-core';
import { formatSealpostHeaders, parseExpiry, SEND_OPTIONS } from '../common/src/headers.ts';
import { SmtpConversation } from '../backend/test/support/smtp-conversation.ts';
import { launchChromium, type LaunchedChromium } from './support/chromium.ts';
import { axeViolations } from './support/accessibility.ts';
import { requireBuiltAddin, startAddinGateway, useFakeOutlook, type AddinGateway, type FakeOutlookConfig } from './support/fake-outlook/setup.ts';

interface FakeState {
  item: { subject: string; internetHeaders: Record<string, string>; to: { emailAddress: string }[] };
  calls: { name: string; detail: unknown }[];
  setRecipients(field: string, addresses: string[]): void;
}

const DAY_MS = 86_400_000;
const dayFromToday = (days: number) => new Date(Date.now() + days * DAY_MS).toISOString().slice(0, 10);

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

describe('Outlook task pane', () => {
  let env: AddinGateway;
  let chromium: LaunchedChromium;
  const contexts: BrowserContext[] = [];
  const pageErrors: string[] = [];

  before(async () => {
    requireBuiltAddin();
    env = await startAddinGateway();
    chromium = await launchChromium();
  });

  after(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await chromium?.close();
    await env?.stop();
  });

  async function openPane(config: FakeOutlookConfig = {}): Promise<Page> {
    const context = await chromium.browser.newContext();
    contexts.push(context);
    const page = await context.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await useFakeOutlook(page, { accessToken: env.aliceToken(), ...config });
    await page.goto(env.taskpaneUrl);
    return page;
  }

  const secureSwitch = (page: Page) => page.getByRole('switch', { name: 'Send this message securely' });
  const fake = (page: Page) => page.evaluate(() => {
    const state = (window as unknown as { __fakeOutlook: FakeState }).__fakeOutlook;
    return { item: state.item, calls: state.calls.map((c) => ({ name: c.name, detail: c.detail })) };
  });
  const headersOf = async (page: Page) => (await fake(page)).item.internetHeaders;

  async function waitUntilInteractive(page: Page): Promise<void> {
    await secureSwitch(page).waitFor({ state: 'visible', timeout: 15_000 });
    await eventually('the Secure switch to be enabled', () => secureSwitch(page).isEnabled(), (enabled) => enabled);
  }

  /** Turns protection on, picks the mode and the day, and waits until the draft carries the headers for them. */
  async function chooseProtection(page: Page, modeLabel: string, day: string): Promise<void> {
    await waitUntilInteractive(page);
    await secureSwitch(page).click();
    await page.getByRole('radio', { name: modeLabel }).check();
    await page.getByLabel('Readable until').fill(day);
  }

  test('clicking Secure, choosing Portal and a date sets exactly the contract headers and nothing else', async () => {
    const page = await openPane({ item: { subject: 'Contract', to: ['client@example.net'] } });
    const day = dayFromToday(10);
    await chooseProtection(page, 'Sealpost portal', day);
    const expected = formatSealpostHeaders({ mode: 'portal', expiresAt: parseExpiry(day) });
    assert.deepEqual(Object.keys(expected).sort(), ['X-Sealpost-Encrypt', 'X-Sealpost-Expires']);
    const headers = await eventually('the portal headers', () => headersOf(page), (h) => JSON.stringify(h) === JSON.stringify(expected));
    assert.deepEqual(headers, expected);
    await page.getByText('Your choice is saved on the message.').waitFor();

    const { calls } = await fake(page);
    const written = calls.filter((c) => c.name === 'internetHeaders.setAsync').flatMap((c) => Object.keys(c.detail as object));
    assert.ok(written.length > 0, 'the pane wrote with internetHeaders.setAsync');
    assert.ok(written.every((name) => /^X-Sealpost-(Encrypt|Expires|Options)$/.test(name)), `only the contract's headers were written: ${written.join(', ')}`);

    // An option joins the headers; turning protection off removes everything the pane set.
    await page.getByRole('checkbox', { name: 'Recipients may not reply' }).check();
    await eventually('the options header', () => headersOf(page), (h) => h['X-Sealpost-Options'] === 'no-reply');
    assert.ok(SEND_OPTIONS.includes('no-reply'));
    await secureSwitch(page).click();
    await eventually('all Sealpost headers to be removed', () => headersOf(page), (h) => Object.keys(h).length === 0);
  });

  test('reopening the pane shows the same protection the draft carries', async () => {
    const page = await openPane({ item: { subject: 'Reopen me', to: ['client@example.net'] } });
    const day = dayFromToday(20);
    await chooseProtection(page, 'Sealpost portal', day);
    await page.getByRole('checkbox', { name: 'Tell me when it is read' }).check();
    const expected = formatSealpostHeaders({ mode: 'portal', expiresAt: parseExpiry(day), options: ['read-receipt'] });
    await eventually('the headers', () => headersOf(page), (h) => JSON.stringify(h) === JSON.stringify(expected));

    await page.reload();
    await waitUntilInteractive(page);
    assert.equal(await secureSwitch(page).isChecked(), true, 'the switch is on again');
    assert.equal(await page.getByRole('radio', { name: 'Sealpost portal' }).isChecked(), true);
    assert.equal(await page.getByRole('radio', { name: /^Automatic/ }).isChecked(), false);
    assert.equal(await page.getByLabel('Readable until').inputValue(), day);
    assert.equal(await page.getByRole('checkbox', { name: 'Tell me when it is read' }).isChecked(), true);
    assert.equal(await page.getByRole('checkbox', { name: 'Recipients may not reply' }).isChecked(), false);
    assert.deepEqual(await headersOf(page), expected, 'reading them back changed nothing');
    const reads = (await fake(page)).calls.filter((c) => c.name === 'internetHeaders.getAsync');
    assert.equal(reads.length, 1, 'the reopened pane read the headers with getAsync');
  });

  test('the preview lists each recipient with its method and follows added recipients', async () => {
    const page = await openPane({ item: { subject: 'Hello', to: ['bob@acme.test', 'client@example.net'] } });
    await waitUntilInteractive(page);
    const row = (address: string) => page.locator(`tr[data-recipient="${address}"]`);
    await row('bob@acme.test').waitFor();
    assert.equal(await row('bob@acme.test').getAttribute('data-method'), 'relay');
    assert.match(await row('bob@acme.test').innerText(), /Inside your organisation/);
    assert.equal(await row('client@example.net').getAttribute('data-method'), 'portal');
    assert.match(await row('client@example.net').innerText(), /Sealpost portal/);
    assert.match(await row('client@example.net').innerText(), /No certificate or key known/);
    assert.equal(await row('bob@acme.test').locator('svg').count(), 1, 'an icon besides the words');

    await page.evaluate(() => (window as unknown as { __fakeOutlook: FakeState }).__fakeOutlook.setRecipients('cc', ['partner@example.org']));
    await row('partner@example.org').waitFor();
    assert.equal(await row('partner@example.org').getAttribute('data-method'), 'portal');
    assert.equal(await page.locator('tr[data-recipient]').count(), 3);
  });

  test("at the pane's 320 px the recipient table stays inside the pane and breaks no word of a reason", async () => {
    const long = 'accounts-payable.department.of-the-customer@subsidiary.example-customer-group.net';
    const page = await openPane({ item: { subject: 'Hello', to: ['bob@acme.test', long] } });
    await page.setViewportSize({ width: 320, height: 700 });
    await waitUntilInteractive(page);
    await page.locator(`tr[data-recipient="${long}"]`).waitFor();
    const size = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
    assert.ok(size.scroll <= size.client, `the pane is ${size.scroll} px wide in ${size.client} px`);
    // A word split over two lines has two boxes; the reasons are sentences and wrap between words only.
    const broken = await page.evaluate(() => {
      const split: string[] = [];
      for (const caption of document.querySelectorAll('tr[data-recipient] .fui-Caption1')) {
        const text = caption.firstChild;
        if (!text || text.nodeType !== Node.TEXT_NODE) continue;
        const content = text.textContent ?? '';
        for (const match of content.matchAll(/\S+/g)) {
          const range = document.createRange();
          range.setStart(text, match.index);
          range.setEnd(text, match.index + match[0].length);
          const lines = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
          if (lines.size > 1) split.push(match[0]);
        }
      }
      return split;
    });
    assert.deepEqual(broken, [], 'no word of a reason is broken across lines');
    const address = page.locator(`tr[data-recipient="${long}"] .fui-Text`).first();
    assert.equal(await address.innerText(), long, 'the whole address is shown');
  });

  test('below requirement set 1.8 the pane offers the subject trigger and it lands in the subject', async () => {
    const page = await openPane({
      requirementSets: [{ name: 'Mailbox', version: '1.7' }],
      item: { subject: 'Contract for signature', to: ['client@example.net'] },
    });
    await page.getByText('This Outlook cannot mark the message').waitFor({ timeout: 15_000 });
    assert.equal(await secureSwitch(page).count(), 0, 'no switch that could not work');
    await page.getByRole('button', { name: 'Add [secure] to the subject' }).click();
    await eventually('the trigger in the subject', async () => (await fake(page)).item.subject, (s) => s === '[secure] Contract for signature');
    await page.getByRole('button', { name: 'Remove [secure] from the subject' }).click();
    await eventually('the trigger to leave the subject', async () => (await fake(page)).item.subject, (s) => s === 'Contract for signature');
    const calls = (await fake(page)).calls.map((c) => c.name);
    assert.ok(!calls.includes('internetHeaders.setAsync'), 'no header writes were tried');
  });

  test('when Outlook refuses to set headers the pane says so and offers the subject trigger', async () => {
    const page = await openPane({ failInternetHeaders: true, item: { subject: 'Offer', to: ['client@example.net'] } });
    await page.getByText('This Outlook cannot mark the message').waitFor({ timeout: 15_000 });
    await page.getByRole('button', { name: 'Add [secure] to the subject' }).click();
    await eventually('the trigger in the subject', async () => (await fake(page)).item.subject, (s) => s === '[secure] Offer');
  });

  test('opened outside Outlook the pane asks to be opened in Outlook and signs nobody in', async () => {
    const page = await openPane({ host: null });
    await page.getByText('Open Sealpost in Outlook').waitFor({ timeout: 15_000 });
    assert.equal(await secureSwitch(page).count(), 0);
    const calls = (await fake(page)).calls.map((c) => c.name);
    assert.ok(!calls.includes('auth.getAccessToken'), 'no token was asked for');
  });

  test('a token from a foreign Entra tenant gets a clear error in the pane, not a crash', async () => {
    const before = pageErrors.length;
    const page = await openPane({ accessToken: env.foreignToken() });
    const alert = page.getByTestId('pane-error');
    await alert.waitFor({ timeout: 15_000 });
    const text = await alert.innerText();
    assert.match(text, /Your organisation is not connected to Sealpost/);
    assert.match(text, /allow-list/);
    assert.ok(await page.getByRole('button', { name: 'Try again' }).isVisible());
    assert.deepEqual(pageErrors.slice(before), [], 'no uncaught errors');
  });

  test('the headers the pane produced carry a message through the gateway to an external reader in the portal', async () => {
    const page = await openPane({ item: { subject: 'Signed contract', to: ['reader@example.net'] } });
    const day = dayFromToday(14);
    await chooseProtection(page, 'Sealpost portal', day);
    const expected = formatSealpostHeaders({ mode: 'portal', expiresAt: parseExpiry(day) });
    const headers = await eventually('the headers', () => headersOf(page), (h) => JSON.stringify(h) === JSON.stringify(expected));

    const raw = await new MailComposer({
      from: 'Alice <alice@acme.test>',
      to: 'reader@example.net',
      subject: 'Signed contract',
      text: 'The signed contract, clause 9 included.',
      headers,
    })
      .compile()
      .build();
    const relayedBefore = env.relay.received.length;
    const smtp = await SmtpConversation.open(env.gateway.smtpPort, { localAddress: '127.0.0.1' });
    await smtp.command('EHLO exchange.acme.test');
    const sent = await smtp.sendMessage('alice@acme.test', ['reader@example.net'], raw);
    await smtp.quit();
    assert.equal(sent.final?.code, 250, sent.final?.text);

    const mails = await env.relay.waitForMessages(relayedBefore + 1);
    const notification = mails.slice(relayedBefore).find((m) => m.recipients.includes('reader@example.net'));
    assert.ok(notification, 'the notification reached the relay');
    const body = notification.raw.toString('utf8');
    assert.doesNotMatch(body, /clause 9/, 'the notification does not carry the content');
    const link = /\/portal\/open\?token=([A-Za-z0-9_-]+)/.exec(body.replace(/=\r\n/g, '').replace(/=3D/g, '='));
    assert.ok(link, 'the notification carries a link');

    const opened = await fetch(`${env.base}/api/portal/links/open`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: link[1] }),
    });
    assert.equal(opened.status, 200, await opened.clone().text());
    const cookie = opened.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
    const { messageId } = (await opened.json()) as { messageId: string };
    const view = await fetch(`${env.base}/api/portal/messages/${messageId}`, { headers: { cookie } });
    assert.equal(view.status, 200);
    const message = (await view.json()) as { text: string; subject: string };
    assert.match(message.text, /clause 9/);

    // The sender sees it under "My secure messages", read, readable until the chosen day.
    await page.getByRole('button', { name: 'My secure messages', exact: true }).click();
    const card = page.locator('[data-message-id]').filter({ hasText: 'Signed contract' });
    await card.waitFor({ timeout: 10_000 });
    assert.match(await card.innerText(), /reader@example\.net/);
    assert.match(await card.innerText(), /Read /);
    const sentList = await fetch(`${env.base}/api/addin/sent`, { headers: { authorization: `Bearer ${env.aliceToken()}` } });
    const listed = ((await sentList.json()) as { messages: { subject: string; expiresAt?: string }[] }).messages.find((m) => m.subject === 'Signed contract');
    assert.equal(listed?.expiresAt?.slice(0, 10), day, 'the portal copy expires on the chosen day');

    // Changing the expiry from the pane and revoking it for everyone.
    const later = dayFromToday(40);
    await card.getByRole('button', { name: 'Change expiry' }).click();
    await card.getByLabel('New expiry date for “Signed contract”').fill(later);
    await card.getByRole('button', { name: 'Save' }).click();
    await eventually('the new expiry notice', () => page.getByTestId('sent-notice').innerText(), (text) => text.startsWith('Readable until'));
    await card.getByRole('button', { name: 'Revoke for everyone' }).click();
    await page.getByTestId('confirm-revoke').click();
    await eventually('the recipient to show as revoked', () => card.innerText(), (text) => /Revoked /.test(text));
    const reopened = await fetch(`${env.base}/api/portal/messages/${messageId}`, { headers: { cookie } });
    assert.notEqual(reopened.status, 200, 'the reader can no longer open the revoked message');
  });

  for (const [language, switchName, tabName] of [
    ['en-US', 'Send this message securely', 'My secure messages'],
    ['de-DE', 'Diese Nachricht sicher senden', 'Meine sicheren Nachrichten'],
  ] as const) {
    test(`axe finds no WCAG 2 A or AA violations in the pane in ${language}`, async () => {
      const page = await openPane({ displayLanguage: language, item: { subject: 'Axe', to: ['bob@acme.test', 'client@example.net'] } });
      const toggle = page.getByRole('switch', { name: switchName });
      await toggle.waitFor({ timeout: 15_000 });
      await eventually('the switch to be enabled', () => toggle.isEnabled(), (enabled) => enabled);
      await toggle.click();
      await page.locator('tr[data-recipient="client@example.net"]').waitFor();
      assert.equal(await page.evaluate(() => document.documentElement.lang), language.slice(0, 2));
      const reason = await page.locator('tr[data-recipient="client@example.net"]').innerText();
      assert.match(reason, language.startsWith('de') ? /Kein Zertifikat und kein Schlüssel bekannt/ : /No certificate or key known/, 'the reason in the pane language');
      const check = () => axeViolations(page);
      assert.deepEqual(await check(), [], 'the protect tab');
      await page.getByRole('button', { name: tabName, exact: true }).click();
      await page.locator('#sent-heading').waitFor();
      await page.waitForFunction(() => !document.querySelector('section[aria-labelledby="sent-heading"] [role="progressbar"]'));
      assert.deepEqual(await check(), [], 'the secure messages tab');
    });
  }
});
