/**
 * OpenPGP through a real gateway, checked with GnuPG:
 * - outbound `X-Sealpost-Encrypt: pgp`: a recipient whose key the store holds (imported through the admin
 *   API) gets PGP/MIME that gpg decrypts, header fields outside; a key found in the recipient domain's Web
 *   Key Directory (a local HTTPS server) serves another; a recipient with no key anywhere, or whose
 *   directory hangs, is held with the reason, never sent in the clear; `sign` signs with the member's key
 *   pair (generated through the admin API) and gpg verifies it; without a key pair it is held;
 * - inbound: PGP/MIME that gpg encrypts and signs to a member's key pair is delivered decrypted with
 *   `pgp=pass`, and the sender's Autocrypt key goes into the store (its sender verified by SPF);
 * - the admin API: import, list, export, delete; a member's key pair exported under a passphrase opens in gpg.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { LookupFunction } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as openpgp from 'openpgp';
import { WkdLookup, wkdUrls } from '../src/certs/wkd-lookup.ts';
import type { Gateway } from '../src/gateway.ts';
import { readTrace } from '../src/messages/message-trace.ts';
import { createTestDatabase, ownerDb, type TestDatabase } from './support/database.ts';
import { startLocalDns, type LocalDns } from './support/local-dns.ts';
import { MailPeer, type ReceivedMail } from './support/mail-peer.ts';
import { waitFor } from './support/portal-mail.ts';
import { SmtpConversation } from './support/smtp-conversation.ts';
import { ACME_API_TOKEN, acmeTenant, startTestGateway } from './support/test-gateway.ts';

// SmtpConversation writes Latin-1: the secret stays ASCII so that what gpg decrypts compares byte for byte.
const SECRET = 'Aufsichtsratsvorlage: Uebernahme der Mueller GmbH, streng vertraulich';

describe('OpenPGP through the gateway', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let tenantMailServer: MailPeer;
  let relay: MailPeer;
  let dns: LocalDns;
  let folder: string;
  let home: string;
  let wkd: Server;
  let wkdRequests = 0;
  const hanging: Array<() => void> = [];

  const gpg = (args: string[], input?: Buffer | string) =>
    execFileSync('gpg', ['--homedir', home, '--batch', '--yes', '--pinentry-mode', 'loopback', '--passphrase', '', '--trust-model', 'always', ...args], {
      stdio: 'pipe',
      ...(input !== undefined ? { input } : {}),
    });
  const gpgStatus = (args: string[], input?: Buffer | string) => {
    const file = join(folder, `status-${Math.random().toString(16).slice(2)}`);
    const output = gpg(['--status-file', file, ...args], input);
    return { output: output.toString('utf8'), status: readFileSync(file, 'utf8') };
  };
  const newKey = (name: string, address: string) => {
    gpg(['--quick-gen-key', `${name} <${address}>`, 'ed25519', 'sign,cert', 'never']);
    const fpr = gpg(['--list-keys', '--with-colons', address]).toString().match(/^fpr:::::::::([0-9A-F]+):/m)![1]!;
    gpg(['--quick-add-key', fpr, 'cv25519', 'encr', 'never']);
    return fpr.toLowerCase();
  };
  const api = (method: string, url: string, body?: string | Buffer, headers: Record<string, string> = {}) =>
    gateway.http.inject({
      method: method as 'GET',
      url,
      headers: { authorization: `Bearer ${ACME_API_TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/pgp-keys' } : {}), ...headers },
      ...(body !== undefined ? { payload: body } : {}),
    });
  const tenantId = () => gateway.directory.tenantForDomain('acme.test')!.id;
  const mailTo = (address: string, marker?: string) => relay.received.find((m) => m.recipients.includes(address) && (!marker || m.raw.toString().includes(marker)));
  const encryptedPart = (mail: ReceivedMail) => {
    const raw = mail.raw.toString('latin1');
    return raw.slice(raw.indexOf('-----BEGIN PGP MESSAGE-----'), raw.indexOf('-----END PGP MESSAGE-----') + 25);
  };

  async function send(to: string[], headers: string[], subject: string): Promise<string> {
    const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress: '127.0.0.1' });
    await smtp.command('EHLO exchange.acme.test');
    const message = [
      'From: Alice <alice@acme.test>',
      `To: ${to.join(', ')}`,
      `Subject: ${subject}`,
      `Message-ID: <${Math.random().toString(36).slice(2)}@acme.test>`,
      ...headers,
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 8bit',
      '',
      SECRET,
      '',
    ].join('\r\n');
    const result = await smtp.sendMessage('alice@acme.test', to, message);
    await smtp.quit();
    assert.equal(result.final?.code, 250, result.final?.text);
    return result.final!.text.split('queued as ')[1]!;
  }
  const stepOf = (id: string, step: string, where: (d: Record<string, unknown>) => boolean = () => true) =>
    waitFor(`the ${step} step of ${id}`, async () => (await readTrace(ownerDb(gateway.database.db), id)).find((t) => t.step === step && where(t.detail))?.detail);

  before(async () => {
    folder = mkdtempSync(join(tmpdir(), 'sealpost-pgp-gateway-'));
    home = join(folder, 'gnupg');
    execFileSync('mkdir', ['-m', '700', home]);
    newKey('Bob', 'bob@partner.example');
    newKey('Dave', 'dave@wkd.example');
    // The Web Key Directory of wkd.example (advanced address), served over HTTPS by a certificate the lookup is told to trust.
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(folder, 'wkd.key'), '-out', join(folder, 'wkd.pem'), '-days', '2', '-subj', '/CN=openpgpkey.wkd.example', '-addext', 'subjectAltName=DNS:openpgpkey.wkd.example,DNS:wkd.example,DNS:openpgpkey.slow.example,DNS:slow.example'], { stdio: 'pipe' });
    const daveKey = gpg(['--export', 'dave@wkd.example']);
    const davePath = new URL(wkdUrls('dave@wkd.example')[0]!).pathname;
    wkd = createServer({ key: readFileSync(join(folder, 'wkd.key')), cert: readFileSync(join(folder, 'wkd.pem')) }, (req, res) => {
      wkdRequests += 1;
      if (req.headers.host?.startsWith('openpgpkey.slow.example')) {
        hanging.push(() => res.destroy());
        return;
      }
      if (req.url?.split('?')[0] === davePath) {
        res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(daveKey);
        return;
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => wkd.listen(0, '127.0.0.1', resolve));
    const lookup = ((_host: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) =>
      options?.all ? callback(null, [{ address: '127.0.0.1', family: 4 }]) : callback(null, '127.0.0.1', 4)) as unknown as LookupFunction;
    const port = (wkd.address() as { port: number }).port;

    database = await createTestDatabase();
    tenantMailServer = await MailPeer.start();
    relay = await MailPeer.start();
    dns = await startLocalDns({
      'partner.example': { TXT: ['v=spf1 ip4:127.0.0.0/8 -all'] },
      '_dmarc.partner.example': { TXT: ['v=DMARC1; p=none'] },
    });
    gateway = await startTestGateway(
      database,
      [acmeTenant(tenantMailServer.port, { pgp: { wkd: { timeoutMs: 1500 } } })],
      { SEALPOST_RELAY: `smtp://127.0.0.1:${relay.port}`, SEALPOST_HELD_RETRY_SECONDS: '1', SEALPOST_DNS_SERVERS: dns.server },
      { wkd: new WkdLookup({ port, ca: readFileSync(join(folder, 'wkd.pem')), lookup }) },
    );
  });

  after(async () => {
    for (const release of hanging) release();
    await gateway.stop();
    await tenantMailServer.close();
    await relay.close();
    await dns.close();
    await new Promise((resolve) => wkd.close(resolve));
    await database.cleanup();
    rmSync(folder, { recursive: true, force: true });
  });

  test('the admin API imports, lists, exports and deletes correspondents\' keys', async () => {
    const imported = await api('POST', '/api/admin/pgp-keys', gpg(['--export', '--armor', 'bob@partner.example']));
    assert.equal(imported.statusCode, 201, imported.body);
    const [entry] = imported.json().imported;
    assert.equal(entry.address, 'bob@partner.example');
    assert.equal(entry.outcome, 'added');
    const list = (await api('GET', '/api/admin/pgp-keys?search=partner')).json().keys;
    assert.equal(list.length, 1);
    assert.equal(list[0].algorithm, 'ed25519Legacy');
    assert.equal(list[0].valid, true);
    const exported = await api('GET', `/api/admin/pgp-keys/${entry.id}`, undefined, { accept: 'application/pgp-keys' });
    assert.match(exported.body, /^-----BEGIN PGP PUBLIC KEY BLOCK-----/);
    assert.match(gpg(['--show-keys', '--with-colons'], exported.body).toString(), new RegExp(entry.fingerprint.toUpperCase()));
    const bad = await api('POST', '/api/admin/pgp-keys', 'not a key');
    assert.equal(bad.statusCode, 400);
    assert.match(bad.json().detail, /no OpenPGP key/);
    // A throw-away key is deleted again, and the deletion is audited.
    newKey('Temp', 'temp@partner.example');
    const temp = (await api('POST', '/api/admin/pgp-keys', gpg(['--export', 'temp@partner.example']), { 'content-type': 'application/octet-stream' })).json().imported[0];
    assert.equal((await api('DELETE', `/api/admin/pgp-keys/${temp.id}`)).statusCode, 204);
    assert.equal((await api('GET', `/api/admin/pgp-keys/${temp.id}`)).statusCode, 404);
  });

  test('pgp: a stored key and a Web Key Directory key each get PGP/MIME gpg decrypts; no key, or a hanging directory, holds the recipient', async () => {
    const bob = 'bob@partner.example';
    const dave = 'dave@wkd.example';
    const carol = 'carol@nowhere.example';
    const erin = 'erin@slow.example';
    const id = await send([bob, dave, carol, erin], ['X-Sealpost-Encrypt: pgp'], 'Vorlage');
    const mail = await waitFor('the encrypted mail', () => mailTo(bob, 'Vorlage'));
    assert.deepEqual([...mail.recipients].sort(), [bob, dave], 'one copy, encrypted once, for both recipients with keys');
    const raw = mail.raw.toString('utf8');
    assert.match(raw, /Content-Type: multipart\/encrypted; protocol="application\/pgp-encrypted"/);
    assert.match(raw, /^Subject: Vorlage\r$/m, 'the header fields stay outside');
    assert.doesNotMatch(raw, /Aufsichtsrat|X-Sealpost/i, 'neither the content nor the instructions in the clear');
    const { output } = gpgStatus(['--decrypt'], encryptedPart(mail));
    assert.equal(output, `Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n${SECRET}\r\n`, 'the entity: content fields, an empty line, the body');

    const protectStep = await stepOf(id, 'protected', (d) => Array.isArray((d as { detail?: { keys?: unknown } }).detail?.keys) || Array.isArray(d.keys));
    const keys = ((protectStep as { detail?: { keys: unknown[] } }).detail?.keys ?? protectStep.keys) as Array<Record<string, string>>;
    assert.deepEqual(keys.map((k) => [k.recipient, k.source]).sort(), [[bob, 'import'], [dave, 'wkd']]);
    assert.ok(keys.every((k) => /^[0-9a-f]{40}$/.test(k.fingerprint!) && k.algorithm));
    assert.ok(wkdRequests >= 1);
    // Carol and Erin are held, with the reason; nothing went to them.
    const held = await waitFor('the held recipients', async () => {
      const entries = await readTrace(ownerDb(gateway.database.db), id);
      const text = JSON.stringify(entries);
      return text.includes(carol) && text.includes(erin) && /no usable OpenPGP key/.test(text) ? entries : undefined;
    });
    assert.match(JSON.stringify(held), /no answer within 1500 ms|socket hang up|ECONNRESET/, 'the hanging directory is given up on at its time limit');
    assert.equal(mailTo(carol), undefined);
    assert.equal(mailTo(erin), undefined);
  });

  test('sign: the member\'s key pair signs inside the encryption and gpg verifies; without a key pair the message is held', async () => {
    const bob = 'bob@partner.example';
    const unsignedId = await send([bob], ['X-Sealpost-Encrypt: pgp', 'X-Sealpost-Options: sign'], 'Ohne Schluessel');
    await waitFor('the hold for the missing key pair', async () =>
      JSON.stringify(await readTrace(ownerDb(gateway.database.db), unsignedId)).match(/alice@acme\.test has no OpenPGP key pair to sign with/),
    );
    assert.equal(mailTo(bob, 'Ohne Schluessel'), undefined, 'never sent unsigned');

    const generated = await api('POST', '/api/admin/member-pgp-keys/generate?address=alice@acme.test');
    assert.equal(generated.statusCode, 201, generated.body);
    const alice = generated.json();
    assert.match(alice.publicKey, /BEGIN PGP PUBLIC KEY BLOCK/);
    gpg(['--import'], alice.publicKey);
    // The held message goes out signed once the key pair exists.
    const mail = await waitFor('the signed mail', () => mailTo(bob, 'Ohne Schluessel'), 20_000);
    const { status } = gpgStatus(['--decrypt'], encryptedPart(mail));
    assert.match(status, /GOODSIG [0-9A-F]+ <alice@acme\.test>/);
    assert.match(status, new RegExp(`VALIDSIG ${alice.fingerprint.toUpperCase()}`));

    // An owner exports the key pair under a passphrase; gpg opens it with that passphrase only.
    const short = await api('GET', `/api/admin/member-pgp-keys/${alice.id}/export`, undefined, { 'x-sealpost-password': 'short' });
    assert.equal(short.statusCode, 400);
    const exported = await api('GET', `/api/admin/member-pgp-keys/${alice.id}/export`, undefined, { 'x-sealpost-password': 'correct horse battery' });
    assert.equal(exported.statusCode, 200);
    assert.match(exported.body, /BEGIN PGP PRIVATE KEY BLOCK/);
    const other = join(folder, 'other-gnupg');
    execFileSync('mkdir', ['-m', '700', other]);
    execFileSync('gpg', ['--homedir', other, '--batch', '--import'], { input: exported.body, stdio: 'pipe' });
    const signature = (passphrase: string) =>
      execFileSync('gpg', ['--homedir', other, '--batch', '--pinentry-mode', 'loopback', '--passphrase', passphrase, '--clearsign'], { input: 'x', stdio: 'pipe' }).toString();
    // The wrong passphrase first: once the right one opened the key, gpg's agent keeps it open.
    assert.throws(() => signature('wrong'));
    assert.match(signature('correct horse battery'), /BEGIN PGP SIGNATURE/);
    execFileSync('gpgconf', ['--homedir', other, '--kill', 'gpg-agent']);
  });

  test('inbound: gpg-encrypted, signed PGP/MIME to a member is delivered decrypted with pgp=pass, and the Autocrypt key is stored', async () => {
    const alice = (await api('GET', '/api/admin/member-pgp-keys?address=alice@acme.test')).json().keys[0];
    gpg(['--import'], alice.publicKey);
    newKey('Frank', 'frank@partner.example');
    const entity = 'Content-Type: text/plain; charset=utf-8\r\n\r\nDie unterschriebene Fassung liegt bei.\r\n';
    const armored = gpg(['--encrypt', '--sign', '--armor', '--local-user', 'frank@partner.example', '--recipient', 'alice@acme.test'], entity).toString();
    const keydata = gpg(['--export', 'frank@partner.example']).toString('base64');
    const message = [
      'From: Frank <frank@partner.example>',
      'To: alice@acme.test',
      'Subject: Fassung',
      `Message-ID: <${Math.random().toString(36).slice(2)}@partner.example>`,
      `Autocrypt: addr=frank@partner.example; prefer-encrypt=mutual; keydata=${keydata.replace(/(.{72})/g, '$1\r\n ')}`,
      'MIME-Version: 1.0',
      'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="enc"',
      '',
      '--enc',
      'Content-Type: application/pgp-encrypted',
      '',
      'Version: 1',
      '',
      '--enc',
      'Content-Type: application/octet-stream',
      '',
      armored.replace(/\r?\n/g, '\r\n').trimEnd(),
      '--enc--',
      '',
    ].join('\r\n');
    const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress: '127.0.0.5' });
    await smtp.command('EHLO mta.partner.example');
    const result = await smtp.sendMessage('frank@partner.example', ['alice@acme.test'], message);
    await smtp.quit();
    assert.equal(result.final?.code, 250, result.final?.text);
    const id = result.final!.text.split('queued as ')[1]!;

    const delivered = await waitFor('the decrypted mail', async () => tenantMailServer.received.find((m) => m.raw.toString().includes('Subject: Fassung')));
    const raw = delivered.raw.toString('utf8').replace(/\r\n[ \t]+/g, ' ');
    assert.match(raw, /Die unterschriebene Fassung liegt bei\./, 'delivered decrypted');
    assert.doesNotMatch(raw, /BEGIN PGP MESSAGE/);
    assert.match(raw, /Authentication-Results: gateway\.sealpost\.test; pgp=pass \(signature verified with the key the message carries\) header\.from=frank@partner\.example/);
    const pgpStep = await stepOf(id, 'pgp', (d) => d.decrypted === true);
    assert.equal(pgpStep.recipientKey, alice.fingerprint);
    const keyStep = await stepOf(id, 'pgp-key');
    assert.equal(keyStep.imported, true);
    assert.equal(keyStep.source, 'autocrypt');
    const stored = await gateway.pgpKeys.list(tenantId(), 'frank@partner.example');
    assert.equal(stored.length, 1);
    assert.equal(stored[0]!.preferEncrypt, 'mutual');
  });

  test('a different Autocrypt key for an address is kept beside the first, and owners and operators are told', async () => {
    const { publicKey } = await openpgp.generateKey({ type: 'ecc', curve: 'curve25519Legacy', userIDs: [{ email: 'frank@partner.example' }], format: 'object' });
    const keydata = Buffer.from(publicKey.write()).toString('base64');
    const message = [
      'From: Frank <frank@partner.example>',
      'To: alice@acme.test',
      'Subject: Neuer Schluessel',
      `Message-ID: <${Math.random().toString(36).slice(2)}@partner.example>`,
      `Autocrypt: addr=frank@partner.example; keydata=${keydata.replace(/(.{72})/g, '$1\r\n ')}`,
      '',
      'Ab heute mit neuem Schluessel.',
      '',
    ].join('\r\n');
    const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress: '127.0.0.5' });
    await smtp.command('EHLO mta.partner.example');
    const result = await smtp.sendMessage('frank@partner.example', ['alice@acme.test'], message);
    await smtp.quit();
    const id = result.final!.text.split('queued as ')[1]!;
    const step = await stepOf(id, 'pgp-key');
    assert.equal(step.outcome, 'changed');
    assert.deepEqual(step.alerted, ['alice@acme.test']);
    assert.equal((step.previousFingerprints as string[]).length, 1);
    const notice = await waitFor('the change notice', async () =>
      tenantMailServer.received.find((m) => m.recipients.includes('alice@acme.test') && m.raw.toString().includes('OpenPGP key of frank@partner.example changed')),
    );
    assert.equal(notice.mailFrom, '');
    assert.match(notice.raw.toString().replace(/=\r\n/g, ''), new RegExp(publicKey.getFingerprint()));
    assert.equal((await gateway.pgpKeys.list(tenantId(), 'frank@partner.example')).length, 2, 'both keys are kept');
  });
});
