import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadConfig, ConfigurationError } from '../src/config.ts';
import type { Gateway } from '../src/gateway.ts';
import { addressGroup, ConnectionLimits, type ConnectionLimitSettings } from '../src/smtp/connection-limits.ts';
import { hashPassword } from '../src/tenants/secrets.ts';
import { createTestDatabase, type TestDatabase } from './support/database.ts';
import { MailPeer } from './support/mail-peer.ts';
import { SmtpConversation, simpleMessage } from './support/smtp-conversation.ts';
import { acmeTenant, startTestGateway } from './support/test-gateway.ts';

/** Acme's Exchange connector sends from 127.0.0.1; every other loopback address is the Internet. */
const EXCHANGE = { localAddress: '127.0.0.1' };
const internet = (n: number) => ({ localAddress: `127.0.0.${n}` });

/** A small gateway: 40 slots, 5 of them reserved for connectors, 10 per Internet address. */
const SMALL = {
  SEALPOST_MAX_CLIENTS: '40',
  SEALPOST_SMTP_CONNECTOR_RESERVED_SLOTS: '5',
  SEALPOST_SMTP_MAX_CONNECTIONS_PER_ADDRESS: '10',
};

async function openMany(port: number, count: number, options: { localAddress: string }): Promise<SmtpConversation[]> {
  return Promise.all(Array.from({ length: count }, () => SmtpConversation.open(port, options)));
}

async function closeAll(conversations: SmtpConversation[]): Promise<void> {
  await Promise.all(conversations.map((c) => c.quit()));
}

