/**
 * MailGuard in the portal, in real Chromium against a real gateway: a message with a Reply-To in another
 * domain arrives from the Internet over real SMTP and is held; its recipient (a contact) opens the notice's
 * link, signs in on the way, sees the findings and header fields, releases it and it reaches the tenant's
 * mail server. An owner sees the policies with the warning that country rules are not applied (no GeoIP
 * database), creates a policy in the JSON editor after a refused attempt that names the wrong field, tries
 * it on the stored mail, and simulates an uploaded .eml. axe on every page; screenshots at 360 and 1280 px.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import type { Gateway } from '../backend/src/gateway.ts';
import { createTestDatabase, type TestDatabase } from '../backend/test/support/database.ts';
import { MailPeer, type ReceivedMail } from '../backend/test/support/mail-peer.ts';
import { SmtpConversation } from '../backend/test/support/smtp-conversation.ts';
import { tokenOf } from '../backend/test/support/portal-mail.ts';
import { acmeTenant, startBrowserGateway } from '../backend/test/support/test-gateway.ts';
import { assertAccessible, checkWidths } from './support/accessibility.ts';
import { requireBuiltPortal } from './support/built-portal.ts';
import { launchChromium, type LaunchedChromium } from './support/chromium.ts';
import { openConsolePage, consolePageNames } from './support/portal-sign-in.ts';

const OWNER = 'alice@acme.test';
const CONTACT = 'finance@acme.test';
/** From the Internet: any loopback address but Acme's connector (127.0.0.1). */
const INTERNET = '127.0.0.5';
const SUBJECT = 'Overdue invoice 4711';

function phish(subject: string): string {
  return (
    `From: "Payments" <billing@supplier.example>\r\nTo: <${CONTACT}>\r\nSubject: ${subject}\r\n` +
    `Reply-To: <pay@elsewhere.example>\r\nMessage-ID: <${Math.random().toString(36).slice(2)}@supplier.example>\r\n` +
    `Date: Thu, 03 Dec 2026 06:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nPlease pay the attached invoice today.\r\n`
  );
}

/** Quoted-printable soft line breaks joined, so that links read whole. */
const textOf = (mail: ReceivedMail) => mail.raw.toString().replace(/=\r\n/g, '');

async function switchLanguage(page: Page, to: 'en' | 'de'): Promise<void> {
  await page.getByRole('button', { name: to === 'de' ? 'Deutsch' : 'English', exact: true }).click();
  await page.waitForFunction((lang) => document.documentElement.lang === lang, to);
}

