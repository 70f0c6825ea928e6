/**
 * SMTP-time hooks over real SMTP on loopback: a hook refuses with its own 4xx/5xx before the 250, its
 * findings travel into the stored message's trace, a failing hook refuses nothing, and the tenant's own
 * connector is never refused by inbound checks.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { asc, eq } from 'drizzle-orm';
import { messageTrace } from '../src/db/schema.ts';
import type { Gateway } from '../src/gateway.ts';
import type { SmtpHook } from '../src/guard/contract.ts';
import { nested, plainText } from './support/crafted-mail.ts';
import { createTestDatabase, type TestDatabase, ownerDb } from './support/database.ts';
import { MailPeer } from './support/mail-peer.ts';
import { SmtpConversation } from './support/smtp-conversation.ts';
import { acmeTenant, startTestGateway } from './support/test-gateway.ts';

const INTERNET = { localAddress: '127.0.0.2' };
const EXCHANGE = { localAddress: '127.0.0.1' };
const BLOCKED_CLIENT = '127.0.0.66';

const testHooks: SmtpHook[] = [
  {
    name: 'blocked-client',
    connect: (session) =>
      session.remoteAddress === BLOCKED_CLIENT ? { refuse: { code: 554, enhanced: '5.7.1', message: 'Your address is blocked by the test policy' } } : undefined,
  },
  {
    name: 'sender-notes',
    mailFrom(_session, address) {
      if (address === 'boom@example.org') throw new Error('the sender list is unavailable');
      if (address === 'slow@example.org') return new Promise(() => undefined);
      if (address === 'noted@example.org') return { findings: [{ symbol: 'SENDER_NOTED', score: 1, reason: 'noted@example.org is on the test list' }] };
      return undefined;
    },
    budgetMs: 200,
  },
  {
    name: 'closed-mailbox',
    rcptTo: (_session, address) =>
      address === 'former@acme.test' ? { refuse: { code: 550, enhanced: '5.1.1', message: 'former@acme.test has left; the mailbox is closed' } } : undefined,
  },
];

describe('SMTP-time hooks', () => {
  let database: TestDatabase;
  let tenantMailServer: MailPeer;
  let gateway: Gateway;
  before(async () => {
    database = await createTestDatabase();
    tenantMailServer = await MailPeer.start();
    gateway = await startTestGateway(database, [acmeTenant(tenantMailServer.port)], {}, { smtpHooks: testHooks });
  });
  after(async () => {
    await gateway.stop();
    await tenantMailServer.close();
    await database.cleanup();
  });

  const receivedDetail = async (reply: string | undefined) => {
    const id = reply?.split('queued as ')[1];
    assert.ok(id, `a queue id in "${reply}"`);
    const steps = await ownerDb(gateway.database.db).select().from(messageTrace).where(eq(messageTrace.messageId, id)).orderBy(asc(messageTrace.id));
    return steps.find((s) => s.step === 'received')!.detail as { smtpFindings?: Array<{ symbol: string; reason: string }> };
  };

  test('a message nested absurdly deep from the Internet gets 554 5.6.0 at the end of DATA, never a 250', async () => {
    const smtp = await SmtpConversation.open(gateway.smtpPort, INTERNET);
    await smtp.command('EHLO mx.example.org');
    const result = await smtp.sendMessage('sender@example.org', ['alice@acme.test'], nested(45));
    assert.equal(result.final?.code, 554, result.final?.text);
    assert.match(result.final!.text, /^5\.6\.0 Message refused: MIME parts nested more than 40 deep/);
    // The connection stays usable: the next, ordinary message is accepted.
    const next = await smtp.sendMessage('sender@example.org', ['alice@acme.test'], plainText());
    assert.equal(next.final?.code, 250, next.final?.text);
    await smtp.quit();
  });

  test('swaks sees the same refusal as a real client', async () => {
    const file = join(database.dataDir, 'nested.eml');
    writeFileSync(file, nested(45));
    const args = ['--server', `127.0.0.1:${gateway.smtpPort}`, '--local-interface', '127.0.0.2', '--from', 'sender@example.org', '--to', 'alice@acme.test', '--data', file];
    // swaks exits with an error status when the message is refused; what it printed is what counts.
    const { stdout } = await promisify(execFile)('swaks', args, { timeout: 30_000 }).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }));
    assert.match(stdout, /<\*\* +554 5\.6\.0 Message refused: MIME parts nested more than 40 deep/, stdout);
    assert.doesNotMatch(stdout, /queued as/);
  });

  test("the tenant's own connector is not refused by inbound checks: the same message is accepted", async () => {
    const smtp = await SmtpConversation.open(gateway.smtpPort, EXCHANGE);
    await smtp.command('EHLO exchange.acme.test');
    const result = await smtp.sendMessage('alice@acme.test', ['bob@acme.test'], nested(45));
    await smtp.quit();
    assert.equal(result.final?.code, 250, result.final?.text);
    assert.equal((await receivedDetail(result.final?.text)).smtpFindings, undefined);
  });

  test('a connect hook refuses a client before the greeting with its own code', async () => {
    const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress: BLOCKED_CLIENT });
    assert.equal(smtp.greeting.code, 554);
    assert.match(smtp.greeting.text, /^5\.7\.1 Your address is blocked by the test policy/);
    await smtp.quit();
  });

  test('an RCPT hook refuses one recipient; the others are accepted', async () => {
    const smtp = await SmtpConversation.open(gateway.smtpPort, INTERNET);
    await smtp.command('EHLO mx.example.org');
    const result = await smtp.sendMessage('sender@example.org', ['former@acme.test', 'alice@acme.test'], plainText());
    await smtp.quit();
    assert.equal(result.rcpt[0]!.code, 550);
    assert.match(result.rcpt[0]!.text, /^5\.1\.1 former@acme\.test has left/);
    assert.equal(result.rcpt[1]!.code, 250);
    assert.equal(result.final?.code, 250);
  });

  test("a hook's findings, and a hook that fails or hangs, are carried into the stored message's trace", async () => {
    const smtp = await SmtpConversation.open(gateway.smtpPort, INTERNET);
    await smtp.command('EHLO mx.example.org');
    const noted = await smtp.sendMessage('noted@example.org', ['alice@acme.test'], plainText());
    assert.equal(noted.final?.code, 250);
    assert.deepEqual((await receivedDetail(noted.final?.text)).smtpFindings?.map((f) => f.symbol), ['SENDER_NOTED']);

    const failing = await smtp.sendMessage('boom@example.org', ['alice@acme.test'], plainText());
    assert.equal(failing.mail.code, 250, 'a failing hook refuses nothing');
    assert.equal(failing.final?.code, 250);
    const error = (await receivedDetail(failing.final?.text)).smtpFindings?.find((f) => f.symbol === 'SMTP_HOOK_ERROR_SENDER_NOTES');
    assert.match(error!.reason, /sender-notes \(mailFrom\) failed: the sender list is unavailable/);

    const hanging = await smtp.sendMessage('slow@example.org', ['alice@acme.test'], plainText());
    assert.equal(hanging.final?.code, 250);
    assert.deepEqual((await receivedDetail(hanging.final?.text)).smtpFindings?.map((f) => f.symbol), ['SMTP_HOOK_TIMEOUT_SENDER_NOTES']);

    // Findings belong to their transaction: the next message on the connection starts clean.
    const clean = await smtp.sendMessage('sender@example.org', ['alice@acme.test'], plainText());
    assert.equal((await receivedDetail(clean.final?.text)).smtpFindings, undefined);
    await smtp.quit();
  });
});
