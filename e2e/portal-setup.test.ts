/**
 * The admin's Exchange setup page in real Chromium against the real gateway: an owner signs in with a
 * magic link, opens the page from the navigation, gets the DNS records and the PowerShell script for the
 * gateway's address, and is told in words when an address is wrong; a contact gets neither the link nor
 * the page. Accessibility is checked with axe in both languages.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import type { Gateway } from '../backend/src/gateway.ts';
import { createTestDatabase, type TestDatabase } from '../backend/test/support/database.ts';
import { MailPeer } from '../backend/test/support/mail-peer.ts';
import { acmeTenant, startBrowserGateway } from '../backend/test/support/test-gateway.ts';
import { launchChromium, type LaunchedChromium } from './support/chromium.ts';
import { assertAccessible } from './support/accessibility.ts';
import { tokenOf } from '../backend/test/support/portal-mail.ts';
import { requireBuiltPortal } from './support/built-portal.ts';
import { consolePageNames, openConsolePage } from './support/portal-sign-in.ts';

const OWNER = 'alice@acme.test';
const CONTACT = 'bob@acme.test';
const GATEWAY_IP = '203.0.113.25';

async function switchLanguage(page: Page, to: 'en' | 'de'): Promise<void> {
  await page.getByRole('button', { name: to === 'de' ? 'Deutsch' : 'English', exact: true }).click();
  await page.waitForFunction((lang) => document.documentElement.lang === lang, to);
}

describe('the Exchange setup page in the browser', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let tenantMailServer: MailPeer;
  let chromium: LaunchedChromium;
  let origin: string;
  let ownerContext: BrowserContext;
  let owner: Page;

  /** Signs a member in through the start page's form and the link that arrives at the tenant's mail server. */
  async function signIn(address: string): Promise<{ context: BrowserContext; page: Page }> {
    const context = await chromium.browser.newContext({ acceptDownloads: true, locale: 'en-GB' });
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    await page.goto(`${origin}/portal/`);
    await page.getByLabel('Your work e-mail address').fill(address);
    const start = tenantMailServer.received.length;
    await page.getByRole('button', { name: 'E-mail me a sign-in link' }).click();
    await page.getByText('If this address belongs to a member, a link is on its way.').waitFor();
    const [mail] = (await tenantMailServer.waitForMessages(start + 1)).slice(start);
    assert.deepEqual(mail!.recipients, [address]);
    await page.goto(`${origin}/portal/open?token=${tokenOf(mail!)}`);
    await page.getByRole('button', { name: 'Open message' }).click();
    await page.getByText(`Signed in as ${address}`).waitFor();
    return { context, page };
  }

  before(async () => {
    requireBuiltPortal();
    database = await createTestDatabase();
    tenantMailServer = await MailPeer.start();
    const tenant = acmeTenant(tenantMailServer.port, {
      members: [
        { email: OWNER, role: 'owner' },
        { email: CONTACT, role: 'contact' },
      ],
    });
    ({ gateway, origin } = await startBrowserGateway(database, [tenant]));
    chromium = await launchChromium();
  });

  after(async () => {
    await ownerContext?.close();
    await chromium?.close();
    await gateway?.stop();
    await tenantMailServer?.close();
    await database?.cleanup();
  });

  test("an owner opens Exchange setup from the navigation, sees the MX record for the tenant's domain and downloads the script for the gateway's address", async () => {
    ({ context: ownerContext, page: owner } = await signIn(OWNER));
    await openConsolePage(owner, 'Exchange setup');
    await owner.waitForURL((url) => url.pathname === '/portal/admin/setup');
    await owner.getByRole('heading', { level: 1, name: 'Connect Outlook and Exchange' }).waitFor();
    const manifest = owner.getByRole('link', { name: 'Download manifest.xml' });
    assert.equal(await manifest.getAttribute('href'), '/addin/manifest.xml');
    assert.equal(await manifest.getAttribute('download'), 'manifest.xml');

    await owner.getByLabel('Public IP addresses of the gateway').fill(GATEWAY_IP);
    await owner.getByRole('button', { name: 'Prepare script and DNS records' }).click();
    const table = owner.getByRole('table', { name: 'DNS records to publish' });
    const mx = table.getByRole('row', { name: /^MX / });
    await mx.waitFor();
    assert.match((await mx.innerText()).replace(/\s+/g, ' '), /^MX acme\.test\. gateway\.sealpost\.test\. 10 3600 Mail for acme\.test arrives at the gateway/);
    const spf = table.getByRole('row', { name: /^TXT / });
    assert.match(await spf.innerText(), /v=spf1 ip4:203\.0\.113\.25 /);
    assert.match(await owner.getByLabel('The same records as zone file lines').inputValue(), /^acme\.test\.\t3600\tIN\tMX\t10 gateway\.sealpost\.test\.$/m);

    const [download] = await Promise.all([owner.waitForEvent('download'), owner.getByRole('link', { name: 'Download the script (connect-sealpost.ps1)' }).click()]);
    assert.equal(download.suggestedFilename(), 'connect-sealpost.ps1');
    const script = readFileSync(await download.path(), 'utf8');
    assert.match(script, /New-OutboundConnector/);
    assert.match(script, /acme\.test/);
    assert.match(script, /203\.0\.113\.25/);
  });

  test('the page passes axe in English and German with the records shown', async () => {
    await assertAccessible(owner, 'the Exchange setup page in English');
    await switchLanguage(owner, 'de');
    await owner.getByRole('heading', { level: 1, name: 'Outlook und Exchange verbinden' }).waitFor();
    await owner.getByRole('table', { name: 'Zu veröffentlichende DNS-Einträge' }).getByText('E-Mails für acme.test kommen beim Gateway an').waitFor();
    await assertAccessible(owner, 'the Exchange setup page in German');
    await switchLanguage(owner, 'en');
  });

  test('an address that is not an IP address is refused in words, and no script is offered', async () => {
    await owner.getByLabel('Public IP addresses of the gateway').fill('203.0.113.25, 203.0.113.300');
    await owner.getByRole('button', { name: 'Prepare script and DNS records' }).click();
    await owner.getByText('These gateway addresses were not accepted. Enter IPv4 or IPv6 addresses only, separated by commas.').waitFor();
    assert.equal(await owner.getByRole('link', { name: 'Download the script (connect-sealpost.ps1)' }).count(), 0);
    assert.equal(await owner.getByRole('table').count(), 0, 'no records are shown for refused addresses');
    await assertAccessible(owner, 'the Exchange setup page with the refusal');
  });

  test('a host name that Exchange cannot use is refused next to its field, with the gateway\'s reason', async () => {
    await owner.getByLabel('Public IP addresses of the gateway').fill('203.0.113.25');
    await owner.getByLabel('Host name of the gateway (optional)').fill('vm');
    await owner.getByRole('button', { name: 'Prepare script and DNS records' }).click();
    await owner.getByText(/Enter the gateway's public host name\. The gateway says: "vm" is not a fully qualified host name/).waitFor();
    assert.equal(await owner.getByText('These gateway addresses were not accepted', { exact: false }).count(), 0, 'the addresses are not blamed');
    await owner.getByLabel('Host name of the gateway (optional)').fill('mail.acme.test');
    await owner.getByRole('button', { name: 'Prepare script and DNS records' }).click();
    const link = owner.getByRole('link', { name: 'Download the script (connect-sealpost.ps1)' });
    await link.waitFor();
    assert.match((await link.getAttribute('href')) ?? '', /gatewayHost=mail\.acme\.test/);
    await assertAccessible(owner, 'the Exchange setup page with a refused host name');
    await owner.getByLabel('Host name of the gateway (optional)').fill('');
  });

  test('a contact has no Exchange setup link and is told at its address that only owners and operators may use it', async () => {
    const { context, page } = await signIn(CONTACT);
    try {
      await page.getByRole('navigation').getByRole('link', { name: 'Sent' }).waitFor();
      assert.deepEqual(await consolePageNames(page), [], 'a contact is offered no console page');
      await page.goto(`${origin}/portal/admin/setup`);
      await page.getByText('Only owners and operators of the organisation can open the Exchange setup.').waitFor();
      assert.equal(await page.getByLabel('Public IP addresses of the gateway').count(), 0);
      const answer = await page.evaluate(async () => (await fetch('/api/portal/admin/setup/dns-records?gatewayIps=203.0.113.25')).status);
      assert.equal(answer, 403, 'the server refuses the records to a contact as well');
      await assertAccessible(page, 'the Exchange setup page for a contact');
    } finally {
      await context.close();
    }
  });
});
