/**
 * MailGuard end to end on a real gateway: policies from the tenant file and the admin API, routed by
 * recipient; each verdict's action on real SMTP (flag with header and subject prefix, catch-all,
 * quarantine with a notice, reject); the quarantine's release rules and audit; the policy API's
 * validation and audit; simulation of an uploaded message and of a policy change over stored mail.
 */
import assert from 'node:assert/strict';
import { simpleParser } from 'mailparser';
import { after, before, describe, test } from 'node:test';
import { and, eq } from 'drizzle-orm';
import type { TenantDefinition } from '../src/config.ts';
import { auditLog, deliveries, messages } from '../src/db/schema.ts';
import { expireQuarantine, Quarantine, QuarantineProblem } from '../src/delivery/quarantine.ts';
import type { Gateway } from '../src/gateway.ts';
import { readTrace } from '../src/messages/message-trace.ts';
import { createTestDatabase, ownerDb, type TestDatabase } from './support/database.ts';
import { MailPeer } from './support/mail-peer.ts';
import { waitFor } from './support/portal-mail.ts';
import { SmtpConversation } from './support/smtp-conversation.ts';
import { ACME_API_TOKEN, acmeTenant, startTestGateway } from './support/test-gateway.ts';

/** From the Internet: any loopback address but Acme's connector (127.0.0.1). */
const INTERNET = '127.0.0.5';

function phish(to: string, subject: string, extraHeaders = ''): string {
  return (
    `From: "Payments" <billing@supplier.example>\r\nTo: <${to}>\r\nSubject: ${subject}\r\n` +
    `Reply-To: <pay@elsewhere.example>\r\nMessage-ID: <${Math.random().toString(36).slice(2)}@supplier.example>\r\n` +
    `Date: Thu, 03 Dec 2026 06:00:00 +0000\r\n${extraHeaders}MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nPlease pay the attached invoice today.\r\n`
  );
}

async function send(gateway: Gateway, from: string, to: string[], data: string): Promise<string> {
  const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress: INTERNET });
  await smtp.command('EHLO mta.supplier.example');
  const result = await smtp.sendMessage(from, to, data);
  await smtp.quit();
  assert.equal(result.final?.code, 250, `accepted: ${result.final?.text ?? result.mail.text}`);
  return result.final!.text.split('queued as ')[1]!;
}

function tenantWithPolicies(port: number): TenantDefinition {
  return acmeTenant(port, {
    members: [
      { email: 'alice@acme.test', role: 'owner' },
      { email: 'finance@acme.test', role: 'contact' },
      { email: 'ceo@acme.test', role: 'contact' },
      { email: 'accounts@acme.test', role: 'contact' },
    ],
    guard: {
      // The default policy: flagged mail is marked and its subject prefixed.
      scores: { REPLYTO_DOMAIN_DIFFERS: 6 },
      onFlag: { header: true, subjectPrefix: '[SPAM]' },
      policies: [
        { name: 'Sales catch-all', priority: 10, match: { recipients: ['sales@acme.test'] }, scores: { REPLYTO_DOMAIN_DIFFERS: 6 }, onFlag: { header: false, catchAll: 'spam@acme.test' } },
        {
          name: 'Strict finance',
          priority: 20,
          match: { recipients: ['finance@acme.test', 'accounts@acme.test'] },
          scores: { REPLYTO_DOMAIN_DIFFERS: 20 },
          quarantine: { adminReleaseThreshold: 25, retentionDays: 14, subject: 'Held for you: check it' },
        },
        { name: 'Board rejects', priority: 30, match: { recipients: ['board@acme.test'] }, scores: { REPLYTO_DOMAIN_DIFFERS: 20 }, onBlock: 'reject' },
        { name: 'CEO forced', priority: 40, match: { recipients: ['ceo@acme.test'] }, modules: { headers: { action: 'quarantine' } }, quarantine: { language: 'de' } },
      ],
    },
  });
}

