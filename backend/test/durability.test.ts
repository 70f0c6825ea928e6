import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { stringify } from 'yaml';
import { createTestDatabase, testDatabaseKind } from './support/database.ts';
import { freePort, GatewayProcess } from './support/gateway-process.ts';
import { MailPeer } from './support/mail-peer.ts';
import { SmtpConversation, simpleMessage } from './support/smtp-conversation.ts';
import { acmeTenant, startTestGateway } from './support/test-gateway.ts';

const markerOf = (raw: Buffer) => /Subject: (load-\d+)/.exec(raw.toString())?.[1];

/** Deliveries one gateway process runs at once in the kill test: the bound on what a kill can repeat. */
const DELIVERY_CONCURRENCY = 6;

describe('durability', () => {
  test('a gateway killed with kill -9 in the middle of a load delivers every message it answered 250 after restart', async (t) => {
    const database = await createTestDatabase();
    const relay = await MailPeer.start();
    const configFile = join(database.dataDir, 'tenants.yaml');
    writeFileSync(configFile, stringify({ tenants: [acmeTenant(relay.port)] }));
    const env: Record<string, string> = {
      SEALPOST_DATA_DIR: database.dataDir,
      SEALPOST_CONFIG: configFile,
      SEALPOST_SMTP_HOST: '127.0.0.1',
      SEALPOST_SMTP_PORT: String(await freePort()),
      SEALPOST_HTTP_HOST: '127.0.0.1',
      SEALPOST_HTTP_PORT: String(await freePort()),
      SEALPOST_RELAY: `smtp://127.0.0.1:${relay.port}`,
      SEALPOST_WORKER_POLL_MS: '200',
      SEALPOST_DELIVERY_LEASE_SECONDS: '3',
      SEALPOST_DELIVERY_CONCURRENCY: String(DELIVERY_CONCURRENCY),
      SEALPOST_LOG_LEVEL: 'warn',
      ...(database.url ? { DATABASE_URL: database.url } : {}),
    };
    const gateway = new GatewayProcess(env);
    try {
      await gateway.start();
      const accepted = new Set<string>();
      let next = 0;
      let killed = false;
      const killAfter = 120;
      const sessions = Array.from({ length: 12 }, async () => {
        let smtp: SmtpConversation | undefined;
        try {
          smtp = await SmtpConversation.open(gateway.smtpPort);
          await smtp.command('EHLO exchange.acme.test');
          while (!killed) {
            const marker = `load-${next++}`;
            const sent = await smtp.sendMessage('alice@acme.test', ['partner@example.net'], simpleMessage({ from: 'alice@acme.test', to: 'partner@example.net', subject: marker }));
            if (sent.final?.code === 250) accepted.add(marker);
            else break;
            if (accepted.size >= killAfter && !killed) {
              killed = true;
              await gateway.kill();
            }
          }
        } catch {
          // the connection died with the gateway
        } finally {
          await smtp?.quit().catch(() => undefined);
        }
      });
      await Promise.all(sessions);
      assert.ok(killed, 'the gateway was killed during the load');

      await gateway.start();
      const deadline = Date.now() + 60_000;
      const arrived = () => new Set(relay.received.map((m) => markerOf(m.raw)));
      while ([...accepted].some((m) => !arrived().has(m)) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      const seen = new Map<string, number>();
      for (const mail of relay.received) {
        const marker = markerOf(mail.raw);
        if (marker) seen.set(marker, (seen.get(marker) ?? 0) + 1);
      }
      const lost = [...accepted].filter((m) => !seen.has(m));
      const duplicates = [...seen.values()].filter((n) => n > 1).length;
      t.diagnostic(`accepted ${accepted.size}, delivered ${seen.size} distinct, lost ${lost.length}, duplicated ${duplicates}`);
      assert.deepEqual(lost, [], 'every message answered 250 was delivered');
      // A delivery that the next hop accepted just before the kill, but whose result was not yet
      // committed, is sent again: SMTP cannot tell the two apart. Those are the sends in flight and the
      // results being recorded at that moment, each at most the delivery concurrency. Everything else
      // arrives once.
      assert.ok(
        duplicates <= 2 * DELIVERY_CONCURRENCY,
        `at most the deliveries in flight or being recorded at the kill are repeated (got ${duplicates})`,
      );
    } finally {
      await gateway.stop();
      await relay.close();
      await database.cleanup();
    }
  });

  test('a database outage answers 451 4.3.0 and the gateway accepts mail again when the database is back', async () => {
    const database = await createTestDatabase();
    const peer = await MailPeer.start();
    let proxy: DatabaseProxy | undefined;
    try {
      if (database.kind === 'postgres') {
        // The gateway reaches PostgreSQL through a proxy that the test can cut.
        const target = new URL(database.url!);
        proxy = await DatabaseProxy.start(Number(target.port || 5432), target.hostname);
        const viaProxy = new URL(database.url!);
        viaProxy.hostname = '127.0.0.1';
        viaProxy.port = String(proxy.port);
        database.url = viaProxy.toString();
      }
      const gateway = await startTestGateway(database, [acmeTenant(peer.port)]);
      try {
        const message = simpleMessage({ from: 'news@example.org', to: 'alice@acme.test', subject: 'during outage' });
        if (proxy) proxy.cut();
        else await gateway.database.close(); // embedded PGlite: the database itself goes away

        const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress: '127.0.0.2' });
        await smtp.command('EHLO mail.example.org');
        const sent = await smtp.sendMessage('news@example.org', ['alice@acme.test'], message);
        await smtp.quit();
        assert.equal(sent.final?.code, 451);
        assert.match(sent.final!.text, /^4\.3\.0 /);
        const ready = await fetch(`http://127.0.0.1:${gateway.httpPort}/readyz`);
        assert.equal(ready.status, 503, 'readiness reports the outage');

        if (proxy) {
          proxy.restore();
          const again = await SmtpConversation.open(gateway.smtpPort, { localAddress: '127.0.0.2' });
          await again.command('EHLO mail.example.org');
          const retried = await again.sendMessage('news@example.org', ['alice@acme.test'], message);
          await again.quit();
          assert.equal(retried.final?.code, 250, 'the client retry succeeds once the database is back');
          await peer.waitForMessages(1);
        }
      } finally {
        await gateway.stop().catch(() => undefined);
      }
    } finally {
      proxy?.close();
      await peer.close();
      await database.cleanup();
    }
  });

  test('two gateway processes sharing one PostgreSQL queue deliver each message once', { skip: testDatabaseKind() === 'pglite' ? 'embedded PGlite belongs to one process; this runs on PostgreSQL' : false }, async () => {
    const database = await createTestDatabase();
    const relay = await MailPeer.start();
    const env = { SEALPOST_RELAY: `smtp://127.0.0.1:${relay.port}` };
    const first = await startTestGateway(database, [acmeTenant(relay.port)], env);
    const second = await startTestGateway(database, [acmeTenant(relay.port)], env);
    try {
      const total = 200;
      let next = 0;
      await Promise.all(
        Array.from({ length: 10 }, async (_, i) => {
          const smtp = await SmtpConversation.open((i % 2 ? first : second).smtpPort);
          await smtp.command('EHLO exchange.acme.test');
          while (next < total) {
            const marker = `load-${next++}`;
            const sent = await smtp.sendMessage('alice@acme.test', ['partner@example.net'], simpleMessage({ from: 'alice@acme.test', to: 'partner@example.net', subject: marker }));
            assert.equal(sent.final?.code, 250);
          }
          await smtp.quit();
        }),
      );
      await relay.waitForMessages(total, 60_000);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const markers = relay.received.map((m) => markerOf(m.raw));
      assert.equal(new Set(markers).size, total);
      assert.equal(markers.length, total, 'no message was delivered twice');
      const deliveredBy = async (g: typeof first) => (await g.metrics.delivered.get()).values[0]?.value ?? 0;
      assert.equal((await deliveredBy(first)) + (await deliveredBy(second)), total);
    } finally {
      await first.stop();
      await second.stop();
      await relay.close();
      await database.cleanup();
    }
  });
});

/** A TCP proxy in front of PostgreSQL that can be cut and restored, to make a real outage. */
class DatabaseProxy {
  private sockets = new Set<Socket>();
  private open = true;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number, targetHost: string): Promise<DatabaseProxy> {
    let proxy!: DatabaseProxy;
    const server = createServer((client) => {
      if (!proxy.open) return client.destroy();
      const upstream = connect(targetPort, targetHost);
      for (const s of [client, upstream]) {
        proxy.sockets.add(s);
        s.on('close', () => proxy.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    proxy = new DatabaseProxy(server, typeof address === 'object' && address ? address.port : 0);
    return proxy;
  }

  cut(): void {
    this.open = false;
    for (const socket of this.sockets) socket.destroy();
  }

  restore(): void {
    this.open = true;
  }

  close(): void {
    this.cut();
    this.server.close();
  }
}