describe('MailGuard quarantine and policies in the portal', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let mailServer: MailPeer;
  let chromium: LaunchedChromium;
  let origin: string;
  let heldId: string;
  let noticeLink: string;
  let owner: Page;
  const contexts: BrowserContext[] = [];

  async function newPage(): Promise<Page> {
    const context = await chromium.browser.newContext({ locale: 'en-GB' });
    contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    return page;
  }

  /** On the start page (where an address needing a session leads): asks for a sign-in link and opens it. */
  async function signInFrom(page: Page, address: string): Promise<void> {
    await page.getByLabel('Your work e-mail address').fill(address);
    const start = mailServer.received.length;
    await page.getByRole('button', { name: 'E-mail me a sign-in link' }).click();
    await page.getByText('If this address belongs to a member, a link is on its way.').waitFor();
    const [mail] = (await mailServer.waitForMessages(start + 1)).slice(start);
    assert.deepEqual(mail!.recipients, [address]);
    await page.goto(`${origin}/portal/open?token=${tokenOf(mail!)}`);
    await page.getByRole('button', { name: 'Open message' }).click();
    await page.getByText(`Signed in as ${address}`).waitFor();
  }

  before(async () => {
    requireBuiltPortal();
    database = await createTestDatabase();
    mailServer = await MailPeer.start();
    const tenant = acmeTenant(mailServer.port, {
      members: [
        { email: OWNER, role: 'owner' },
        { email: CONTACT, role: 'contact' },
      ],
      // A Reply-To in another domain is enough to hold a message; its recipient may release it (20 < 25).
      guard: { scores: { REPLYTO_DOMAIN_DIFFERS: 20 }, quarantine: { adminReleaseThreshold: 25 } },
    });
    ({ gateway, origin } = await startBrowserGateway(database, [tenant]));
    chromium = await launchChromium();

    const start = mailServer.received.length;
    const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress: INTERNET });
    await smtp.command('EHLO mta.supplier.example');
    const result = await smtp.sendMessage('billing@supplier.example', [CONTACT], phish(SUBJECT));
    await smtp.quit();
    assert.equal(result.final?.code, 250, `accepted: ${result.final?.text ?? result.mail.text}`);
    heldId = result.final!.text.split('queued as ')[1]!;
    const [notice] = (await mailServer.waitForMessages(start + 1)).slice(start);
    assert.deepEqual(notice!.recipients, [CONTACT]);
    const link = new RegExp(`${origin.replace(/[.:/]/g, '\\$&')}/portal/quarantine/${heldId}`).exec(textOf(notice!));
    assert.ok(link, 'the notice links to the held message in the portal');
    noticeLink = link[0];
  });

  after(async () => {
    for (const context of contexts) await context.close();
    await chromium?.close();
    await gateway?.stop();
    await mailServer?.close();
    await database?.cleanup();
  });

  test("the recipient opens the notice's link, signs in on the way, sees why it was held and releases it to the mail server", async () => {
    const page = await newPage();
    await page.goto(noticeLink);
    await signInFrom(page, CONTACT);
    await page.waitForURL((url) => url.pathname === `/portal/quarantine/${heldId}`);
    await page.getByRole('heading', { level: 1, name: SUBJECT }).waitFor();
    const findings = page.getByRole('table', { name: 'What MailGuard found' });
    const finding = findings.getByRole('row', { name: /REPLYTO_DOMAIN_DIFFERS/ });
    assert.match((await finding.innerText()).replace(/\s+/g, ' '), /REPLYTO_DOMAIN_DIFFERS 20 .*elsewhere\.example/);
    await page.getByRole('table', { name: 'Header fields' }).getByRole('row', { name: /Reply-To/ }).getByText(/pay@elsewhere\.example/).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Release and allow sender' }).count(), 0, 'allowing senders is for administrators');
    assert.equal(await page.getByRole('button', { name: 'Delete' }).count(), 0, 'deleting is for administrators');
    await checkWidths(page, 'quarantine-message');

    await switchLanguage(page, 'de');
    await page.getByRole('table', { name: 'Was MailGuard gefunden hat' }).waitFor();
    await page.getByRole('button', { name: 'Freigeben', exact: true }).waitFor();
    await assertAccessible(page, 'the held message in German');
    await switchLanguage(page, 'en');

    const start = mailServer.received.length;
    await page.getByRole('button', { name: 'Release', exact: true }).click();
    await page.getByText('The message was released and is on its way to the mailbox.').waitFor();
    const [delivered] = (await mailServer.waitForMessages(start + 1)).slice(start);
    assert.deepEqual(delivered!.recipients, [CONTACT]);
    assert.match(textOf(delivered!), new RegExp(`Subject: ${SUBJECT}`));

    await page.getByRole('link', { name: 'Back to the quarantine' }).click();
    await page.getByRole('heading', { level: 1, name: 'Quarantine' }).waitFor();
    await page.getByText('No messages are held for you.').waitFor();
    await checkWidths(page, 'quarantine-empty');
    assert.deepEqual(await consolePageNames(page), [], 'a contact has no policies page, nor any other console page');
  });

  test('an owner sees the policies with the country-rules warning, is told which field is wrong, creates a policy, tries it, simulates an uploaded .eml and deletes the policy after confirming', async () => {
    const page = (owner = await newPage());
    await page.goto(`${origin}/portal/admin/policies`);
    await signInFrom(page, OWNER);
    await openConsolePage(page, 'Mail policies');
    await page.waitForURL((url) => url.pathname === '/portal/admin/policies');
    await page.getByRole('heading', { level: 1, name: 'Mail policies' }).waitFor();
    const warning = page.getByRole('alert').filter({ hasText: 'Country rules are not applied' });
    await warning.getByText(/no GeoIP database configured \(SEALPOST_GEOIP_DB\)/).waitFor();
    await checkWidths(page, 'policies');

    await page.getByRole('button', { name: 'New policy' }).click();
    const editor = page.getByLabel('Policy (JSON)');
    await editor.fill(JSON.stringify({ name: 'Finance strict', priority: 10, match: { recipients: [CONTACT] }, thresholds: { flag: 20, block: 10 } }, null, 2));
    await page.getByRole('button', { name: 'Save policy' }).click();
    const refused = page.getByRole('alert').filter({ hasText: 'The policy was not saved' });
    await refused.getByRole('listitem').filter({ hasText: /thresholds.*must rise: flag <= block/ }).waitFor();
    await checkWidths(page, 'policies-refused');

    await editor.fill(JSON.stringify({ name: 'Finance strict', priority: 10, match: { recipients: [CONTACT] }, thresholds: { flag: 4, block: 10 } }, null, 2));
    await page.getByRole('button', { name: 'Try this change on the last days' }).click();
    await page.getByText(/^1 messages looked at, 1 of them under this policy/).waitFor();
    await page.getByRole('button', { name: 'Save policy' }).click();
    await page.getByText('The policy was saved.').waitFor();
    const row = page.getByRole('table', { name: 'Policies in the order they are tried' }).getByRole('row', { name: /Finance strict/ });
    assert.match((await row.innerText()).replace(/\s+/g, ' '), /Finance strict · enabled · priority 10 .*recipients: finance@acme\.test.*flag 4 · block 10/);

    await page.getByLabel('Message file (.eml)').setInputFiles({ name: 'invoice.eml', mimeType: 'message/rfc822', buffer: Buffer.from(phish('Second reminder')) });
    await page.getByLabel('Recipients (optional, separated by commas)').fill(CONTACT);
    await page.getByRole('button', { name: 'Simulate', exact: true }).click();
    const simulation = page.getByRole('region', { name: 'Simulate a message' });
    await simulation.getByRole('table', { name: 'What MailGuard found' }).or(simulation.getByRole('alert')).first().waitFor();
    const verdict = (await simulation.innerText()).replace(/\s+/g, ' ');
    // The new policy decides (its own thresholds, the checks' own score of 4: the tenant default's 20 is not inherited).
    assert.match(verdict, /Verdict: flag · score 4 \(flag at 4, block at 10\) · policy Finance strict/);
    assert.match(verdict, /REPLYTO_DOMAIN_DIFFERS 4 reply-to domain elsewhere\.example differs/);
    assert.match(verdict, /Assumed because the file does not say: .*connecting address assumed/);
    await page.getByRole('table', { name: 'What MailGuard found' }).getByRole('row', { name: /REPLYTO_DOMAIN_DIFFERS/ }).waitFor();
    await checkWidths(page, 'policies-simulated');

    // Recipients under different policies: the page says the message is split and what each part gets.
    await page.getByLabel('Recipients (optional, separated by commas)').fill(`${CONTACT}, ${OWNER}`);
    await page.getByRole('button', { name: 'Simulate', exact: true }).click();
    await simulation.getByText(/fall under different policies/).waitFor();
    const parts = (await simulation.getByRole('list').first().innerText()).replace(/\s+/g, ' ');
    assert.match(parts, /finance@acme\.test: policy Finance strict, flag, score 4/);
    assert.match(parts, /alice@acme\.test: policy Default, quarantine, score 20/);

    await switchLanguage(page, 'de');
    await page.getByRole('heading', { level: 1, name: 'E-Mail-Richtlinien' }).waitFor();
    await page.getByText('Länderregeln werden nicht angewendet').waitFor();
    await page.getByText('Urteil: markieren', { exact: false }).waitFor();
    await assertAccessible(page, 'the policies page in German');
    await switchLanguage(page, 'en');

    await page.getByRole('button', { name: 'Edit Finance strict' }).click();
    const stored = JSON.parse(await page.getByLabel('Policy (JSON)').inputValue()) as Record<string, unknown>;
    assert.deepEqual(stored.thresholds, { flag: 4, block: 10 }, 'the editor holds the stored settings');
    assert.equal(stored.revision, undefined, 'what the server keeps itself is not offered for editing');
    await page.getByLabel('Policy (JSON)').fill(JSON.stringify({ ...stored, priority: 20 }, null, 2));
    await page.getByRole('button', { name: 'Save policy' }).click();
    await page.getByText('The policy was saved.').waitFor();
    await page.getByRole('row', { name: /Finance strict · enabled · priority 20/ }).waitFor();
    assert.equal(await page.getByRole('row', { name: /Default · enabled/ }).getByRole('button').count(), 0, 'a tenant-file policy has no edit or delete');
    await page.getByRole('row', { name: /Default · enabled/ }).getByText('Read-only: it comes from the tenant file; change it there.').waitFor();

    await page.getByRole('button', { name: 'Delete Finance strict' }).click();
    const confirm = page.getByRole('dialog', { name: 'Delete the policy Finance strict?' });
    await assertAccessible(page, 'the policy delete confirmation');
    await confirm.getByRole('button', { name: 'Delete', exact: true }).click();
    await page.getByText('The policy Finance strict was deleted.').waitFor();
    await confirm.waitFor({ state: 'detached' });
    assert.equal(await page.getByRole('row', { name: /Finance strict/ }).count(), 0);
    await assertAccessible(page, 'the policies page after deleting');
  });

  test("an owner sees the whole organisation's quarantine, may allow the sender, and deletes a held message only after confirming", async () => {
    const start = mailServer.received.length;
    const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress: INTERNET });
    await smtp.command('EHLO mta.supplier.example');
    const held = await smtp.sendMessage('billing@supplier.example', [OWNER], phish('Final notice').replace(`To: <${CONTACT}>`, `To: <${OWNER}>`));
    await smtp.quit();
    assert.equal(held.final?.code, 250);
    await mailServer.waitForMessages(start + 1);

    const page = owner;
    await page.getByRole('navigation').getByRole('link', { name: 'Quarantine' }).click();
    await page.getByText("Messages to the organisation that MailGuard held back. You see everyone's and may release, allow senders and delete.").waitFor();
    const table = page.getByRole('table', { name: 'Held messages' });
    await table.getByRole('link', { name: 'Final notice' }).click();
    await page.getByRole('heading', { level: 1, name: 'Final notice' }).waitFor();
    await page.getByRole('button', { name: 'Release and allow sender' }).waitFor();
    await checkWidths(page, 'quarantine-admin');

    await page.getByRole('button', { name: 'Delete', exact: true }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete this held message?' });
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'detached' });
    await page.getByRole('heading', { level: 1, name: 'Final notice' }).waitFor();
    await page.getByRole('button', { name: 'Delete', exact: true }).click();
    await assertAccessible(page, 'the delete confirmation');
    await dialog.getByRole('button', { name: 'Delete', exact: true }).click();
    await page.getByText('The held message was deleted.').waitFor();
    await assertAccessible(page, 'the quarantine after deleting');
    await page.getByRole('link', { name: 'Back to the quarantine' }).click();
    await page.getByRole('heading', { level: 1, name: 'Quarantine' }).waitFor();
    await page.waitForFunction(() => !document.querySelector('[role="progressbar"]'));
    assert.equal(await page.getByRole('link', { name: 'Final notice' }).count(), 0, 'the deleted message is gone from the list');
    const answer = await page.evaluate(async (id) => (await fetch(`/api/portal/guard/quarantine/${id}`)).status, held.final!.text.split('queued as ')[1]!);
    assert.equal(answer, 404, 'the server no longer has it');
  });
});
