/**
 * The portal on its own host: a gateway process and a portal process on loopback, each with its own data
 * folder and database, joined by the S/MIME tunnel (tunnel certificates made with OpenSSL). A portal
 * message sent to the gateway is stored on the portal host only; its notification and the recipient's reply
 * come back over the tunnel and the gateway delivers them. The tunnel's format is read by `openssl cms`;
 * a message signed by any other certificate, or changed on the way, is refused with the reason; a portal
 * host that is down holds the copy until it is back.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import MailComposer from 'nodemailer/lib/mail-composer';
import { stringify } from 'yaml';
import { openTunnelMessage, sealTunnelMessage, type TunnelIdentity } from '../src/portal/portal-tunnel.ts';
import { createTestDatabase, type TestDatabase } from './support/database.ts';
import { freePort, GatewayProcess } from './support/gateway-process.ts';
import { MailPeer } from './support/mail-peer.ts';
import { PortalBrowser } from './support/portal-browser.ts';
import { magicLinkOf, tokenOf } from './support/portal-mail.ts';
import { SmtpConversation } from './support/smtp-conversation.ts';
import { acmeTenant } from './support/test-gateway.ts';

/** A self-signed tunnel certificate and its key, made by OpenSSL. */
function makeTunnelCertificate(folder: string, name: string, keyType: 'rsa' | 'ec'): { cert: string; key: string } {
  const cert = join(folder, `${name}.pem`);
  const key = join(folder, `${name}.key`);
  const keyOptions = keyType === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  execFileSync('openssl', ['req', '-x509', ...keyOptions, '-nodes', '-days', '30', '-subj', `/CN=${name}`, '-keyout', key, '-out', cert], { stdio: 'ignore' });
  return { cert, key };
}

function identityOf(own: { cert: string; key: string }, peer: { cert: string }): TunnelIdentity {
  return {
    certificate: Buffer.from(new X509Certificate(readFileSync(own.cert)).raw),
    privateKey: createPrivateKey(readFileSync(own.key)),
    peerCertificate: Buffer.from(new X509Certificate(readFileSync(peer.cert)).raw),
  };
}

async function sendTo(port: number, from: string, to: string[], raw: Buffer) {
  const smtp = await SmtpConversation.open(port, { localAddress: '127.0.0.1' });
  await smtp.command('EHLO exchange.acme.test');
  const result = await smtp.sendMessage(from, to, raw);
  await smtp.quit();
  return result;
}

