/**
 * The recipient's second factor in real Chromium against a real gateway. A message sent with the `otp`
 * option: the recipient sets up an authenticator app from the QR code (read back from the screenshot with
 * a QR decoder, the code computed by RFC 6238 here), saves the recovery codes and reads the message; the
 * next message asks for a code again. With a passkey: Chromium's virtual authenticator creates one (the
 * portal served under localhost, as passkeys need a domain) and signs in with it the next time. axe and
 * no horizontal scrolling at 360 px on the factor pages, in English and German.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import jsQRModule from 'jsqr';
import MailComposer from 'nodemailer/lib/mail-composer';
import type { BrowserContext, Page } from 'playwright-core';
import { PNG } from 'pngjs';
import type { Gateway } from '../backend/src/gateway.ts';
import { createTestDatabase, type TestDatabase } from '../backend/test/support/database.ts';
import { MailPeer } from '../backend/test/support/mail-peer.ts';
import { tokenOf } from '../backend/test/support/portal-mail.ts';
import { SmtpConversation } from '../backend/test/support/smtp-conversation.ts';
import { acmeTenant, startBrowserGateway } from '../backend/test/support/test-gateway.ts';
import { currentStep, totpCode } from '../backend/test/support/totp.ts';
import { checkWidths } from './support/accessibility.ts';
import { requireBuiltPortal } from './support/built-portal.ts';
import { launchChromium, type LaunchedChromium } from './support/chromium.ts';

// jsqr is CommonJS whose typings name only a default export: under Node's loader the module is the function.
const jsQR = jsQRModule as unknown as typeof jsQRModule.default;

describe('second factor in the portal', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let tenantMailServer: MailPeer;
  let relay: MailPeer;
  let chromium: LaunchedChromium;
  let origin: string;
  const contexts: BrowserContext[] = [];

  /** Sends a portal message with the otp option and returns its magic link's token. */
  async function sendWithOtp(to: string, subject: string): Promise<string> {
    const raw = await new MailComposer({
      from: 'Alice <alice@acme.test>',
      to,
      subject,
      text: `Your results, ${subject}: all values normal.`,
      headers: { 'X-Sealpost-Encrypt': 'portal', 'X-Sealpost-Options': 'otp' },
    })
      .compile()
      .build();
    const start = relay.received.length;
    const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress: '127.0.0.1' });
    await smtp.command('EHLO exchange.acme.test');
    const result = await smtp.sendMessage('alice@acme.test', [to], raw);
    await smtp.quit();
    assert.equal(result.final?.code, 250);
    const mails = await relay.waitForMessages(start + 1);
    return tokenOf(mails.slice(start).find((m) => m.recipients.includes(to))!);
  }

  async function newPage(): Promise<Page> {
    const context = await chromium.browser.newContext({ locale: 'en-GB' });
    contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    return page;
  }

  async function openLink(page: Page, token: string): Promise<void> {
    await page.goto(`${origin}/portal/open?token=${token}`);
    await page.getByRole('button', { name: /Open message|Nachricht öffnen/ }).click();
  }

  async function startGateway(host: string): Promise<void> {
    database = await createTestDatabase();
    tenantMailServer = await MailPeer.start();
    relay = await MailPeer.start();
    ({ gateway, origin } = await startBrowserGateway(
      database,
      [acmeTenant(tenantMailServer.port, { members: [{ email: 'alice@acme.test', role: 'owner' }] })],
      { SEALPOST_RELAY: `smtp://127.0.0.1:${relay.port}` },
      host,
    ));
  }

  async function stopGateway(): Promise<void> {
    for (const context of contexts.splice(0)) await context.close();
    await gateway?.stop();
    await tenantMailServer?.close();
    await relay?.close();
    await database?.cleanup();
  }

  before(async () => {
    requireBuiltPortal();
    chromium = await launchChromium();
  });

  after(async () => {
    await chromium?.close();
  });

  describe('authenticator app', () => {
    before(() => startGateway('127.0.0.1'));
    after(stopGateway);

    test('the recipient scans the QR code, confirms a code, saves the recovery codes and reads the message; the next message asks again', async () => {
      const page = await newPage();
      await openLink(page, await sendWithOtp('patient@example.net', 'Blood test'));
      await page.getByRole('heading', { level: 1, name: 'Set up your second factor' }).waitFor();
      await checkWidths(page, 'second-factor-choose');
      await page.getByRole('button', { name: 'Authenticator app' }).click();

      // What the QR code on screen holds is what an app would read: the otpauth URI with the key shown beside it.
      const qr = page.getByRole('img', { name: 'QR code for your authenticator app' });
      await qr.waitFor();
      const png = PNG.sync.read(await qr.screenshot());
      const decoded = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
      assert.ok(decoded, 'the QR code on screen decodes');
      const uri = new URL(decoded.data);
      assert.equal(uri.protocol, 'otpauth:');
      const secret = uri.searchParams.get('secret')!;
      assert.equal((await page.getByTestId('totp-secret').innerText()).replace(/\s/g, ''), secret);
      await checkWidths(page, 'second-factor-app');

      const code = page.getByLabel('6-digit code from your app');
      await code.fill(String((Number(totpCode(secret, currentStep())) + 1) % 1_000_000).padStart(6, '0'));
      await page.getByRole('button', { name: 'Confirm' }).click();
      await page.getByText('That did not match.').waitFor();
      await code.fill(totpCode(secret, currentStep()));
      await page.getByRole('button', { name: 'Confirm' }).click();

      await page.getByRole('heading', { level: 1, name: 'Your recovery codes' }).waitFor();
      const codes = await page.getByRole('list', { name: 'Your recovery codes' }).getByRole('listitem').allInnerTexts();
      assert.equal(codes.length, 10);
      for (const c of codes) assert.match(c, /^[a-z2-9]{5}-[a-z2-9]{5}$/);
      const download = page.waitForEvent('download');
      await page.getByRole('button', { name: 'Download the codes' }).click();
      assert.match((await download).suggestedFilename(), /^recovery-codes-patient@example\.net\.txt$/);
      const next = page.getByRole('button', { name: 'Continue' });
      assert.equal(await next.isDisabled(), true, 'continues only once the codes are saved');
      await page.getByLabel('I have saved these codes').check();
      await next.click();
      await page.locator('pre').getByText('Blood test: all values normal').waitFor();

      // The next message, in German: the factor is asked for, and the app's code opens it (the next time
      // step's code, as a phone whose clock runs a little ahead shows; the step used above is spent).
      const german = await newPage();
      await openLink(german, await sendWithOtp('patient@example.net', 'Befund'));
      await german.getByRole('heading', { level: 1, name: 'Confirm it is you' }).waitFor();
      await german.getByRole('button', { name: 'Deutsch', exact: true }).click();
      await german.getByRole('heading', { level: 1, name: 'Bestätigen Sie, dass Sie es sind' }).waitFor();
      await checkWidths(german, 'second-factor-prove-de');
      await german.getByLabel('6-stelliger Code aus Ihrer App').fill(totpCode(secret, currentStep() + 1));
      await german.getByRole('button', { name: 'Bestätigen' }).click();
      await german.locator('pre').getByText('Befund: all values normal').waitFor();

      // A lost phone: a recovery code opens the third message once.
      const third = await newPage();
      await openLink(third, await sendWithOtp('patient@example.net', 'Third'));
      await third.getByRole('button', { name: 'Use a recovery code instead' }).click();
      await third.getByLabel('Recovery code').fill(codes[0]!);
      await third.getByRole('button', { name: 'Confirm' }).click();
      await third.locator('pre').getByText('Third: all values normal').waitFor();
    });
  });

  describe('passkey', () => {
    before(() => startGateway('localhost'));
    after(stopGateway);

    test('the recipient creates a passkey with the device and signs in with it the next time', async () => {
      const page = await newPage();
      const cdp = await page.context().newCDPSession(page);
      await cdp.send('WebAuthn.enable');
      const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
        options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
      });

      await openLink(page, await sendWithOtp('counsel@example.org', 'Settlement'));
      await page.getByRole('button', { name: 'Create a passkey' }).click();
      await page.getByRole('heading', { level: 1, name: 'Your recovery codes' }).waitFor();
      const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
      assert.equal(credentials.length, 1, 'the device holds one passkey for the portal');
      assert.equal(credentials[0]!.rpId, 'localhost');
      await page.getByLabel('I have saved these codes').check();
      await page.getByRole('button', { name: 'Continue' }).click();
      await page.locator('pre').getByText('Settlement: all values normal').waitFor();

      await openLink(page, await sendWithOtp('counsel@example.org', 'Second settlement'));
      await page.getByRole('heading', { level: 1, name: 'Confirm it is you' }).waitFor();
      await checkWidths(page, 'second-factor-passkey');
      await page.getByRole('button', { name: 'Use your passkey' }).click();
      await page.locator('pre').getByText('Second settlement: all values normal').waitFor();
      const after = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
      assert.ok(after.credentials[0]!.signCount > credentials[0]!.signCount, 'the passkey signed the sign-in');
    });
  });
});
