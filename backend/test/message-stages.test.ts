import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { and, eq } from 'drizzle-orm';
import { auditLog, deliveries, messages, portalMessages, portalThreads } from '../src/db/schema.ts';
import { loadSealedEml, openEml } from '../src/portal/portal-store.ts';
import type { Gateway } from '../src/gateway.ts';
import { createLogger } from '../src/logger.ts';
import { headerValue } from '../src/mail/header-block.ts';
import { readTrace } from '../src/messages/message-trace.ts';
import { ProtectionModes } from '../src/protect/protection-modes.ts';
import { spoolMessages } from '../src/messages/spool.ts';
import type { GuardAction, GuardRunner } from '../src/stages/guard.ts';
import type { Stage } from '../src/stages/stage.ts';
import { STAGES, StageRunner, type StageRunnerOptions } from '../src/stages/stage-runner.ts';
import { createTestDatabase, type TestDatabase, ownerDb } from './support/database.ts';
import { MailPeer } from './support/mail-peer.ts';
import { waitFor } from './support/portal-mail.ts';
import { SmtpConversation, simpleMessage } from './support/smtp-conversation.ts';
import { ACME_API_TOKEN, acmeTenant, startTestGateway } from './support/test-gateway.ts';

/**
 * The inbound checks are another component; here a stand-in for them answers with the verdict a test
 * message names in X-Test-Verdict, so each action of the guard stage can be shown.
 */
const verdictFromHeader: GuardRunner = async ({ header }) => {
  const asked = headerValue(header.fields, 'x-test-verdict')?.trim() as GuardAction | 'throw' | undefined;
  if (asked === 'throw') throw new Error('the checks could not run: test failure');
  const action = asked ?? 'deliver';
  return {
    action,
    score: action === 'deliver' ? 0 : 9.5,
    findings: action === 'deliver' ? [] : [{ symbol: 'TEST_VERDICT', score: 9.5, reason: `the message asked for ${action}` }],
  };
};

async function send(gateway: Gateway, from: string, to: string[], data: string, localAddress: string) {
  const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress });
  await smtp.command('EHLO client.test');
  const result = await smtp.sendMessage(from, to, data);
  await smtp.quit();
  assert.equal(result.final?.code, 250, `accepted: ${result.final?.text ?? result.mail.text}`);
  return result.final!.text.split('queued as ')[1]!;
}

function filler(totalBytes: number): string {
  const lines: string[] = [];
  for (let n = 0, left = totalBytes; left > 0; n += 1, left -= 1000) lines.push(`X-Filler-${n}: ${'f'.repeat(980)}\r\n`);
  return lines.join('');
}

