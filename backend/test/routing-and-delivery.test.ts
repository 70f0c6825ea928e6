import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { simpleParser } from 'mailparser';
import { eq } from 'drizzle-orm';
import { deliveries, messages } from '../src/db/schema.ts';
import type { Gateway } from '../src/gateway.ts';
import { readTrace } from '../src/messages/message-trace.ts';
import { createTestDatabase, type TestDatabase, ownerDb } from './support/database.ts';
import { MailPeer } from './support/mail-peer.ts';
import { SmtpConversation, simpleMessage } from './support/smtp-conversation.ts';
import { acmeTenant, startTestGateway } from './support/test-gateway.ts';
import type { ProtectionHandler } from '../src/protect/protection-modes.ts';
import { waitFor } from './support/portal-mail.ts';

async function send(gateway: Gateway, from: string, to: string[], data: string, localAddress = '127.0.0.1') {
  const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress });
  await smtp.command('EHLO client.test');
  const result = await smtp.sendMessage(from, to, data);
  await smtp.quit();
  assert.equal(result.final?.code, 250, `accepted: ${result.final?.text ?? result.mail.text}`);
  return result.final!.text.split('queued as ')[1]!;
}

describe('routing and delivery', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let tenantMailServer: MailPeer;
  let relay: MailPeer;

  before(async () => {
    database = await createTestDatabase();
    tenantMailServer = await MailPeer.start();
    relay = await MailPeer.start();
    // The PDF way is on, but (as a way whose password channel is not set up yet) it cannot serve anyone.
    const pdfNotReady: ProtectionHandler = { mode: 'pdf', protect: async () => ({ kind: 'unavailable', reason: 'no password channel is ready; the message will not be sent unprotected' }) };
    gateway = await startTestGateway(
      database,
      [acmeTenant(tenantMailServer.port, { encryption: { ways: { pdf: true } } })],
      { SEALPOST_RELAY: `smtp://127.0.0.1:${relay.port}`, SEALPOST_HELD_RETRY_SECONDS: '1' },
      { protectionModes: [pdfNotReady] },
    );
  });

  afterEach(() => {
    relay.answer = () => undefined;
    tenantMailServer.answer = () => undefined;
  });

  after(async () => {
    await gateway.stop();
    await tenantMailServer.close();
    await relay.close();
    await database.cleanup();
  });

  test('inbound mail goes to the tenant mail server with the loop-prevention header', async () => {
    const start = tenantMailServer.received.length;
    await send(gateway, 'news@example.org', ['alice@acme.test'], simpleMessage({ from: 'news@example.org', to: 'alice@acme.test', subject: 'Hi' }), '127.0.0.2');
    const mail = (await tenantMailServer.waitForMessages(start + 1))[start]!;
    assert.deepEqual(mail.recipients, ['alice@acme.test']);
    assert.equal(mail.mailFrom, 'news@example.org');
    assert.match(mail.raw.toString(), /\r\nX-Sealpost-acme-test: true\r\n/);
  });

  test('outbound mail to the tenant\'s own users goes to its mail server, mail to others through the relay, stripped of control headers', async () => {
    const tenantStart = tenantMailServer.received.length;
    const relayStart = relay.received.length;
    const id = await send(
      gateway,
      'alice@acme.test',
      ['bob@acme.test', 'partner@example.net'],
      simpleMessage({
        from: 'alice@acme.test',
        to: 'partner@example.net',
        subject: 'Plan',
        headers: { 'X-Sealpost-Options': 'read-receipt,shiny', 'X-Sealpost-Expires': 'tomorrow' },
      }),
    );
    const internal = (await tenantMailServer.waitForMessages(tenantStart + 1))[tenantStart]!;
    const external = (await relay.waitForMessages(relayStart + 1))[relayStart]!;
    assert.deepEqual(internal.recipients, ['bob@acme.test']);
    assert.deepEqual(external.recipients, ['partner@example.net']);
    assert.doesNotMatch(external.raw.toString(), /^X-Sealpost-/im, 'nothing under X-Sealpost- leaves for an outside recipient');
    assert.match(internal.raw.toString(), /^X-Sealpost-acme-test: true\r$/m);

    const trace = await readTrace(ownerDb(gateway.database.db), id);
    const request = trace.find((t) => t.step === 'request');
    assert.deepEqual(request?.detail.options, ['read-receipt']);
    assert.deepEqual(request?.detail.notes, [
      'X-Sealpost-Expires: "tomorrow" is not an RFC 3339 date, using the tenant default',
      'X-Sealpost-Options: unknown option "shiny" ignored',
    ]);
  });

  test('a message whose protection cannot be applied yet is held, never sent in the clear', async () => {
    const relayStart = relay.received.length;
    const id = await send(
      gateway,
      'alice@acme.test',
      ['client@example.net'],
      simpleMessage({ from: 'alice@acme.test', to: 'client@example.net', subject: 'Contract', headers: { 'X-Sealpost-Encrypt': 'pdf' } }),
    );
    const held = await waitFor('the held delivery to be retried', async () => {
      const [row] = await ownerDb(gateway.database.db).select().from(deliveries).where(eq(deliveries.messageId, id));
      return row && row.status === 'held' && row.attempts >= 1 ? row : undefined;
    });
    assert.equal(held.protection, 'pdf');
    assert.match(held.lastReply ?? '', /will not be sent unprotected/);
    assert.equal(relay.received.length, relayStart, 'nothing reached the relay');
  });

  test('the subject trigger asks for protection and is never shown to the recipient', async () => {
    const id = await send(
      gateway,
      'alice@acme.test',
      ['bob@acme.test', 'client@example.net'],
      simpleMessage({ from: 'alice@acme.test', to: 'client@example.net', subject: '[SECURE] Salary' }),
    );
    const relayStart = relay.received.length;
    const rows = await waitFor('routing and the first attempt', async () => {
      const found = await ownerDb(gateway.database.db).select().from(deliveries).where(eq(deliveries.messageId, id));
      return found.length === 2 && found.every((r) => r.status !== 'queued' && r.status !== 'delivering') ? found : undefined;
    });
    const external = rows.find((r) => r.recipient === 'client@example.net')!;
    assert.equal(external.protection, 'auto');
    assert.ok(['held', 'delivered'].includes(external.status), `protected or held, got ${external.status}`);
    assert.notEqual(external.lastRemote, `127.0.0.1:${relay.port}`, 'the original never went to the relay');
    assert.ok(!relay.received.slice(relayStart).some((m) => /Salary/.test(m.raw.toString()) && !/portal/i.test(m.raw.toString())));
    const internal = await tenantMailServer.waitForMessages(1).then(() =>
      waitFor('internal copy', async () => tenantMailServer.received.find((m) => m.raw.toString().includes('Salary'))),
    );
    assert.match(internal.raw.toString(), /^Subject: Salary\r$/m);
  });

  test('a recipient answered 4xx is retried, and one answered 5xx bounces to the sender with a delivery status notification', async () => {
    relay.answer = (recipient, attempt) => {
      if (recipient === 'gone@example.net') return attempt === 1 ? { code: 451, message: '4.3.2 try later' } : { code: 550, message: '5.1.1 no such user here' };
      return undefined;
    };
    const tenantStart = tenantMailServer.received.length;
    const id = await send(
      gateway,
      'alice@acme.test',
      ['gone@example.net', 'fine@example.net'],
      simpleMessage({ from: 'alice@acme.test', to: 'gone@example.net', subject: 'Invoice 42' }),
    );
    const bounce = await waitFor('the bounce at the tenant mail server', async () =>
      tenantMailServer.received.slice(tenantStart).find((m) => m.raw.toString().includes('multipart/report')),
    );
    assert.equal(bounce.mailFrom, '', 'bounces are sent from the null sender');
    assert.deepEqual(bounce.recipients, ['alice@acme.test']);
    const parsed = await simpleParser(bounce.raw);
    const report = bounce.raw.toString();
    assert.match(report, /report-type=("?)delivery-status\1/);
    assert.match(report, /Final-Recipient: rfc822; ?gone@example\.net/i);
    assert.match(report, /Status: 5\.1\.1/);
    assert.match(report, /no such user here/);
    assert.ok(parsed.subject);

    const trace = await readTrace(ownerDb(gateway.database.db), id);
    const steps = trace.map((t) => `${t.step}:${String(t.detail.recipient ?? '')}`);
    assert.ok(steps.includes('deferred:gone@example.net'));
    assert.ok(steps.includes('failed:gone@example.net'));
    assert.ok(steps.includes('delivered:fine@example.net'));
    assert.ok(trace.some((t) => t.step === 'bounce_sent'));
  });

  test('a failed message from the null sender creates no bounce', async () => {
    relay.answer = () => ({ code: 550, message: '5.1.1 unknown' });
    const id = await send(gateway, '', ['nobody@example.net'], simpleMessage({ from: 'mailer-daemon@acme.test', to: 'nobody@example.net', subject: 'DSN' }));
    await waitFor('the failure', async () => {
      const [row] = await ownerDb(gateway.database.db).select().from(deliveries).where(eq(deliveries.messageId, id));
      return row?.status === 'failed' ? row : undefined;
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const trace = await readTrace(ownerDb(gateway.database.db), id);
    assert.ok(!trace.some((t) => t.step === 'bounce_sent'));
  });
});

describe('a message that cannot be delivered within its maximum age', () => {
  test('expires and returns a delivery status notification saying so', async () => {
    const database = await createTestDatabase();
    const tenantMailServer = await MailPeer.start();
    const relay = await MailPeer.start();
    relay.answer = () => ({ code: 421, message: '4.7.0 busy' });
    const gateway = await startTestGateway(database, [acmeTenant(tenantMailServer.port)], {
      SEALPOST_RELAY: `smtp://127.0.0.1:${relay.port}`,
      SEALPOST_MAX_QUEUE_AGE_HOURS: String(2 / 3600),
    });
    try {
      await send(gateway, 'alice@acme.test', ['slow@example.net'], simpleMessage({ from: 'alice@acme.test', to: 'slow@example.net', subject: 'Late' }));
      const [bounce] = await tenantMailServer.waitForMessages(1, 20_000);
      assert.match(bounce!.raw.toString(), /Status: 4\.4\.7/);
      assert.match(bounce!.raw.toString(), /Action: failed/);
    } finally {
      await gateway.stop();
      await tenantMailServer.close();
      await relay.close();
      await database.cleanup();
    }
  });
});

describe('with no configuration at all', () => {
  test('a demo tenant receives mail from the Internet into the development mailbox, and the message ends delivered', async () => {
    const database = await createTestDatabase();
    const gateway = await startTestGateway(database, undefined);
    try {
      assert.equal(gateway.demo?.created, true);
      assert.match(gateway.demo?.apiToken ?? '', /^spk_/);
      // As the README's first example: swaks from this machine, which is the Internet to the demo.
      const id = await send(gateway, 'someone@example.org', ['alice@demo.sealpost.test'], simpleMessage({ from: 'someone@example.org', to: 'alice@demo.sealpost.test', subject: 'First' }), '127.0.0.1');
      const folder = join(database.dataDir, 'mailbox', 'alice@demo.sealpost.test');
      const file = await waitFor('the mailbox file', async () => {
        try {
          return readdirSync(folder).find((f) => f.endsWith('.eml'));
        } catch {
          return undefined;
        }
      });
      const content = readFileSync(join(folder, file), 'utf8');
      assert.match(content, /Subject: First/);
      assert.match(content, /X-Sealpost-demo-sealpost-test: true/);
      const trace = await readTrace(ownerDb(gateway.database.db), id);
      assert.equal((trace.find((t) => t.step === 'received')?.detail as { direction: string }).direction, 'inbound');
      const state = await waitFor('the final state', async () => {
        const [row] = await ownerDb(gateway.database.db).select({ state: messages.state }).from(messages).where(eq(messages.id, id));
        return row?.state === 'routed' ? undefined : row?.state;
      });
      assert.equal(state, 'delivered');

      // The demo's Exchange speaks from 127.0.0.2: its mail to an outsider is outbound, here through the portal.
      const outbound = await send(
        gateway,
        'admin@demo.sealpost.test',
        ['client@example.org'],
        simpleMessage({ from: 'admin@demo.sealpost.test', to: 'client@example.org', subject: 'Contract' }).replace('Subject: Contract', 'Subject: Contract\r\nX-Sealpost-Encrypt: portal'),
        '127.0.0.2',
      );
      const outboundTrace = await readTrace(ownerDb(gateway.database.db), outbound);
      assert.equal((outboundTrace.find((t) => t.step === 'received')?.detail as { direction: string }).direction, 'outbound');
      const notification = await waitFor('the portal notification in the mailbox', async () => {
        try {
          return readdirSync(join(database.dataDir, 'mailbox', 'client@example.org')).find((f) => f.endsWith('.eml'));
        } catch {
          return undefined;
        }
      });
      assert.doesNotMatch(readFileSync(join(database.dataDir, 'mailbox', 'client@example.org', notification), 'utf8'), /^Subject: Contract$/m);
    } finally {
      await gateway.stop();
      await database.cleanup();
    }
  });

  test('a message whose deliveries partly failed ends partly delivered', async () => {
    // Settled in SQL from the deliveries' own states, so any mix of outcomes is covered by one query.
    const database = await createTestDatabase();
    const peer = await MailPeer.start();
    peer.answer = (recipient) => (recipient === 'nobody@acme.test' ? { code: 550, message: '5.1.1 No such user' } : undefined);
    const gateway = await startTestGateway(database, [acmeTenant(peer.port)]);
    try {
      const id = await send(gateway, 'someone@example.org', ['alice@acme.test', 'nobody@acme.test'], simpleMessage({ from: 'someone@example.org', to: 'alice@acme.test', subject: 'Two' }), '127.0.0.3');
      const state = await waitFor('the final state', async () => {
        const [row] = await ownerDb(gateway.database.db).select({ state: messages.state }).from(messages).where(eq(messages.id, id));
        return row?.state === 'routed' || row?.state === 'received' ? undefined : row?.state;
      });
      assert.equal(state, 'partly_delivered');
    } finally {
      await gateway.stop();
      await peer.close();
      await database.cleanup();
    }
  });
});