describe('the portal on its own host, joined to the gateway by the S/MIME tunnel', () => {
  let folder: string;
  let gatewayCert: { cert: string; key: string };
  let portalCert: { cert: string; key: string };
  let intruderCert: { cert: string; key: string };
  let gatewayDb: TestDatabase;
  let portalDb: TestDatabase;
  let tenantMailServer: MailPeer;
  let portalSideMailServer: MailPeer;
  let internet: MailPeer;
  let gateway: GatewayProcess;
  let portal: GatewayProcess;
  let portalTunnelPort: number;

  before(async () => {
    folder = mkdtempSync(join(tmpdir(), 'sealpost-tunnel-'));
    gatewayCert = makeTunnelCertificate(folder, 'gateway-tunnel', 'rsa');
    portalCert = makeTunnelCertificate(folder, 'portal-tunnel', 'ec');
    intruderCert = makeTunnelCertificate(folder, 'intruder', 'rsa');
    gatewayDb = await createTestDatabase();
    portalDb = await createTestDatabase();
    tenantMailServer = await MailPeer.start();
    // The portal host's copy of the tenant file names a mail server too: it must never be used, as the
    // portal host hands everything to the gateway.
    portalSideMailServer = await MailPeer.start();
    internet = await MailPeer.start();
    const gatewayTenants = join(folder, 'gateway-tenants.yaml');
    writeFileSync(gatewayTenants, stringify({ tenants: [acmeTenant(tenantMailServer.port)] }));
    const portalTenants = join(folder, 'portal-tenants.yaml');
    writeFileSync(portalTenants, stringify({ tenants: [acmeTenant(portalSideMailServer.port)] }));
    const [gatewaySmtp, gatewayHttp, gatewayTunnel, portalHttp] = [await freePort(), await freePort(), await freePort(), await freePort()];
    portalTunnelPort = await freePort();
    const common = {
      SEALPOST_HOSTNAME: 'gateway.sealpost.test',
      SEALPOST_WORKER_POLL_MS: '100',
      SEALPOST_RETRY_FIRST_SECONDS: '1',
      SEALPOST_RETRY_MAX_SECONDS: '2',
      SEALPOST_HELD_RETRY_SECONDS: '1',
      SEALPOST_HTTP_HOST: '127.0.0.1',
      SEALPOST_SMTP_HOST: '127.0.0.1',
      SEALPOST_LOG_LEVEL: 'warn',
      SEALPOST_DNS_SERVERS: '127.0.0.1:9',
      SEALPOST_DNS_TIMEOUT_MS: '200',
    };
    gateway = new GatewayProcess({
      ...common,
      SEALPOST_DATA_DIR: gatewayDb.dataDir,
      ...(gatewayDb.url ? { DATABASE_URL: gatewayDb.url } : {}),
      SEALPOST_CONFIG: gatewayTenants,
      SEALPOST_SMTP_PORT: String(gatewaySmtp),
      SEALPOST_HTTP_PORT: String(gatewayHttp),
      SEALPOST_RELAY: `smtp://127.0.0.1:${internet.port}`,
      SEALPOST_TUNNEL_ROLE: 'gateway',
      SEALPOST_TUNNEL_CERT: gatewayCert.cert,
      SEALPOST_TUNNEL_KEY: gatewayCert.key,
      SEALPOST_TUNNEL_PEER_CERT: portalCert.cert,
      SEALPOST_TUNNEL_PEER: `smtp://127.0.0.1:${portalTunnelPort}`,
      SEALPOST_TUNNEL_PORT: String(gatewayTunnel),
    });
    portal = new GatewayProcess({
      ...common,
      SEALPOST_HOSTNAME: 'portal.sealpost.test',
      SEALPOST_DATA_DIR: portalDb.dataDir,
      ...(portalDb.url ? { DATABASE_URL: portalDb.url } : {}),
      SEALPOST_CONFIG: portalTenants,
      // Not used in this role (no public SMTP listener), but must be a free port all the same.
      SEALPOST_SMTP_PORT: String(await freePort()),
      SEALPOST_HTTP_PORT: String(portalHttp),
      SEALPOST_PUBLIC_URL: `http://127.0.0.1:${portalHttp}`,
      SEALPOST_TUNNEL_ROLE: 'portal',
      SEALPOST_TUNNEL_CERT: portalCert.cert,
      SEALPOST_TUNNEL_KEY: portalCert.key,
      SEALPOST_TUNNEL_PEER_CERT: gatewayCert.cert,
      SEALPOST_TUNNEL_PEER: `smtp://127.0.0.1:${gatewayTunnel}`,
      SEALPOST_TUNNEL_PORT: String(portalTunnelPort),
    });
    await Promise.all([gateway.start(120_000), portal.start(120_000)]);
  });

  after(async () => {
    await gateway?.stop();
    await portal?.stop();
    await tenantMailServer?.close();
    await portalSideMailServer?.close();
    await internet?.close();
    await gatewayDb?.cleanup();
    await portalDb?.cleanup();
    rmSync(folder, { recursive: true, force: true });
  });

  test('OpenSSL reads a tunnel message: it decrypts with the portal key and verifies as signed by the gateway', async () => {
    const sealed = await sealTunnelMessage(
      identityOf(gatewayCert, portalCert),
      { kind: 'deliver', domain: 'acme.test', messageId: '00000000-0000-4000-8000-000000000001', mailFrom: 'a@acme.test', recipients: ['b@example.net'], route: 'external' },
      Buffer.from('Subject: hello\r\n\r\nBody line\r\n'),
      'gateway.sealpost.test',
    );
    const input = join(folder, 'sealed.eml');
    writeFileSync(input, sealed);
    const signedEntity = execFileSync('openssl', ['cms', '-decrypt', '-in', input, '-recip', portalCert.cert, '-inkey', portalCert.key]);
    const signedFile = join(folder, 'signed.eml');
    writeFileSync(signedFile, signedEntity);
    const inner = execFileSync('openssl', ['cms', '-verify', '-in', signedFile, '-CAfile', gatewayCert.cert, '-purpose', 'any'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
    assert.match(inner, /^Content-Type: message\/rfc822\r?\nX-Sealpost-Tunnel: /);
    assert.match(inner, /Body line/);
    // And this side reads it back, but only with the portal's identity.
    const opened = await openTunnelMessage(identityOf(portalCert, gatewayCert), sealed);
    assert.equal(opened.payload.kind, 'deliver');
    assert.equal(opened.raw.toString(), 'Subject: hello\r\n\r\nBody line\r\n');
    await assert.rejects(openTunnelMessage(identityOf(portalCert, intruderCert), sealed), /not signed with the other side's tunnel certificate/);
  });

  test('a portal message is stored on the portal host; notification and reply come back over the tunnel and the gateway delivers them', async () => {
    const raw = await new MailComposer({
      from: 'Alice <alice@acme.test>',
      to: 'client@example.net',
      subject: 'Contract via the tunnel',
      text: 'Clause 9 is confidential.',
      headers: { 'X-Sealpost-Encrypt': 'portal' },
    })
      .compile()
      .build();
    const sent = await sendTo(gateway.smtpPort, 'alice@acme.test', ['client@example.net'], raw);
    assert.equal(sent.final?.code, 250);

    // The notification went gateway → (tunnel) → portal host, which wrote it → (tunnel) → gateway → the Internet.
    const [notification] = await internet.waitForMessages(1, 30_000);
    assert.deepEqual(notification!.recipients, ['client@example.net']);
    assert.doesNotMatch(notification!.raw.toString(), /Clause 9/);
    assert.ok(magicLinkOf(notification!).startsWith(`http://127.0.0.1:${portal.httpPort}/portal/open?token=`), 'the link leads to the portal host');
    const token = tokenOf(notification!);

    // The gateway keeps no copy: its portal does not know the link.
    const onGateway = new PortalBrowser(gateway.httpPort);
    assert.equal((await onGateway.open(token)).status, 410);

    const reader = new PortalBrowser(portal.httpPort);
    assert.equal((await reader.open(token)).status, 200);
    const threads = (await reader.request('GET', '/api/portal/threads')).json().threads;
    const detail = (await reader.request('GET', `/api/portal/threads/${threads[0].id}`)).json();
    const message = (await reader.request('GET', `/api/portal/messages/${detail.messages[0].id}`)).json();
    assert.match(message.text, /Clause 9 is confidential/);
    assert.equal(message.integrity, 'verified');

    const form = new FormData();
    form.append('text', 'Signed, see you Monday.');
    const body = new Response(form);
    const reply = await reader.request('POST', `/api/portal/messages/${detail.messages[0].id}/replies`, {
      body: Buffer.from(await body.arrayBuffer()),
      contentType: body.headers.get('content-type')!,
    });
    assert.equal(reply.status, 201, reply.body.toString());
    const delivered = await tenantMailServer.waitForMessages(1, 30_000);
    const replyMail = delivered.find((m) => m.raw.toString().includes('Signed, see you Monday.'));
    assert.ok(replyMail, "the reply reached the tenant's mail server through the gateway");
    assert.deepEqual(replyMail.recipients, ['alice@acme.test']);
    assert.equal(portalSideMailServer.received.length, 0, "the portal host never spoke to the tenant's mail server itself");
  });

  test('a tunnel message signed with another certificate, or changed on the way, is refused with the reason', async () => {
    const forged = await sealTunnelMessage(
      identityOf(intruderCert, portalCert),
      { kind: 'portal-copy', domain: 'acme.test', messageId: '00000000-0000-4000-8000-0000000000ff', mailFrom: 'alice@acme.test', recipient: 'victim@example.net' },
      Buffer.from('Subject: forged\r\n\r\nPlease pay.\r\n'),
      'intruder.example',
    );
    const refused = await sendTo(portalTunnelPort, 'alice@acme.test', ['victim@example.net'], forged);
    assert.equal(refused.final?.code, 554, refused.final?.text);
    assert.match(refused.final!.text, /5\.7\.1 .*not signed with the other side's tunnel certificate/);

    const genuine = await sealTunnelMessage(
      identityOf(gatewayCert, portalCert),
      { kind: 'portal-copy', domain: 'acme.test', messageId: '00000000-0000-4000-8000-0000000000fe', mailFrom: 'alice@acme.test', recipient: 'client@example.net' },
      Buffer.from('Subject: genuine\r\n\r\nHello.\r\n'),
      'gateway.sealpost.test',
    );
    const redirected = await sendTo(portalTunnelPort, 'alice@acme.test', ['someone-else@example.net'], genuine);
    assert.equal(redirected.final?.code, 554);
    assert.match(redirected.final!.text, /envelope differs from the signed one/);

    // One changed character in the encrypted content (three quarters in, past the recipient information,
    // which CMS does not protect): the authenticated encryption fails.
    const text = genuine.toString('latin1');
    const bodyStart = text.indexOf('\r\n\r\n', text.indexOf('authEnveloped-data')) + 4;
    let middle = bodyStart + Math.floor((text.length - bodyStart) * 0.75);
    while (!/[A-Za-z0-9]/.test(text[middle]!)) middle += 1;
    const flipped = Buffer.from(text.slice(0, middle) + (text[middle] === 'A' ? 'B' : 'A') + text.slice(middle + 1), 'latin1');
    const broken = await sendTo(portalTunnelPort, 'alice@acme.test', ['client@example.net'], flipped);
    assert.equal(broken.final?.code, 554);
    assert.match(broken.final!.text, /does not decrypt/);
  });

  test('while the portal host is down, the gateway holds the copy, and sends it when the host is back', async () => {
    await portal.stop();
    const before = internet.received.length;
    const raw = await new MailComposer({
      from: 'alice@acme.test',
      to: 'later@example.net',
      subject: 'Held for the portal',
      text: 'Wait for it.',
      headers: { 'X-Sealpost-Encrypt': 'portal' },
    })
      .compile()
      .build();
    assert.equal((await sendTo(gateway.smtpPort, 'alice@acme.test', ['later@example.net'], raw)).final?.code, 250, 'accepted while the portal host is down');
    await new Promise((resolve) => setTimeout(resolve, 2000));
    assert.equal(internet.received.length, before, 'nothing went out while the portal host was down');
    await portal.start(120_000);
    const mails = await internet.waitForMessages(before + 1, 60_000);
    assert.ok(mails.slice(before).some((m) => m.recipients.includes('later@example.net')), 'the notification came once the portal host was back');
  });
});
