/**
 * The recipient's second factor in the portal, against a real gateway: a message sent with the `otp`
 * option opens a session that reads nothing until the recipient sets up an authenticator app (codes
 * computed here by RFC 6238 from the secret, independently of the gateway's library) or proves it later;
 * recovery codes work once; failures are counted and audited; an owner can remove a recipient's factors;
 * the tenant can ask it of every recipient.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { and, eq } from 'drizzle-orm';
import MailComposer from 'nodemailer/lib/mail-composer';
import { auditLog } from '../src/db/schema.ts';
import type { Gateway } from '../src/gateway.ts';
import { createTestDatabase, ownerDb, type TestDatabase } from './support/database.ts';
import { MailPeer } from './support/mail-peer.ts';
import { PortalBrowser } from './support/portal-browser.ts';
import { tokenOf } from './support/portal-mail.ts';
import { SmtpConversation } from './support/smtp-conversation.ts';
import { acmeTenant, startTestGateway } from './support/test-gateway.ts';
import { currentStep, totpCode } from './support/totp.ts';

describe('second factor for portal recipients', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let tenantMailServer: MailPeer;
  let relay: MailPeer;

  async function sendPortal(to: string, subject: string, options?: string): Promise<string> {
    const raw = new MailComposer({
      from: 'Alice <alice@acme.test>',
      to,
      subject,
      text: `Confidential findings for ${to}.`,
      headers: { 'X-Sealpost-Encrypt': 'portal', ...(options ? { 'X-Sealpost-Options': options } : {}) },
    })
      .compile()
      .build();
    const start = relay.received.length;
    const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress: '127.0.0.1' });
    await smtp.command('EHLO exchange.acme.test');
    const result = await smtp.sendMessage('alice@acme.test', [to], await raw);
    await smtp.quit();
    assert.equal(result.final?.code, 250);
    const mails = await relay.waitForMessages(start + 1);
    return tokenOf(mails.slice(start).find((m) => m.recipients.includes(to))!);
  }

  async function openSession(token: string): Promise<PortalBrowser> {
    const browser = new PortalBrowser(gateway.httpPort);
    const opened = await browser.open(token);
    assert.equal(opened.status, 200);
    return browser;
  }

  async function auditActions(address: string): Promise<string[]> {
    const acme = gateway.directory.tenantForDomain('acme.test')!.id;
    const rows = await ownerDb(gateway.database.db)
      .select({ action: auditLog.action })
      .from(auditLog)
      .where(and(eq(auditLog.tenantId, acme), eq(auditLog.actorAddress, address)));
    return rows.map((r) => r.action);
  }

  before(async () => {
    database = await createTestDatabase();
    tenantMailServer = await MailPeer.start();
    relay = await MailPeer.start();
    gateway = await startTestGateway(database, [acmeTenant(tenantMailServer.port, { members: [{ email: 'alice@acme.test', role: 'owner' }] })], {
      SEALPOST_RELAY: `smtp://127.0.0.1:${relay.port}`,
    });
  });

  after(async () => {
    await gateway.stop();
    await tenantMailServer.close();
    await relay.close();
    await database.cleanup();
  });

  test('a message sent with otp is read only after the recipient sets up an authenticator app; the code works once', async () => {
    const recipient = 'patient@example.net';
    const browser = await openSession(await sendPortal(recipient, 'Findings', 'otp'));
    const state = (await browser.request('GET', '/api/portal/session/state')).json();
    assert.equal(state.session.secondFactor, 'required');
    const threads = await browser.request('GET', '/api/portal/threads');
    assert.equal(threads.status, 403);
    assert.equal(threads.json().type, 'urn:sealpost:problem:second-factor-required');
    const status = (await browser.request('GET', '/api/portal/second-factor')).json();
    assert.deepEqual(status, { required: true, verified: false, canEnrol: true, totp: false, passkeys: 0, recoveryCodesLeft: 0 });

    const enrolment = (await browser.request('POST', '/api/portal/second-factor/totp/start')).json();
    assert.match(enrolment.secret, /^[A-Z2-7]{32}$/, '160-bit secret in base32');
    const uri = new URL(enrolment.uri);
    assert.equal(uri.protocol, 'otpauth:');
    assert.equal(uri.searchParams.get('secret'), enrolment.secret);
    assert.equal(uri.searchParams.get('issuer'), 'Acme', "the tenant's name, as the app lists it");
    assert.match(decodeURIComponent(uri.pathname), /patient@example\.net/);
    assert.match(enrolment.qrSvg, /^<svg[^>]*>/);

    const wrongCode = String((Number(totpCode(enrolment.secret, currentStep())) + 500_000) % 1_000_000).padStart(6, '0');
    const wrong = await browser.request('POST', '/api/portal/second-factor/totp/confirm', { json: { code: wrongCode } });
    assert.equal(wrong.status, 400);
    assert.equal(wrong.json().type, 'urn:sealpost:problem:second-factor-invalid');
    assert.ok((await auditActions(recipient)).includes('second_factor_failed'), 'the failure is audited (not rolled back)');

    const code = totpCode(enrolment.secret, currentStep());
    const confirmed = await browser.request('POST', '/api/portal/second-factor/totp/confirm', { json: { code } });
    assert.equal(confirmed.status, 200, confirmed.body.toString());
    const recoveryCodes: string[] = confirmed.json().recoveryCodes;
    assert.equal(recoveryCodes.length, 10);
    assert.equal(new Set(recoveryCodes).size, 10);
    assert.equal((await browser.request('GET', '/api/portal/session')).json().secondFactor, 'verified');

    const list = (await browser.request('GET', '/api/portal/threads')).json().threads;
    assert.equal(list.length, 1);
    const detail = (await browser.request('GET', `/api/portal/threads/${list[0].id}`)).json();
    const message = await browser.request('GET', `/api/portal/messages/${detail.messages[0].id}`);
    assert.equal(message.status, 200);
    assert.match(message.json().text, /Confidential findings/);

    // The next link for the same address asks again (the factor is the recipient's now), and the code seen
    // above does not work a second time.
    const second = await openSession(await sendPortal(recipient, 'Follow-up'));
    assert.equal((await second.request('GET', '/api/portal/session')).json().secondFactor, 'required');
    const replay = await second.request('POST', '/api/portal/second-factor/totp/verify', { json: { code } });
    assert.equal(replay.status, 400, 'a used code is refused');
    // Setting up another app needs the factor first.
    assert.equal((await second.request('POST', '/api/portal/second-factor/totp/start')).json().type, 'urn:sealpost:problem:second-factor-required');

    // A recovery code works once.
    const recovered = await second.request('POST', '/api/portal/second-factor/recovery', { json: { code: recoveryCodes[0]!.toUpperCase() } });
    assert.equal(recovered.status, 200, recovered.body.toString());
    assert.equal((await second.request('GET', '/api/portal/threads')).status, 200);
    const third = await openSession(await sendPortal(recipient, 'Third'));
    assert.equal((await third.request('POST', '/api/portal/second-factor/recovery', { json: { code: recoveryCodes[0]! } })).status, 400);
    assert.equal((await third.request('GET', '/api/portal/second-factor')).json().recoveryCodesLeft, 9);
    const actions = await auditActions(recipient);
    for (const action of ['second_factor_enrolled', 'second_factor_verified', 'recovery_code_used']) assert.ok(actions.includes(action), action);
  });

  test('a message without otp to an address without a factor opens as before', async () => {
    const browser = await openSession(await sendPortal('plain@example.net', 'Plain'));
    const session = (await browser.request('GET', '/api/portal/session')).json();
    assert.equal(session.secondFactor, undefined);
    assert.equal((await browser.request('GET', '/api/portal/threads')).status, 200);
  });

  test('an otp message to a recipient whose session started without one shows no preview and does not open', async () => {
    const recipient = 'later@example.net';
    const browser = await openSession(await sendPortal(recipient, 'First, plain'));
    await sendPortal(recipient, 'Second, with otp', 'otp');
    const threads = (await browser.request('GET', '/api/portal/threads')).json().threads;
    const otpThread = threads.find((t: { subject: string }) => t.subject === 'Second, with otp');
    const detail = (await browser.request('GET', `/api/portal/threads/${otpThread.id}`)).json();
    assert.equal(detail.messages[0].preview, '');
    const message = await browser.request('GET', `/api/portal/messages/${detail.messages[0].id}`);
    assert.equal(message.status, 403);
    assert.equal(message.json().type, 'urn:sealpost:problem:second-factor-required');
  });

  test('tries are limited per address, and an owner can remove a recipient\'s factors', async () => {
    const recipient = 'guesser@example.net';
    const browser = await openSession(await sendPortal(recipient, 'Guess', 'otp'));
    const { secret } = (await browser.request('POST', '/api/portal/second-factor/totp/start')).json();
    const good = totpCode(secret, currentStep());
    assert.equal((await browser.request('POST', '/api/portal/second-factor/totp/confirm', { json: { code: good } })).status, 200);

    const attacker = await openSession(await sendPortal(recipient, 'Guess again'));
    let limited = false;
    for (let i = 0; i < 12 && !limited; i += 1) {
      const answer = await attacker.request('POST', '/api/portal/second-factor/totp/verify', { json: { code: String(100000 + i) } });
      if (answer.status === 429) limited = true;
      else assert.equal(answer.status, 400);
    }
    assert.ok(limited, 'guessing stops after ten tries');

    const owner = await signedInOwner();
    const reset = await owner.request('DELETE', `/api/portal/admin/second-factors?address=${encodeURIComponent(recipient)}`);
    assert.equal(reset.status, 200, reset.body.toString());
    assert.equal(reset.json().removed, 1);
    assert.ok((await auditActions('alice@acme.test')).includes('second_factor_reset'));
    // The otp message still asks for a factor: the recipient sets one up anew, as on the first visit.
    const fresh = await openSession(await sendPortal(recipient, 'After reset'));
    const status = (await fresh.request('GET', '/api/portal/second-factor')).json();
    assert.deepEqual(status, { required: true, verified: false, canEnrol: true, totp: false, passkeys: 0, recoveryCodesLeft: 0 });

    const contact = await openSession(await sendPortal('someone@example.net', 'Not an admin'));
    assert.equal((await contact.request('DELETE', `/api/portal/admin/second-factors?address=${encodeURIComponent(recipient)}`)).status, 403);
  });

  test('a tenant that asks it of every recipient gets a second factor for every session outside the tenant', async () => {
    const owner = await signedInOwner();
    assert.equal((await owner.request('PATCH', '/api/portal/admin/settings', { json: { secondFactor: 'always' } })).status, 200);
    assert.equal((await owner.request('GET', '/api/portal/session')).json().secondFactor, undefined, 'members sign in their own way');
    const browser = await openSession(await sendPortal('everyone@example.net', 'Policy'));
    assert.equal((await browser.request('GET', '/api/portal/session')).json().secondFactor, 'required');
    assert.equal((await owner.request('PATCH', '/api/portal/admin/settings', { json: { secondFactor: 'on-request' } })).status, 200);
  });

  /** The owner's portal session, from a sign-in link to her own mailbox. */
  async function signedInOwner(): Promise<PortalBrowser> {
    const owner = new PortalBrowser(gateway.httpPort);
    const start = tenantMailServer.received.length;
    assert.equal((await owner.request('POST', '/api/portal/sign-in', { json: { email: 'alice@acme.test' } })).status, 202);
    const [signIn] = (await tenantMailServer.waitForMessages(start + 1)).slice(start);
    assert.equal((await owner.open(tokenOf(signIn!))).status, 200);
    return owner;
  }
});