async function metricsText(gateway: Gateway): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${gateway.httpPort}/metrics`);
  assert.equal(response.status, 200);
  return response.text();
}

function metricValue(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** Waits until the gateway counts this many connections of the kind (closing is asynchronous). */
async function waitForConnections(gateway: Gateway, kind: 'connector' | 'internet', count: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const values = (await gateway.metrics.smtpConnections.get()).values;
    const current = values.find((v) => v.labels.kind === kind)?.value ?? 0;
    if (current === count) return;
    if (Date.now() > deadline) assert.fail(`expected ${count} ${kind} connections, the gateway counts ${current}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('connection slots on a small gateway (40 slots, 5 reserved for connectors, 10 per address)', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let relay: MailPeer;

  before(async () => {
    database = await createTestDatabase();
    relay = await MailPeer.start();
    gateway = await startTestGateway(database, [acmeTenant(relay.port)], {
      ...SMALL,
      SEALPOST_RELAY: `smtp://127.0.0.1:${relay.port}`,
      SEALPOST_SMTP_CONNECTIONS_PER_MINUTE_PER_ADDRESS: '25',
      SEALPOST_SMTP_COMMANDS_PER_MINUTE_PER_CONNECTION: '20',
      SEALPOST_SMTP_MESSAGES_PER_MINUTE_PER_ADDRESS: '3',
    });
  });

  after(async () => {
    await gateway.stop();
    await relay.close();
    await database.cleanup();
  });

  test('one Internet address gets at most its share of the slots; the next connection is told why with 421 4.7.0 and closed', async () => {
    const held = await openMany(gateway.smtpPort, 10, internet(2));
    try {
      assert.deepEqual(
        held.map((c) => c.greeting.code),
        Array(10).fill(220),
      );
      const refused = await SmtpConversation.open(gateway.smtpPort, internet(2));
      assert.equal(refused.greeting.code, 421);
      assert.match(refused.greeting.text, /^4\.7\.0 Too many connections from your address \(at most 10 at a time\)/);
      assert.equal((await refused.readReply(5000)).code, 0, 'the refused connection is closed');
      // Another address is not affected by the first one's share.
      const neighbour = await SmtpConversation.open(gateway.smtpPort, internet(3));
      assert.equal(neighbour.greeting.code, 220);
      await neighbour.quit();
    } finally {
      await closeAll(held);
    }
    await waitForConnections(gateway, 'internet', 0);
  });

  test('when Internet clients hold every slot open to them, the tenant connector still gets in and its message goes out', async () => {
    const held = [
      ...(await openMany(gateway.smtpPort, 10, internet(2))),
      ...(await openMany(gateway.smtpPort, 10, internet(3))),
      ...(await openMany(gateway.smtpPort, 10, internet(4))),
      ...(await openMany(gateway.smtpPort, 5, internet(5))),
    ];
    try {
      assert.equal(held.filter((c) => c.greeting.code === 220).length, 35);
      const stranger = await SmtpConversation.open(gateway.smtpPort, internet(6));
      assert.equal(stranger.greeting.code, 421);
      assert.match(stranger.greeting.text, /^4\.7\.0 Too many connected clients, try again later/);

      const exchange = await SmtpConversation.open(gateway.smtpPort, EXCHANGE);
      assert.equal(exchange.greeting.code, 220);
      await exchange.command('EHLO exchange.acme.test');
      const sent = await exchange.sendMessage(
        'alice@acme.test',
        ['partner@example.net'],
        simpleMessage({ from: 'alice@acme.test', to: 'partner@example.net', subject: 'Sent while the Internet queues' }),
      );
      assert.equal(sent.final?.code, 250);

      const metrics = await metricsText(gateway);
      assert.equal(metricValue(metrics, 'sealpost_smtp_connections{kind="internet"}'), 35);
      assert.equal(metricValue(metrics, 'sealpost_smtp_connections{kind="connector"}'), 1);
      assert.ok((metricValue(metrics, 'sealpost_smtp_refused_total{reason="internet_slots_full"}') ?? 0) >= 1);
      assert.ok((metricValue(metrics, 'sealpost_smtp_refused_total{reason="address_connections"}') ?? 0) >= 1);
      assert.equal(metricValue(metrics, 'sealpost_smtp_limit{limit="max_clients"}'), 40);
      assert.equal(metricValue(metrics, 'sealpost_smtp_limit{limit="internet_slots"}'), 35);
      assert.equal(metricValue(metrics, 'sealpost_smtp_limit{limit="max_connections_per_address"}'), 10);
      await exchange.quit();

      const [mail] = await relay.waitForMessages(1);
      assert.match(mail!.raw.toString(), /Subject: Sent while the Internet queues/);
    } finally {
      await closeAll(held);
    }
    await waitForConnections(gateway, 'internet', 0);
    await waitForConnections(gateway, 'connector', 0);
  });

  test('a connection that sends more commands a minute than allowed is closed with 421 4.7.0; the connector is not counted', async () => {
    const chatty = await SmtpConversation.open(gateway.smtpPort, internet(7));
    await chatty.command('EHLO chatty.example');
    for (let i = 1; i < 20; i += 1) assert.equal((await chatty.command('NOOP')).code, 250, `command ${i + 1} of 20`);
    const refused = await chatty.command('NOOP');
    assert.equal(refused.code, 421);
    assert.match(refused.text, /^4\.7\.0 Too many commands on this connection \(at most 20 a minute\)/);
    assert.equal((await chatty.readReply(5000)).code, 0, 'the connection is closed');

    const exchange = await SmtpConversation.open(gateway.smtpPort, EXCHANGE);
    await exchange.command('EHLO exchange.acme.test');
    for (let i = 0; i < 30; i += 1) assert.equal((await exchange.command('NOOP')).code, 250);
    await exchange.quit();
    assert.ok((metricValue(await metricsText(gateway), 'sealpost_smtp_refused_total{reason="command_rate"}') ?? 0) >= 1);
  });

  test('an address that starts more messages a minute than allowed is refused with 421 4.7.0, even on a new connection', async () => {
    const first = await SmtpConversation.open(gateway.smtpPort, internet(8));
    await first.command('EHLO sender.example');
    for (let i = 0; i < 3; i += 1) {
      assert.equal((await first.command('MAIL FROM:<news@sender.example>')).code, 250);
      await first.command('RSET');
    }
    const refused = await first.command('MAIL FROM:<news@sender.example>');
    assert.equal(refused.code, 421);
    assert.match(refused.text, /^4\.7\.0 Too many messages from your address \(at most 3 a minute\)/);
    const second = await SmtpConversation.open(gateway.smtpPort, internet(8));
    await second.command('EHLO sender.example');
    assert.equal((await second.command('MAIL FROM:<news@sender.example>')).code, 421, 'the count belongs to the address');
    await second.quit();
  });

  test('an address that opens more connections a minute than allowed is refused with 421 4.7.0', async () => {
    // The allowance refills evenly (25 a minute: one every 2.4 s), so count what the address got while trying.
    const started = performance.now();
    let admitted = 0;
    let refused: SmtpConversation | undefined;
    while (!refused && admitted < 40) {
      const smtp = await SmtpConversation.open(gateway.smtpPort, internet(10));
      if (smtp.greeting.code === 220) admitted += 1;
      else refused = smtp;
      await smtp.quit();
    }
    const minutes = (performance.now() - started) / 60_000;
    assert.ok(refused, `${admitted} connections in ${(minutes * 60).toFixed(1)} s were all admitted`);
    assert.equal(refused.greeting.code, 421);
    assert.match(refused.greeting.text, /^4\.7\.0 Too many connections from your address \(at most 25 a minute\)/);
    assert.ok(admitted >= 25 && admitted <= 25 + Math.ceil(25 * minutes), `${admitted} admitted in ${(minutes * 60).toFixed(1)} s`);
    assert.ok((metricValue(await metricsText(gateway), 'sealpost_smtp_refused_total{reason="address_connection_rate"}') ?? 0) >= 1);
  });
});

