/**
 * Asking for a new link or a sign-in link must not tell, by its answer or by how long the answer takes,
 * whether an address has portal messages or belongs to a member.
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import MailComposer from 'nodemailer/lib/mail-composer';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { createTestDatabase, type TestDatabase } from './support/database.ts';
import { MailPeer } from './support/mail-peer.ts';
import { SmtpConversation } from './support/smtp-conversation.ts';
import { freePort, GatewayProcess } from './support/gateway-process.ts';
import { acmeTenant } from './support/test-gateway.ts';
import { waitFor } from './support/portal-mail.ts';

function post(port: number, path: string, json: unknown, localAddress: string): Promise<{ status: number; ms: number }> {
  const body = Buffer.from(JSON.stringify(json));
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, method: 'POST', path, localAddress, headers: { 'content-type': 'application/json', 'content-length': String(body.length) } },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - started }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Lets the work a previous request left behind finish, so it does not slow the next measurement. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 250));

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

describe('link requests do not reveal which addresses are known', () => {
  let database: TestDatabase;
  // A process of its own: work the gateway does after answering must not slow the measuring client.
  let gateway: GatewayProcess;
  let tenantMailServer: MailPeer;
  let relay: MailPeer;
  const known = Array.from({ length: 9 }, (_, i) => `known${i}@example.net`);
  const unknown = Array.from({ length: 9 }, (_, i) => `stranger${i}@example.net`);

  before(async () => {
    database = await createTestDatabase();
    tenantMailServer = await MailPeer.start();
    relay = await MailPeer.start();
    const configFile = join(database.dataDir, 'tenants.yaml');
    const members = [{ email: 'alice@acme.test', role: 'owner' as const }, { email: 'bob@acme.test', role: 'operator' as const }];
    writeFileSync(configFile, stringify({ tenants: [acmeTenant(tenantMailServer.port, { members })] }));
    gateway = new GatewayProcess({
      SEALPOST_DATA_DIR: database.dataDir,
      SEALPOST_CONFIG: configFile,
      SEALPOST_SMTP_HOST: '127.0.0.1',
      SEALPOST_SMTP_PORT: String(await freePort()),
      SEALPOST_HTTP_HOST: '127.0.0.1',
      SEALPOST_HTTP_PORT: String(await freePort()),
      SEALPOST_RELAY: `smtp://127.0.0.1:${relay.port}`,
      SEALPOST_WORKER_POLL_MS: '100',
      SEALPOST_LOG_LEVEL: 'warn',
      ...(database.url ? { DATABASE_URL: database.url } : {}),
    });
    await gateway.start();
    const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress: '127.0.0.1' });
    await smtp.command('EHLO exchange.acme.test');
    const raw = await new MailComposer({
      from: 'alice@acme.test',
      to: known.join(', '),
      subject: 'Contract',
      text: 'A long enough body '.repeat(2000),
      headers: { 'X-Sealpost-Encrypt': 'portal' },
    })
      .compile()
      .build();
    const sent = await smtp.sendMessage('alice@acme.test', known, raw);
    await smtp.quit();
    assert.equal(sent.final?.code, 250);
    await relay.waitForMessages(known.length);
  });

  after(async () => {
    await gateway.stop();
    await tenantMailServer.close();
    await relay.close();
    await database.cleanup();
  });

  test('a fresh link is asked for a known and an unknown address in the same time, and the known one still gets its mail', async () => {
    const times = { known: [] as number[], unknown: [] as number[] };
    const before = relay.received.length;
    for (let i = 0; i < known.length; i += 1) {
      // Alternate, so that warming up favours neither side; each pair from its own client address.
      const from = `127.0.1.${10 + i}`;
      const a = await post(gateway.httpPort, '/api/portal/links/request', { email: unknown[i] }, from);
      await settle();
      const b = await post(gateway.httpPort, '/api/portal/links/request', { email: known[i] }, from);
      await settle();
      assert.equal(a.status, 202);
      assert.equal(b.status, 202);
      times.unknown.push(a.ms);
      times.known.push(b.ms);
    }
    const fresh = await waitFor('the fresh links', () => (relay.received.length >= before + known.length ? relay.received.slice(before) : undefined));
    assert.deepEqual(fresh.map((m) => m.recipients[0]).sort(), [...known].sort(), 'only the known addresses got a link');
    const [k, u] = [median(times.known), median(times.unknown)];
    console.log(`link request medians: known ${k.toFixed(1)} ms, unknown ${u.toFixed(1)} ms`);
    assert.ok(k <= u * 1.5 + 4, `known ${k.toFixed(1)} ms against unknown ${u.toFixed(1)} ms (medians)`);
  });

  test('a sign-in link is asked for a member and a stranger in the same time', async () => {
    const times = { member: [] as number[], stranger: [] as number[] };
    for (let i = 0; i < 9; i += 1) {
      const from = `127.0.2.${10 + i}`;
      const a = await post(gateway.httpPort, '/api/portal/sign-in', { email: `nobody${i}@acme.test` }, from);
      await settle();
      const b = await post(gateway.httpPort, '/api/portal/sign-in', { email: i % 2 ? 'alice@acme.test' : 'bob@acme.test' }, from);
      await settle();
      assert.equal(a.status, 202);
      assert.ok(b.status === 202 || b.status === 429, `status ${b.status}`);
      if (b.status === 202) times.member.push(b.ms);
      times.stranger.push(a.ms);
    }
    const [m, s] = [median(times.member), median(times.stranger)];
    console.log(`sign-in medians: member ${m.toFixed(1)} ms, stranger ${s.toFixed(1)} ms`);
    assert.ok(m <= s * 1.5 + 4, `member ${m.toFixed(1)} ms against stranger ${s.toFixed(1)} ms (medians)`);
  });

  test('the per-address limit applies to unknown addresses too, so a 429 tells nothing either', async () => {
    const answers: number[] = [];
    for (let i = 0; i < 7; i += 1) answers.push((await post(gateway.httpPort, '/api/portal/sign-in', { email: 'ghost@nowhere.example' }, '127.0.3.1')).status);
    assert.deepEqual(answers.slice(0, 5), [202, 202, 202, 202, 202]);
    assert.equal(answers[6], 429);
  });
});
