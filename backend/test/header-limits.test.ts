import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { eq, sql } from 'drizzle-orm';
import { messages } from '../src/db/schema.ts';
import { classifyStorageError } from '../src/db/storage-errors.ts';
import { storableJson, storableText } from '../src/db/storable-text.ts';
import type { Gateway } from '../src/gateway.ts';
import { readTrace } from '../src/messages/message-trace.ts';
import { spoolMessages } from '../src/messages/spool.ts';
import { loadConfig } from '../src/config.ts';
import { waitFor } from './support/portal-mail.ts';
import { createTestDatabase, type TestDatabase, ownerDb } from './support/database.ts';
import { MailPeer } from './support/mail-peer.ts';
import { SmtpConversation } from './support/smtp-conversation.ts';
import { acmeTenant, startTestGateway } from './support/test-gateway.ts';

const INTERNET = { localAddress: '127.0.0.2' };
/** The highest SEALPOST_MAX_HEADER_BYTES allows: what is refused here is refused at every setting. */
const MAX_HEADER_BYTES = 1024 * 1024;

/** Header fields of exactly `bytes` bytes each (CRLF included), numbered so none is a duplicate. */
function filler(totalBytes: number, lineBytes = 1000): string {
  const lines: string[] = [];
  let left = totalBytes;
  for (let n = 0; left > 0; n += 1) {
    const size = Math.min(lineBytes, left);
    const name = `X-Filler-${n}: `;
    assert.ok(size >= name.length + 3, 'the last filler line has room for its name');
    lines.push(`${name}${'f'.repeat(size - name.length - 2)}\r\n`);
    left -= size;
  }
  return lines.join('');
}

const BASE_HEADERS =
  'From: <sender@example.org>\r\nTo: <alice@acme.test>\r\nSubject: Filler\r\nMessage-ID: <filler@example.org>\r\n' +
  'Date: Wed, 02 Dec 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n';
const CONTROL_HEADERS = 'X-Sealpost-Encrypt: none\r\nX-Sealpost-acme-test: true\r\n';

