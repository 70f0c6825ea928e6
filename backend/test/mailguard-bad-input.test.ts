/**
 * Bad input through MailGuard on a real gateway, with every check of the default gateway on and a policy
 * whose content rules are regex bombs: broken MIME, a 100,000-character header line, a 5 MB single-line
 * body, 1,000 nested multiparts, invalid UTF-8 and unknown charsets. Each message gets a clear SMTP refusal
 * or a scored verdict in its trace; nothing is delivered unscored, nothing crashes or hangs.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eq } from 'drizzle-orm';
import { messages } from '../src/db/schema.ts';
import type { Gateway } from '../src/gateway.ts';
import { readTrace } from '../src/messages/message-trace.ts';
import { createTestDatabase, ownerDb, type TestDatabase } from './support/database.ts';
import { MailPeer } from './support/mail-peer.ts';
import { waitFor } from './support/portal-mail.ts';
import { SmtpConversation } from './support/smtp-conversation.ts';
import { acmeTenant, startTestGateway } from './support/test-gateway.ts';

const INTERNET = '127.0.0.5';

function nested(depth: number): string {
  let body = 'Content-Type: text/plain\r\n\r\ninnermost\r\n';
  for (let level = depth; level > 0; level -= 1) {
    body = `Content-Type: multipart/mixed; boundary="b${level}"\r\n\r\n--b${level}\r\n${body}\r\n--b${level}--\r\n`;
  }
  return body;
}

const head = (subject: string) =>
  `From: Sender <sender@outside.example>\r\nTo: alice@acme.test\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}@outside.example>\r\nMIME-Version: 1.0\r\n`;

const CASES: Array<[string, string]> = [
  ['broken MIME', `${head('broken')}Content-Type: multipart/mixed; boundary="never"\r\n\r\n--never\r\nContent-Type: text/html\r\n\r\n<p>open <b>tags <a href="http://x.example/`],
  ['a 100,000-character header line', `${head('long header')}X-Long: ${'a'.repeat(100_000)}\r\nContent-Type: text/plain\r\n\r\nbody\r\n`],
  ['a 5 MB single-line body', `${head('huge line')}Content-Type: text/plain\r\n\r\n${'a'.repeat(5 * 1024 * 1024)}\r\n`],
  ['1,000 nested multiparts', `${head('deep')}${nested(1000)}`],
  [
    'invalid UTF-8 and an unknown charset',
    `${head('=?x-unknown?B?//79?= =?utf-8?Q?=C3=28?=')}Content-Type: text/plain; charset="x-made-up"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n` +
      Buffer.from([0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1, 0xf0, 0x28, 0x8c, 0xbc]).toString('latin1') +
      ` aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!\r\n`,
  ],
  ['a hostile text for the policy\'s regex bombs', `${head('bomb')}Content-Type: text/plain\r\n\r\n${'a'.repeat(50_000)}!\r\n`],
];

describe('bad input through MailGuard', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let mailServer: MailPeer;
  const db = () => ownerDb(gateway.database.db);

  before(async () => {
    database = await createTestDatabase();
    mailServer = await MailPeer.start();
    gateway = await startTestGateway(
      database,
      [
        acmeTenant(mailServer.port, {
          guard: {
            modules: {
              content: {
                keywords: [{ text: 'invoice overdue' }],
                // Catastrophic in a backtracking engine; linear in the one the filter uses.
                patterns: [{ pattern: '(a+)+$' }, { pattern: '(a|aa)*b' }, { pattern: '(.*a){20}' }],
              },
            },
          },
        }),
      ],
      { SEALPOST_MAX_MESSAGE_BYTES: String(20 * 1024 * 1024), SEALPOST_DNS_SERVERS: '127.0.0.1:9', SEALPOST_DNS_TIMEOUT_MS: '300' },
    );
  });

  after(async () => {
    await gateway.stop();
    await mailServer.close();
    await database.cleanup();
  });

  for (const [name, data] of CASES) {
    test(`${name}: a clear refusal or a scored verdict, never an unscored delivery`, async () => {
      const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress: INTERNET });
      await smtp.command('EHLO mta.outside.example');
      const started = Date.now();
      const result = await smtp.sendMessage('sender@outside.example', ['alice@acme.test'], data);
      await smtp.quit();
      const final = result.final ?? result.mail;
      if (final.code !== 250) {
        assert.match(String(final.code), /^5\d\d$/, `a refusal is permanent and says why: ${final.code} ${final.text}`);
        assert.ok(final.text.length > 10, final.text);
        return;
      }
      const id = final.text.split('queued as ')[1]!;
      const state = await waitFor(
        `${name} to be decided`,
        async () => {
          const [row] = await db().select({ state: messages.state }).from(messages).where(eq(messages.id, id));
          return row && row.state !== 'received' ? row.state : undefined;
        },
        30_000,
      );
      const trace = await readTrace(db(), id);
      const scored = trace.find((t) => t.step === 'scored');
      assert.ok(scored, `${name}: scored, not passed through (state ${state}, steps ${trace.map((t) => t.step).join(', ')})`);
      assert.ok(Array.isArray(scored.detail.symbols), JSON.stringify(scored.detail));
      assert.ok(Date.now() - started < 30_000);
      if (state === 'routed' || state === 'delivered') {
        const delivered = await waitFor(`${name} at the mail server`, () =>
          mailServer.received.find((m) => m.raw.includes(Buffer.from(`Message-ID: <${/Subject: ([^\r]*)/.exec(data)![1]!.replace(/\W/g, '')}@outside.example>`))),
        );
        assert.match(delivered.raw.subarray(0, 300_000).toString('latin1'), /\r\nX-Sealpost-Score: -?\d/, 'the delivered copy carries its score');
      }
    });
  }

  test('the gateway still answers after all of it', async () => {
    const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress: INTERNET });
    const hello = await smtp.command('EHLO mta.outside.example');
    await smtp.quit();
    assert.equal(hello.code, 250);
  });
});
