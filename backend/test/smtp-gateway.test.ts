import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { eq } from 'drizzle-orm';
import { messages } from '../src/db/schema.ts';
import type { Gateway } from '../src/gateway.ts';
import { readTrace } from '../src/messages/message-trace.ts';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { createTestDatabase, type TestDatabase, ownerDb } from './support/database.ts';
import { freePort, GatewayProcess } from './support/gateway-process.ts';
import { MailPeer } from './support/mail-peer.ts';
import { SmtpConversation, simpleMessage } from './support/smtp-conversation.ts';
import { acmeTenant, startTestGateway } from './support/test-gateway.ts';

const run = promisify(execFile);
const INTERNET = { localAddress: '127.0.0.2' };
const EXCHANGE = { localAddress: '127.0.0.1' };

describe('the SMTP gateway', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let tenantMailServer: MailPeer;
  let relay: MailPeer;

  before(async () => {
    database = await createTestDatabase();
    tenantMailServer = await MailPeer.start();
    relay = await MailPeer.start();
    gateway = await startTestGateway(database, [acmeTenant(tenantMailServer.port)], {
      SEALPOST_RELAY: `smtp://127.0.0.1:${relay.port}`,
      SEALPOST_MAX_MESSAGE_BYTES: String(1024 * 1024),
      SEALPOST_MAX_RECIPIENTS: '5',
      SEALPOST_MAX_MESSAGES_PER_CONNECTION: '3',
    });
  });

  after(async () => {
    await gateway.stop();
    await tenantMailServer.close();
    await relay.close();
    await database.cleanup();
  });

  test('EHLO advertises STARTTLS, SIZE, 8BITMIME, SMTPUTF8, PIPELINING and enhanced status codes, but no AUTH before TLS', async () => {
    const smtp = await SmtpConversation.open(gateway.smtpPort, INTERNET);
    const ehlo = await smtp.command('EHLO prober.example');
    await smtp.quit();
    const keywords = ehlo.lines.map((l) => l.slice(4).split(' ')[0]);
    for (const keyword of ['STARTTLS', 'SIZE', '8BITMIME', 'SMTPUTF8', 'PIPELINING', 'ENHANCEDSTATUSCODES']) {
      assert.ok(keywords.includes(keyword), `${keyword} is advertised`);
    }
    assert.ok(ehlo.lines.some((l) => l.includes(`SIZE ${1024 * 1024}`)));
    assert.ok(!keywords.includes('AUTH'));
  });

  test('an Internet sender cannot relay through the gateway to a domain it does not serve', async () => {
    const smtp = await SmtpConversation.open(gateway.smtpPort, INTERNET);
    await smtp.command('EHLO prober.example');
    await smtp.command('MAIL FROM:<spammer@example.org>');
    const reply = await smtp.command('RCPT TO:<victim@example.net>');
    const local = await smtp.command('RCPT TO:<alice@acme.test>');
    const percentHack = await smtp.command('RCPT TO:<"victim@example.net"@acme.test>');
    await smtp.quit();
    assert.equal(reply.code, 550);
    assert.match(reply.text, /^5\.7\.1 Relaying denied/);
    assert.equal(local.code, 250);
    assert.notEqual(percentHack.code, 250, 'quoted local parts that hide another address are refused');
  });

  test('the tenant connector may send to anyone: its mail to an external recipient leaves through the relay', async () => {
    const smtp = await SmtpConversation.open(gateway.smtpPort, EXCHANGE);
    await smtp.command('EHLO exchange.acme.test');
    const sent = await smtp.sendMessage(
      'alice@acme.test',
      ['partner@example.net'],
      simpleMessage({ from: 'alice@acme.test', to: 'partner@example.net', subject: 'Offer' }),
    );
    await smtp.quit();
    assert.equal(sent.final?.code, 250);
    assert.match(sent.final!.text, /^2\.6\.0 Ok: queued as [0-9a-f-]{36}$/);
    const [mail] = await relay.waitForMessages(1);
    assert.deepEqual(mail!.recipients, ['partner@example.net']);
    assert.match(mail!.raw.toString(), /^Received: from exchange\.acme\.test \(\[127\.0\.0\.1\]\)/);
  });

  test('X-Sealpost headers sent from the Internet are removed before anything reads the message', async () => {
    const before = tenantMailServer.received.length;
    const smtp = await SmtpConversation.open(gateway.smtpPort, INTERNET);
    await smtp.command('EHLO mail.example.org');
    const sent = await smtp.sendMessage(
      'attacker@example.org',
      ['alice@acme.test'],
      simpleMessage({
        from: 'ceo@acme.test',
        to: 'alice@acme.test',
        subject: 'Urgent',
        headers: { 'X-Sealpost-Encrypt': 'none', 'x-sealpost-acme-test': 'true', 'X-SEALPOST-FLAG': 'NO' },
      }),
    );
    await smtp.quit();
    assert.equal(sent.final?.code, 250);
    const id = sent.final!.text.split('queued as ')[1]!;
    const mails = await tenantMailServer.waitForMessages(before + 1);
    const raw = mails[before]!.raw.toString();
    assert.doesNotMatch(raw, /X-Sealpost-Encrypt/i);
    assert.doesNotMatch(raw, /X-Sealpost-Flag/i);
    // The only loop header is the gateway's own, once.
    assert.equal(raw.match(/^X-Sealpost-acme-test: true\r$/gim)?.length, 1);
    const trace = await readTrace(ownerDb(gateway.database.db), id);
    const received = trace.find((t) => t.step === 'received');
    assert.deepEqual(received?.detail.removedControlHeaders, ['X-Sealpost-Encrypt', 'x-sealpost-acme-test', 'X-SEALPOST-FLAG']);
  });

  test('a message with a bare LF is refused, and a smuggled second message never exists', async () => {
    const count = async () => (await ownerDb(gateway.database.db).select({ id: messages.id }).from(messages)).length;
    const beforeCount = await count();
    const smtp = await SmtpConversation.open(gateway.smtpPort, INTERNET);
    await smtp.command('EHLO mail.example.org');
    await smtp.command('MAIL FROM:<attacker@example.org>');
    await smtp.command('RCPT TO:<alice@acme.test>');
    await smtp.command('DATA');
    // "\n.\r\n" ends the data for a lenient receiver; everything after it would be a second message.
    smtp.write(
      'Subject: first\r\n\r\nhello\n.\r\nMAIL FROM:<ceo@acme.test>\r\nRCPT TO:<alice@acme.test>\r\nDATA\r\n' +
        'Subject: smuggled\r\n\r\npay now\r\n.\r\n',
    );
    const reply = await smtp.readReply();
    const next = await smtp.command('NOOP');
    await smtp.quit();
    assert.equal(reply.code, 550);
    assert.match(reply.text, /^5\.6\.0 Message refused: bare LF/);
    assert.equal(next.code, 250, 'the connection stays in a sane state');
    assert.equal(await count(), beforeCount, 'neither message was stored');
  });

  test('a message with a bare CR is refused', async () => {
    const smtp = await SmtpConversation.open(gateway.smtpPort, INTERNET);
    await smtp.command('EHLO mail.example.org');
    const sent = await smtp.sendMessage('a@example.org', ['alice@acme.test'], 'Subject: x\r\n\r\nline\rnext\r\n');
    await smtp.quit();
    assert.equal(sent.final?.code, 550);
    assert.match(sent.final!.text, /bare CR/);
  });

  test('STARTTLS works with swaks, and the trace and Received header record it', async () => {
    const { stdout } = await run('swaks', [
      '--server', `127.0.0.1:${gateway.smtpPort}`,
      '--local-interface', '127.0.0.2',
      '--tls',
      '--ehlo', 'mail.example.org',
      '--from', 'sender@example.org',
      '--to', 'alice@acme.test',
      '--header', 'Subject: over TLS',
      '--body', 'secret',
    ]);
    const queued = /<~ {2}250 2\.6\.0 Ok: queued as ([0-9a-f-]{36})/.exec(stdout);
    assert.ok(queued, `swaks got 250 over TLS:\n${stdout}`);
    const id = queued[1]!;
    const [row] = await ownerDb(gateway.database.db).select().from(messages).where(eq(messages.id, id));
    assert.equal(row?.tls, true);
    const trace = await readTrace(ownerDb(gateway.database.db), id);
    assert.match(String(trace.find((t) => t.step === 'received')?.detail.tlsProtocol), /^TLSv1\.[23]$/);
    let mail = tenantMailServer.received.find((m) => m.raw.includes(id));
    for (let i = 0; !mail && i < 100; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      mail = tenantMailServer.received.find((m) => m.raw.includes(id));
    }
    assert.match(mail!.raw.toString(), /with ESMTPS \(version=TLSv1\.[23]/);
  });

  test('recipients beyond the limit are deferred with 452 4.5.3', async () => {
    const smtp = await SmtpConversation.open(gateway.smtpPort, EXCHANGE);
    await smtp.command('EHLO exchange.acme.test');
    await smtp.command('MAIL FROM:<alice@acme.test>');
    const replies = [];
    for (let i = 0; i < 6; i++) replies.push(await smtp.command(`RCPT TO:<r${i}@example.net>`));
    await smtp.quit();
    assert.deepEqual(replies.map((r) => r.code), [250, 250, 250, 250, 250, 452]);
    assert.match(replies[5]!.text, /^4\.5\.3 /);
  });

  test('a connection that sends more messages than allowed is asked to reconnect', async () => {
    const smtp = await SmtpConversation.open(gateway.smtpPort, EXCHANGE);
    await smtp.command('EHLO exchange.acme.test');
    const codes = [];
    for (let i = 0; i < 4; i++) {
      const sent = await smtp.sendMessage('alice@acme.test', ['bob@acme.test'], simpleMessage({ from: 'alice@acme.test', to: 'bob@acme.test', subject: `n${i}` }));
      codes.push(sent.final?.code ?? sent.mail.code);
    }
    await smtp.quit();
    assert.deepEqual(codes, [250, 250, 250, 421]);
  });

  test('invalid addresses get a specific 553 reply', async () => {
    const smtp = await SmtpConversation.open(gateway.smtpPort, INTERNET);
    await smtp.command('EHLO mail.example.org');
    const mail = await smtp.command('MAIL FROM:<not an address>');
    await smtp.quit();
    assert.ok(mail.code === 553 || mail.code === 501, `got ${mail.code} ${mail.text}`);
  });
});