describe('timeouts that give slots back (idle and DATA timeouts of 1 second, lifetime 6 seconds)', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let peer: MailPeer;

  before(async () => {
    database = await createTestDatabase();
    peer = await MailPeer.start();
    gateway = await startTestGateway(database, [acmeTenant(peer.port)], {
      ...SMALL,
      SEALPOST_SMTP_IDLE_SECONDS: '1',
      SEALPOST_SMTP_DATA_IDLE_SECONDS: '1',
      SEALPOST_MAX_CONNECTION_SECONDS: '6',
    });
  });

  after(async () => {
    await gateway.stop();
    await peer.close();
    await database.cleanup();
  });

  test('idle Internet connections are closed with 421 4.4.2 after the idle timeout, and the address may connect again', async () => {
    const started = performance.now();
    const idle = await openMany(gateway.smtpPort, 10, internet(2));
    assert.equal((await SmtpConversation.open(gateway.smtpPort, internet(2))).greeting.code, 421, 'the address is at its limit');
    const replies = await Promise.all(idle.map((c) => c.readReply(10_000)));
    const seconds = (performance.now() - started) / 1000;
    for (const reply of replies) {
      assert.equal(reply.code, 421);
      assert.match(reply.text, /^4\.4\.2 No complete command within 1 s, closing/);
    }
    assert.ok(seconds >= 1 && seconds < 5, `closed after ${seconds.toFixed(2)} s`);
    await waitForConnections(gateway, 'internet', 0);
    const again = await SmtpConversation.open(gateway.smtpPort, internet(2));
    assert.equal(again.greeting.code, 220);
    await again.quit();
    await closeAll(idle);
    assert.ok((metricValue(await metricsText(gateway), 'sealpost_smtp_timeouts_total{phase="command"}') ?? 0) >= 10);
  });

  test('a client that trickles a command a byte at a time does not keep its slot', async () => {
    const slow = await SmtpConversation.open(gateway.smtpPort, internet(3));
    const started = performance.now();
    let sent = 0;
    let lastWrite = started;
    let longestGap = 0;
    const line = 'EHLO a-very-slow-client.example.net';
    const trickle = setInterval(() => {
      const now = performance.now();
      longestGap = Math.max(longestGap, now - lastWrite);
      lastWrite = now;
      slow.write(line[sent++ % line.length]!);
    }, 100);
    try {
      const reply = await slow.readReply(10_000);
      const seconds = (performance.now() - started) / 1000;
      assert.equal(reply.code, 421);
      assert.match(reply.text, /^4\.4\.2 No complete command/);
      assert.ok(seconds < 4, `closed after ${seconds.toFixed(2)} s`);
      // Bytes kept coming faster than the idle timeout, so a timeout that any byte restarts would not have fired.
      assert.ok(sent >= 3 && longestGap < 1000, `${sent} bytes, at most ${longestGap.toFixed(0)} ms apart`);
    } finally {
      clearInterval(trickle);
      await slow.quit();
    }
  });

  test('a client that asks for TLS and never finishes the handshake does not keep its slot', async () => {
    const stalled = await SmtpConversation.open(gateway.smtpPort, internet(7));
    await stalled.command('EHLO stalled-tls.example');
    assert.equal((await stalled.command('STARTTLS')).code, 220);
    const started = performance.now();
    // Nothing can be said in plain text during the handshake: the gateway just closes the connection.
    const reply = await stalled.readReply(15_000);
    const seconds = (performance.now() - started) / 1000;
    assert.equal(reply.code, 0, 'closed');
    assert.ok(seconds < 4, `closed after ${seconds.toFixed(2)} s; smtp-server's own handshake timeout is 31 s here`);
    await stalled.quit();
  });

  test('a client that stops sending message data is closed with 421 4.4.2, and a steady one is not', async () => {
    const stalled = await SmtpConversation.open(gateway.smtpPort, internet(4));
    await stalled.command('EHLO stalled.example');
    await stalled.command('MAIL FROM:<someone@stalled.example>');
    await stalled.command('RCPT TO:<alice@acme.test>');
    assert.equal((await stalled.command('DATA')).code, 354);
    stalled.write('Subject: half a message\r\n\r\nThe rest never ');
    const reply = await stalled.readReply(10_000);
    assert.equal(reply.code, 421);
    assert.match(reply.text, /^4\.4\.2 No message data within 1 s, closing/);
    await stalled.quit();
    assert.ok((metricValue(await metricsText(gateway), 'sealpost_smtp_timeouts_total{phase="data"}') ?? 0) >= 1);

    // A line every 300 ms for 3 seconds: longer than the timeout in total, but never idle for it.
    const steady = await SmtpConversation.open(gateway.smtpPort, internet(5));
    await steady.command('EHLO steady.example');
    await steady.command('MAIL FROM:<someone@steady.example>');
    await steady.command('RCPT TO:<alice@acme.test>');
    assert.equal((await steady.command('DATA')).code, 354);
    steady.write('Subject: slow but steady\r\n\r\n');
    for (let i = 0; i < 10; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 300));
      steady.write(`line ${i}\r\n`);
    }
    steady.write('.\r\n');
    const accepted = await steady.readReply(10_000);
    assert.equal(accepted.code, 250, accepted.text);
    await steady.quit();
  });

  test('a connection that keeps busy is still closed with 421 4.4.2 when its lifetime is up', async () => {
    const busy = await SmtpConversation.open(gateway.smtpPort, internet(6));
    const started = performance.now();
    const keepBusy = setInterval(() => busy.write('NOOP\r\n'), 300);
    try {
      let reply = await busy.readReply(15_000);
      let noops = 0;
      while (reply.code === 250) {
        noops += 1;
        reply = await busy.readReply(15_000);
      }
      const seconds = (performance.now() - started) / 1000;
      assert.equal(reply.code, 421);
      assert.match(reply.text, /^4\.4\.2 Connection time limit reached/);
      assert.ok(seconds >= 5.5 && seconds < 9, `closed after ${seconds.toFixed(2)} s and ${noops} commands`);
    } finally {
      clearInterval(keepBusy);
      await busy.quit();
    }
    assert.ok((metricValue(await metricsText(gateway), 'sealpost_smtp_timeouts_total{phase="lifetime"}') ?? 0) >= 1);
  });
});