describe('the stages after the 250', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let tenantMailServer: MailPeer;
  let relay: MailPeer;

  before(async () => {
    database = await createTestDatabase();
    tenantMailServer = await MailPeer.start();
    relay = await MailPeer.start();
    gateway = await startTestGateway(
      database,
      [acmeTenant(tenantMailServer.port)],
      { SEALPOST_RELAY: `smtp://127.0.0.1:${relay.port}` },
      { guard: verdictFromHeader },
    );
  });

  after(async () => {
    await gateway.stop();
    await tenantMailServer.close();
    await relay.close();
    await database.cleanup();
  });

  const db = () => ownerDb(gateway.database.db);
  const stateOf = async (id: string) => (await db().select({ state: messages.state }).from(messages).where(eq(messages.id, id)))[0]?.state;
  const settled = (id: string, not = 'received') =>
    waitFor(`message ${id} to leave ${not}`, async () => {
      const state = await stateOf(id);
      return state && state !== not ? state : undefined;
    });
  const admin = (method: 'GET' | 'POST', url: string) =>
    gateway.http.inject({ method, url, headers: { authorization: `Bearer ${ACME_API_TOKEN}` } });

  test('every stage writes its trace step, in order, and a checked inbound message is delivered', async () => {
    const start = tenantMailServer.received.length;
    const id = await send(gateway, 'news@example.org', ['alice@acme.test'], simpleMessage({ from: 'news@example.org', to: 'alice@acme.test', subject: 'Hi' }), '127.0.0.2');
    await tenantMailServer.waitForMessages(start + 1);
    const steps = (await readTrace(db(), id)).map((t) => t.step);
    assert.deepEqual(steps.slice(0, 5), ['received', 'parsed', 'classified', 'scored', 'routed']);
    const [row] = await db().select({ stage: messages.stage, results: messages.stageResults }).from(messages).where(eq(messages.id, id));
    assert.equal(row?.stage, 'queued');
    assert.deepEqual((row?.results as { guard?: unknown }).guard, { checked: true, action: 'deliver', score: 0, findings: [] });
  });

  test('a flagged message is delivered with X-Spam-Flag and X-Spam-Status, and a sender cannot pre-flag or pre-clear its own', async () => {
    const start = tenantMailServer.received.length;
    const id = await send(
      gateway,
      'promo@example.org',
      ['alice@acme.test'],
      simpleMessage({
        from: 'promo@example.org',
        to: 'alice@acme.test',
        subject: 'Offer',
        headers: { 'X-Test-Verdict': 'flag', 'X-Spam-Status': 'No, score=-100', 'X-Spam-Flag': 'NO' },
      }),
      '127.0.0.2',
    );
    const mail = (await tenantMailServer.waitForMessages(start + 1))[start]!.raw.toString();
    assert.match(mail, /\r\nX-Spam-Flag: YES\r\n/);
    assert.match(mail, /\r\nX-Spam-Status: Yes, score=9\.5 tests=TEST_VERDICT\r\n/);
    assert.doesNotMatch(mail, /X-Spam-Flag: NO|score=-100/, 'the sender\'s own verdict headers were removed on arrival');
    const received = (await readTrace(db(), id)).find((t) => t.step === 'received');
    assert.deepEqual(received?.detail.removedControlHeaders, ['X-Spam-Status', 'X-Spam-Flag']);
    const guard = (await readTrace(db(), id)).find((t) => t.step === 'scored');
    assert.deepEqual(guard?.detail, { action: 'flag', score: 9.5, symbols: ['TEST_VERDICT (+9.5): the message asked for flag'] });
  });

  test('a quarantined message is kept with no delivery, listed for the operator, and delivered once released', async () => {
    const start = tenantMailServer.received.length;
    const id = await send(
      gateway,
      'odd@example.org',
      ['alice@acme.test'],
      simpleMessage({ from: 'odd@example.org', to: 'alice@acme.test', subject: 'Invoice', headers: { 'X-Test-Verdict': 'quarantine' } }),
      '127.0.0.2',
    );
    assert.equal(await settled(id), 'quarantined');
    assert.equal((await db().select().from(deliveries).where(eq(deliveries.messageId, id))).length, 0);
    const quarantined = (await readTrace(db(), id)).find((t) => t.step === 'quarantined');
    assert.match(String(quarantined?.detail.reason), /^the inbound checks scored 9\.5: TEST_VERDICT/);

    const listed = await admin('GET', '/api/admin/messages?state=quarantined');
    assert.equal(listed.statusCode, 200);
    assert.deepEqual(listed.json().messages.map((m: { id: string }) => m.id), [id]);

    const released = await admin('POST', `/api/admin/messages/${id}/release`);
    assert.equal(released.statusCode, 200, released.body);
    assert.equal(released.json().action, 'delivered');
    const mail = (await tenantMailServer.waitForMessages(start + 1))[start]!;
    assert.match(mail.raw.toString(), /\r\nSubject: Invoice\r\n/);
    assert.match(mail.raw.toString(), /\r\nX-Sealpost-acme-test: true\r\n/, 'a released message still gets the loop-prevention header');
    const release = (await readTrace(db(), id)).find((t) => t.step === 'released');
    assert.equal(release?.detail.by, 'admin API token');
    const audit = await db().select().from(auditLog).where(and(eq(auditLog.subjectId, id), eq(auditLog.action, 'message_released')));
    assert.equal(audit.length, 1);

    const again = await admin('POST', `/api/admin/messages/${id}/release`);
    assert.equal(again.statusCode, 409);
    assert.match(again.json().detail, /only held or quarantined messages can be released/);
  });

  test('a rejected message is kept, gets no delivery and sends no bounce to a sender who may be forged', async () => {
    const id = await send(
      gateway,
      'forged@example.org',
      ['alice@acme.test'],
      simpleMessage({ from: 'forged@example.org', to: 'alice@acme.test', subject: 'Win', headers: { 'X-Test-Verdict': 'reject' } }),
      '127.0.0.2',
    );
    assert.equal(await settled(id), 'rejected');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal((await db().select().from(deliveries).where(eq(deliveries.messageId, id))).length, 0);
    const notifications = await db().select({ id: messages.id }).from(messages).where(eq(messages.mailFrom, ''));
    const trace = await readTrace(db(), id);
    assert.equal(
      trace.find((t) => t.step === 'rejected')?.detail.rejectionNotice,
      'none: the sender was not verified (SPF or DKIM) and may be forged',
    );
    assert.ok(!trace.some((t) => t.step === 'bounce_sent'));
    assert.ok(notifications.every((n) => n.id !== id));
  });

  test('an unreadable inbound message is held at once and, released, reaches the tenant mail server exactly as received', async () => {
    const start = tenantMailServer.received.length;
    const tenant = gateway.directory.tenantForAddress('alice@acme.test')!;
    const id = randomUUID();
    const raw = Buffer.from(`From: <a@example.org>\r\nTo: <alice@acme.test>\r\nSubject: Big\r\n${filler(1.2 * 1024 * 1024)}\r\nHello.\r\n`);
    await spoolMessages(db(), gateway.vault, [
      { id, tenantId: tenant.id, direction: 'inbound', mailFrom: 'a@example.org', recipients: ['alice@acme.test'], clientAddress: '127.0.0.2', tls: false, raw, traceDetail: {} },
    ]);
    assert.equal(await settled(id), 'held');
    const listed = await admin('GET', '/api/admin/messages?state=held');
    assert.ok(listed.json().messages.some((m: { id: string }) => m.id === id));
    const released = await admin('POST', `/api/admin/messages/${id}/release`);
    assert.equal(released.statusCode, 200, released.body);
    assert.equal(released.json().action, 'delivered_as_received');
    const mail = (await tenantMailServer.waitForMessages(start + 1, 30_000))[start]!;
    assert.ok(mail.raw.equals(raw), 'the same bytes as received');
    const release = (await readTrace(db(), id)).find((t) => t.step === 'released');
    assert.deepEqual(release?.detail.skipped, ['parsed', 'classified', 'requested', 'guarded', 'routed', 'protected', 'queued']);
  });

  test('an unreadable outbound message cannot be protected: released, it goes back to its sender, never out', async () => {
    const relayStart = relay.received.length;
    const tenant = gateway.directory.tenantForAddress('alice@acme.test')!;
    const id = randomUUID();
    const raw = Buffer.from(`From: <alice@acme.test>\r\nTo: <partner@example.net>\r\nSubject: Secret\r\nX-Sealpost-Encrypt: portal\r\n${filler(1.2 * 1024 * 1024)}\r\nSecret.\r\n`);
    await spoolMessages(db(), gateway.vault, [
      { id, tenantId: tenant.id, direction: 'outbound', mailFrom: 'alice@acme.test', recipients: ['partner@example.net'], clientAddress: '127.0.0.1', tls: false, raw, traceDetail: {} },
    ]);
    assert.equal(await settled(id), 'held');
    const start = tenantMailServer.received.length;
    const released = await admin('POST', `/api/admin/messages/${id}/release`);
    assert.equal(released.statusCode, 200, released.body);
    assert.equal(released.json().action, 'returned_to_sender');
    assert.equal(await stateOf(id), 'bounced');
    const bounce = (await tenantMailServer.waitForMessages(start + 1))[start]!;
    assert.deepEqual(bounce.recipients, ['alice@acme.test']);
    assert.match(bounce.raw.toString(), /Status: 5\.6\.0/);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(relay.received.length, relayStart, 'nothing was sent to the outside recipient');
  });

  test('portal protection runs once in the protect stage on the cleaned message, with the request at hand, and its notification is queued directly', async () => {
    const relayStart = relay.received.length;
    const expires = new Date(Date.now() + 3 * 86_400_000);
    expires.setUTCMilliseconds(0);
    const id = await send(
      gateway,
      'alice@acme.test',
      ['client@example.net'],
      simpleMessage({
        from: 'alice@acme.test',
        to: 'client@example.net',
        subject: '[secure] Contract',
        body: 'Confidential clause 7.',
        headers: { 'X-Sealpost-Expires': expires.toISOString(), 'X-Sealpost-Options': 'read-receipt' },
      }),
      '127.0.0.1',
    );
    assert.equal(await settled(id, 'received'), 'delivered');
    const trace = await readTrace(db(), id);
    const protectedSteps = trace.filter((t) => t.step === 'protected');
    assert.equal(protectedSteps.length, 1, 'protected once');
    assert.equal(protectedSteps[0]!.detail.outcome, 'handled');
    assert.equal(protectedSteps[0]!.detail.mode, 'auto', 'the subject trigger asks for automatic protection');
    assert.equal((protectedSteps[0]!.detail.detail as { method?: string }).method, 'portal', 'no certificate or key known: the portal');
    const [delivery] = await db().select().from(deliveries).where(eq(deliveries.messageId, id));
    assert.equal(delivery?.status, 'delivered');
    assert.equal(delivery?.lastReply, 'handled by auto');

    const [stored] = await db().select().from(portalMessages).where(eq(portalMessages.sourceMessageId, id));
    assert.equal(stored?.expiresAt?.toISOString(), expires.toISOString(), 'the expiry came from the parsed request, not the cleaned headers');
    assert.equal(stored?.readReceipt, true);
    const [thread] = await db().select().from(portalThreads).where(eq(portalThreads.id, stored!.threadId));
    const opened = await openEml(gateway.vault, stored!, thread!, (await loadSealedEml(db(), stored!.id))!);
    assert.equal(opened.integrity, 'verified');
    const eml = opened.eml!.toString();
    assert.doesNotMatch(eml, /^X-Sealpost-/im, 'no control header was sealed into the protected copy');
    assert.match(eml, /\r\nSubject: Contract\r\n/, 'the subject trigger was removed before protection');

    const notification = (await relay.waitForMessages(relayStart + 1))[relayStart]!;
    assert.deepEqual(notification.recipients, ['client@example.net']);
    const [notificationRow] = await db()
      .select({ id: messages.id, stage: messages.stage })
      .from(messages)
      .where(and(eq(messages.direction, 'notification'), eq(messages.mailFrom, 'alice@acme.test')));
    assert.equal(notificationRow?.stage, 'queued');
    const notificationSteps = await waitFor('the notification\'s delivery to be recorded', async () => {
      const steps = (await readTrace(db(), notificationRow!.id)).map((t) => t.step);
      return steps.includes('delivered') ? steps : undefined;
    });
    assert.deepEqual(notificationSteps.filter((s) => s !== 'delivery_attempt'), ['received', 'routed', 'delivered'], 'no second pass through the stages');
  });

  describe('the runner itself (the gateway\'s own runner paused)', () => {
    before(async () => gateway.pipeline.stop());
    after(() => gateway.pipeline.start());

    const runnerOptions = (extra: Partial<StageRunnerOptions>): StageRunnerOptions => ({
      db: gateway.database.db,
      vault: gateway.vault,
      directory: gateway.directory,
      protectionModes: new ProtectionModes(),
      logger: createLogger('silent'),
      pollMs: 100,
      heldRetryMs: 1000,
      guard: verdictFromHeader,
      onRouted: () => gateway.delivery.signal.notify(),
      ...extra,
    });
    const counted = (runs: Map<string, number>, failOnce?: { stage: string; hang?: Promise<void> }): Stage[] =>
      STAGES.map((stage) => ({
        ...stage,
        async run(context, deps) {
          runs.set(stage.name, (runs.get(stage.name) ?? 0) + 1);
          if (failOnce?.stage === stage.name && runs.get(stage.name) === 1) {
            if (failOnce.hang) await failOnce.hang;
            else throw new Error(`${stage.name} failed once`);
          }
          return stage.run(context, deps);
        },
      }));
    const spoolInbound = async (subject: string, headers = '') => {
      const tenant = gateway.directory.tenantForAddress('alice@acme.test')!;
      const id = randomUUID();
      const raw = Buffer.from(`From: <n@example.org>\r\nTo: <alice@acme.test>\r\nSubject: ${subject}\r\n${headers}\r\nHello.\r\n`);
      await spoolMessages(db(), gateway.vault, [
        { id, tenantId: tenant.id, direction: 'inbound', mailFrom: 'n@example.org', recipients: ['alice@acme.test'], clientAddress: '127.0.0.2', tls: false, raw, traceDetail: {} },
      ]);
      return id;
    };
    const row = async (id: string) =>
      (await db().select({ state: messages.state, stage: messages.stage, attempts: messages.pipelineAttempts }).from(messages).where(eq(messages.id, id)))[0]!;

    test('a stage that fails resumes at that stage: the stages the message passed do not run again', async () => {
      const id = await spoolInbound('Resume');
      const runs = new Map<string, number>();
      const runner = new StageRunner(runnerOptions({ stages: counted(runs, { stage: 'route' }), retryBaseMs: 1 }));
      assert.equal(await runner.runBatch(), 1);
      assert.deepEqual(await row(id), { state: 'received', stage: 'guarded', attempts: 1 });
      const error = (await readTrace(db(), id)).find((t) => t.step === 'pipeline_error');
      assert.deepEqual(error?.detail, { stage: 'route', error: 'route failed once', attempts: 1, willRetry: true });
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(await runner.runBatch(), 1);
      assert.deepEqual(Object.fromEntries(runs), { parse: 1, classify: 1, request: 1, guard: 1, route: 2, protect: 1, queue: 1 });
      assert.deepEqual(await row(id), { state: 'routed', stage: 'queued', attempts: 1 });
      const steps = (await readTrace(db(), id)).map((t) => t.step);
      assert.equal(steps.filter((s) => s === 'scored').length, 1, 'the guard ran once');
    });

    test('the lease of a runner that stopped mid-stage expires and another runner finishes the message, once', async () => {
      const id = await spoolInbound('Lease');
      let wake!: () => void;
      const hang = new Promise<void>((resolve) => (wake = resolve));
      const stuck = new StageRunner(runnerOptions({ stages: counted(new Map(), { stage: 'route', hang }), leaseSeconds: 1, workerId: 'stuck' }));
      const stuckBatch = stuck.runBatch();
      await waitFor('the stuck runner to pass the guard', async () => ((await row(id)).stage === 'guarded' ? true : undefined));
      const runs = new Map<string, number>();
      const other = new StageRunner(runnerOptions({ stages: counted(runs), leaseSeconds: 1, workerId: 'other' }));
      assert.equal(await other.runBatch(), 0, 'a leased message is not taken while its lease lasts');
      await new Promise((resolve) => setTimeout(resolve, 1200));
      assert.equal(await other.runBatch(), 1);
      assert.deepEqual(Object.fromEntries(runs), { route: 1, protect: 1, queue: 1 }, 'the other runner resumed after the guard');
      wake();
      await stuckBatch;
      assert.deepEqual(await row(id), { state: 'routed', stage: 'queued', attempts: 0 });
      assert.equal((await db().select().from(deliveries).where(eq(deliveries.messageId, id))).length, 1, 'queued once');
    });

    test('a stored message that cannot be decrypted is held at once, and the rest of its batch goes on', async () => {
      const broken = await spoolInbound('Tampered');
      const fine = await spoolInbound('Fine');
      const [stored] = await db().select({ content: messages.content }).from(messages).where(eq(messages.id, broken));
      const flipped = Buffer.from(stored!.content);
      flipped[flipped.length - 1] = flipped[flipped.length - 1]! ^ 1;
      await db().update(messages).set({ content: flipped }).where(eq(messages.id, broken));
      const runner = new StageRunner(runnerOptions({}));
      assert.equal(await runner.runBatch(), 2);
      assert.deepEqual(await row(broken), { state: 'held', stage: 'received', attempts: 1 });
      const held = (await readTrace(db(), broken)).find((t) => t.step === 'held');
      assert.equal(held?.detail.stage, 'parse');
      assert.match(String(held?.detail.reason), /^the stored message cannot be decrypted \(.+\): the message cannot be read, so it is held until an operator releases it$/);
      assert.equal((await row(fine)).state, 'routed');
    });

    test('a stage that keeps failing holds the message with its stage and reason; released, it retries from that stage', async () => {
      const id = await spoolInbound('Checks down', 'X-Test-Verdict: throw\r\n');
      const failing = new StageRunner(runnerOptions({ maxAttempts: 1 }));
      assert.equal(await failing.runBatch(), 1);
      assert.deepEqual(await row(id), { state: 'held', stage: 'requested', attempts: 1 });
      const held = (await readTrace(db(), id)).find((t) => t.step === 'held');
      assert.deepEqual(held?.detail, { stage: 'guard', reason: 'the checks could not run: test failure (after 1 attempts)' });
      assert.equal((await db().select().from(deliveries).where(eq(deliveries.messageId, id))).length, 0, 'never delivered unchecked');

      const released = await admin('POST', `/api/admin/messages/${id}/release`);
      assert.equal(released.statusCode, 200, released.body);
      assert.deepEqual(released.json(), { action: 'retry', state: 'received', detail: 'the stages try again from "guard"' });
      const runs = new Map<string, number>();
      const healthy = new StageRunner(runnerOptions({ stages: counted(runs), guard: async () => ({ action: 'deliver', score: 0, findings: [] }) }));
      assert.equal(await healthy.runBatch(), 1);
      assert.deepEqual(Object.fromEntries(runs), { guard: 1, route: 1, protect: 1, queue: 1 });
      assert.equal((await row(id)).state, 'routed');
    });
  });
});
