import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { and, eq, inArray, sql } from 'drizzle-orm';
import { simpleParser, type ParsedMail } from 'mailparser';
import MailComposer from 'nodemailer/lib/mail-composer';
import { verifyAuditChain } from '../src/audit/audit-log.ts';
import { auditLog, portalDigests, portalLinks, portalMessages, portalThreads } from '../src/db/schema.ts';
import type { Gateway } from '../src/gateway.ts';
import { createLogger } from '../src/logger.ts';
import { runHousekeeping, type HousekeepingReport } from '../src/portal/housekeeping.ts';
import { updatePortalSettings, type PortalSettings } from '../src/portal/portal-settings.ts';
import { hashSecret } from '../src/portal/tokens.ts';
import { createTestDatabase, type TestDatabase, ownerDb } from './support/database.ts';
import { MailPeer, type ReceivedMail } from './support/mail-peer.ts';
import { SmtpConversation } from './support/smtp-conversation.ts';
import { acmeTenant, globexTenant, startTestGateway } from './support/test-gateway.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const DIGEST_SUBJECT = /unread secure message|ungelesene sichere Nachricht/;

function tokensIn(text: string): string[] {
  const unfolded = text.replace(/=\r\n/g, '').replace(/=3D/g, '=');
  return [...unfolded.matchAll(/\/portal\/open\?token=([A-Za-z0-9_-]+)/g)].map((m) => m[1]!);
}