describe('header limits and unstorable text at SMTP time', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let tenantMailServer: MailPeer;

  before(async () => {
    database = await createTestDatabase();
    tenantMailServer = await MailPeer.start();
    gateway = await startTestGateway(database, [acmeTenant(tenantMailServer.port)], {
      SEALPOST_MAX_HEADER_BYTES: String(MAX_HEADER_BYTES),
      SEALPOST_MAX_MESSAGE_BYTES: String(4 * 1024 * 1024),
    });
  });

  after(async () => {
    await gateway.stop();
    await tenantMailServer.close();
    await database.cleanup();
  });

  const storedCount = async () => (await ownerDb(gateway.database.db).select({ id: messages.id }).from(messages)).length;

  async function fromInternet(data: string | Buffer, from = 'sender@example.org', to = ['alice@acme.test']) {
    const smtp = await SmtpConversation.open(gateway.smtpPort, INTERNET);
    await smtp.command('EHLO mail.example.org');
    const started = performance.now();
    const result = await smtp.sendMessage(from, to, data);
    const ms = performance.now() - started;
    await smtp.quit();
    return { ...result, ms };
  }

  test('control headers after 1.1 MiB of header filler are refused with 552 5.3.4 and nothing is spooled or delivered', async () => {
    const storedBefore = await storedCount();
    const deliveredBefore = tenantMailServer.received.length;
    const headers = `${BASE_HEADERS}${filler(1.1 * 1024 * 1024)}${CONTROL_HEADERS}`;
    const sent = await fromInternet(`${headers}\r\nHello.\r\n`);
    assert.equal(sent.final?.code, 552, sent.final?.text);
    const exactBytes = Buffer.byteLength(headers);
    assert.equal(sent.final!.text, `5.3.4 Message header section too large: ${exactBytes} bytes, the limit is ${MAX_HEADER_BYTES}`);
    assert.equal(await storedCount(), storedBefore, 'nothing was spooled');
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(tenantMailServer.received.length, deliveredBefore, 'nothing reached the tenant mail server');
    console.log(`# refused a ${(exactBytes / 1024 / 1024).toFixed(2)} MiB header section in ${sent.ms.toFixed(0)} ms`);
  });

  test('a header section that never ends (no blank line) is held to the same limit', async () => {
    const storedBefore = await storedCount();
    const endless = `${BASE_HEADERS}${filler(1.1 * 1024 * 1024)}${CONTROL_HEADERS}`;
    const sent = await fromInternet(endless);
    assert.equal(sent.final?.code, 552, sent.final?.text);
    assert.equal(sent.final!.text, `5.3.4 Message header section too large: ${Buffer.byteLength(endless)} bytes, the limit is ${MAX_HEADER_BYTES}`);
    assert.equal(await storedCount(), storedBefore);
  });

  test('a header section just under the limit is accepted, delivered whole, and its control headers from the Internet are removed', async () => {
    const deliveredBefore = tenantMailServer.received.length;
    const fillerBytes = MAX_HEADER_BYTES - 16 - Buffer.byteLength(BASE_HEADERS) - Buffer.byteLength(CONTROL_HEADERS);
    const headers = `${BASE_HEADERS}${filler(fillerBytes)}${CONTROL_HEADERS}`;
    assert.equal(Buffer.byteLength(headers), MAX_HEADER_BYTES - 16);
    const sent = await fromInternet(`${headers}\r\nHello under the limit.\r\n`);
    assert.equal(sent.final?.code, 250, sent.final?.text);
    const id = sent.final!.text.split('queued as ')[1]!;
    const mails = await tenantMailServer.waitForMessages(deliveredBefore + 1, 30_000);
    const raw = mails[deliveredBefore]!.raw.toString('latin1');
    assert.doesNotMatch(raw, /^X-Sealpost-Encrypt/im);
    assert.equal(raw.match(/^X-Sealpost-acme-test: true\r$/gim)?.length, 1, 'only the gateway\'s own loop header');
    const lastFiller = filler(fillerBytes).split('\r\n').at(-2)!;
    assert.ok(raw.includes(`${lastFiller}\r\n`), 'the last filler field arrived: nothing was cut');
    assert.match(raw, /\r\n\r\nHello under the limit\.\r\n$/);
    const received = (await readTrace(ownerDb(gateway.database.db), id)).find((t) => t.step === 'received');
    assert.deepEqual(received?.detail.removedControlHeaders, ['X-Sealpost-Encrypt', 'X-Sealpost-acme-test']);
    console.log(`# accepted a ${(Buffer.byteLength(headers) / 1024).toFixed(0)} KiB header section in ${sent.ms.toFixed(0)} ms`);
  });

  test('more than 2,000 header fields are refused with 552 5.3.4', async () => {
    const fields = Array.from({ length: 2001 }, (_, n) => `X-F${n}: ${n}\r\n`).join('');
    const sent = await fromInternet(`${BASE_HEADERS}${fields}\r\nHello.\r\n`);
    assert.equal(sent.final?.code, 552);
    assert.equal(sent.final!.text, '5.3.4 Message header section has too many fields: the limit is 2000');
  });

  test('a header line longer than 100,000 bytes is refused with 552 5.3.4, naming the line', async () => {
    const sent = await fromInternet(`${BASE_HEADERS}X-Long: ${'l'.repeat(100_000)}\r\n\r\nHello.\r\n`);
    assert.equal(sent.final?.code, 552);
    assert.equal(sent.final!.text, '5.3.4 Message header line 8 too long: the limit is 100000 bytes a line');
  });

  test('X-Sealpost headers from the Internet with a space before the colon or a folded name are removed too', async () => {
    const deliveredBefore = tenantMailServer.received.length;
    const headers = `${BASE_HEADERS}X-Sealpost-Encrypt : portal\r\nX-Sealpost-Flag\t: no\r\nX-Sealpost-Expires\r\n : 2030-01-01\r\n`;
    const sent = await fromInternet(`${headers}\r\nHello.\r\n`);
    assert.equal(sent.final?.code, 250, sent.final?.text);
    const id = sent.final!.text.split('queued as ')[1]!;
    const mails = await tenantMailServer.waitForMessages(deliveredBefore + 1);
    const raw = mails[deliveredBefore]!.raw.toString('latin1');
    assert.doesNotMatch(raw, /X-Sealpost-(Encrypt|Flag|Expires)/i);
    assert.doesNotMatch(raw, /2030-01-01/, 'the folded value went with its field');
    const received = (await readTrace(ownerDb(gateway.database.db), id)).find((t) => t.step === 'received');
    assert.deepEqual(received?.detail.removedControlHeaders, ['X-Sealpost-Encrypt', 'X-Sealpost-Flag', 'X-Sealpost-Expires']);
  });

  for (const [where, headers] of [
    ['the Message-ID', 'Message-ID: <nul\0inside@example.org>\r\n'],
    ['a header name', 'X-Nul\0Name: value\r\n'],
    ['the Subject', 'Subject: before\0after\r\n'],
  ] as const) {
    test(`a NUL in ${where} is refused with 550 5.6.0, never a temporary 451`, async () => {
      const storedBefore = await storedCount();
      const sent = await fromInternet(`From: <sender@example.org>\r\nTo: <alice@acme.test>\r\n${headers}\r\nHello.\r\n`);
      assert.equal(sent.final?.code, 550, sent.final?.text);
      assert.match(sent.final!.text, /^5\.6\.0 Message header section contains a NUL byte at byte \d+; RFC 5322 does not allow it$/);
      assert.equal(await storedCount(), storedBefore);
    });
  }

  test('a NUL that only appears once encoded words are decoded is accepted and stored as U+FFFD, never answered with 451', async () => {
    const sent = await fromInternet(
      'From: <sender@example.org>\r\nTo: <alice@acme.test>\r\nSubject: =?UTF-8?Q?before=00after?=\r\n' +
        'Message-ID: =?UTF-8?Q?<encoded=00nul@example.org>?=\r\n\r\nHello.\r\n',
    );
    assert.equal(sent.final?.code, 250, sent.final?.text);
    const id = sent.final!.text.split('queued as ')[1]!;
    const [row] = await ownerDb(gateway.database.db).select().from(messages).where(eq(messages.id, id));
    assert.equal(row!.messageIdHeader, '<encoded\uFFFDnul@example.org>');
    const received = (await readTrace(ownerDb(gateway.database.db), id)).find((t) => t.step === 'received');
    assert.equal(received?.detail.messageIdHeader, '<encoded\uFFFDnul@example.org>');
  });

  test('a NUL in EHLO, MAIL FROM or RCPT TO gets a permanent 5xx, and the good recipients of the same message still get it', async () => {
    const deliveredBefore = tenantMailServer.received.length;
    const smtp = await SmtpConversation.open(gateway.smtpPort, INTERNET);
    const ehlo = await smtp.command('EHLO nul\0helo.example.org');
    await smtp.command('EHLO mail.example.org');
    const mail = await smtp.command('MAIL FROM:<nul\0sender@example.org>');
    const sent = await smtp.sendMessage('sender@example.org', ['ali\0ce@acme.test', 'alice@acme.test'], 'Subject: NUL envelope\r\n\r\nHello.\r\n');
    await smtp.quit();
    for (const [what, reply] of [['EHLO', ehlo], ['MAIL FROM', mail], ['RCPT TO', sent.rcpt[0]!]] as const) {
      assert.ok(reply.code >= 500 && reply.code < 600, `${what} with NUL: ${reply.code} ${reply.text}`);
    }
    assert.equal(sent.final?.code, 250, sent.final?.text);
    const mails = await tenantMailServer.waitForMessages(deliveredBefore + 1);
    assert.deepEqual(mails[deliveredBefore]!.recipients, ['alice@acme.test']);
  });

  test('a spool failure the database will always repeat gets 554 5.6.0; an outage keeps 451 4.3.0', async () => {
    const db = ownerDb(gateway.database.db);
    await db.execute(
      sql.raw(`create function sealpost_test_refuse() returns trigger language plpgsql as $$
        begin
          if new.mail_from like 'poison%' then raise exception 'test: unstorable value' using errcode = '22021'; end if;
          if new.mail_from like 'outage%' then raise exception 'test: disk full' using errcode = '53100'; end if;
          return new;
        end $$`),
    );
    await db.execute(sql.raw('create trigger sealpost_test_refuse before insert on messages for each row execute function sealpost_test_refuse()'));
    try {
      const poisoned = await fromInternet('Subject: poison\r\n\r\nHello.\r\n', 'poison@example.org');
      assert.equal(poisoned.final?.code, 554, poisoned.final?.text);
      assert.equal(
        poisoned.final!.text,
        '5.6.0 Message refused: it contains a character the database cannot store (such as NUL); sending it again will not help',
      );
      const outage = await fromInternet('Subject: outage\r\n\r\nHello.\r\n', 'outage@example.org');
      assert.equal(outage.final?.code, 451, outage.final?.text);
      assert.match(outage.final!.text, /^4\.3\.0 Temporary failure storing the message/);
    } finally {
      await db.execute(sql.raw('drop trigger sealpost_test_refuse on messages'));
      await db.execute(sql.raw('drop function sealpost_test_refuse()'));
    }
  });

  test('a spooled message whose header section cannot be read whole is held at once by the pipeline, never retried or delivered', async () => {
    const deliveredBefore = tenantMailServer.received.length;
    const tenant = gateway.directory.tenantForAddress('alice@acme.test')!;
    const id = randomUUID();
    // As an older version without header limits could have spooled it: 1.2 MiB of header filler.
    const raw = Buffer.from(`${BASE_HEADERS}${filler(1.2 * 1024 * 1024)}${CONTROL_HEADERS}\r\nHello.\r\n`);
    await spoolMessages(gateway.database.db, gateway.vault, [
      { id, tenantId: tenant.id, direction: 'inbound', mailFrom: 'sender@example.org', recipients: ['alice@acme.test'], clientAddress: '127.0.0.2', tls: false, raw, traceDetail: {} },
    ]);
    const state = await waitFor('the pipeline to decide', async () => {
      const [row] = await ownerDb(gateway.database.db).select({ state: messages.state, attempts: messages.pipelineAttempts }).from(messages).where(eq(messages.id, id));
      return row && row.state !== 'received' ? row : undefined;
    });
    assert.deepEqual(state, { state: 'held', attempts: 1 });
    const trace = await readTrace(ownerDb(gateway.database.db), id);
    const error = trace.find((t) => t.step === 'pipeline_error');
    assert.match(String(error?.detail.error), /^Message header section too large: \d+ bytes, the limit is 1114112$/);
    assert.equal(error?.detail.willRetry, false);
    assert.equal(error?.detail.stage, 'parse');
    const held = trace.find((t) => t.step === 'held');
    assert.equal(held?.detail.stage, 'parse');
    assert.match(String(held?.detail.reason), /cannot be read, so it is held until an operator releases it$/);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(tenantMailServer.received.length, deliveredBefore);
  });

  test('errors the database raises for NUL in text and \\u0000 in jsonb are classified as permanent, others as temporary', async () => {
    const db = ownerDb(gateway.database.db);
    const failure = async (query: ReturnType<typeof sql>) => {
      try {
        await db.execute(query);
      } catch (error) {
        return classifyStorageError(error);
      }
      assert.fail('the database accepted it');
    };
    assert.deepEqual(await failure(sql`select ${'a\0b'}::text`), {
      kind: 'permanent',
      code: '22021',
      reason: 'it contains a character the database cannot store (such as NUL)',
    });
    assert.equal((await failure(sql`select ${'{"a":"\\u0000"}'}::jsonb`))?.kind, 'permanent');
    assert.equal((await failure(sql.raw(`do $$ begin raise exception 'busy' using errcode = '40001'; end $$`)))?.kind, 'temporary');
    assert.deepEqual(classifyStorageError(new Error('Connection terminated unexpectedly')), { kind: 'temporary' });
  });
});