describe('SMTP AUTH connectors', () => {
  test('count against their address until they sign in, and as connectors afterwards', async () => {
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
      { ...SMALL, SEALPOST_SMTP_MAX_CONNECTIONS_PER_ADDRESS: '2' },
    );
    const open: SmtpConversation[] = [];
    try {
      const onprem = await SmtpConversation.open(gateway.smtpPort, internet(2));
      open.push(onprem);
      open.push(await SmtpConversation.open(gateway.smtpPort, internet(2)));
      assert.equal((await SmtpConversation.open(gateway.smtpPort, internet(2))).greeting.code, 421, 'two per address');
      await onprem.command('EHLO exchange.acme.test');
      await onprem.startTls();
      await onprem.command('EHLO exchange.acme.test');
      const signedIn = await onprem.command(`AUTH PLAIN ${Buffer.from('\0acme-exchange\0correct horse').toString('base64')}`);
      assert.equal(signedIn.code, 235);
      await waitForConnections(gateway, 'connector', 1);
      const third = await SmtpConversation.open(gateway.smtpPort, internet(2));
      open.push(third);
      assert.equal(third.greeting.code, 220, 'the signed-in connector no longer uses the address share');
    } finally {
      await closeAll(open);
      await gateway.stop();
      await relay.close();
      await database.cleanup();
    }
  });
});