/** Opens a magic link as a browser would; answers the HTTP status and the message it leads to. */
function openLink(port: number, token: string): Promise<{ status: number; messageId?: string }> {
  const body = Buffer.from(JSON.stringify({ token }));
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, method: 'POST', path: '/api/portal/links/open', headers: { 'content-type': 'application/json', 'content-length': String(body.length) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const json = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
          resolve({ status: res.statusCode ?? 0, messageId: json.messageId });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('portal housekeeping', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let tenantMailServer: MailPeer;
  let globexMailServer: MailPeer;
  let relay: MailPeer;
  let acme: string;
  let globex: string;

  before(async () => {
    database = await createTestDatabase();
    tenantMailServer = await MailPeer.start();
    globexMailServer = await MailPeer.start();
    relay = await MailPeer.start();
    gateway = await startTestGateway(
      database,
      [
        acmeTenant(tenantMailServer.port),
        globexTenant(globexMailServer.port),
      ],
      { SEALPOST_RELAY: `smtp://127.0.0.1:${relay.port}`, SEALPOST_HOUSEKEEPING_SECONDS: '3600' },
    );
    // The tests decide when housekeeping runs and what time it is.
    await gateway.housekeeping.stop();
    acme = gateway.directory.tenantForDomain('acme.test')!.id;
    globex = gateway.directory.tenantForDomain('globex.test')!.id;
  });

  after(async () => {
    await gateway.stop();
    await tenantMailServer.close();
    await globexMailServer.close();
    await relay.close();
    await database.cleanup();
  });

  const db = () => ownerDb(gateway.database.db);

  function housekeep(now: Date, batchSize?: number): Promise<HousekeepingReport> {
    return runHousekeeping(
      {
        db: gateway.database.db,
        vault: gateway.vault,
        directory: gateway.directory,
        tenants: gateway.portal.tenants,
        logger: createLogger('silent'),
        publicUrl: gateway.config.http.publicUrl,
        hostname: gateway.config.smtp.hostname,
        onSpooled: () => gateway.pipeline.signal.notify(),
        ...(batchSize ? { batchSize } : {}),
      },
      now,
    );
  }

  async function settings(tenantId: string, changes: Partial<PortalSettings>) {
    await updatePortalSettings(db(), tenantId, changes);
  }

  /** Sends a portal message over SMTP from the tenant's connector; answers its stored copy once notified. */
  async function sendPortal(options: { to: string; subject: string; from?: string; fromName?: string; connector?: string; headers?: Record<string, string> }) {
    const from = options.from ?? 'alice@acme.test';
    const raw = await new MailComposer({
      from: { name: options.fromName ?? 'Alice Lawyer', address: from },
      to: options.to,
      subject: options.subject,
      messageId: `<${Math.random().toString(36).slice(2)}@${from.split('@')[1]}>`,
      text: 'Confidential content that only the portal may show.',
      headers: { 'X-Sealpost-Encrypt': 'portal', ...options.headers },
    })
      .compile()
      .build();
    const start = relay.received.length;
    const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress: options.connector ?? '127.0.0.1' });
    await smtp.command('EHLO exchange.test');
    const result = await smtp.sendMessage(from, [options.to], raw);
    await smtp.quit();
    assert.equal(result.final?.code, 250, `accepted: ${result.final?.text ?? result.mail.text}`);
    const id = result.final!.text.split('queued as ')[1]!;
    await relay.waitForMessages(start + 1);
    const [row] = await db()
      .select()
      .from(portalMessages)
      .where(and(eq(portalMessages.sourceMessageId, id), eq(portalMessages.toAddress, options.to)));
    assert.ok(row, 'the message is stored in the portal');
    const notification = relay.received.slice(start).find((m) => m.recipients.includes(options.to))!;
    return { row, token: tokensIn(notification.raw.toString('utf8'))[0]!, notification };
  }

  async function digestTo(address: string, fromDomain: string, since: number): Promise<{ mail: ReceivedMail; parsed: ParsedMail }> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      for (const mail of relay.received.slice(since)) {
        if (!mail.recipients.includes(address)) continue;
        const parsed = await simpleParser(mail.raw);
        if (DIGEST_SUBJECT.test(parsed.subject ?? '') && parsed.from?.value[0]?.address === `no-reply@${fromDomain}`) return { mail, parsed };
      }
      if (Date.now() > deadline) throw new Error(`no digest for ${address} from ${fromDomain} arrived`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async function exists(id: string): Promise<boolean> {
    const rows = await db().select({ id: portalMessages.id }).from(portalMessages).where(eq(portalMessages.id, id));
    return rows.length > 0;
  }

  async function deletionEntries(ids: string[]) {
    return db()
      .select()
      .from(auditLog)
      .where(and(inArray(auditLog.subjectId, ids), eq(auditLog.action, 'deleted')));
  }

  test("a message past the tenant's retention period is physically deleted with its thread, and the deletion is audited", async () => {
    const old = await sendPortal({ to: 'keeper@example.net', subject: 'Old contract' });
    const recent = await sendPortal({ to: 'keeper@example.net', subject: 'New contract' });
    const otherTenant = await sendPortal({ to: 'keeper@example.net', subject: 'Globex archive', from: 'gina@globex.test', connector: '127.0.0.9' });
    const aged = new Date(Date.now() - 31 * DAY);
    await db().update(portalMessages).set({ sentAt: aged }).where(inArray(portalMessages.id, [old.row.id, otherTenant.row.id]));
    await settings(acme, { retentionDays: 30 });
    try {
      const report = await housekeep(new Date());
      assert.equal(report.completed, true);
      assert.equal(report.deleted.retention, 1, 'only the Acme message is past Acme\'s retention period');
      assert.equal(await exists(old.row.id), false, 'the old message is gone from the database');
      assert.equal(await exists(recent.row.id), true, 'a message within the period stays');
      assert.equal(await exists(otherTenant.row.id), true, 'a tenant without a retention period keeps its messages');
      const threads = await db().select().from(portalThreads).where(eq(portalThreads.id, old.row.threadId));
      assert.equal(threads.length, 0, 'the thread left without messages is deleted too');

      const [entry, ...more] = await deletionEntries([old.row.id]);
      assert.ok(entry, 'the deletion is audited');
      assert.equal(more.length, 0, 'once');
      assert.equal(entry.tenantId, acme);
      assert.equal(entry.actorId, 'system');
      assert.deepEqual(entry.details, { reason: 'retention', physically: true, channel: 'housekeeping' });
    } finally {
      await settings(acme, { retentionDays: undefined });
    }
  });

  test("an expired message's content is deleted at once, an unexpired one stays", async () => {
    const due = await sendPortal({ to: 'due@example.net', subject: 'Offer valid until today' });
    const later = await sendPortal({ to: 'due@example.net', subject: 'Offer valid next month' });
    const now = new Date();
    await db().update(portalMessages).set({ expiresAt: new Date(now.getTime() - 1000) }).where(eq(portalMessages.id, due.row.id));

    const report = await housekeep(now);
    assert.equal(report.deleted.expired, 1);
    assert.equal(await exists(due.row.id), false, 'the expired content does not outlive its expiry');
    assert.equal(await exists(later.row.id), true);
    const [entry] = await deletionEntries([due.row.id]);
    assert.deepEqual(entry?.details, { reason: 'expired', physically: true, channel: 'housekeeping' });
    assert.equal((await openLink(gateway.httpPort, due.token)).status, 410, "the expired message's link leads nowhere");
  });

  test('a backlog is swept in batches, by two sweepers at once, each message deleted and audited once; the audit chain still verifies', async () => {
    const rows = [];
    for (const subject of ['Backlog one', 'Backlog two', 'Backlog three', 'Backlog four', 'Backlog five']) {
      rows.push((await sendPortal({ to: 'backlog@example.net', subject })).row);
    }
    const globexRow = (await sendPortal({ to: 'backlog@example.net', subject: 'Globex backlog', from: 'gina@globex.test', connector: '127.0.0.9' })).row;
    const ids = [...rows.map((r) => r.id), globexRow.id];
    const now = new Date();
    await db().update(portalMessages).set({ expiresAt: new Date(now.getTime() - 60_000) }).where(inArray(portalMessages.id, ids));

    const reports = await Promise.all([housekeep(now, 2), housekeep(now, 2)]);
    const remaining = await db().select({ id: portalMessages.id }).from(portalMessages).where(inArray(portalMessages.id, ids));
    assert.equal(remaining.length, 0, 'every expired message is gone');
    assert.equal(reports[0]!.deleted.expired + reports[1]!.deleted.expired, ids.length, 'each deleted once');
    const entries = await deletionEntries(ids);
    assert.equal(entries.length, ids.length, 'one audit entry per deleted message');
    assert.equal(new Set(entries.map((e) => e.subjectId)).size, ids.length);

    for (const tenantId of [acme, globex]) {
      const verification = await verifyAuditChain(db(), gateway.vault.auditKeys, { tenantId });
      assert.equal(verification.ok, true, JSON.stringify(verification.firstBroken));
      assert.ok(verification.checked > 0);
    }
  });

  test('a daily digest lists a recipient\'s unread messages once, with working links, and not again the same day', async () => {
    const address = 'reader@example.net';
    const first = await sendPortal({ to: address, subject: 'Quarterly report' });
    const second = await sendPortal({ to: address, subject: 'Board minutes' });
    const read = await sendPortal({ to: address, subject: 'Already read' });
    const revoked = await sendPortal({ to: address, subject: 'Withdrawn offer' });
    await db().update(portalMessages).set({ firstReadAt: new Date() }).where(eq(portalMessages.id, read.row.id));
    await db().update(portalMessages).set({ revokedAt: new Date() }).where(eq(portalMessages.id, revoked.row.id));
    await settings(acme, { digestInterval: 'daily' });
    try {
      const t0 = new Date();
      const start = relay.received.length;
      const report = await housekeep(t0);
      assert.deepEqual(report.digests.filter((d) => d.address === address), [{ tenantId: acme, address, messages: 2 }]);

      const { parsed } = await digestTo(address, 'acme.test', start);
      assert.equal(parsed.subject, 'You have 2 unread secure messages');
      const html = String(parsed.html);
      for (const body of [html, parsed.text ?? '']) {
        assert.match(body, /Quarterly report/);
        assert.match(body, /Board minutes/);
        assert.doesNotMatch(body, /Already read|Withdrawn offer/);
        assert.doesNotMatch(body, /Confidential content/, 'no message content in the digest');
      }
      assert.match(html, /Alice Lawyer &lt;alice@acme\.test&gt;/, 'the sender is listed');

      const tokens = [...new Set(tokensIn(html))];
      assert.equal(tokens.length, 2, 'one link per message');
      const stored = await db().select().from(portalLinks).where(inArray(portalLinks.tokenHash, tokens.map(hashSecret)));
      assert.equal(stored.length, 2, 'the links are stored as hashes');
      assert.ok(!stored.some((l) => tokens.includes(l.tokenHash)), 'never the token itself');
      const opened = await Promise.all(tokens.map((token) => openLink(gateway.httpPort, token)));
      assert.deepEqual(opened.map((o) => o.status), [200, 200], 'the links work');
      assert.deepEqual(new Set(opened.map((o) => o.messageId)), new Set([first.row.id, second.row.id]), 'each opens its own message');
      const issued = await db()
        .select()
        .from(auditLog)
        .where(and(eq(auditLog.action, 'link_issued'), inArray(auditLog.subjectId, [first.row.id, second.row.id])));
      assert.equal(issued.filter((e) => e.details.channel === 'digest').length, 2, 'each digest link is audited');

      const late = await sendPortal({ to: address, subject: 'Late addition' });
      const sameDay = await housekeep(new Date(t0.getTime() + 2 * HOUR));
      assert.equal(sameDay.digests.filter((d) => d.address === address).length, 0, 'no second digest the same day');

      const nextStart = relay.received.length;
      const nextDay = await housekeep(new Date(t0.getTime() + 25 * HOUR));
      assert.deepEqual(nextDay.digests.filter((d) => d.address === address), [{ tenantId: acme, address, messages: 1 }]);
      const next = await digestTo(address, 'acme.test', nextStart);
      assert.match(String(next.parsed.html), /Late addition/, 'what arrived since the last digest');
      assert.doesNotMatch(String(next.parsed.html), /Quarterly report|Board minutes/, 'not what the last digest listed');
      assert.equal(late.row.toAddress, address);

      const quietDay = await housekeep(new Date(t0.getTime() + 50 * HOUR));
      assert.equal(quietDay.digests.filter((d) => d.address === address).length, 0, 'nothing new, no digest');
    } finally {
      await settings(acme, { digestInterval: 'never' });
    }
  });

  test("a digest never includes another recipient's or another tenant's messages", async () => {
    const shared = 'shared@example.net';
    const acmeMessage = await sendPortal({ to: shared, subject: 'Acme invoice' });
    await sendPortal({ to: 'other@example.net', subject: 'For someone else' });
    const globexMessage = await sendPortal({ to: shared, subject: 'Globex offer', from: 'gina@globex.test', connector: '127.0.0.9' });
    await settings(acme, { digestInterval: 'daily' });
    await settings(globex, { digestInterval: 'daily' });
    try {
      const start = relay.received.length;
      const report = await housekeep(new Date());
      assert.ok(report.digests.some((d) => d.tenantId === acme && d.address === shared));
      assert.ok(report.digests.some((d) => d.tenantId === globex && d.address === shared));

      const fromAcme = await digestTo(shared, 'acme.test', start);
      const fromGlobex = await digestTo(shared, 'globex.test', start);
      assert.match(String(fromAcme.parsed.html), /Acme invoice/);
      assert.doesNotMatch(String(fromAcme.parsed.html), /Globex offer|For someone else/);
      assert.match(String(fromGlobex.parsed.html), /Globex offer/);
      assert.doesNotMatch(String(fromGlobex.parsed.html), /Acme invoice|For someone else/);
      assert.equal(fromAcme.mail.recipients.length, 1);

      const [acmeLink] = tokensIn(String(fromAcme.parsed.html));
      const [globexLink] = tokensIn(String(fromGlobex.parsed.html));
      assert.equal((await openLink(gateway.httpPort, acmeLink!)).messageId, acmeMessage.row.id);
      assert.equal((await openLink(gateway.httpPort, globexLink!)).messageId, globexMessage.row.id);
    } finally {
      await settings(acme, { digestInterval: 'never' });
      await settings(globex, { digestInterval: 'never' });
    }
  });

  test("hostile subjects and sender names are escaped in the digest, in the tenant's own template and language too", async () => {
    const address = 'target@example.net';
    await sendPortal({
      to: address,
      subject: '<script>alert(1)</script> {{rows}} & "quoted"',
      fromName: '<img src=x onerror=alert(2)>',
    });
    await settings(acme, {
      digestInterval: 'hourly',
      digestLanguage: 'de',
      digestTemplate: '<h2>{{subject}}</h2><p>Sichere Post für {{domain}}</p><table>{{rows}}</table>',
    });
    try {
      const start = relay.received.length;
      await housekeep(new Date());
      const { parsed } = await digestTo(address, 'acme.test', start);
      const html = String(parsed.html);
      assert.equal(parsed.subject, 'Sie haben 1 ungelesene sichere Nachricht', 'in the digest language');
      assert.match(html, /<h2>Sie haben 1 ungelesene sichere Nachricht<\/h2><p>Sichere Post für acme\.test<\/p><table><tr>/, "the tenant's template");
      assert.doesNotMatch(html, /<script|<img/i, 'no markup from the message gets through');
      assert.match(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt; \{\{rows\}\} &amp; &quot;quoted&quot;/, 'the subject is shown as text');
      assert.match(html, /&lt;img src=x onerror=alert\(2\)&gt;/);
      assert.equal(html.match(/<tr>/g)?.length, 1, 'a placeholder in a subject is not filled');
    } finally {
      await settings(acme, { digestInterval: 'never', digestLanguage: undefined, digestTemplate: undefined });
    }
  });

  test("a message whose sender sets no date does not expire unless the tenant sets a default; the tenant's maximum caps every date", async () => {
    const kept = await sendPortal({ to: 'archive@example.net', subject: 'Kept until deleted' });
    assert.equal(kept.row.expiresAt, null, 'by default a portal message does not expire');
    const notice = (await simpleParser(kept.notification.raw)).text ?? '';
    assert.doesNotMatch(notice, /Invalid Date|NaN|undefined/, 'the notification names a real date');
    assert.match(notice, /The link works once and until \d/, "the link's own lifetime is still given");
    const [sent] = await db().select().from(auditLog).where(and(eq(auditLog.subjectId, kept.row.id), eq(auditLog.action, 'sent')));
    assert.equal((sent?.details as { expiresAt?: unknown }).expiresAt, null, 'the audit entry says it has no expiry');

    const chosen = new Date(Date.now() + 3 * DAY);
    chosen.setUTCMilliseconds(0);
    const dated = await sendPortal({ to: 'archive@example.net', subject: 'Offer for three days', headers: { 'X-Sealpost-Expires': chosen.toISOString() } });
    assert.equal(dated.row.expiresAt?.toISOString(), chosen.toISOString(), "the sender's date stands");

    await settings(acme, { defaultExpiryDays: 7, maxExpiryDays: 10 });
    try {
      const byDefault = await sendPortal({ to: 'archive@example.net', subject: 'Kept for the default' });
      const days = (at: Date | null, from: Date) => Math.round(((at?.getTime() ?? NaN) - from.getTime()) / DAY);
      assert.equal(days(byDefault.row.expiresAt, byDefault.row.sentAt), 7, "the tenant's default applies when the sender sets no date");
      const tooLate = new Date(Date.now() + 2 * 365 * DAY);
      const capped = await sendPortal({ to: 'archive@example.net', subject: 'Asked for two years', headers: { 'X-Sealpost-Expires': tooLate.toISOString() } });
      assert.equal(days(capped.row.expiresAt, capped.row.sentAt), 10, "the tenant's maximum caps the sender's date");
    } finally {
      await settings(acme, { defaultExpiryDays: undefined, maxExpiryDays: undefined });
    }

    await settings(acme, { maxExpiryDays: 5 });
    try {
      const limited = await sendPortal({ to: 'archive@example.net', subject: 'No default, a maximum' });
      assert.equal(Math.round(((limited.row.expiresAt?.getTime() ?? NaN) - limited.row.sentAt.getTime()) / DAY), 5, 'with only a maximum, no message outlives it');
    } finally {
      await settings(acme, { maxExpiryDays: undefined });
    }

    // Years later, housekeeping has removed what expired and kept what does not expire.
    const report = await housekeep(new Date(Date.now() + 5 * 365 * DAY));
    assert.equal(report.completed, true);
    assert.equal(await exists(kept.row.id), true, 'a message without expiry is kept');
    assert.equal(await exists(dated.row.id), false, "a message past the sender's date is deleted");
  });

  test('no digest when the interval is never', async () => {
    const address = 'quiet@example.net';
    await sendPortal({ to: address, subject: 'Nothing to remind' });
    const inAWeek = new Date(Date.now() + 8 * DAY);
    const report = await housekeep(inAWeek);
    assert.equal(report.digests.filter((d) => d.address === address).length, 0);
    const rows = await db().select().from(portalDigests).where(eq(portalDigests.address, address));
    assert.equal(rows.length, 0, 'nothing was recorded as sent');

    // The same message does make a digest once the tenant asks for them.
    await settings(acme, { digestInterval: 'weekly' });
    try {
      const weekly = await housekeep(inAWeek);
      assert.equal(weekly.digests.filter((d) => d.address === address).length, 1);
    } finally {
      await settings(acme, { digestInterval: 'never' });
    }
  });
});

