/**
 * S/MIME encryption checked by OpenSSL in both directions: what the gateway encrypts (EnvelopedData with
 * AES-256-CBC and RSA-OAEP or RSA PKCS#1 v1.5, AuthEnvelopedData with AES-256-GCM, one message for two
 * recipients) `openssl cms -decrypt` reads back byte for byte; what OpenSSL encrypts (CBC and GCM, v1.5 and
 * OAEP) the gateway reads; a changed ciphertext, a wrong key and a message for someone else are refused
 * with a reason a person can act on.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { decryptEnveloped, encryptForRecipients, SmimeError } from '../src/certs/smime-envelope.ts';

describe('S/MIME encryption', () => {
  let folder: string;
  const content = Buffer.from('Content-Type: text/plain; charset=utf-8\r\n\r\nDer Vertrag liegt bei. Grüße\r\n');
  const people: Record<string, { cert: string; key: string; der: Buffer }> = {};

  const person = (name: string) => {
    const key = join(folder, `${name}.key`);
    const cert = join(folder, `${name}.pem`);
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '30', '-subj', `/CN=${name}`, '-addext', `subjectAltName=email:${name}@partner.example`], { stdio: 'pipe' });
    const der = execFileSync('openssl', ['x509', '-in', cert, '-outform', 'DER']);
    people[name] = { cert, key, der };
  };
  const keyOf = (name: string) => ({ certificate: people[name]!.der, privateKey: createPrivateKey(readFileSync(people[name]!.key)) });
  const opensslDecrypt = (der: Buffer, name: string) => {
    const file = join(folder, 'in.der');
    writeFileSync(file, der);
    return execFileSync('openssl', ['cms', '-decrypt', '-binary', '-inform', 'DER', '-in', file, '-recip', people[name]!.cert, '-inkey', people[name]!.key], { stdio: 'pipe' });
  };
  const opensslEncrypt = (name: string, options: string[], keyOptions: string[] = []) => {
    const input = join(folder, 'plain.bin');
    const output = join(folder, 'out.der');
    writeFileSync(input, content);
    execFileSync('openssl', ['cms', '-encrypt', '-binary', '-in', input, '-outform', 'DER', '-out', output, ...options, '-recip', people[name]!.cert, ...keyOptions], { stdio: 'pipe' });
    return readFileSync(output);
  };

  before(() => {
    folder = mkdtempSync(join(tmpdir(), 'sealpost-smime-'));
    for (const name of ['bob', 'carol', 'mallory']) person(name);
  });
  after(() => rmSync(folder, { recursive: true, force: true }));

  test('what the gateway encrypts, OpenSSL decrypts byte for byte: CBC with OAEP or PKCS#1 v1.5, and GCM', () => {
    for (const [algorithm, keyTransport] of [['aes-256-cbc', 'rsa-oaep'], ['aes-256-cbc', 'rsa-pkcs1'], ['aes-256-gcm', 'rsa-oaep']] as const) {
      const der = encryptForRecipients(content, [{ certificate: people.bob!.der, keyTransport }], algorithm);
      assert.ok(opensslDecrypt(der, 'bob').equals(content), `${algorithm} ${keyTransport}`);
      const ours = decryptEnveloped(der, keyOf('bob'));
      assert.ok(ours.content.equals(content));
      assert.equal(ours.algorithm, algorithm);
      assert.equal(ours.keyTransport, keyTransport);
    }
    const info = execFileSync('openssl', ['cms', '-cmsout', '-print', '-inform', 'DER', '-in', join(folder, 'in.der')]).toString();
    assert.match(info, /authEnvelopedData|id-smime-ct-authEnvelopedData/, 'GCM goes in AuthEnvelopedData');
  });

  test('one message for two recipients is read by each of them, and by nobody else', () => {
    const der = encryptForRecipients(content, [{ certificate: people.bob!.der }, { certificate: people.carol!.der, keyTransport: 'rsa-pkcs1' }]);
    assert.ok(opensslDecrypt(der, 'bob').equals(content));
    assert.ok(opensslDecrypt(der, 'carol').equals(content));
    assert.throws(() => decryptEnveloped(der, keyOf('mallory')), (e: unknown) => e instanceof SmimeError && /not encrypted for this certificate/.test(e.message));
  });

  test('what OpenSSL encrypts, the gateway decrypts: CBC and GCM, PKCS#1 v1.5 and OAEP', () => {
    const cases: Array<[string[], string[], string, string]> = [
      [['-aes256'], [], 'aes-256-cbc', 'rsa-pkcs1'],
      [['-aes128'], [], 'aes-128-cbc', 'rsa-pkcs1'],
      [['-aes256'], ['-keyopt', 'rsa_padding_mode:oaep', '-keyopt', 'rsa_oaep_md:sha256'], 'aes-256-cbc', 'rsa-oaep'],
      [['-aes-256-gcm'], [], 'aes-256-gcm', 'rsa-pkcs1'],
    ];
    for (const [options, keyOptions, algorithm, keyTransport] of cases) {
      const result = decryptEnveloped(opensslEncrypt('bob', options, keyOptions), keyOf('bob'));
      assert.ok(result.content.equals(content), options.join(' '));
      assert.deepEqual([result.algorithm, result.keyTransport], [algorithm, keyTransport]);
    }
  });

  test('a changed ciphertext, a wrong key or something that is no encrypted message is refused with a reason', () => {
    const gcm = encryptForRecipients(content, [{ certificate: people.bob!.der }], 'aes-256-gcm');
    const tampered = Buffer.from(gcm);
    tampered[tampered.length - 40]! ^= 0x01;
    assert.throws(() => decryptEnveloped(tampered, keyOf('bob')), (e: unknown) => e instanceof SmimeError && /integrity check/.test(e.message));
    const cbc = encryptForRecipients(content, [{ certificate: people.bob!.der }]);
    assert.throws(
      () => decryptEnveloped(cbc, { certificate: people.bob!.der, privateKey: createPrivateKey(readFileSync(people.mallory!.key)) }),
      (e: unknown) => e instanceof SmimeError && /does not unwrap with this private key/.test(e.message),
    );
    assert.throws(() => decryptEnveloped(Buffer.from('not DER at all'), keyOf('bob')), SmimeError);
    assert.throws(() => encryptForRecipients(content, []), /no recipient/);
  });
});
