import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Gateway } from '../src/gateway.ts';
import { createTestDatabase, type TestDatabase } from './support/database.ts';
import { MailPeer } from './support/mail-peer.ts';
import { SmtpConversation, simpleMessage } from './support/smtp-conversation.ts';
import { ACME_API_TOKEN, acmeTenant, startTestGateway } from './support/test-gateway.ts';

const GLOBEX_TOKEN = 'globex-test-token-abcdefghijklmnop';

describe('the admin API and the operations endpoints', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let peer: MailPeer;
  let messageId: string;
  const api = (path: string, token?: string) =>
    fetch(`http://127.0.0.1:${gateway.httpPort}${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});

  before(async () => {
    database = await createTestDatabase();
    peer = await MailPeer.start();
    gateway = await startTestGateway(database, [
      acmeTenant(peer.port),
      { name: 'Globex', domains: ['globex.test'], connectors: [], members: [], apiTokens: [{ name: 'ops', token: GLOBEX_TOKEN }], mailServer: `smtp://127.0.0.1:${peer.port}` },
    ]);
    const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress: '127.0.0.2' });
    await smtp.command('EHLO mail.example.org');
    const sent = await smtp.sendMessage('news@example.org', ['alice@acme.test'], simpleMessage({ from: 'news@example.org', to: 'alice@acme.test', subject: 'Traced' }));
    await smtp.quit();
    messageId = sent.final!.text.split('queued as ')[1]!;
    await peer.waitForMessages(1);
  });

  after(async () => {
    await gateway.stop();
    await peer.close();
    await database.cleanup();
  });

  test('an admin reads the whole trace of a message: received, classified, routed and delivered with the remote reply', async () => {
    let body: { trace: Array<{ step: string; detail: Record<string, unknown> }>; deliveries: Array<{ status: string }>; message: { id: string; tls: boolean } };
    for (let i = 0; ; i++) {
      const response = await api(`/api/admin/messages/${messageId}/trace`, ACME_API_TOKEN);
      assert.equal(response.status, 200);
      body = (await response.json()) as typeof body;
      if (body.trace.some((t) => t.step === 'delivered') || i > 50) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(body.message.id, messageId);
    assert.deepEqual(body.trace.map((t) => t.step), ['received', 'parsed', 'classified', 'scored', 'routed', 'delivered']);
    const received = body.trace[0]!.detail;
    assert.equal(received.client, '127.0.0.2');
    assert.equal(received.tls, false);
    assert.equal(received.direction, 'inbound');
    const delivered = body.trace.find((t) => t.step === 'delivered')!.detail;
    assert.match(String(delivered.reply), /^250 /);
    assert.equal(delivered.remote, `127.0.0.1:${peer.port}`);
    assert.equal(body.deliveries[0]!.status, 'delivered');
  });

  test('the message list shows the tenant\'s messages only', async () => {
    const acme = (await (await api('/api/admin/messages', ACME_API_TOKEN)).json()) as { messages: Array<{ id: string }> };
    const globex = (await (await api('/api/admin/messages', GLOBEX_TOKEN)).json()) as { messages: Array<{ id: string }> };
    assert.ok(acme.messages.some((m) => m.id === messageId));
    assert.equal(globex.messages.length, 0);
  });

  test('without a token, with a wrong token, or with another tenant\'s token the trace is not shown', async () => {
    const none = await api(`/api/admin/messages/${messageId}/trace`);
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    assert.match(((await none.json()) as { detail: string }).detail, /Authorization: Bearer/);
    assert.equal((await api(`/api/admin/messages/${messageId}/trace`, 'x'.repeat(40))).status, 401);
    assert.equal((await api(`/api/admin/messages/${messageId}/trace`, GLOBEX_TOKEN)).status, 404);
    assert.equal((await api('/api/admin/messages/not-a-uuid/trace', ACME_API_TOKEN)).status, 400);
  });

  test('health, readiness and Prometheus metrics are served', async () => {
    assert.equal((await api('/healthz')).status, 200);
    const ready = await api('/readyz');
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { status: 'ready' });
    const metrics = await (await api('/metrics')).text();
    assert.match(metrics, /^sealpost_messages_received_total\{direction="inbound"\} [1-9]/m);
    assert.match(metrics, /^sealpost_deliveries_delivered_total [1-9]/m);
    assert.match(metrics, /^sealpost_smtp_accept_seconds_count [1-9]/m);
    assert.match(metrics, /^# TYPE sealpost_queue_depth gauge/m);
    assert.match(metrics, /^# TYPE sealpost_deliveries_deferred_total counter/m);
    assert.match(metrics, /^# TYPE sealpost_deliveries_bounced_total counter/m);
  });
});
