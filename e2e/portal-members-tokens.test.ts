/**
 * The admin console's members and API tokens pages, in real Chromium against a real gateway: an owner
 * adds a member (after a field error), changes the role, removes the member; makes a token, sees it once,
 * copies it, uses it against the admin API, revokes it and sees it refused. Tenant-file rows are read-only,
 * an analyst only reads, German once; axe and no horizontal scrolling at 360 and 1280 px.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import type { Gateway } from '../backend/src/gateway.ts';
import { createTestDatabase, type TestDatabase } from '../backend/test/support/database.ts';
import { MailPeer } from '../backend/test/support/mail-peer.ts';
import { acmeTenant, startBrowserGateway } from '../backend/test/support/test-gateway.ts';
import { checkWidths } from './support/accessibility.ts';
import { requireBuiltPortal } from './support/built-portal.ts';
import { launchChromium, type LaunchedChromium } from './support/chromium.ts';
import { consolePageNames, openConsolePage, signedInPage } from './support/portal-sign-in.ts';

const OWNER = 'alice@acme.test';
const ANALYST = 'andy@acme.test';
const AUDITOR = 'ann@acme.test';

describe('members and API tokens in the portal', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let mailServer: MailPeer;
  let chromium: LaunchedChromium;
  let origin: string;
  const contexts: BrowserContext[] = [];

  const signedIn = (address: string): Promise<Page> =>
    signedInPage({ browser: chromium.browser, origin, mailServer, contexts }, address, '/portal/', { timeoutMs: 10000 });

  const rowsOf = async (page: Page, table: string) => page.getByRole('table', { name: table }).locator('tbody tr').allInnerTexts();
  const rowOf = (page: Page, table: string, text: string) => page.getByRole('table', { name: table }).locator('tbody tr', { hasText: text });

  before(async () => {
    requireBuiltPortal();
    database = await createTestDatabase();
    mailServer = await MailPeer.start();
    const tenant = acmeTenant(mailServer.port, {
      members: [
        { email: OWNER, role: 'owner' },
        { email: ANALYST, role: 'analyst' },
        { email: AUDITOR, role: 'auditor' },
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

  test('an owner adds a member, changes the role and removes the member, in English and German', async () => {
    const page = await signedIn(OWNER);
    await openConsolePage(page, 'Members');
    await page.getByRole('heading', { level: 1, name: 'Members and roles' }).waitFor();
    const fileRow = rowOf(page, 'Members', ANALYST);
    await fileRow.getByText('From the tenant file').waitFor();
    await fileRow.getByText('Read-only: change it in the tenant file.').waitFor();
    assert.equal(await fileRow.getByRole('button').count(), 0, 'a tenant-file member has no buttons');

    // A foreign domain is refused next to the field.
    await page.getByLabel('E-mail address').fill('nora@elsewhere.example');
    await page.getByRole('button', { name: 'Add member' }).click();
    await page.getByText('Must be an address of your organisation (acme.test).').waitFor();

    await page.getByLabel('E-mail address').fill('Nora@acme.test');
    await page.getByLabel('Name (optional)').fill('Nora North');
    await page.getByLabel('Role').selectOption({ label: 'Analyst' });
    await page.getByRole('button', { name: 'Add member' }).click();
    await page.getByText('nora@acme.test was added as Analyst.').waitFor();
    const nora = rowOf(page, 'Members', 'nora@acme.test');
    await nora.getByText('Added in the console').waitFor();
    assert.match(await nora.innerText(), /Nora North/);
    assert.equal(gateway.directory.tenantForDomain('acme.test')!.members.find((m) => m.email === 'nora@acme.test')?.role, 'analyst', 'the directory knows her at once');

    await checkWidths(page, 'members');

    await nora.getByRole('button', { name: 'Change nora@acme.test' }).click();
    const dialog = page.getByRole('dialog', { name: 'Change nora@acme.test' });
    await dialog.getByLabel('Role').selectOption({ label: 'Operator' });
    await dialog.getByRole('button', { name: 'Save' }).click();
    await page.getByText('nora@acme.test was changed.').waitFor();
    assert.match(await rowOf(page, 'Members', 'nora@acme.test').innerText(), /Operator/);
    assert.match(await rowOf(page, 'Members', 'nora@acme.test').innerText(), new RegExp(OWNER.replace('.', '\\.')), 'who changed it');

    // Search narrows the list.
    await page.getByLabel('Search by address or name').fill('north');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForFunction(() => document.querySelectorAll('table tbody tr').length === 1);

    await page.getByRole('button', { name: 'Deutsch', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Mitglieder und Rollen' }).waitFor();
    assert.match((await rowsOf(page, 'Mitglieder'))[0]!, /Betreiber/);
    await checkWidths(page, 'members-de');
    await page.getByRole('button', { name: 'English', exact: true }).click();

    await rowOf(page, 'Members', 'nora@acme.test').getByRole('button', { name: 'Remove nora@acme.test' }).click();
    await page.getByRole('dialog', { name: 'Remove nora@acme.test?' }).getByRole('button', { name: 'Remove' }).click();
    await page.getByText('nora@acme.test was removed.').waitFor();
    await page.getByText('No member matches.').waitFor();

    // The audit log names each change.
    await openConsolePage(page, 'Audit log');
    await page.getByRole('table', { name: 'Audit entries' }).waitFor();
    const audit = (await rowsOf(page, 'Audit entries')).join('\n');
    for (const label of ['Member added', 'Member changed', 'Member removed']) assert.match(audit, new RegExp(label));
  });

  test('an owner makes a token, sees it once, uses it against the admin API, revokes it and sees it refused', async () => {
    const page = await signedIn(OWNER);
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin });
    await openConsolePage(page, 'API tokens');
    await page.getByRole('heading', { level: 1, name: 'API tokens' }).waitFor();
    assert.match((await rowOf(page, 'API tokens', 'tests').innerText()), /acme-tes…/, 'the file token shows its first characters');

    await page.getByLabel('Name (what will use it)').fill('Nightly export');
    await page.getByLabel('Expires after (days)').fill('0');
    await page.getByRole('button', { name: 'Make token' }).click();
    await page.getByText('Must be at least 1.').waitFor();
    await page.getByLabel('Expires after (days)').fill('30');
    await page.getByRole('button', { name: 'Make token' }).click();

    const shown = page.getByRole('alertdialog', { name: 'Your new API token' });
    await shown.waitFor();
    const token = await shown.getByLabel('The token').inputValue();
    assert.match(token, /^spk_[A-Za-z0-9_-]{32}$/);
    await page.keyboard.press('Escape');
    assert.equal(await shown.isVisible(), true, 'Escape does not close it before the token was copied');
    await shown.getByRole('button', { name: 'Copy token' }).click();
    await shown.getByText('The token was copied.').waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), token);
    await checkWidths(page, 'tokens-shown');
    await shown.getByRole('button', { name: 'I have copied it' }).click();
    await page.getByText('The token "Nightly export" was made.').waitFor();
    assert.ok(!(await page.content()).includes(token), 'the token is gone from the page');

    const row = rowOf(page, 'API tokens', 'Nightly export');
    assert.match(await row.innerText(), new RegExp(`${token.slice(0, 8)}…`));
    assert.match(await row.innerText(), /Never/);

    const adminApi = () => fetch(`${origin}/api/admin/messages?limit=1`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal((await adminApi()).status, 200, 'the new token works against the admin API');
    await page.reload();
    assert.doesNotMatch(await rowOf(page, 'API tokens', 'Nightly export').innerText(), /Never/, 'its last use is shown');

    await checkWidths(page, 'tokens');
    await page.getByRole('button', { name: 'Deutsch', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'API-Tokens' }).waitFor();
    await page.getByRole('table', { name: 'API-Tokens' }).getByText('Aus der Mandantendatei', { exact: true }).waitFor();
    await checkWidths(page, 'tokens-de');
    await page.getByRole('button', { name: 'English', exact: true }).click();

    await rowOf(page, 'API tokens', 'Nightly export').getByRole('button', { name: 'Revoke Nightly export' }).click();
    await page.getByRole('dialog', { name: 'Revoke "Nightly export"?' }).getByRole('button', { name: 'Revoke' }).click();
    await page.getByText('The token "Nightly export" was revoked.').waitFor();
    assert.equal(await rowOf(page, 'API tokens', 'Nightly export').count(), 0);
    const refused = await adminApi();
    assert.equal(refused.status, 401, 'a revoked token is refused');
    assert.equal(((await refused.json()) as { title: string }).title, 'The API token is not valid');
  });

  test('an analyst reads both lists without buttons; an auditor sees the members but not the tokens', async () => {
    const analyst = await signedIn(ANALYST);
    await openConsolePage(analyst, 'Members');
    await analyst.getByText('Your role may read this list; owners and operators change it.').waitFor();
    assert.equal(await analyst.getByRole('button', { name: 'Add member' }).count(), 0);
    assert.equal(await analyst.getByRole('table', { name: 'Members' }).getByRole('button').count(), 0);
    await openConsolePage(analyst, 'API tokens');
    await analyst.getByRole('table', { name: 'API tokens' }).waitFor();
    assert.equal(await analyst.getByRole('button', { name: 'Make token' }).count(), 0);

    const auditor = await signedIn(AUDITOR);
    const offered = await consolePageNames(auditor);
    assert.ok(offered.includes('Members'), `the auditor is offered the members: ${offered.join(', ')}`);
    assert.ok(!offered.includes('API tokens'), 'but not the tokens');
    await auditor.goto(`${origin}/portal/admin/tokens`);
    await auditor.getByText('You are not allowed to do this.').waitFor();
  });
});
