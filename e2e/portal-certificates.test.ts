/**
 * S/MIME certificates in the portal, in real Chromium against a real gateway: an owner signs in, imports a
 * partner's certificate made by OpenSSL (and is told why a PKCS#12 file with the wrong password is refused),
 * finds it by search, issues a member a key from the tenant's CA, sees both lists in German, and deletes the
 * certificate after confirming; the audit log has each change with the owner as actor. A contact sees no
 * certificates page, and the API refuses them. axe on the page; no horizontal scrolling at 360 px.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
import { signedInPage, openConsolePage, consolePageNames } from './support/portal-sign-in.ts';

const OWNER = 'alice@acme.test';
const CONTACT = 'finance@acme.test';

describe('S/MIME certificates in the portal', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let mailServer: MailPeer;
  let chromium: LaunchedChromium;
  let origin: string;
  let folder: string;
  const contexts: BrowserContext[] = [];

  const signedIn = (address: string): Promise<Page> =>
    signedInPage({ browser: chromium.browser, origin, mailServer, contexts }, address, '/portal/admin/certificates', { timeoutMs: 10000 });

  before(async () => {
    requireBuiltPortal();
    folder = mkdtempSync(join(tmpdir(), 'sealpost-e2e-certs-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(folder, 'bob.key'), '-out', join(folder, 'bob.pem'), '-days', '90', '-subj', '/CN=Bob Partner', '-addext', 'subjectAltName=email:bob@partner.example'], { stdio: 'pipe' });
    execFileSync('openssl', ['pkcs12', '-export', '-inkey', join(folder, 'bob.key'), '-in', join(folder, 'bob.pem'), '-out', join(folder, 'bob.p12'), '-passout', 'pass:right'], { stdio: 'pipe' });
    database = await createTestDatabase();
    mailServer = await MailPeer.start();
    const tenant = acmeTenant(mailServer.port, {
      members: [
        { email: OWNER, role: 'owner' },
        { email: CONTACT, role: 'contact' },
        { email: 'carol@acme.test', role: 'operator' },
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
    rmSync(folder, { recursive: true, force: true });
  });

  test('an owner imports, finds, issues and deletes, in English and German, and each change is audited', async () => {
    const page = await signedIn(OWNER);
    await openConsolePage(page, 'Certificates');
    await page.getByRole('heading', { level: 1, name: 'S/MIME certificates' }).waitFor();
    await page.getByText('No certificates yet.').waitFor();

    // A PKCS#12 file with the wrong password is refused with the server's reason.
    await page.locator('#certificate-file').setInputFiles(join(folder, 'bob.p12'));
    await page.getByLabel('Password (PKCS#12 only)').fill('wrong');
    await page.getByRole('button', { name: 'Import', exact: true }).click();
    await page.getByText('the PKCS#12 file does not open with this password').waitFor();
    await page.getByLabel('Password (PKCS#12 only)').fill('right');
    await page.getByRole('button', { name: 'Import', exact: true }).click();
    await page.getByText('1 certificate(s) imported.').waitFor();
    const table = page.getByRole('table', { name: 'Partner certificates' });
    await table.getByRole('row', { name: /bob@partner\.example/ }).waitFor();

    await page.getByLabel('Search by address or name').fill('nobody-here');
    await page.getByText('No certificates yet.').waitFor();
    await page.getByLabel('Search by address or name').fill('partner');
    await table.getByRole('row', { name: /bob@partner\.example/ }).waitFor();

    await page.getByLabel('Member address').fill('carol@acme.test');
    await page.getByRole('button', { name: 'Issue a key from your CA' }).click();
    await page.getByText('A key was issued for carol@acme.test.').waitFor();
    const keys = page.getByRole('table', { name: "Members' keys" });
    assert.match(await keys.getByRole('row', { name: /carol@acme\.test/ }).innerText(), /Your CA/);

    await checkWidths(page, 'certificates');

    await page.getByRole('button', { name: 'Deutsch', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'S/MIME-Zertifikate' }).waitFor();
    await page.getByRole('table', { name: 'Schlüssel der Mitglieder' }).waitFor();
    await page.getByRole('button', { name: 'English', exact: true }).click();

    await page.getByRole('button', { name: 'Delete bob@partner.example' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete', exact: true }).click();
    await page.getByText('The certificate was deleted.').waitFor();
    await page.getByText('No certificates yet.').waitFor();

    const acme = gateway.directory.tenantForDomain('acme.test')!.id;
    const actions = await ownerDb(gateway.database.db)
      .select({ action: auditLog.action, actor: auditLog.actorAddress })
      .from(auditLog)
      .where(and(eq(auditLog.tenantId, acme), eq(auditLog.actorAddress, OWNER)));
    const names = actions.map((a) => a.action);
    for (const action of ['certificate_added', 'member_key_issued', 'certificate_deleted']) assert.ok(names.includes(action), `${action} audited with the owner as actor`);
  });

  test('a contact has no certificates page, and the API refuses them', async () => {
    const page = await signedIn(CONTACT);
    assert.deepEqual(await consolePageNames(page), [], 'a contact is offered no console page');
    const status = await page.evaluate(async () => (await fetch('/api/portal/admin/certificates', { credentials: 'same-origin' })).status);
    assert.equal(status, 403);
  });
});
