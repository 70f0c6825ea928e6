/**
 * The admin console's audit log and storage pages, in real Chromium against a real gateway: an owner
 * filters the audit log by action and by actor, pages back and forth, downloads the filtered entries as
 * CSV and JSON (and reads them back), verifies the chain, sees it all in German, and looks at the
 * storage the portal messages sent before the test take. Auditors see the audit log and not storage,
 * analysts the reverse, contacts neither. axe on both pages; no horizontal scrolling at 360 px.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { AUDIT_ACTIONS, appendAudit } from '../backend/src/audit/audit-log.ts';
import type { Gateway } from '../backend/src/gateway.ts';
import { createTestDatabase, type TestDatabase } from '../backend/test/support/database.ts';
import { MailPeer } from '../backend/test/support/mail-peer.ts';
import { SmtpConversation } from '../backend/test/support/smtp-conversation.ts';
import { acmeTenant, startBrowserGateway } from '../backend/test/support/test-gateway.ts';
import { translations } from '../portal/src/i18n.tsx';
import '../portal/src/console-i18n.ts';
import { actionLabel } from '../portal/src/pages/audit-actions.ts';
import { checkWidths } from './support/accessibility.ts';
import { requireBuiltPortal } from './support/built-portal.ts';
import { launchChromium, type LaunchedChromium } from './support/chromium.ts';
import { signedInPage, openConsolePage, consolePageNames } from './support/portal-sign-in.ts';

const OWNER = 'alice@acme.test';
const AUDITOR = 'ann@acme.test';
const ANALYST = 'andy@acme.test';
const CONTACT = 'carol@acme.test';
const PAGED_ACTOR = 'pager@partner.example';

describe('audit log and storage in the portal', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let mailServer: MailPeer;
  let relay: MailPeer;
  let chromium: LaunchedChromium;
  let origin: string;
  const contexts: BrowserContext[] = [];

  const signedIn = (address: string): Promise<Page> =>
    signedInPage({ browser: chromium.browser, origin, mailServer, contexts }, address, '/portal/', { context: { acceptDownloads: true }, timeoutMs: 10000 });

  async function sendSecure(subject: string, to: string, body: string) {
    const start = relay.received.length;
    const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress: '127.0.0.1' });
    await smtp.command('EHLO exchange.acme.test');
    const raw = [`From: Alice <${OWNER}>`, `To: ${to}`, `Subject: ${subject}`, 'MIME-Version: 1.0', 'X-Sealpost-Encrypt: portal', '', body, ''].join('\r\n');
    const result = await smtp.sendMessage(OWNER, [to], raw);
    await smtp.quit();
    assert.equal(result.final?.code, 250, `the gateway accepted the message: ${result.final?.text}`);
    await relay.waitForMessages(start + 1);
  }

  /** The rows of a table's body, as text. */
  const rowsOf = async (page: Page, table: string) => page.getByRole('table', { name: table }).locator('tbody tr').allInnerTexts();

  before(async () => {
    requireBuiltPortal();
    database = await createTestDatabase();
    mailServer = await MailPeer.start();
    relay = await MailPeer.start();
    const tenant = acmeTenant(mailServer.port, {
      members: [
        { email: OWNER, role: 'owner' },
        { email: AUDITOR, role: 'auditor' },
        { email: ANALYST, role: 'analyst' },
        { email: CONTACT, role: 'contact' },
      ],
    });
    ({ gateway, origin } = await startBrowserGateway(database, [tenant], { SEALPOST_RELAY: `smtp://127.0.0.1:${relay.port}` }));
    chromium = await launchChromium();
    await sendSecure('Quarterly figures', 'client@example.net', 'Q'.repeat(30_000));
    await sendSecure('Quarterly figures', 'client@example.net', 'Second part.');
    await sendSecure('Lunch', 'friend@example.org', 'Noon?');
    const tenantId = gateway.directory.tenantForDomain('acme.test')!.id;
    // More entries by one actor than a page holds, one of them with a cell a spreadsheet would run.
    await appendAudit(gateway.database.db, gateway.vault.auditKeys, [
      ...Array.from({ length: 54 }, (_, i) => ({ tenantId, action: 'quarantine_viewed' as const, actorAddress: PAGED_ACTOR, subjectId: `q-${i}`, clientIp: '203.0.113.9' })),
      { tenantId, action: 'quarantine_viewed' as const, actorAddress: PAGED_ACTOR, subjectId: '=1+2', details: { note: 'a "quoted", note' } },
    ]);
  });

  after(async () => {
    for (const context of contexts) await context.close();
    await chromium?.close();
    await gateway?.stop();
    await mailServer?.close();
    await relay?.close();
    await database?.cleanup();
  });

  test('every action the log knows has a label in English and German', () => {
    const t = (language: 'en' | 'de') => (key: string) => translations[language][key as keyof (typeof translations)['en']];
    for (const action of AUDIT_ACTIONS) {
      assert.notEqual(actionLabel(action, t('en')), action, `${action} has an English label`);
      assert.notEqual(actionLabel(action, t('de')), action, `${action} has a German label`);
    }
  });

  test('an owner filters, pages, exports and verifies the audit log, in English and German', async () => {
    const page = await signedIn(OWNER);
    await openConsolePage(page, 'Audit log');
    await page.getByRole('heading', { level: 1, name: 'Audit log' }).waitFor();
    await page.getByRole('table', { name: 'Audit entries' }).waitFor();

    // By action: only the three messages sent.
    await page.getByLabel('Action').selectOption({ label: 'Message sent' });
    await page.getByRole('button', { name: 'Show entries' }).click();
    await page.getByRole('table', { name: 'Audit entries' }).waitFor();
    await page.waitForFunction(() => document.querySelectorAll('table tbody tr').length === 3);
    for (const row of await rowsOf(page, 'Audit entries')) assert.match(row, /Message sent/);

    // By actor: 55 entries, a page of 50 and then 5; newer leads back.
    await page.getByLabel('Action').selectOption({ label: 'All actions' });
    await page.getByLabel('Actor address or part of it').fill('PAGER@');
    await page.getByRole('button', { name: 'Show entries' }).click();
    await page.waitForFunction(() => document.querySelectorAll('table tbody tr').length === 50);
    const firstPage = await rowsOf(page, 'Audit entries');
    assert.match(firstPage[0]!, /about =1\+2/, 'newest first');
    assert.match(firstPage[0]!, /Quarantined message viewed/);
    const pages = page.getByRole('navigation', { name: 'Pages' });
    assert.equal(await pages.getByRole('button', { name: 'Newer' }).isDisabled(), true);
    await pages.getByRole('button', { name: 'Older' }).click();
    await page.waitForFunction(() => document.querySelectorAll('table tbody tr').length === 5);
    assert.match((await rowsOf(page, 'Audit entries')).at(-1)!, /about q-0/);
    assert.equal(await pages.getByRole('button', { name: 'Older' }).isDisabled(), true);
    await pages.getByRole('button', { name: 'Newer' }).click();
    await page.waitForFunction(() => document.querySelectorAll('table tbody tr').length === 50);
    assert.deepEqual(await rowsOf(page, 'Audit entries'), firstPage);

    // The export holds what the filter finds, all pages of it.
    const csvDownload = page.waitForEvent('download');
    await page.getByRole('button', { name: 'Export as CSV' }).click();
    const csv = await csvDownload;
    assert.match(csv.suggestedFilename(), /^audit-log-\d{4}-\d{2}-\d{2}\.csv$/);
    await page.getByText('55 entries exported.').waitFor();
    const csvText = readFileSync((await csv.path())!, 'utf8');
    const lines = csvText.replace(/^\uFEFF/, '').split('\r\n').filter(Boolean);
    assert.equal(lines.length, 56, 'a header and 55 entries');
    assert.match(lines[1]!, /"'=1\+2"/, 'the cell a spreadsheet would run starts with an apostrophe');
    assert.match(lines[1]!, /a \\""quoted\\"", note/, 'quotes inside are doubled');
    const jsonDownload = page.waitForEvent('download');
    await page.getByRole('button', { name: 'Export as JSON' }).click();
    const exported = JSON.parse(readFileSync((await (await jsonDownload).path())!, 'utf8'));
    assert.equal(exported.entries.length, 55);
    assert.equal(exported.capped, false);
    assert.ok(exported.entries.every((e: { actorAddress: string }) => e.actorAddress === PAGED_ACTOR));

    await page.getByRole('button', { name: 'Verify the chain' }).click();
    await page.getByText(/The chain is intact: \d+ entries checked/).waitFor();

    await checkWidths(page, 'audit-log');

    await page.getByRole('button', { name: 'Deutsch', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Audit-Protokoll' }).waitFor();
    assert.match((await rowsOf(page, 'Protokolleinträge'))[0]!, /Nachricht in Quarantäne angesehen/);
    await page.getByRole('button', { name: 'Kette prüfen' }).click();
    await page.getByText(/Die Kette ist unversehrt/).waitFor();
    await checkWidths(page, 'audit-log-de');
    await page.getByRole('button', { name: 'English', exact: true }).click();
  });

  test('an owner sees the storage the sent messages take, per member and by thread, in English and German', async () => {
    const page = await signedIn(OWNER);
    await openConsolePage(page, 'Storage');
    await page.getByRole('heading', { level: 1, name: 'Portal storage' }).waitFor();
    const members = await rowsOf(page, 'Storage per member');
    assert.equal(members.length, 1);
    assert.match(members[0]!, /alice@acme\.test/);
    assert.match(members[0]!, /\d+(\.\d)? KB/);
    const meter = page.getByRole('meter', { name: OWNER });
    assert.match((await meter.getAttribute('aria-valuetext'))!, /alice@acme\.test: .* KB of 2 GB/);
    const threads = await rowsOf(page, 'Largest threads');
    assert.equal(threads.length, 2);
    assert.match(threads[0]!, /client@example\.net/, 'the thread of two messages, one large, is the largest');
    assert.ok(!(await page.content()).includes('Quarterly figures'), 'no subject is shown');
    await page.getByText('3 stored message(s)').waitFor();

    await checkWidths(page, 'storage');

    await page.getByRole('button', { name: 'Deutsch', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Portal-Speicher' }).waitFor();
    await page.getByRole('table', { name: 'Speicher je Mitglied' }).waitFor();
    await page.getByRole('table', { name: 'Größte Unterhaltungen' }).waitFor();
    await checkWidths(page, 'storage-de');
    await page.getByRole('button', { name: 'English', exact: true }).click();
  });

  test('the console shows each role its pages: auditors the audit log, analysts storage, contacts neither', async () => {
    const expected: Array<[string, boolean, boolean]> = [
      [AUDITOR, true, false],
      [ANALYST, false, true],
      [CONTACT, false, false],
    ];
    for (const [address, audit, storage] of expected) {
      const page = await signedIn(address);
      const offered = await consolePageNames(page);
      assert.equal(offered.includes('Audit log'), audit, `${address} audit link among ${offered.join(', ')}`);
      assert.equal(offered.includes('Storage'), storage, `${address} storage link among ${offered.join(', ')}`);
      const statuses = await page.evaluate(() =>
        Promise.all(['/api/portal/admin/audit', '/api/portal/admin/storage'].map((path) => fetch(path, { credentials: 'same-origin' }).then((r) => r.status))),
      );
      assert.deepEqual(statuses, [audit ? 200 : 403, storage ? 200 : 403], address);
      await page.goto(`${origin}/portal/admin/${audit ? 'storage' : 'audit'}`);
      await page.getByText('You are not allowed to do this.').waitFor();
    }
  });
});