describe('a tenant connector that signs in with SMTP AUTH', () => {
  test('AUTH is offered only after STARTTLS, a wrong password gets 535 5.7.8, the right one may send outbound', async () => {
    const { hashPassword } = await import('../src/tenants/secrets.ts');
    const database = await createTestDatabase();
    const relay = await MailPeer.start();
    const gateway = await startTestGateway(
      database,
      [
        {
          ...acmeTenant(relay.port),
          connectors: [{ name: 'exchange-onprem', ips: [], smtpAuth: { user: 'acme-exchange', passwordHash: await hashPassword('correct horse') } }],
        },
      ],
      { SEALPOST_RELAY: `smtp://127.0.0.1:${relay.port}` },
    );
    try {
      const smtp = await SmtpConversation.open(gateway.smtpPort, INTERNET);
      const plain = await smtp.command('EHLO exchange.acme.test');
      assert.ok(!plain.lines.some((l) => l.includes('AUTH')), 'no AUTH over plain text');
      await smtp.startTls();
      const secure = await smtp.command('EHLO exchange.acme.test');
      assert.ok(secure.lines.some((l) => /AUTH PLAIN LOGIN/.test(l)));
      const wrong = await smtp.command(`AUTH PLAIN ${Buffer.from('\0acme-exchange\0wrong').toString('base64')}`);
      assert.equal(wrong.code, 535);
      assert.match(wrong.text, /^5\.7\.8 /);
      const right = await smtp.command(`AUTH PLAIN ${Buffer.from('\0acme-exchange\0correct horse').toString('base64')}`);
      assert.equal(right.code, 235);
      const sent = await smtp.sendMessage('alice@acme.test', ['partner@example.net'], simpleMessage({ from: 'alice@acme.test', to: 'partner@example.net', subject: 'signed in' }));
      await smtp.quit();
      assert.equal(sent.final?.code, 250);
      const [mail] = await relay.waitForMessages(1);
      assert.match(mail!.raw.toString(), /with ESMTPSA/);
    } finally {
      await gateway.stop();
      await relay.close();
      await database.cleanup();
    }
  });
});