describe('text made storable', () => {
  test('NUL and lone surrogates become U+FFFD, pairs and ordinary text are kept', () => {
    assert.equal(storableText('a\0b'), 'a\uFFFDb');
    assert.equal(storableText('x\uD800y\uDC00z'), 'x\uFFFDy\uFFFDz');
    assert.equal(storableText('Grüße 😀 "quoted"'), 'Grüße 😀 "quoted"');
  });

  test('long text is capped, and a cut through an emoji leaves no lone half', () => {
    assert.equal(storableText('abcdef', 3), 'abc…');
    assert.equal(storableText('ab😀', 3), 'ab\uFFFD…');
  });

  test('JSON details are cleaned in keys, values and arrays at any depth', () => {
    assert.deepEqual(storableJson({ 'k\0': ['v\0', { deep: '\uDC00' }], n: 1, none: null }), { 'k\uFFFD': ['v\uFFFD', { deep: '\uFFFD' }], n: 1, none: null });
  });

  test('cleaning is linear: sixteen times the surrogates and NULs take about sixteen times as long, not 256', () => {
    const timeFor = (pairs: number) => {
      const nasty = '\uD800\0'.repeat(pairs);
      const started = performance.now();
      const clean = storableText(nasty, nasty.length);
      const ms = performance.now() - started;
      assert.equal(clean, '\uFFFD'.repeat(nasty.length));
      return ms;
    };
    timeFor(1000); // warm-up
    const small = timeFor(32 * 1024);
    const large = timeFor(512 * 1024);
    console.log(`# storableText: 64 Ki code units in ${small.toFixed(0)} ms, 1 Mi in ${large.toFixed(0)} ms`);
    assert.ok(large < small * 48 + 50, `quadratic growth: ${small.toFixed(0)} ms, then ${large.toFixed(0)} ms`);
  });
});

describe('the header size setting', () => {
  test('SEALPOST_MAX_HEADER_BYTES defaults to 256 KiB and is refused outside 4 KiB to 1 MiB, naming the variable', () => {
    assert.equal(loadConfig({}).smtp.maxHeaderBytes, 256 * 1024);
    assert.equal(loadConfig({ SEALPOST_MAX_HEADER_BYTES: '65536' }).smtp.maxHeaderBytes, 65536);
    assert.throws(() => loadConfig({ SEALPOST_MAX_HEADER_BYTES: String(1024 * 1024 + 1) }), /SEALPOST_MAX_HEADER_BYTES: must be at most 1048576 bytes/);
    assert.throws(() => loadConfig({ SEALPOST_MAX_HEADER_BYTES: '100' }), /SEALPOST_MAX_HEADER_BYTES: must be at least 4096 bytes/);
  });
});