describe('portal housekeeping in the background', () => {
  test('the gateway sweeps expired messages on its own at the configured interval', async () => {
    const database = await createTestDatabase();
    const relay = await MailPeer.start();
    const mailServer = await MailPeer.start();
    const gateway = await startTestGateway(database, [acmeTenant(mailServer.port)], {
      SEALPOST_RELAY: `smtp://127.0.0.1:${relay.port}`,
      SEALPOST_HOUSEKEEPING_SECONDS: '1',
    });
    try {
      const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress: '127.0.0.1' });
      await smtp.command('EHLO exchange.acme.test');
      const raw = 'From: alice@acme.test\r\nTo: late@example.net\r\nSubject: Short-lived\r\nX-Sealpost-Encrypt: portal\r\n\r\nSoon gone.\r\n';
      const result = await smtp.sendMessage('alice@acme.test', ['late@example.net'], raw);
      await smtp.quit();
      assert.equal(result.final?.code, 250);
      await relay.waitForMessages(1);
      const [row] = await ownerDb(gateway.database.db).select().from(portalMessages).where(eq(portalMessages.toAddress, 'late@example.net'));
      assert.ok(row);
      await ownerDb(gateway.database.db).update(portalMessages).set({ expiresAt: sql`now() - interval '1 second'` }).where(eq(portalMessages.id, row.id));
      const deadline = Date.now() + 10_000;
      while ((await ownerDb(gateway.database.db).select().from(portalMessages).where(eq(portalMessages.id, row.id))).length > 0) {
        assert.ok(Date.now() < deadline, 'the background sweep deleted the expired message');
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    } finally {
      await gateway.stop();
      await relay.close();
      await mailServer.close();
      await database.cleanup();
    }
  });
});
