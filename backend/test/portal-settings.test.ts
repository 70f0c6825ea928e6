import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { and, eq } from 'drizzle-orm';
import { simpleParser } from 'mailparser';
import MailComposer from 'nodemailer/lib/mail-composer';
import { verifyAuditChain } from '../src/audit/audit-log.ts';
import { auditLog } from '../src/db/schema.ts';
import type { Gateway } from '../src/gateway.ts';
import { DEFAULT_PORTAL_SETTINGS } from '../src/portal/portal-settings.ts';
import { createTestDatabase, ownerDb, type TestDatabase } from './support/database.ts';
import { MailPeer } from './support/mail-peer.ts';
import { PortalBrowser } from './support/portal-browser.ts';
import { tokenOf } from './support/portal-mail.ts';
import { SmtpConversation } from './support/smtp-conversation.ts';
import { acmeTenant, globexTenant, startTestGateway } from './support/test-gateway.ts';

const GB = 1024 ** 3;
const SETTINGS = '/api/portal/admin/settings';

interface FieldError {
  field: string;
  message: string;
  rule: string;
}

describe('portal settings for admins', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let tenantMailServer: MailPeer;
  let relay: MailPeer;
  let tenantId: string;
  const browsers = new Map<string, PortalBrowser>();

  /** Signs a member in through the sign-in link the tenant's mail server receives. */
  async function signIn(address: string): Promise<PortalBrowser> {
    const known = browsers.get(address);
    if (known) return known;
    const start = tenantMailServer.received.length;
    const browser = new PortalBrowser(gateway.httpPort);
    assert.equal((await browser.request('POST', '/api/portal/sign-in', { json: { email: address } })).status, 202);
    const mails = await tenantMailServer.waitForMessages(start + 1);
    const mail = mails.slice(start).find((m) => m.recipients.includes(address))!;
    assert.equal((await browser.open(tokenOf(mail))).status, 200);
    browsers.set(address, browser);
    return browser;
  }

  async function settingsAudit() {
    return ownerDb(gateway.database.db)
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.tenantId, tenantId), eq(auditLog.action, 'portal_settings_changed')))
      .orderBy(auditLog.seq);
  }

  async function sendPortalMessage(to: string, subject: string) {
    const start = relay.received.length;
    const raw = await new MailComposer({
      from: 'Alice Lawyer <alice@acme.test>',
      to,
      subject,
      text: 'Please sign.',
      headers: { 'X-Sealpost-Encrypt': 'portal' },
    })
      .compile()
      .build();
    const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress: '127.0.0.1' });
    await smtp.command('EHLO exchange.acme.test');
    const result = await smtp.sendMessage('alice@acme.test', [to], raw);
    await smtp.quit();
    assert.equal(result.final?.code, 250);
    const mails = await relay.waitForMessages(start + 1);
    return mails.slice(start).find((m) => m.recipients.includes(to))!;
  }

  before(async () => {
    database = await createTestDatabase();
    tenantMailServer = await MailPeer.start();
    relay = await MailPeer.start();
    gateway = await startTestGateway(
      database,
      [
        acmeTenant(tenantMailServer.port, {
          domains: ['acme.test', 'acme-mail.test'],
          members: [
            { email: 'alice@acme.test', role: 'owner' },
            { email: 'olga@acme.test', role: 'operator' },
            { email: 'anna@acme.test', role: 'analyst' },
            { email: 'aude@acme.test', role: 'auditor' },
            { email: 'carol@acme.test', role: 'contact' },
          ],
        }),
        globexTenant(tenantMailServer.port),
      ],
      { SEALPOST_RELAY: `smtp://127.0.0.1:${relay.port}` },
    );
    tenantId = gateway.directory.tenantForDomain('acme.test')!.id;
  });

  after(async () => {
    await gateway.stop();
    await tenantMailServer.close();
    await relay.close();
    await database.cleanup();
  });

  test('a wrong setting is refused with a message that names the field and the rule, every wrong field at once, and nothing changes', async () => {
    const owner = await signIn('alice@acme.test');
    const before = (await owner.request('GET', SETTINGS)).json();

    // No expiry is the product's default; a default and a shorter maximum given together are refused.
    assert.equal(before.defaultExpiryDays, undefined);
    const tooShort = await owner.request('PATCH', SETTINGS, { json: { defaultExpiryDays: 30, maxExpiryDays: 10 } });
    assert.equal(tooShort.status, 400);
    assert.match(String(tooShort.headers['content-type']), /application\/problem\+json/);
    assert.deepEqual(tooShort.json().errors, [
      {
        field: 'maxExpiryDays',
        message: 'maxExpiryDays: must be at least defaultExpiryDays (30)',
        rule: 'at-least',
        limit: 'defaultExpiryDays (30)',
      },
    ]);
    assert.match(tooShort.json().detail, /maxExpiryDays: must be at least defaultExpiryDays/);

    const many = await owner.request('PATCH', SETTINGS, {
      json: {
        tenantQuotaBytes: -1,
        retentionDays: 0,
        maxAttachments: 101,
        memberQuotaBytes: { 'bob@globex.test': GB, 'not an address': GB, 'olga@acme-mail.test': 2 * GB },
        notificationTemplates: { de: { text: 'Ohne Verweis: {{subject}}', html: '<p>{{link}} {{sendr}}</p>' } },
        digestTemplate: '<p>{{subject}}</p>',
        colour: '#ff0000',
      },
    });
    assert.equal(many.status, 400);
    const byField = new Map((many.json().errors as FieldError[]).map((e) => [e.field, e]));
    assert.equal(byField.get('tenantQuotaBytes')?.message, 'tenantQuotaBytes: must not be negative');
    assert.equal(byField.get('retentionDays')?.message, 'retentionDays: must be at least 1');
    assert.equal(byField.get('maxAttachments')?.message, 'maxAttachments: must be at most 100');
    assert.equal(byField.get('memberQuotaBytes.bob@globex.test')?.rule, 'foreign-domain');
    assert.match(byField.get('memberQuotaBytes.bob@globex.test')!.message, /must be an address of the organisation's domains \(acme\.test, acme-mail\.test\)/);
    assert.equal(byField.get('memberQuotaBytes.not an address')?.rule, 'address');
    assert.ok(!byField.has('memberQuotaBytes.olga@acme-mail.test'), 'an address of any of the tenant\'s domains is taken');
    assert.equal(byField.get('notificationTemplates.de.text')?.message, 'notificationTemplates.de.text: must keep {{link}}');
    assert.match(byField.get('notificationTemplates.de.html')!.message, /^notificationTemplates\.de\.html: \{\{sendr\}\} is not a placeholder; use \{\{sender\}\}/);
    assert.equal(byField.get('digestTemplate')?.message, 'digestTemplate: must keep {{rows}}');
    assert.equal(byField.get('colour')?.rule, 'unknown-field');
    assert.equal(byField.size, 9);

    const wrongType = await owner.request('PATCH', SETTINGS, { json: { sessionTtlMinutes: 'a day' } });
    assert.equal(wrongType.status, 400);
    assert.deepEqual(wrongType.json().errors, [{ field: 'sessionTtlMinutes', message: 'sessionTtlMinutes: must be a whole number or null', rule: 'type' }]);
    const wrongChoice = await owner.request('PATCH', SETTINGS, { json: { secondFactor: 'sometimes' } });
    assert.equal(wrongChoice.json().errors[0].field, 'secondFactor');
    assert.equal(wrongChoice.json().errors[0].message, 'secondFactor: must be one of on-request, always');

    assert.deepEqual((await owner.request('GET', SETTINGS)).json(), before, 'a refused change changes nothing');
    assert.equal((await settingsAudit()).length, 0, 'and is not audited');
  });

  test('a change is saved and audited field by field, old to new, without the templates\' text; null takes a value away', async () => {
    const owner = await signIn('alice@acme.test');
    const template = 'Please open {{link}} before {{expires}}. Confidential wording of the firm.';
    const changed = await owner.request('PATCH', SETTINGS, {
      json: {
        defaultExpiryDays: 14,
        maxExpiryDays: 60,
        tenantQuotaBytes: 5 * GB,
        memberQuotaBytes: { 'Olga@acme.test': GB },
        notificationTemplates: { en: { text: template } },
        secondFactor: 'always',
      },
    });
    assert.equal(changed.status, 200, changed.body.toString());
    const settings = (await owner.request('GET', SETTINGS)).json();
    assert.equal(settings.defaultExpiryDays, 14);
    assert.equal(settings.tenantQuotaBytes, 5 * GB);
    assert.deepEqual(settings.memberQuotaBytes, { 'olga@acme.test': GB }, 'addresses are kept in lower case, as senders are matched');
    assert.equal(settings.notificationTemplates.en.text, template);
    assert.equal(settings.secondFactor, 'always');

    const [entry] = await settingsAudit();
    assert.ok(entry);
    assert.equal(entry.actorAddress, 'alice@acme.test');
    assert.deepEqual(entry.details.changes, [
      { field: 'defaultExpiryDays', from: null, to: 14 },
      { field: 'maxExpiryDays', from: null, to: 60 },
      { field: 'memberQuotaBytes.olga@acme.test', from: null, to: GB },
      { field: 'notificationTemplates.en.text', from: null, to: `custom (${template.length} characters)` },
      { field: 'secondFactor', from: null, to: 'always' },
      { field: 'tenantQuotaBytes', from: null, to: 5 * GB },
    ]);
    assert.doesNotMatch(JSON.stringify(entry.details), /Confidential wording/);

    const unset = await owner.request('PATCH', SETTINGS, {
      json: { tenantQuotaBytes: null, defaultExpiryDays: null, maxExpiryDays: null, memberQuotaBytes: {}, notificationTemplates: { en: null }, secondFactor: null },
    });
    assert.equal(unset.status, 200, unset.body.toString());
    const after = (await owner.request('GET', SETTINGS)).json();
    assert.equal(after.tenantQuotaBytes, undefined, 'no tenant-wide quota');
    assert.equal(after.defaultExpiryDays, DEFAULT_PORTAL_SETTINGS.defaultExpiryDays, 'the product default applies again');
    assert.equal(after.maxExpiryDays, DEFAULT_PORTAL_SETTINGS.maxExpiryDays);
    assert.deepEqual(after.memberQuotaBytes, {});
    assert.deepEqual(after.notificationTemplates, {});
    assert.equal(after.secondFactor, DEFAULT_PORTAL_SETTINGS.secondFactor);
    const second = (await settingsAudit())[1]!;
    assert.deepEqual(
      (second.details.changes as Array<{ field: string; from: unknown; to: unknown }>).find((c) => c.field === 'tenantQuotaBytes'),
      { field: 'tenantQuotaBytes', from: 5 * GB, to: null },
    );
    assert.deepEqual(
      (second.details.changes as Array<{ field: string }>).find((c) => c.field === 'notificationTemplates.en.text'),
      { field: 'notificationTemplates.en.text', from: `custom (${template.length} characters)`, to: null },
    );

    assert.equal((await owner.request('PATCH', SETTINGS, { json: { secondFactor: 'on-request' } })).status, 200);
    assert.equal((await settingsAudit()).length, 3);
    assert.equal((await owner.request('PATCH', SETTINGS, { json: { secondFactor: 'on-request' } })).status, 200);
    assert.equal((await settingsAudit()).length, 3, 'saving what is already set records nothing');
    assert.equal((await verifyAuditChain(gateway.database.db, gateway.vault.auditKeys, { tenantId })).ok, true);
  });

  test('operators change settings; analysts and auditors read them only; contacts and recipients see nothing', async () => {
    const operator = await signIn('olga@acme.test');
    assert.equal((await operator.request('PATCH', SETTINGS, { json: { maxAttachments: 12 } })).status, 200);
    for (const reader of ['anna@acme.test', 'aude@acme.test']) {
      const browser = await signIn(reader);
      const read = await browser.request('GET', SETTINGS);
      assert.equal(read.status, 200, reader);
      assert.equal(read.json().maxAttachments, 12);
      const refused = await browser.request('PATCH', SETTINGS, { json: { maxAttachments: 3 } });
      assert.equal(refused.status, 403, reader);
      assert.equal(refused.json().type, 'urn:sealpost:problem:forbidden');
    }
    const contact = await signIn('carol@acme.test');
    assert.equal((await contact.request('GET', SETTINGS)).status, 403);
    assert.equal((await new PortalBrowser(gateway.httpPort).request('GET', SETTINGS)).status, 401);
    const noCsrf = new PortalBrowser(gateway.httpPort);
    noCsrf.cookies = new Map(operator.cookies);
    assert.equal((await noCsrf.request('PATCH', SETTINGS, { json: { maxAttachments: 3 } })).status, 403, 'a change needs the CSRF header');
    assert.equal((await operator.request('GET', SETTINGS)).json().maxAttachments, 12);
  });

  test('the next notification is written from the changed template, in its language', async () => {
    const owner = await signIn('alice@acme.test');
    const saved = await owner.request('PATCH', SETTINGS, {
      json: {
        language: 'en',
        notificationTemplates: {
          en: {
            subject: 'Acme secure mail: {{subject}}',
            text: 'Dear client, {{sender}} left you "{{subject}}" at {{link}} (until {{expires}}).',
            html: '<p>Dear client, <b>{{sender}}</b> left you <a href="{{link}}">{{subject}}</a>.</p>',
          },
        },
      },
    });
    assert.equal(saved.status, 200, saved.body.toString());
    const notification = await sendPortalMessage('client@example.net', 'Lease <renewal>');
    const parsed = await simpleParser(notification.raw);
    assert.equal(parsed.subject, 'Acme secure mail: Lease <renewal>');
    assert.match(parsed.text ?? '', /^Dear client, Alice Lawyer <alice@acme\.test> left you "Lease <renewal>" at http\S+token=\S+ \(until \d\d\/\d\d\/\d{4}, \d\d:\d\d UTC\)\./);
    assert.match(String(parsed.html), /Dear client, <b>Alice Lawyer &lt;alice@acme\.test&gt;<\/b> left you <a href="http[^"]+">Lease &lt;renewal&gt;<\/a>/);
    assert.ok(tokenOf(notification), 'the link still works as a magic link');
  });
});
