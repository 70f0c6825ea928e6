/**
 * S/MIME against OpenSSL with RSA 2048, RSA 4096 and P-256 keys, in both directions: what Sealpost encrypts
 * (key transport or ECDH key agreement, CBC or GCM) and signs (detached or opaque) `openssl cms` decrypts
 * and verifies; what `openssl cms` encrypts (ECDH with its SHA-1 or SHA-256 KDF) and signs Sealpost reads.
 * And bad input: truncated and malformed CMS, an unknown algorithm, a certificate chain that loops, a
 * 10 MB "certificate": each gets a reason, never a crash.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CertificateProblem, readCertificates } from '../src/certs/certificate-store.ts';
import { signatureOf, verifySignature } from '../src/certs/signed-mail.ts';
import { decryptEnveloped, encryptForRecipients, SmimeError } from '../src/certs/smime-envelope.ts';
import { decryptWithKeys, judgeSignature } from '../src/certs/smime-inbound.ts';
import { detachedSignedEntity, pkcs7MimeEntity } from '../src/certs/smime-mime.ts';
import { signContent } from '../src/certs/smime-sign.ts';
import { splitMessage } from '../src/mail/header-block.ts';

const CONTENT = Buffer.from('Content-Type: text/plain; charset=utf-8\r\n\r\nUnterlagen anbei.\r\n');

describe('S/MIME interoperability with OpenSSL', () => {
  let folder: string;
  const keys: Record<string, { cert: string; key: string; der: Buffer }> = {};
  const file = (name: string, content?: Buffer | string) => {
    const path = join(folder, name);
    if (content !== undefined) writeFileSync(path, content);
    return path;
  };
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  const keyOf = (name: string) => ({ certificate: keys[name]!.der, privateKey: createPrivateKey(readFileSync(keys[name]!.key)) });
  const signer = (name: string) => ({ ...keyOf(name), chain: [] });

  before(() => {
    folder = mkdtempSync(join(tmpdir(), 'sealpost-smime-interop-'));
    const kinds: Record<string, string[]> = { rsa2048: ['-newkey', 'rsa:2048'], rsa4096: ['-newkey', 'rsa:4096'], p256: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'] };
    for (const [name, newkey] of Object.entries(kinds)) {
      openssl('req', '-x509', ...newkey, '-nodes', '-keyout', file(`${name}.key`), '-out', file(`${name}.pem`), '-days', '10', '-subj', `/CN=${name}`, '-addext', `subjectAltName=email:${name}@partner.example`);
      keys[name] = { cert: file(`${name}.pem`), key: file(`${name}.key`), der: openssl('x509', '-in', file(`${name}.pem`), '-outform', 'DER') };
    }
  });
  after(() => rmSync(folder, { recursive: true, force: true }));

  test('what Sealpost encrypts, OpenSSL decrypts, for every key type and both ciphers', () => {
    for (const name of ['rsa2048', 'rsa4096', 'p256']) {
      for (const algorithm of ['aes-256-cbc', 'aes-256-gcm'] as const) {
        const der = encryptForRecipients(CONTENT, [{ certificate: keys[name]!.der }], algorithm);
        const out = openssl('cms', '-decrypt', '-binary', '-inform', 'DER', '-in', file('ours.der', der), '-recip', keys[name]!.cert, '-inkey', keys[name]!.key);
        assert.ok(out.equals(CONTENT), `${name} ${algorithm}`);
        const back = decryptEnveloped(der, keyOf(name));
        assert.ok(back.content.equals(CONTENT));
        assert.equal(back.keyTransport, name === 'p256' ? 'ecdh' : 'rsa-oaep');
      }
    }
    // One message for an RSA and an EC recipient at once.
    const both = encryptForRecipients(CONTENT, [{ certificate: keys.rsa2048!.der }, { certificate: keys.p256!.der }]);
    for (const name of ['rsa2048', 'p256']) {
      assert.ok(openssl('cms', '-decrypt', '-binary', '-inform', 'DER', '-in', file('both.der', both), '-recip', keys[name]!.cert, '-inkey', keys[name]!.key).equals(CONTENT));
    }
  });

  test('what OpenSSL encrypts to an EC key (SHA-1 and SHA-256 KDF, CBC and GCM), Sealpost decrypts', () => {
    const cases: string[][] = [['-aes256'], ['-aes256', '-keyopt', 'ecdh_kdf_md:sha256'], ['-aes-256-gcm'], ['-aes128']];
    for (const options of cases) {
      const [cipher, ...keyopt] = options;
      openssl('cms', '-encrypt', '-binary', cipher!, '-in', file('plain.txt', CONTENT), '-outform', 'DER', '-out', file('theirs.der'), '-recip', keys.p256!.cert, ...keyopt);
      const back = decryptEnveloped(readFileSync(file('theirs.der')), keyOf('p256'));
      assert.ok(back.content.equals(CONTENT), options.join(' '));
      assert.equal(back.keyTransport, 'ecdh');
    }
  });

  test('what Sealpost signs, OpenSSL verifies: RSA 2048, RSA 4096 and P-256, detached and opaque', async () => {
    for (const name of ['rsa2048', 'rsa4096', 'p256']) {
      const detached = await signContent(CONTENT, signer(name), 'detached');
      const mime = Buffer.concat([Buffer.from('MIME-Version: 1.0\r\n'), detachedSignedEntity(CONTENT, detached)]);
      const verified = openssl('cms', '-verify', '-in', file('signed.eml', mime), '-CAfile', keys[name]!.cert, '-purpose', 'any');
      assert.ok(verified.toString('latin1').includes('Unterlagen anbei.'), `${name} detached`);
      const opaque = await signContent(CONTENT, signer(name), 'opaque');
      const opaqueMime = Buffer.concat([Buffer.from('MIME-Version: 1.0\r\n'), pkcs7MimeEntity(opaque, 'signed-data')]);
      assert.ok(openssl('cms', '-verify', '-in', file('opaque.eml', opaqueMime), '-CAfile', keys[name]!.cert, '-purpose', 'any').toString('latin1').includes('Unterlagen anbei.'), `${name} opaque`);
      // And Sealpost reads its own.
      const split = splitMessage(mime);
      assert.ok(split.outcome === 'split');
      assert.equal((await verifySignature(signatureOf(split)!)).valid, true);
    }
  });

  test('what OpenSSL signs (detached, opaque, EC), Sealpost verifies; a changed body fails', async () => {
    for (const [name, extra] of [['rsa2048', []], ['p256', []], ['rsa4096', ['-nodetach']]] as const) {
      openssl('cms', '-sign', '-in', file('plain.txt', CONTENT), '-signer', keys[name]!.cert, '-inkey', keys[name]!.key, '-out', file('theirs.eml'), '-crlfeol', ...extra);
      const raw = readFileSync(file('theirs.eml'));
      const split = splitMessage(raw);
      assert.ok(split.outcome === 'split');
      const check = await verifySignature(signatureOf(split)!);
      assert.equal(check.valid, true, `${name} ${extra.join(' ')}: ${check.problem}`);
      const judged = await judgeSignature(signatureOf(split)!, { anchors: [keys[name]!.der] });
      assert.equal(judged.result, 'pass', judged.reason);
    }
    openssl('cms', '-sign', '-in', file('plain.txt', CONTENT), '-signer', keys.rsa2048!.cert, '-inkey', keys.rsa2048!.key, '-out', file('theirs.eml'), '-crlfeol');
    const changed = readFileSync(file('theirs.eml'), 'latin1').replace('Unterlagen anbei.', 'Unterlagen anbei!');
    const split = splitMessage(Buffer.from(changed, 'latin1'));
    assert.ok(split.outcome === 'split');
    const judged = await judgeSignature(signatureOf(split)!, { anchors: [keys.rsa2048!.der] });
    assert.equal(judged.result, 'fail');
  });

  test('bad input gets a reason, never a crash', async () => {
    const good = encryptForRecipients(CONTENT, [{ certificate: keys.rsa2048!.der }]);
    const member = { ...keyOf('rsa2048'), address: 'a@acme.test', fingerprint: 'f' };
    // Truncated at every tenth of its length, and random bytes.
    for (let cut = 1; cut < 10; cut += 1) {
      const result = decryptWithKeys(good.subarray(0, Math.floor((good.length * cut) / 10)), [member]);
      assert.equal(result.outcome, 'failed', `cut at ${cut}/10`);
    }
    assert.equal(decryptWithKeys(Buffer.from('not der at all'), [member]).outcome, 'failed');
    // An unknown content-encryption algorithm (the AES-256-CBC OID changed to an unassigned arc).
    const oid = Buffer.from('060960864801650304012a', 'hex');
    const at = good.indexOf(oid);
    assert.ok(at > 0);
    const unknown = Buffer.from(good);
    unknown[at + oid.length - 1] = 0x7f;
    const refused = decryptWithKeys(unknown, [member]);
    assert.ok(refused.outcome === 'failed' && /algorithm this gateway does not read/.test(refused.reason), JSON.stringify(refused));
    // The wrong key.
    assert.throws(() => decryptEnveloped(good, keyOf('rsa4096')), SmimeError);
    // A 10 MB "certificate" is refused by size before anything is parsed.
    assert.throws(() => readCertificates(Buffer.alloc(10 * 1024 * 1024, 0x30)), (e: unknown) => e instanceof CertificateProblem && /at most/.test(e.message));
    // A chain that loops: two CAs that certify each other, and a signer under one of them.
    const ca = (name: string, subject: string) => openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', file(`${name}.key`), '-out', file(`${name}.pem`), '-days', '5', '-subj', subject, '-addext', 'basicConstraints=critical,CA:TRUE');
    ca('a', '/CN=Loop A');
    ca('b', '/CN=Loop B');
    writeFileSync(file('ca.ext'), 'basicConstraints=critical,CA:TRUE\n');
    openssl('x509', '-in', file('a.pem'), '-CA', file('b.pem'), '-CAkey', file('b.key'), '-out', file('a-by-b.pem'), '-days', '5', '-extfile', file('ca.ext'), '-set_serial', '7');
    openssl('x509', '-in', file('b.pem'), '-CA', file('a.pem'), '-CAkey', file('a.key'), '-out', file('b-by-a.pem'), '-days', '5', '-extfile', file('ca.ext'), '-set_serial', '8');
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', file('leaf.key'), '-out', file('leaf.csr'), '-subj', '/CN=leaf');
    writeFileSync(file('leaf.ext'), 'subjectAltName=email:leaf@partner.example\n');
    openssl('x509', '-req', '-in', file('leaf.csr'), '-CA', file('a-by-b.pem'), '-CAkey', file('a.key'), '-out', file('leaf.pem'), '-days', '5', '-extfile', file('leaf.ext'), '-set_serial', '9');
    writeFileSync(file('loop.pem'), readFileSync(file('a-by-b.pem'), 'latin1') + readFileSync(file('b-by-a.pem'), 'latin1'));
    openssl('cms', '-sign', '-in', file('plain.txt', CONTENT), '-signer', file('leaf.pem'), '-inkey', file('leaf.key'), '-certfile', file('loop.pem'), '-out', file('loop.eml'), '-crlfeol');
    const split = splitMessage(readFileSync(file('loop.eml')));
    assert.ok(split.outcome === 'split');
    const started = Date.now();
    const judged = await judgeSignature(signatureOf(split)!, { anchors: [keys.rsa2048!.der] });
    assert.equal(judged.result, 'neutral', judged.reason);
    assert.ok(Date.now() - started < 5000, 'the loop does not run away');
  });
});
