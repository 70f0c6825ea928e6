/**
 * The portal's settings page in real Chromium against a real gateway: an owner changes a quota and an
 * expiry, is told next to the field what is wrong with a value, edits the English and the German
 * notification template and sees the preview follow each keystroke, in English and German; the changes are
 * stored and audited. An analyst sees the same settings and cannot change them. axe at 360 and 1280 px.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { and, eq } from 'drizzle-orm';
import type { BrowserContext, Page } from 'playwright-core';
import { auditLog } from '../backend/src/db/schema.ts';
import type { Gateway } from '../backend/src/gateway.ts';
import { createTestDatabase, ownerDb, type TestDatabase } from '../backend/test/support/database.ts';
import { MailPeer } from '../backend/test/support/mail-peer.ts';
import { acmeTenant, startBrowserGateway } from '../backend/test/support/test-gateway.ts';
import { checkWidths } from './support/accessibility.ts';
import { requireBuiltPortal } from './support/built-portal.ts';
import { launchChromium, type LaunchedChromium } from './support/chromium.ts';
import { signedInPage, openConsolePage } from './support/portal-sign-in.ts';

const OWNER = 'alice@acme.test';
const ANALYST = 'anna@acme.test';
const GB = 1024 ** 3;

describe('portal settings page', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let mailServer: MailPeer;
  let chromium: LaunchedChromium;
  let origin: string;
  const contexts: BrowserContext[] = [];

  const signedIn = (address: string): Promise<Page> =>
    signedInPage({ browser: chromium.browser, origin, mailServer, contexts }, address, '/portal/', { timeoutMs: 10_000 });

  async function storedSettings(): Promise<Record<string, unknown>> {
    const tenantId = gateway.directory.tenantForDomain('acme.test')!.id;
    return (await gateway.portal.tenants.settings(tenantId)) as unknown as Record<string, unknown>;
  }

  before(async () => {
    requireBuiltPortal();
    database = await createTestDatabase();
    mailServer = await MailPeer.start();
    const tenant = acmeTenant(mailServer.port, {
      members: [
        { email: OWNER, role: 'owner' },
        { email: ANALYST, role: 'analyst' },
      ],
    });
    ({ gateway, origin } = await startBrowserGateway(database, [tenant]));
    chromium = await launchChromium();
  });

  after(async () => {
    for (const context of contexts) await context.close();
    await chromium?.close();
    await gateway?.stop();
    await mailServer?.close();
    await database?.cleanup();
  });

  test('an owner changes a quota and an expiry, sees a field error, and edits the templates with a live preview, in English and German', async () => {
    const page = await signedIn(OWNER);
    await openConsolePage(page, 'Settings');
    await page.getByRole('heading', { level: 1, name: 'Portal settings' }).waitFor();

    // An expiry longer than the longest allowed is refused, with the reason next to the field.
    const expiry = page.getByRole('spinbutton', { name: 'A new message expires after' });
    const longest = page.getByRole('spinbutton', { name: 'Longest expiry a sender may choose' });
    // No expiry and no maximum are the product's defaults: both are chosen until the owner sets days.
    await page.getByRole('checkbox', { name: 'No expiry' }).uncheck();
    await page.getByRole('checkbox', { name: 'No maximum' }).uncheck();
    await longest.fill('60');
    await expiry.fill('90');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.getByText('The settings were not saved. Check the fields marked below.').waitFor();
    await page.getByText('Must be at least the expiry of a new message (90 days).').waitFor();
    assert.equal(await longest.getAttribute('aria-invalid'), 'true');

    // A quota for the whole organisation, in GB; the expiry corrected.
    await expiry.fill('14');
    await page.getByRole('checkbox', { name: 'No limit' }).uncheck();
    await page.getByRole('textbox', { name: 'Storage for the whole organisation' }).fill('5');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.getByText('The settings were saved.').waitFor();
    assert.equal(await page.getByText('Must be at least the expiry of a new message (90 days).').count(), 0);
    let stored = await storedSettings();
    assert.equal(stored.tenantQuotaBytes, 5 * GB);
    assert.equal(stored.defaultExpiryDays, 14);
    assert.equal(stored.maxExpiryDays, 60);

    // The English template: the preview follows the subject as it is typed; a text without the link is refused.
    const preview = page.getByTestId('preview-en');
    await preview.getByText('Subject: Secure message from alice@acme.test: Contract for signature').waitFor();
    await page.getByRole('textbox', { name: 'Subject (English)' }).fill('Acme: {{subject}} from {{sender}}');
    await preview.getByText('Subject: Acme: Contract for signature from alice@acme.test').waitFor();
    await page.getByRole('textbox', { name: 'Plain text (English)' }).fill('Please read {{subject}}.');
    await preview.getByText('Please read Contract for signature.').waitFor();
    const html = page.getByRole('textbox', { name: 'HTML (English)' });
    await html.fill('<p>Dear client, <a href="{{link}}" style="{{buttonStyle}}">open {{subject}}</a></p><script>document.title="ran"</script>');
    const frame = page.frameLocator('iframe[title="Preview of the notification\'s HTML"]');
    await frame.getByRole('link', { name: 'open Contract for signature' }).waitFor();
    assert.equal(await frame.locator('script').count(), 0, 'no script reaches the preview');
    // Scrolled to first: a click that scrolls the page while the preview frame holds the focus can land before the scroll ends.
    await page.getByRole('button', { name: 'Save settings' }).scrollIntoViewIfNeeded();
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.getByText('Must keep {{link}}.').waitFor();
    await page.getByRole('textbox', { name: 'Plain text (English)' }).fill('Please read {{subject}}: {{link}}');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.getByText('The settings were saved.').waitFor();
    stored = await storedSettings();
    assert.deepEqual(stored.notificationTemplates, {
      en: {
        subject: 'Acme: {{subject}} from {{sender}}',
        text: 'Please read {{subject}}: {{link}}',
        html: '<p>Dear client, <a href="{{link}}" style="{{buttonStyle}}">open {{subject}}</a></p><script>document.title="ran"</script>',
      },
    });

    await checkWidths(page, 'settings');

    // In German: the page, its field errors and the German template's preview.
    await page.getByRole('button', { name: 'Deutsch', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Portaleinstellungen' }).waitFor();
    await page.getByRole('tab', { name: 'Deutsch' }).click();
    const german = page.getByTestId('preview-de');
    await german.getByText('Betreff: Sichere Nachricht von alice@acme.test: Vertrag zur Unterschrift').waitFor();
    await page.getByRole('textbox', { name: 'Betreff (Deutsch)' }).fill('Acme GmbH: {{subject}}');
    await german.getByText('Betreff: Acme GmbH: Vertrag zur Unterschrift').waitFor();
    await page.getByRole('spinbutton', { name: 'Eine neue Nachricht läuft ab nach' }).fill('61');
    await page.getByRole('button', { name: 'Einstellungen speichern' }).click();
    await page.getByText('Darf nicht größer sein als der längste Ablauf (60 Tage).').waitFor();
    await page.getByRole('spinbutton', { name: 'Eine neue Nachricht läuft ab nach' }).fill('30');
    await page.getByRole('button', { name: 'Einstellungen speichern' }).click();
    await page.getByText('Die Einstellungen wurden gespeichert.').waitFor();
    stored = await storedSettings();
    assert.equal((stored.notificationTemplates as Record<string, Record<string, string>>).de!.subject, 'Acme GmbH: {{subject}}');
    assert.equal(stored.defaultExpiryDays, 30);
    await checkWidths(page, 'settings-de');

    const tenantId = gateway.directory.tenantForDomain('acme.test')!.id;
    const entries = await ownerDb(gateway.database.db)
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.tenantId, tenantId), eq(auditLog.action, 'portal_settings_changed')));
    assert.equal(entries.length, 3, 'each save is one audit entry');
    assert.ok(entries.every((e) => e.actorAddress === OWNER));
    assert.doesNotMatch(JSON.stringify(entries.map((e) => e.details)), /Dear client/, 'templates are audited by length, not text');
  });

  test('an analyst reads the settings and cannot change them', async () => {
    const page = await signedIn(ANALYST);
    await openConsolePage(page, 'Settings');
    await page.getByRole('heading', { level: 1, name: 'Portal settings' }).waitFor();
    await page.getByText('You can read these settings. Owners and operators change them.').waitFor();
    assert.equal(await page.getByRole('button', { name: 'Save settings' }).count(), 0);
    assert.equal(await page.getByRole('textbox', { name: 'Storage for the whole organisation' }).inputValue(), '5');
    assert.equal(await page.getByRole('textbox', { name: 'Storage for the whole organisation' }).getAttribute('readonly'), '');
    assert.equal(await page.getByRole('checkbox', { name: 'No limit' }).getAttribute('aria-readonly'), 'true');
    const status = await page.evaluate(async () => {
      const session = await (await fetch('/api/portal/session')).json();
      const answer = await fetch('/api/portal/admin/settings', {
        method: 'PATCH',
        headers: { 'content-type': 'application/json', 'x-sealpost-csrf': session.csrfToken },
        body: JSON.stringify({ maxAttachments: 1 }),
      });
      return answer.status;
    });
    assert.equal(status, 403);
    await checkWidths(page, 'settings-read-only');
  });
});