describe('the default configuration', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let peer: MailPeer;

  before(async () => {
    database = await createTestDatabase();
    peer = await MailPeer.start();
    gateway = await startTestGateway(database, [acmeTenant(peer.port)]);
  });

  after(async () => {
    await gateway.stop();
    await peer.close();
    await database.cleanup();
  });

  test('2,050 idle connections from one Internet address get 20 slots, and the tenant connector still gets in', async () => {
    const started = performance.now();
    const flood: SmtpConversation[] = [];
    try {
      // In batches, so the listen backlog is not what refuses them.
      for (let opened = 0; opened < 2050; opened += 250) {
        flood.push(...(await openMany(gateway.smtpPort, Math.min(250, 2050 - opened), internet(2))));
      }
      const floodSeconds = (performance.now() - started) / 1000;
      const admitted = flood.filter((c) => c.greeting.code === 220);
      const refused = flood.filter((c) => c.greeting.code === 421);
      assert.equal(admitted.length, 20);
      assert.equal(refused.length, 2030);
      assert.ok(refused.every((c) => /^4\.7\.0 Too many connections from your address/.test(c.greeting.text)));
      await closeAll(refused);

      const exchange = await SmtpConversation.open(gateway.smtpPort, EXCHANGE);
      assert.equal(exchange.greeting.code, 220);
      await exchange.command('EHLO exchange.acme.test');
      const sent = await exchange.sendMessage('alice@acme.test', ['bob@acme.test'], simpleMessage({ from: 'alice@acme.test', to: 'bob@acme.test', subject: 'during the flood' }));
      assert.equal(sent.final?.code, 250);
      await exchange.quit();
      const metrics = await metricsText(gateway);
      assert.equal(metricValue(metrics, 'sealpost_smtp_refused_total{reason="address_connections"}'), 2030);
      assert.equal(metricValue(metrics, 'sealpost_smtp_connections{kind="internet"}'), 20);
      assert.ok(floodSeconds < 60, `2,050 connections took ${floodSeconds.toFixed(1)} s`);
    } finally {
      await closeAll(flood);
    }
    await waitForConnections(gateway, 'internet', 0);
  });

  test('lets 50 concurrent connector sessions in, each sending a message, as the benchmark does', async () => {
    let sessions: SmtpConversation[] = [];
    try {
      const started = performance.now();
      sessions = await openMany(gateway.smtpPort, 50, EXCHANGE);
      assert.deepEqual(
        sessions.map((s) => s.greeting.code),
        Array(50).fill(220),
      );
      await waitForConnections(gateway, 'connector', 50);
      const sent = await Promise.all(
        sessions.map(async (s, i) => {
          await s.command('EHLO exchange.acme.test');
          return s.sendMessage('alice@acme.test', ['bob@acme.test'], simpleMessage({ from: 'alice@acme.test', to: 'bob@acme.test', subject: `session ${i}` }));
        }),
      );
      assert.deepEqual(
        sent.map((s) => s.final?.code),
        Array(50).fill(250),
      );
      const seconds = (performance.now() - started) / 1000;
      const metrics = await metricsText(gateway);
      assert.equal(metricValue(metrics, 'sealpost_smtp_limit{limit="max_clients"}'), 2000);
      assert.equal(metricValue(metrics, 'sealpost_smtp_limit{limit="connector_reserved_slots"}'), 200);
      assert.equal(metricValue(metrics, 'sealpost_smtp_refused_total{reason="server_full"}'), undefined, 'no connector was refused');
      assert.ok(seconds < 60, `50 sessions took ${seconds.toFixed(2)} s`);
    } finally {
      await closeAll(sessions);
    }
  });
});

