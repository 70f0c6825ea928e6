/**
 * MailGuard's verdicts known before the 250, on a real gateway over real SMTP: a blocked network or
 * country is refused with 550 5.7.1 at RCPT when the policy rejects, accepted and quarantined when it
 * quarantines; a message over the policy's size gets 552 5.3.4, declared (SIZE=) at RCPT or actual after
 * DATA; swaks sees the same refusal. The country comes from an mmdb file the operator names in
 * SEALPOST_GEOIP_DB (built here by the tests' own writer).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { eq } from 'drizzle-orm';
import { messages } from '../src/db/schema.ts';
import type { Gateway } from '../src/gateway.ts';
import { readTrace } from '../src/messages/message-trace.ts';
import { createTestDatabase, ownerDb, type TestDatabase } from './support/database.ts';
import { MailPeer } from './support/mail-peer.ts';
import { buildMmdb } from './support/mmdb-writer.ts';
import { waitFor } from './support/portal-mail.ts';
import { SmtpConversation } from './support/smtp-conversation.ts';
import { acmeTenant, startTestGateway } from './support/test-gateway.ts';

const BLOCKED_NETWORK = '127.0.0.6';
const BLOCKED_COUNTRY = '127.0.0.7';
const ELSEWHERE = '127.0.0.8';

const message = (to: string, extra = '') => `From: sender@outside.example\r\nTo: ${to}\r\nSubject: Hello\r\n\r\nHello there.${extra}\r\n`;

describe('MailGuard at SMTP time', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let mailServer: MailPeer;

  before(async () => {
    database = await createTestDatabase();
    mailServer = await MailPeer.start();
    const geoip = join(database.dataDir, 'countries.mmdb');
    writeFileSync(geoip, buildMmdb([{ cidr: '127.0.0.0/8', country: 'DE' }, { cidr: `${BLOCKED_COUNTRY}/32`, country: 'KP' }]));
    gateway = await startTestGateway(
      database,
      [
        acmeTenant(mailServer.port, {
          guard: {
            onBlock: 'reject',
            modules: { network: { ipBlockList: [`${BLOCKED_NETWORK}/32`, '2001:db8::/32'], countryBlockList: ['KP'] } },
            policies: [
              {
                name: 'Quarantine instead',
                priority: 1,
                match: { recipients: ['archive@acme.test'] },
                onBlock: 'quarantine',
                modules: { network: { ipBlockList: [`${BLOCKED_NETWORK}/32`] } },
              },
              { name: 'Small mail only', priority: 2, match: { recipients: ['small@acme.test'] }, maxMessageSizeMb: 0.01 },
            ],
          },
        }),
      ],
      { SEALPOST_GEOIP_DB: geoip },
    );
  });

  after(async () => {
    await gateway.stop();
    await mailServer.close();
    await database.cleanup();
  });

  test('a blocked network is refused at RCPT with 550 5.7.1 where the policy rejects, and quarantined where it quarantines', async () => {
    const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress: BLOCKED_NETWORK });
    await smtp.command('EHLO mta.outside.example');
    const result = await smtp.sendMessage('sender@outside.example', ['alice@acme.test', 'archive@acme.test'], message('alice@acme.test'));
    await smtp.quit();
    assert.equal(result.rcpt[0]!.code, 550);
    assert.match(result.rcpt[0]!.text, /^5\.7\.1 .*127\.0\.0\.6/);
    assert.equal(result.rcpt[1]!.code, 250, 'the other policy quarantines rather than rejects');
    assert.equal(result.final?.code, 250);
    const id = result.final!.text.split('queued as ')[1]!;
    const state = await waitFor('the verdict', async () => {
      const [row] = await ownerDb(gateway.database.db).select({ state: messages.state }).from(messages).where(eq(messages.id, id));
      return row && row.state !== 'received' ? row.state : undefined;
    });
    assert.equal(state, 'quarantined');
    const scored = (await readTrace(ownerDb(gateway.database.db), id)).find((t) => t.step === 'scored');
    assert.equal(scored?.detail.policy, 'Quarantine instead');
    assert.ok((scored?.detail.symbols as string[]).some((s) => s.startsWith('NET_IP_BLOCKED')));
  });

  test("a blocked country, from the operator's GeoIP database, is refused; another address is not", async () => {
    const blocked = await SmtpConversation.open(gateway.smtpPort, { localAddress: BLOCKED_COUNTRY });
    await blocked.command('EHLO mta.outside.example');
    const refused = await blocked.sendMessage('sender@outside.example', ['alice@acme.test'], message('alice@acme.test'));
    await blocked.quit();
    assert.equal(refused.rcpt[0]!.code, 550);
    assert.match(refused.rcpt[0]!.text, /^5\.7\.1 .*KP/);

    const fine = await SmtpConversation.open(gateway.smtpPort, { localAddress: ELSEWHERE });
    await fine.command('EHLO mta.outside.example');
    const accepted = await fine.sendMessage('sender@outside.example', ['alice@acme.test'], message('alice@acme.test'));
    await fine.quit();
    assert.equal(accepted.final?.code, 250, accepted.final?.text ?? accepted.rcpt[0]?.text);
  });

  test("a message over the policy's size gets 552 5.3.4: declared at RCPT, actual after DATA", async () => {
    const declared = await SmtpConversation.open(gateway.smtpPort, { localAddress: ELSEWHERE });
    await declared.command('EHLO mta.outside.example');
    assert.equal((await declared.command('MAIL FROM:<sender@outside.example> SIZE=50000')).code, 250);
    const rcpt = await declared.command('RCPT TO:<small@acme.test>');
    await declared.quit();
    assert.equal(rcpt.code, 552);
    assert.match(rcpt.text, /^5\.3\.4 /);

    const actual = await SmtpConversation.open(gateway.smtpPort, { localAddress: ELSEWHERE });
    await actual.command('EHLO mta.outside.example');
    const result = await actual.sendMessage('sender@outside.example', ['small@acme.test'], message('small@acme.test', `\r\n${'x'.repeat(76)}`.repeat(300)));
    await actual.quit();
    assert.equal(result.final?.code, 552, result.final?.text);
    assert.match(result.final!.text, /^5\.3\.4 /);
  });

  test('swaks sees the same refusal as a real client', async () => {
    const args = ['--server', `127.0.0.1:${gateway.smtpPort}`, '--local-interface', BLOCKED_NETWORK, '--from', 'sender@outside.example', '--to', 'alice@acme.test', '--helo', 'mta.outside.example'];
    const { stdout } = await promisify(execFile)('swaks', args, { timeout: 30_000 }).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }));
    assert.match(stdout, /<\*\* +550 5\.7\.1 /, stdout);
    assert.doesNotMatch(stdout, /queued as/);
  });
});
