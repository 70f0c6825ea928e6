/**
 * OpenPGP keys in the portal, in real Chromium against a real gateway: an owner signs in, imports a
 * partner's key (and is told why a file that is no key is refused), finds it by search, makes a member a
 * key pair, sees both lists in German, and deletes the partner's key after confirming; the audit log has
 * each change with the owner as actor. A contact sees no OpenPGP page, and the API refuses them. axe on
 * the page; no horizontal scrolling at 360 px.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { and, eq } from 'drizzle-orm';
import * as openpgp from 'openpgp';
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

describe('OpenPGP keys in the portal', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let mailServer: MailPeer;
  let chromium: LaunchedChromium;
  let origin: string;
  let folder: string;
  const contexts: BrowserContext[] = [];

  const signedIn = (address: string): Promise<Page> =>
    signedInPage({ browser: chromium.browser, origin, mailServer, contexts }, address, '/portal/admin/pgp-keys', { timeoutMs: 10000 });

  before(async () => {
    requireBuiltPortal();
    folder = mkdtempSync(join(tmpdir(), 'sealpost-e2e-pgp-'));
    const { publicKey } = await openpgp.generateKey({ type: 'ecc', curve: 'curve25519Legacy', userIDs: [{ name: 'Bob Partner', email: 'bob@partner.example' }], format: 'armored' });
    writeFileSync(join(folder, 'bob.asc'), publicKey);
    writeFileSync(join(folder, 'notes.txt'), 'no key in here');
    database = await createTestDatabase();
    mailServer = await MailPeer.start();
    const tenant = acmeTenant(mailServer.port, {
      members: [
        { email: OWNER, role: 'owner' },
        { email: CONTACT, role: 'contact' },
        { email: 'carol@acme.test', role: 'operator', name: 'Carol Clerk' },
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

  test('an owner imports, finds, makes a key pair and deletes, in English and German, and each change is audited', async () => {
    const page = await signedIn(OWNER);
    await openConsolePage(page, 'OpenPGP');
    await page.getByRole('heading', { level: 1, name: 'OpenPGP keys' }).waitFor();
    await page.getByText('No keys yet.').waitFor();

    // A file that is no key is refused with the server's reason.
    await page.locator('#pgp-key-file').setInputFiles(join(folder, 'notes.txt'));
    await page.getByRole('button', { name: 'Import', exact: true }).click();
    await page.getByText(/the upload is no OpenPGP key/).waitFor();
    await page.locator('#pgp-key-file').setInputFiles(join(folder, 'bob.asc'));
    await page.getByRole('button', { name: 'Import', exact: true }).click();
    await page.getByText('1 key(s) imported.').waitFor();
    const table = page.getByRole('table', { name: 'Partner keys' });
    await table.getByRole('row', { name: /bob@partner\.example/ }).waitFor();

    await page.getByLabel('Search by address or fingerprint').fill('nobody-here');
    await page.getByText('No keys yet.').waitFor();
    await page.getByLabel('Search by address or fingerprint').fill('partner');
    await table.getByRole('row', { name: /bob@partner\.example/ }).waitFor();

    await page.getByLabel('Member address').fill('carol@acme.test');
    await page.getByRole('button', { name: 'Make a key pair' }).click();
    await page.getByText('A key pair was made for carol@acme.test.').waitFor();
    const pairs = page.getByRole('table', { name: "Members' key pairs" });
    assert.match(await pairs.getByRole('row', { name: /carol@acme\.test/ }).innerText(), /Made here/);
    const download = page.waitForEvent('download');
    await page.getByRole('button', { name: 'Public key of carol@acme.test' }).click();
    assert.equal((await download).suggestedFilename(), 'carol@acme.test.asc');

    await checkWidths(page, 'pgp-keys');

    await page.getByRole('button', { name: 'Deutsch', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'OpenPGP-Schlüssel' }).waitFor();
    await page.getByRole('table', { name: 'Schlüsselpaare der Mitglieder' }).waitFor();
    await page.getByRole('button', { name: 'English', exact: true }).click();

    await page.getByRole('button', { name: 'Delete bob@partner.example' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete', exact: true }).click();
    await page.getByText('The key was deleted.').waitFor();
    await page.getByText('No keys yet.').waitFor();

    const acme = gateway.directory.tenantForDomain('acme.test')!.id;
    const actions = await ownerDb(gateway.database.db)
      .select({ action: auditLog.action, actor: auditLog.actorAddress })
      .from(auditLog)
      .where(and(eq(auditLog.tenantId, acme), eq(auditLog.actorAddress, OWNER)));
    const names = actions.map((a) => a.action);
    for (const action of ['pgp_key_added', 'member_pgp_key_generated', 'pgp_key_deleted']) assert.ok(names.includes(action), `${action} audited with the owner as actor`);
  });

  test('a contact has no OpenPGP page, and the API refuses them', async () => {
    const page = await signedIn(CONTACT);
    assert.deepEqual(await consolePageNames(page), [], 'a contact is offered no console page');
    const status = await page.evaluate(async () => (await fetch('/api/portal/admin/pgp-keys', { credentials: 'same-origin' })).status);
    assert.equal(status, 403);
  });
});
