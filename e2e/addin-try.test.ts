/**
 * The try page an evaluator opens after `npm start`, in Chromium: the real task pane beside a compose window
 * that plays Outlook, against a gateway running the embedded demo. Nothing is faked in the test: the page's
 * own Outlook host, the evaluation sign-in, the real add-in API and the gateway's SMTP listener.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FrameLocator, Page } from 'playwright-core';
import { ADDIN_TRY_SENDER } from '../common/src/addin-api.ts';
import { createTestDatabase, type TestDatabase } from '../backend/test/support/database.ts';
import { freePort } from '../backend/test/support/gateway-process.ts';
import { startTestGateway } from '../backend/test/support/test-gateway.ts';
import type { Gateway } from '../backend/src/gateway.ts';
import { DEMO_CONNECTOR_ADDRESS, DEMO_DOMAIN } from '../backend/src/tenants/tenant-directory.ts';
import { assertAccessible } from './support/accessibility.ts';
import { launchChromium, type LaunchedChromium } from './support/chromium.ts';
import { requireBuiltAddin } from './support/fake-outlook/setup.ts';

async function eventually<T>(what: string, probe: () => Promise<T>, accept: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = await probe();
  while (!accept(last)) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}; last seen: ${JSON.stringify(last)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    last = await probe();
  }
  return last;
}

const field = (page: Page, name: string) => page.getByRole('textbox', { name, exact: true });

describe('the task pane try page', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let chromium: LaunchedChromium;
  let origin: string;
  const pageErrors: string[] = [];

  before(async () => {
    requireBuiltAddin();
    database = await createTestDatabase();
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    // No tenant file: the embedded demo, as `npm start` runs it.
    gateway = await startTestGateway(database, undefined, { SEALPOST_HTTP_PORT: String(port), SEALPOST_PUBLIC_URL: origin });
    chromium = await launchChromium();
  });

  after(async () => {
    await chromium?.close();
    await gateway?.stop();
    await database?.cleanup();
  });

  async function openTryPage(): Promise<{ page: Page; pane: FrameLocator }> {
    const context = await chromium.browser.newContext();
    const page = await context.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
    // The try page must work with no Internet: nothing may be fetched from Microsoft's CDN.
    await page.route('https://appsforoffice.microsoft.com/**', (route) => route.abort());
    assert.ok(gateway.addinTryUrl, 'the start banner has a try page URL');
    await page.goto(gateway.addinTryUrl);
    return { page, pane: page.frameLocator('iframe[title="Sealpost task pane"]') };
  }

  test('an evaluator protects a draft in the real pane, sees the preview and sends it through the gateway', async () => {
    const { page, pane } = await openTryPage();
    await page.getByRole('heading', { name: 'Try the Sealpost task pane' }).waitFor();
    assert.match(await page.getByText(`From: ${ADDIN_TRY_SENDER}`).innerText(), /admin@demo\.sealpost\.test/);

    await field(page, 'To').fill(`client@example.org, alice@${DEMO_DOMAIN}`);
    await field(page, 'Subject').fill('Contract for signature');
    await field(page, 'Message').fill('Clause 9 is new.');

    // The pane signed in with the evaluation sign-in and shows the demo tenant.
    const secure = pane.getByRole('switch', { name: 'Send this message securely' });
    await secure.waitFor({ timeout: 20_000 });
    await pane.getByText('Demo').first().waitFor();
    await eventually('the switch to be enabled', () => secure.isEnabled(), (enabled) => enabled);
    await secure.click();
    await pane.getByRole('radio', { name: 'Sealpost portal' }).check();
    await pane.getByRole('checkbox', { name: 'Tell me when it is read' }).check();

    // The preview comes from the real API, for the recipients typed in the compose window.
    const row = (address: string) => pane.locator(`tr[data-recipient="${address}"]`);
    await row('client@example.org').waitFor();
    assert.equal(await row('client@example.org').getAttribute('data-method'), 'portal');
    assert.equal(await row(`alice@${DEMO_DOMAIN}`).getAttribute('data-method'), 'relay');

    // A recipient added later joins the preview, as Outlook's RecipientsChanged makes it.
    await field(page, 'Cc').fill('partner@example.net');
    await field(page, 'Cc').press('Enter');
    await row('partner@example.net').waitFor();
    assert.equal(await row('partner@example.net').getAttribute('data-method'), 'portal');
    await pane.getByText('Your choice is saved on the message.').waitFor();

    await assertAccessible(page, 'the try page');

    await page.getByRole('button', { name: 'Send', exact: true }).click();
    const sent = page.getByTestId('try-sent');
    await sent.waitFor({ timeout: 20_000 });
    const id = /queued as ([0-9a-f-]{36})/.exec(await sent.innerText())?.[1];
    assert.ok(id, `the gateway's reply names the message: ${await sent.innerText()}`);

    // The trace shows the message came from the demo's connector with the request the pane set.
    const trace = await eventually(
      'the message to be delivered',
      async () =>
        (await (await fetch(`${origin}/api/admin/messages/${id}/trace`, { headers: { authorization: `Bearer ${gateway.demo!.apiToken}` } })).json()) as {
          message: { state: string; recipients: string[] };
          trace: { step: string; detail: Record<string, unknown> }[];
        },
      (t) => t.message?.state === 'delivered',
    );
    const step = (name: string) => trace.trace.find((s) => s.step === name)?.detail;
    assert.equal(step('received')?.client, DEMO_CONNECTOR_ADDRESS);
    assert.equal(step('received')?.mailFrom, ADDIN_TRY_SENDER);
    assert.deepEqual([...trace.message.recipients].sort(), [`alice@${DEMO_DOMAIN}`, 'client@example.org', 'partner@example.net']);
    assert.equal(step('request')?.mode, 'portal');
    assert.deepEqual(step('request')?.options, ['read-receipt']);

    // The outsiders got a portal notification without the content; the colleague got the message itself.
    const mailbox = gateway.demo!.mailboxFolder;
    const readMailbox = async (address: string) =>
      eventually(
        `mail for ${address}`,
        async () => (existsSync(join(mailbox, address)) ? readdirSync(join(mailbox, address)).map((f) => readFileSync(join(mailbox, address, f), 'utf8')).join('\n') : ''),
        (text) => text.length > 0,
      );
    const notification = await readMailbox('client@example.org');
    assert.match(notification.replace(/=\r?\n/g, ''), /\/portal\/open\?token=/);
    assert.doesNotMatch(notification, /Clause 9/);
    assert.match(await readMailbox(`alice@${DEMO_DOMAIN}`), /Clause 9 is new\./);

    // Like Outlook after Send, a new empty draft and a fresh pane.
    assert.equal(await field(page, 'To').inputValue(), '');
    await pane.getByRole('switch', { name: 'Send this message securely' }).waitFor({ timeout: 20_000 });
    assert.equal(await pane.getByRole('switch', { name: 'Send this message securely' }).isChecked(), false);
    assert.deepEqual(pageErrors, [], 'no uncaught errors');
  });

  test('Send without a recipient says what is missing and sends nothing', async () => {
    const { page } = await openTryPage();
    await page.getByRole('button', { name: 'Send', exact: true }).click();
    const failed = page.getByTestId('try-failed');
    await failed.waitFor();
    assert.match(await failed.innerText(), /Add at least one recipient/);
  });
});