describe('the connection limits themselves', () => {
  const settings: ConnectionLimitSettings = {
    maxClients: 40,
    connectorReservedSlots: 5,
    maxConnectionsPerAddress: 2,
    connectionsPerMinutePerAddress: 100,
    commandsPerMinutePerConnection: 3,
    messagesPerMinutePerAddress: 100,
  };

  test('IPv6 clients are counted by their /64, and an IPv4-mapped address as its IPv4 address', () => {
    assert.equal(addressGroup('2001:db8:1:2::1'), addressGroup('2001:0db8:0001:0002:ffff:ffff:ffff:9'));
    assert.notEqual(addressGroup('2001:db8:1:2::1'), addressGroup('2001:db8:1:3::1'));
    assert.equal(addressGroup('::ffff:192.0.2.1'), '192.0.2.1');
    assert.equal(addressGroup('2001:db8::192.0.2.1'), '2001:db8:0:0::/64');
    const limits = new ConnectionLimits(settings);
    assert.ok(limits.admit('2001:db8:1:2::1', 'internet').admitted);
    assert.ok(limits.admit('2001:db8:1:2::2', 'internet').admitted);
    const third = limits.admit('2001:db8:1:2:abcd::3', 'internet');
    assert.equal(third.admitted ? undefined : third.refusal.reason, 'address_connections');
    assert.ok(limits.admit('2001:db8:1:3::1', 'internet').admitted, 'the next /64 is another address');
  });

  test('per-minute limits refill over the minute', () => {
    let now = 1_000_000;
    const limits = new ConnectionLimits(settings, () => now);
    const admission = limits.admit('192.0.2.7', 'internet');
    assert.ok(admission.admitted);
    const { ticket } = admission;
    for (let i = 0; i < 3; i += 1) assert.equal(limits.onCommand(ticket), undefined);
    assert.equal(limits.onCommand(ticket)?.reason, 'command_rate');
    now += 20_000; // a third of a minute: one more command
    assert.equal(limits.onCommand(ticket), undefined);
    assert.equal(limits.onCommand(ticket)?.reason, 'command_rate');
  });

  test('a flood of distinct source addresses keeps the per-address memory bounded', () => {
    const limits = new ConnectionLimits({ ...settings, maxTrackedAddresses: 1000 });
    const started = performance.now();
    for (let i = 0; i < 100_000; i += 1) {
      const admission = limits.admit(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, 'internet');
      if (admission.admitted) limits.release(admission.ticket);
    }
    const milliseconds = performance.now() - started;
    assert.ok(limits.trackedAddresses() <= 1000, `${limits.trackedAddresses()} addresses tracked`);
    assert.deepEqual(limits.current(), { connector: 0, internet: 0 });
    assert.ok(milliseconds < 2000, `100,000 connections took ${milliseconds.toFixed(0)} ms`);
  });

  test('connectors may use the reserved slots, Internet clients may not', () => {
    const limits = new ConnectionLimits({ ...settings, maxConnectionsPerAddress: 100 });
    for (let i = 0; i < 35; i += 1) assert.ok(limits.admit(`192.0.2.${i}`, 'internet').admitted);
    const refused = limits.admit('198.51.100.1', 'internet');
    assert.equal(refused.admitted ? undefined : refused.refusal.reason, 'internet_slots_full');
    for (let i = 0; i < 5; i += 1) assert.ok(limits.admit('203.0.113.1', 'connector').admitted);
    const full = limits.admit('203.0.113.1', 'connector');
    assert.equal(full.admitted ? undefined : full.refusal.reason, 'server_full');
  });

  test('a connector reserve that leaves no slot for the Internet stops the start with the variable named', () => {
    assert.throws(
      () => loadConfig({ SEALPOST_MAX_CLIENTS: '10', SEALPOST_SMTP_CONNECTOR_RESERVED_SLOTS: '10' }),
      (error: unknown) => error instanceof ConfigurationError && /SEALPOST_SMTP_CONNECTOR_RESERVED_SLOTS/.test(error.message),
    );
    assert.equal(loadConfig({ SEALPOST_MAX_CLIENTS: '100' }).smtp.connectorReservedSlots, 10, 'a tenth by default');
  });
});