describe('an oversize message', () => {
  test('gets 552 5.3.4 while the gateway\'s memory stays flat as the client keeps sending', async () => {
    const database = await createTestDatabase();
    const peer = await MailPeer.start();
    const configFile = join(database.dataDir, 'tenants.yaml');
    writeFileSync(configFile, stringify({ tenants: [acmeTenant(peer.port)] }));
    const gateway = new GatewayProcess({
      SEALPOST_DATA_DIR: database.dataDir,
      SEALPOST_CONFIG: configFile,
      SEALPOST_SMTP_HOST: '127.0.0.1',
      SEALPOST_SMTP_PORT: String(await freePort()),
      SEALPOST_HTTP_HOST: '127.0.0.1',
      SEALPOST_HTTP_PORT: String(await freePort()),
      SEALPOST_MAX_MESSAGE_BYTES: String(1024 * 1024),
      SEALPOST_LOG_LEVEL: 'warn',
      ...(database.url ? { DATABASE_URL: database.url } : {}),
    });
    try {
      await gateway.start();
      const smtp = await SmtpConversation.open(gateway.smtpPort, INTERNET);
      await smtp.command('EHLO mail.example.org');
      await smtp.command('MAIL FROM:<big@example.org>');
      await smtp.command('RCPT TO:<alice@acme.test>');
      await smtp.command('DATA');
      const line = `${'x'.repeat(998)}\r\n`;
      const chunk = Buffer.from(line.repeat(1024)); // 1 MiB
      smtp.write('Subject: big\r\n\r\n');
      const samples: number[] = [];
      for (let mib = 1; mib <= 200; mib++) {
        await smtp.writeAndDrain(chunk);
        if (mib % 50 === 0) samples.push(gateway.residentBytes());
      }
      smtp.write('\r\n.\r\n');
      const reply = await smtp.readReply(30_000);
      await smtp.quit();
      assert.equal(reply.code, 552);
      assert.match(reply.text, /^5\.3\.4 /);
      const growthMiB = (Math.max(...samples) - samples[0]!) / 1024 / 1024;
      assert.ok(growthMiB < 16, `from 50 MiB to 200 MiB sent, the gateway grew by ${growthMiB.toFixed(1)} MiB`);
    } finally {
      await gateway.stop();
      await peer.close();
      await database.cleanup();
    }
  });
});