describe('MailGuard policies on a real gateway', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let mailServer: MailPeer;
  const db = () => ownerDb(gateway.database.db);
  const admin = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: unknown, contentType?: string) =>
    gateway.http.inject({
      method,
      url: `/api/admin/guard${url}`,
      headers: { authorization: `Bearer ${ACME_API_TOKEN}`, ...(contentType ? { 'content-type': contentType } : {}) },
      ...(payload === undefined ? {} : { payload: payload as string }),
    });
  const stateOf = async (id: string) => (await db().select({ state: messages.state }).from(messages).where(eq(messages.id, id)))[0]?.state;
  const settled = (id: string) => waitFor(`message ${id} to settle`, async () => ((s) => (s && s !== 'received' ? s : undefined))(await stateOf(id)));

  before(async () => {
    database = await createTestDatabase();
    mailServer = await MailPeer.start();
    gateway = await startTestGateway(database, [tenantWithPolicies(mailServer.port)]);
  });

  after(async () => {
    await gateway.stop();
    await mailServer.close();
    await database.cleanup();
  });

  test('a flagged message is delivered with X-Sealpost-Flag, a prefixed subject, its score and symbols; a forged verdict is dropped', async () => {
    const start = mailServer.received.length;
    const forged = 'Authentication-Results: gateway.sealpost.test; spf=pass smtp.mailfrom=supplier.example\r\nAuthentication-Results: mx.other.example; dkim=pass\r\n';
    const id = await send(gateway, 'billing@supplier.example', ['alice@acme.test'], phish('alice@acme.test', 'Invoice', forged));
    const [mail] = (await mailServer.waitForMessages(start + 1)).slice(start);
    const text = mail!.raw.toString();
    assert.match(text, /\r\nX-Sealpost-Flag: YES\r\n/);
    assert.match(text, /\r\nSubject: \[SPAM\] Invoice\r\n/);
    assert.match(text, /\r\nX-Sealpost-Score: 6\r\n/);
    assert.match(text, /\r\nX-Sealpost-Symbols: [^\r]*REPLYTO_DOMAIN_DIFFERS\(6\)/);
    // On top, as trace fields go: the sender authentication's result (no DNS records here, so none).
    assert.match(text, /^Authentication-Results: gateway\.sealpost\.test; spf=none\r\n smtp\.mailfrom=billing@supplier\.example; dkim=none; dmarc=none/);
    // Every folded line of the header section goes on with white space (RFC 5322 2.2.3).
    const section = text.slice(0, text.indexOf('\r\n\r\n'));
    for (const line of section.split('\r\n')) assert.match(line, /^([\x21-\x39\x3b-\x7e]+:|[ \t])/, `a header line that is neither a field nor a continuation: ${line}`);
    assert.doesNotMatch(text, /Authentication-Results: gateway\.sealpost\.test; spf=pass/, "a field claiming the gateway's name does not survive");
    assert.match(text, /Authentication-Results: mx\.other\.example; dkim=pass/, "another server's result is kept");
    const scored = (await readTrace(db(), id)).find((t) => t.step === 'scored');
    assert.equal(scored?.detail.policy, 'Default');
    assert.equal(scored?.detail.action, 'flag');
    assert.deepEqual(scored?.detail.marking, { header: true, subjectPrefix: '[SPAM]' });
  });

  test("a policy with a catch-all delivers its flagged mail there instead of to the recipient", async () => {
    const start = mailServer.received.length;
    const id = await send(gateway, 'billing@supplier.example', ['sales@acme.test'], phish('sales@acme.test', 'Quote'));
    const [mail] = (await mailServer.waitForMessages(start + 1)).slice(start);
    assert.deepEqual(mail!.recipients, ['spam@acme.test']);
    assert.doesNotMatch(mail!.raw.toString(), /X-Sealpost-Flag/, 'this policy marks by catch-all only');
    const routed = (await readTrace(db(), id)).find((t) => t.step === 'routed');
    assert.match(String(routed?.detail.reason), /delivers flagged mail to spam@acme\.test instead of sales@acme\.test/);
  });

  test('a message to recipients whose policies differ is split at intake: each recipient gets the verdict of its own policy', async () => {
    const start = mailServer.received.length;
    const queued = await send(gateway, 'billing@supplier.example', ['alice@acme.test', 'finance@acme.test'], phish('alice@acme.test', 'Remittance'));
    const ids = queued.split(', ');
    assert.equal(ids.length, 2, `one message per policy: ${queued}`);
    const recipientsOf = async (id: string) => (await readTrace(db(), id)).find((t) => t.step === 'received')?.detail.recipients;
    const byRecipient = new Map<string, string>();
    for (const id of ids) byRecipient.set(String(await recipientsOf(id)), id);
    const alice = byRecipient.get('alice@acme.test')!;
    const finance = byRecipient.get('finance@acme.test')!;
    assert.ok(alice && finance, `each message has one recipient: ${[...byRecipient.keys()].join(' | ')}`);
    // Alice's policy (the default) flags; the finance policy scores the same finding above its block threshold.
    assert.equal(await settled(finance), 'quarantined');
    const mail = await waitFor('the flagged copy for alice', async () =>
      mailServer.received.slice(start).find((m) => m.recipients.includes('alice@acme.test')),
    );
    assert.match(mail.raw.toString(), /\r\nSubject: \[SPAM\] Remittance\r\n/);
    assert.deepEqual(mail.recipients, ['alice@acme.test']);
    const scored = async (id: string) => (await readTrace(db(), id)).find((t) => t.step === 'scored')?.detail;
    assert.equal((await scored(alice))?.policy, 'Default');
    assert.equal((await scored(alice))?.action, 'flag');
    assert.equal((await scored(finance))?.policy, 'Strict finance');
    assert.equal((await scored(finance))?.action, 'quarantine');
    const received = (await readTrace(db(), finance)).find((t) => t.step === 'received');
    assert.deepEqual(received?.detail.splitByPolicy, ['alice@acme.test', 'finance@acme.test']);
    // Finance is told of its quarantine, and that notice is all that reaches it.
    await waitFor('the quarantine notice for finance', async () => mailServer.received.slice(start).find((m) => m.recipients.includes('finance@acme.test')));
    const toFinance = mailServer.received.slice(start).filter((m) => m.recipients.includes('finance@acme.test'));
    assert.equal(toFinance.length, 1);
    assert.match(toFinance[0]!.raw.toString(), /Subject: Held for you: check it/);
  });

  test('a quarantined message is not delivered, each recipient gets a notice, may release their own copy below the threshold, and every step is audited', async () => {
    const start = mailServer.received.length;
    const id = await send(gateway, 'billing@supplier.example', ['finance@acme.test', 'accounts@acme.test'], phish('finance@acme.test', 'Overdue'));
    assert.equal(await settled(id), 'quarantined');
    const notices = (await mailServer.waitForMessages(start + 2)).slice(start);
    assert.deepEqual(notices.map((n) => n.recipients).flat().sort(), ['accounts@acme.test', 'finance@acme.test']);
    const notice = notices.find((n) => n.recipients.includes('finance@acme.test'));
    assert.equal(notice!.mailFrom, '', 'a notice comes from the null sender');
    // Quoted-printable soft line breaks joined, so that the link reads whole.
    const body = notice!.raw.toString().replace(/=\r\n/g, '');
    assert.match(body, /Subject: Held for you: check it/);
    assert.match(body, new RegExp(`/portal/quarantine/${id}`));
    assert.equal((await db().select().from(deliveries).where(eq(deliveries.messageId, id))).length, 0);

    const quarantine = new Quarantine({ db: gateway.database.db, vault: gateway.vault, hostname: 'gateway.sealpost.test', onReleased: () => gateway.delivery.signal.notify() });
    const finance = { tenantId: gateway.directory.allTenants()[0]!.id, actor: 'finance@acme.test', address: 'finance@acme.test', admin: false };
    const accounts = { ...finance, actor: 'accounts@acme.test', address: 'accounts@acme.test' };
    const other = { ...finance, actor: 'alice@acme.test', address: 'ceo@acme.test' };
    const [listed] = await quarantine.list(finance);
    assert.equal(listed?.id, id);
    assert.equal(listed?.subject, 'Overdue');
    assert.deepEqual(listed?.recipients, ['finance@acme.test'], 'a recipient sees only their own address');
    assert.equal(listed?.userReleasable, true, 'score 20 is below this policy\'s release threshold of 25');
    assert.deepEqual(await quarantine.list(other), [], "another member does not see it");
    await assert.rejects(quarantine.view(other, id), (e: unknown) => e instanceof QuarantineProblem && e.status === 404);
    const viewed = await quarantine.view(finance, id);
    assert.equal(viewed.findings[0]?.symbol, 'REPLYTO_DOMAIN_DIFFERS');
    assert.ok(viewed.headers.some((h) => h.name.toLowerCase() === 'reply-to'));
    await assert.rejects(quarantine.release(finance, id, { allowSender: true }), /operators and analysts/);

    // Finance releases its copy: it reaches finance only, and stays in quarantine for accounts.
    const delivered = mailServer.received.length;
    const released = await quarantine.release(finance, id);
    assert.equal(released.kind, 'released');
    const [mail] = (await mailServer.waitForMessages(delivered + 1)).slice(delivered);
    assert.deepEqual(mail!.recipients, ['finance@acme.test']);
    assert.equal(await stateOf(id), 'quarantined');
    assert.ok(!(await quarantine.list(finance)).some((m) => m.id === id), 'released, it leaves the releaser\'s quarantine');
    assert.ok((await quarantine.list(accounts)).some((m) => m.id === id), 'the other recipient still has it');
    await assert.rejects(quarantine.release(finance, id), (e: unknown) => e instanceof QuarantineProblem && e.status === 409 && /already released to you/.test(e.message));
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(mailServer.received.slice(delivered).filter((m) => m.recipients.includes('accounts@acme.test')).length, 0, 'accounts got nothing yet');

    // Accounts releases its own: now every recipient has it, and the message is delivered.
    await quarantine.release(accounts, id);
    const [second] = (await mailServer.waitForMessages(delivered + 2)).slice(delivered + 1);
    assert.deepEqual(second!.recipients, ['accounts@acme.test']);
    assert.equal(await waitFor('the message to be delivered', async () => ((s) => (s === 'delivered' ? s : undefined))(await stateOf(id))), 'delivered');
    const actions = (await db().select({ action: auditLog.action, subject: auditLog.subjectId }).from(auditLog).where(eq(auditLog.subjectId, id))).map((a) => a.action);
    assert.deepEqual(actions.sort(), ['message_released', 'message_released', 'quarantine_viewed']);
  });

  test('a quarantine a finding forced is for operators: they release it and may allow the sender from now on', async () => {
    const start = mailServer.received.length;
    const id = await send(gateway, 'ceo-lookalike@supplier.example', ['ceo@acme.test'], phish('ceo@acme.test', 'Urgent transfer'));
    assert.equal(await settled(id), 'quarantined');
    // The policy's notices are German: what the finding means is German too, not the English reason.
    const notice = await waitFor('the German notice', async () => mailServer.received.slice(start).find((m) => m.recipients.includes('ceo@acme.test')));
    const text = (await simpleParser(notice.raw)).text ?? '';
    assert.match(text, /Grund: die Antwortadresse gehört zu einer anderen Domain als der Absender \(Punktzahl 4\)/);
    assert.doesNotMatch(text, /reply-to domain/);
    const tenantId = gateway.directory.allTenants()[0]!.id;
    const [row] = await db().select({ results: messages.stageResults }).from(messages).where(eq(messages.id, id));
    const guard = (row!.results as { guard: { score: number; forced?: boolean; quarantine: { userReleasable: boolean } } }).guard;
    assert.equal(guard.score, 4, 'below every threshold: the module forced it');
    assert.equal(guard.forced, true);
    assert.equal(guard.quarantine.userReleasable, false);

    const quarantine = new Quarantine({ db: gateway.database.db, vault: gateway.vault, hostname: 'gateway.sealpost.test', onReleased: () => gateway.delivery.signal.notify() });
    await assert.rejects(
      quarantine.release({ tenantId, actor: 'ceo@acme.test', address: 'ceo@acme.test', admin: false }, id),
      (e: unknown) => e instanceof QuarantineProblem && e.status === 403 && /forced/.test(e.message),
    );
    const listed = await admin('GET', '/quarantine');
    assert.equal(listed.statusCode, 200);
    assert.ok((listed.json() as { messages: Array<{ id: string }> }).messages.some((m) => m.id === id), 'the admin sees the whole quarantine');
    const release = await admin('POST', `/quarantine/${id}/release`, { allowSender: true });
    assert.equal(release.statusCode, 200, release.body);
    assert.equal(release.json().allowedSender, 'ceo-lookalike@supplier.example');
    assert.equal(await waitFor('released delivery', async () => ((s) => (s === 'delivered' ? s : undefined))(await stateOf(id))), 'delivered');
  });

  test('an allowed sender scores SENDER_ALLOWED and its mail to a strict policy is delivered', async () => {
    const tenantId = gateway.directory.allTenants()[0]!.id;
    const quarantine = new Quarantine({ db: gateway.database.db, vault: gateway.vault, hostname: 'gateway.sealpost.test', onReleased: () => gateway.delivery.signal.notify() });
    const first = await send(gateway, 'trusted@partner.example', ['finance@acme.test'], phish('finance@acme.test', 'Statement'));
    assert.equal(await settled(first), 'quarantined');
    await quarantine.release({ tenantId, actor: 'alice@acme.test', admin: true }, first, { allowSender: true });
    gateway.policies.invalidate(tenantId);
    const second = await send(gateway, 'trusted@partner.example', ['finance@acme.test'], phish('finance@acme.test', 'Statement 2'));
    assert.ok(['routed', 'delivered'].includes((await settled(second))!));
    const scored = (await readTrace(db(), second)).find((t) => t.step === 'scored');
    assert.ok((scored?.detail.symbols as string[]).some((s) => s.startsWith('SENDER_ALLOWED (-20)')), JSON.stringify(scored?.detail));
  });

  test('a rejected message is kept, not delivered, and an unverified sender is told nothing', async () => {
    const id = await send(gateway, 'billing@supplier.example', ['board@acme.test'], phish('board@acme.test', 'Board pack'));
    assert.equal(await settled(id), 'rejected');
    const rejected = (await readTrace(db(), id)).find((t) => t.step === 'rejected');
    assert.equal(rejected?.detail.rejectionNotice, 'none: the sender was not verified (SPF or DKIM) and may be forged');
    const notices = await db().select({ id: messages.id }).from(messages).where(and(eq(messages.direction, 'notification'), eq(messages.mailFrom, '')));
    const bodies = await Promise.all(notices.map(async (n) => (await readTrace(db(), n.id))[0]?.detail));
    assert.ok(!bodies.some((d) => d?.rejectionNoticeFor === id));
  });

  test('policies are read, created, changed and deleted through the admin API with errors naming the field, and each change is audited', async () => {
    const list = await admin('GET', '/policies');
    assert.equal(list.statusCode, 200);
    const listed = list.json() as { policies: Array<{ name: string; source: string }>; status: { countryRules: { active: boolean; reason?: string } } };
    assert.deepEqual(listed.policies.map((p) => p.name), ['Sales catch-all', 'Strict finance', 'Board rejects', 'CEO forced', 'Default']);
    assert.ok(listed.policies.every((p) => p.source === 'file'));
    assert.equal(listed.status.countryRules.active, false);
    assert.match(listed.status.countryRules.reason!, /SEALPOST_GEOIP_DB/);

    const bad = await admin('POST', '/policies', {
      name: 'Bad',
      thresholds: { flag: 20, block: 10 },
      modules: { content: { patterns: [{ pattern: '(a)\\1' }] }, network: { ipBlockList: ['300.1.1.1'] } },
      tresholds: {},
    });
    assert.equal(bad.statusCode, 400);
    const detail = bad.json().detail as string;
    assert.match(detail, /thresholds: must rise: flag <= block/);
    assert.match(detail, /modules\.content\.patterns\.0\.pattern: is not a pattern the filter can run: .*back-references/);
    assert.match(detail, /modules\.network\.ipBlockList\.0: "300\.1\.1\.1" is not an IP address/);
    assert.match(detail, /tresholds: unknown key \(did you mean "thresholds"\?\)/);

    const created = await admin('POST', '/policies', { name: 'Legal', priority: 5, match: { recipientDomains: ['legal.acme.test'] }, thresholds: { flag: 3, block: 8 } });
    assert.equal(created.statusCode, 201, created.body);
    const policy = created.json().policy as { id: string; revision: number; source: string };
    assert.equal(policy.source, 'admin');
    const clash = await admin('POST', '/policies', { name: 'legal' });
    assert.equal(clash.statusCode, 409);

    const changed = await admin('PUT', `/policies/${policy.id}`, { name: 'Legal', priority: 5, thresholds: { flag: 4, block: 8 }, revision: policy.revision });
    assert.equal(changed.statusCode, 200, changed.body);
    assert.equal(changed.json().policy.revision, policy.revision + 1);
    const stale = await admin('PUT', `/policies/${policy.id}`, { name: 'Legal', thresholds: { flag: 2 }, revision: policy.revision });
    assert.equal(stale.statusCode, 409);
    assert.match(stale.json().detail, /changed meanwhile|revision/);

    const fileId = listed.policies.length && ((await admin('GET', '/policies')).json().policies as Array<{ id: string; name: string }>).find((p) => p.name === 'Default')!.id;
    const fromFile = await admin('PUT', `/policies/${fileId}`, { name: 'Default', thresholds: { flag: 1 } });
    assert.equal(fromFile.statusCode, 409);
    assert.match(fromFile.json().detail, /tenant file/);

    const read = await admin('GET', `/policies/${policy.id}`);
    assert.equal(read.json().effective.thresholds.flag, 4);
    assert.equal(read.json().effective.onBlock, 'quarantine', 'what the policy does not say comes from the defaults');

    assert.equal((await admin('DELETE', `/policies/${policy.id}`)).statusCode, 204);
    const audit = await db().select({ action: auditLog.action, details: auditLog.details }).from(auditLog).where(eq(auditLog.subjectId, policy.id));
    assert.deepEqual(audit.map((a) => a.action).sort(), ['policy_created', 'policy_deleted', 'policy_updated']);
  });

  test('an uploaded message is simulated: the policy, each symbol with its reason, the score and the verdict, with nothing delivered or stored', async () => {
    const before = (await db().select({ id: messages.id }).from(messages)).length;
    const sent = mailServer.received.length;
    const result = await admin('POST', '/simulate?rcpt=finance@acme.test&ip=198.51.100.7', phish('finance@acme.test', 'Simulated'), 'message/rfc822');
    assert.equal(result.statusCode, 200, result.body);
    const body = result.json() as { policy: { name: string }; action: string; score: number; findings: Array<{ symbol: string; reason: string }>; outcome: string; assumptions: string[] };
    assert.equal(body.policy.name, 'Strict finance');
    assert.equal(body.action, 'quarantine');
    assert.equal(body.score, 20);
    assert.match(body.findings.find((f) => f.symbol === 'REPLYTO_DOMAIN_DIFFERS')!.reason, /elsewhere\.example/);
    assert.match(body.outcome, /quarantined/);
    assert.ok(body.assumptions.some((a) => /From header/.test(a)));
    assert.equal((await db().select({ id: messages.id }).from(messages)).length, before);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(mailServer.received.length, sent);

    const notMail = await admin('POST', '/simulate', 'not a message at all', 'message/rfc822');
    assert.equal(notMail.statusCode, 400);

    // Recipients under different policies: the simulation splits the message as the gateway would.
    const both = await admin('POST', '/simulate?rcpt=alice@acme.test&rcpt=finance@acme.test', phish('alice@acme.test', 'Simulated'), 'message/rfc822');
    assert.equal(both.statusCode, 200, both.body);
    const split = both.json() as { parts: Array<{ recipients: string[]; policy: { name: string }; action: string }>; assumptions: string[] };
    assert.deepEqual(
      split.parts.map((part) => [part.recipients, part.policy.name, part.action]),
      [
        [['alice@acme.test'], 'Default', 'flag'],
        [['finance@acme.test'], 'Strict finance', 'quarantine'],
      ],
    );
    assert.ok(split.assumptions.some((a) => /splits the message/.test(a)), split.assumptions.join(' | '));
  });

  test('a policy change is tried on the stored mail of the last days and the changed verdicts are counted', async () => {
    const policies = (await admin('GET', '/policies')).json().policies as Array<{ id: string; name: string }>;
    const finance = policies.find((p) => p.name === 'Strict finance')!;
    const relaxed = await admin('POST', '/simulate/replay', {
      id: finance.id,
      days: 1,
      policy: { name: 'Strict finance', priority: 20, match: { recipients: ['finance@acme.test'] }, scores: { REPLYTO_DOMAIN_DIFFERS: 0 } },
    });
    assert.equal(relaxed.statusCode, 200, relaxed.body);
    const result = relaxed.json() as { considered: number; underPolicy: number; changed: number; transitions: Record<string, number> };
    assert.ok(result.underPolicy >= 2, JSON.stringify(result));
    assert.ok(result.changed >= 1, JSON.stringify(result));
    assert.ok((result.transitions['quarantine→deliver'] ?? 0) >= 1, JSON.stringify(result));
  });

  test('quarantined mail is deleted at the end of its retention, and its trace says so', async () => {
    const id = await send(gateway, 'billing@supplier.example', ['finance@acme.test'], phish('finance@acme.test', 'Expiring'));
    assert.equal(await settled(id), 'quarantined');
    assert.equal(await expireQuarantine(gateway.database.db, new Date(Date.now() + 13 * 24 * 3600 * 1000)), 0, 'kept for the policy\'s 14 days');
    assert.ok((await expireQuarantine(gateway.database.db, new Date(Date.now() + 15 * 24 * 3600 * 1000))) >= 1);
    assert.equal(await stateOf(id), undefined);
    assert.ok((await readTrace(db(), id)).some((t) => t.step === 'deleted' && t.detail.by === 'retention'));
  });
});
