/**
 * OpenPGP against GnuPG on this machine, both directions: what Sealpost encrypts and signs as PGP/MIME
 * (to an Ed25519/Curve25519 and an RSA-3072 key made by gpg) gpg decrypts and verifies, and its detached
 * multipart/signed signature verifies with `gpg --verify` over the signed part byte for byte; what gpg
 * encrypts and signs to a key pair Sealpost generated, Sealpost decrypts and verifies. Keys Sealpost
 * generates are v4, which GnuPG 2.2 reads. Bad input gets a reason, never a crash.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as openpgp from 'openpgp';
import { CertificateProblem } from '../src/certs/certificate-store.ts';
import { armor, ArmorError, dearmor } from '../src/certs/pgp-armor.ts';
import { encryptionProblem, readPgpKeys } from '../src/certs/pgp-keys.ts';
import { encryptEntity, pgpEncryptedEntity, pgpEncryptedPayload, pgpSignatureOf, pgpSignedEntity, signEntity } from '../src/certs/pgp-mime.ts';
import { signedParts } from '../src/certs/signed-mail.ts';
import { wkdUrls, zBase32 } from '../src/certs/wkd-lookup.ts';
import { splitMessage, type SplitMessage } from '../src/mail/header-block.ts';
import { autocryptHeader } from '../src/stages/pgp-inbound.ts';

const ENTITY = Buffer.from('Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nUnterlagen f=C3=BCr die Sitzung.\r\n');

function asMessage(entity: Buffer): SplitMessage {
  const split = splitMessage(Buffer.concat([Buffer.from('From: a@acme.test\r\nTo: b@partner.example\r\nSubject: t\r\nMIME-Version: 1.0\r\n'), entity]));
  assert.equal(split.outcome, 'split');
  return split as SplitMessage;
}

describe('OpenPGP interoperability with GnuPG', () => {
  let folder: string;
  let home: string;
  const gpg = (args: string[], input?: Buffer | string) =>
    execFileSync('gpg', ['--homedir', home, '--batch', '--yes', '--pinentry-mode', 'loopback', '--passphrase', '', '--trust-model', 'always', ...args], {
      stdio: 'pipe',
      ...(input !== undefined ? { input } : {}),
    });
  const gpgWithStatus = (args: string[], input?: Buffer | string) => {
    const file = join(folder, `status-${Math.random().toString(16).slice(2)}`);
    const output = gpg(['--status-file', file, ...args], input);
    return { output, status: execFileSync('cat', [file]).toString('utf8') };
  };
  let sealpostKey: openpgp.PrivateKey;
  const gpgKeys: Record<string, openpgp.PublicKey> = {};

  before(async () => {
    folder = mkdtempSync(join(tmpdir(), 'sealpost-pgp-interop-'));
    home = join(folder, 'gnupg');
    execFileSync('mkdir', ['-m', '700', home]);
    gpg(['--quick-gen-key', 'Bob <bob@partner.example>', 'ed25519', 'sign,cert', 'never']);
    const bobFpr = gpg(['--list-keys', '--with-colons', 'bob@partner.example']).toString().match(/^fpr:::::::::([0-9A-F]+):/m)![1]!;
    gpg(['--quick-add-key', bobFpr, 'cv25519', 'encr', 'never']);
    gpg(['--quick-gen-key', 'Carol <carol@partner.example>', 'rsa3072', 'sign,cert', 'never']);
    const carolFpr = gpg(['--list-keys', '--with-colons', 'carol@partner.example']).toString().match(/^fpr:::::::::([0-9A-F]+):/m)![1]!;
    gpg(['--quick-add-key', carolFpr, 'rsa3072', 'encr', 'never']);
    for (const who of ['bob', 'carol']) {
      const [parsed] = await readPgpKeys(gpg(['--export', '--armor', `${who}@partner.example`]));
      gpgKeys[who] = parsed!.key;
    }
    ({ privateKey: sealpostKey } = await openpgp.generateKey({
      type: 'ecc',
      curve: 'curve25519Legacy',
      userIDs: [{ name: 'Alice', email: 'alice@acme.test' }],
      format: 'object',
    }));
    gpg(['--import'], sealpostKey.toPublic().armor());
  });

  after(() => rmSync(folder, { recursive: true, force: true }));

  test('the keys gpg made are read with their addresses, algorithms and a usable encryption key', async () => {
    const parsed = await readPgpKeys(gpg(['--export', 'bob@partner.example', 'carol@partner.example']));
    assert.deepEqual(parsed.map((k) => k.addresses).sort(), [['bob@partner.example'], ['carol@partner.example']]);
    assert.deepEqual(parsed.map((k) => k.algorithm).sort(), ['ed25519Legacy', 'rsa3072']);
    for (const key of parsed) assert.equal(await encryptionProblem(key.key), undefined);
    assert.equal(sealpostKey.keyPacket.version, 4, 'Sealpost makes v4 keys, which GnuPG 2.2 reads');
  });

  test('what Sealpost encrypts (and signs inside) to two gpg keys, gpg decrypts for each and verifies', async () => {
    const entity = await encryptEntity(ENTITY, [gpgKeys.bob!, gpgKeys.carol!], sealpostKey);
    const message = asMessage(entity);
    const armored = pgpEncryptedPayload(message);
    assert.ok(armored, 'the PGP/MIME structure is found again');
    assert.match(message.body.toString('latin1'), /Content-Type: application\/pgp-encrypted\r\n[^]*Version: 1\r\n/);
    const { output, status } = gpgWithStatus(['--decrypt'], armored);
    assert.deepEqual(output, ENTITY, 'the entity byte for byte');
    assert.match(status, /\[GNUPG:\] GOODSIG [0-9A-F]+ Alice <alice@acme\.test>/);
    assert.match(status, /\[GNUPG:\] DECRYPTION_OKAY/);
    // Carol's RSA key opens it too (two recipients, one message).
    const keys = gpg(['--list-packets'], armored).toString();
    assert.equal(keys.match(/:pubkey enc packet:/g)?.length, 2, 'encrypted once, with a key packet per recipient');
  });

  test('the detached multipart/signed signature verifies with gpg over the signed part byte for byte', async () => {
    const entity = await signEntity(ENTITY, sealpostKey);
    const message = asMessage(entity);
    assert.match(message.fields.find((f) => f.name.toLowerCase() === 'content-type')!.raw.toString(), /micalg=pgp-sha\d+; protocol="application\/pgp-signature"/);
    const parts = pgpSignatureOf(message)!;
    assert.deepEqual(parts.signedContent, ENTITY);
    writeFileSync(join(folder, 'part'), parts.signedContent);
    writeFileSync(join(folder, 'part.asc'), parts.armoredSignature);
    const { status } = gpgWithStatus(['--verify', join(folder, 'part.asc'), join(folder, 'part')]);
    assert.match(status, /GOODSIG/);
    // One changed byte, and the signature fails.
    writeFileSync(join(folder, 'part'), Buffer.from(parts.signedContent.toString('latin1').replace('Sitzung', 'Sitzunk'), 'latin1'));
    assert.throws(() => gpg(['--verify', join(folder, 'part.asc'), join(folder, 'part')]));
  });

  test('what gpg encrypts and signs to a Sealpost key pair, Sealpost decrypts and verifies', async () => {
    const armored = gpg(['--encrypt', '--sign', '--armor', '--local-user', 'bob@partner.example', '--recipient', 'alice@acme.test'], ENTITY).toString();
    const message = asMessage(pgpEncryptedEntity(armored));
    const payload = pgpEncryptedPayload(message)!;
    const result = await openpgp.decrypt({
      message: await openpgp.readMessage({ armoredMessage: payload }),
      decryptionKeys: sealpostKey,
      verificationKeys: gpgKeys.bob!,
      format: 'binary',
    });
    assert.deepEqual(Buffer.from(result.data as Uint8Array), ENTITY);
    assert.equal(await result.signatures[0]!.verified, true);
    // gpg's RSA key signs too, detached, and Sealpost verifies the multipart/signed.
    writeFileSync(join(folder, 'entity'), ENTITY);
    const signature = gpg(['--detach-sign', '--armor', '--local-user', 'carol@partner.example', '--output', '-', join(folder, 'entity')]).toString();
    const signed = pgpSignatureOf(asMessage(pgpSignedEntity(ENTITY, signature)))!;
    const verification = await openpgp.verify({
      message: await openpgp.createMessage({ binary: new Uint8Array(signed.signedContent) }),
      signature: await openpgp.readSignature({ armoredSignature: signed.armoredSignature }),
      verificationKeys: gpgKeys.carol!,
    });
    assert.equal(await verification.signatures[0]!.verified, true);
  });

  test('bad input: garbage, a truncated message, an unknown Autocrypt attribute each get a reason', async () => {
    await assert.rejects(readPgpKeys(Buffer.from('no key at all')), (error: unknown) => error instanceof CertificateProblem && /no OpenPGP key/.test(error.message));
    await assert.rejects(readPgpKeys(Buffer.alloc(0)), CertificateProblem);
    await assert.rejects(readPgpKeys(Buffer.alloc(2 * 1024 * 1024, 0x41)), /at most/);
    const entity = await encryptEntity(ENTITY, [gpgKeys.bob!]);
    const armored = pgpEncryptedPayload(asMessage(entity))!;
    const truncated = armored.slice(0, armored.length / 2);
    await assert.rejects(async () => openpgp.decrypt({ message: await openpgp.readMessage({ armoredMessage: truncated }), decryptionKeys: sealpostKey }));
    assert.equal(autocryptHeader('addr=a@b.example; keydata=AAAA; unknown=1'), undefined, 'an unknown critical attribute makes the header unusable');
    assert.equal(autocryptHeader('addr=a@b.example; _extra=1; keydata=AAAA')?.addr, 'a@b.example');
    // A multipart/encrypted whose second part is no OpenPGP message is not taken for one.
    const fake = asMessage(Buffer.from('Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="b"\r\n\r\n--b\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n--b\r\nContent-Type: application/octet-stream\r\n\r\nhello\r\n--b--\r\n'));
    assert.equal(pgpEncryptedPayload(fake), undefined);
    assert.ok(signedParts(fake.body, 'b'));
  });

  test('armor: what Sealpost armors gpg dearmors (with and without base64 padding), and the other way; a wrong checksum is refused', () => {
    for (const length of [3000, 3001, 3002, 1]) {
      const data = randomBytes(length);
      assert.deepEqual(gpg(['--dearmor'], armor('MESSAGE', data)), data, `${length} bytes`);
    }
    const theirs = gpg(['--encrypt', '--armor', '--recipient', 'bob@partner.example'], ENTITY).toString();
    assert.deepEqual(dearmor(theirs, 'MESSAGE'), gpg(['--dearmor'], theirs));
    const ours = armor('MESSAGE', randomBytes(100));
    const tampered = ours.replace(/\n=(.)/, (_all, c: string) => `\n=${c === 'A' ? 'B' : 'A'}`);
    assert.throws(() => dearmor(tampered, 'MESSAGE'), ArmorError);
    assert.throws(() => dearmor('nothing here', 'MESSAGE'), /no PGP MESSAGE block/);
  });

  test('Web Key Directory addresses: z-base-32 of the local part, advanced then direct', () => {
    // The example of the WKD draft: Joe.Doe@Example.ORG.
    assert.deepEqual(wkdUrls('Joe.Doe@Example.ORG'), [
      'https://openpgpkey.example.org/.well-known/openpgpkey/example.org/hu/iy9q119eutrkn8s1mk4r39qejnbu3n5q?l=Joe.Doe',
      'https://example.org/.well-known/openpgpkey/hu/iy9q119eutrkn8s1mk4r39qejnbu3n5q?l=Joe.Doe',
    ]);
    assert.equal(zBase32(new Uint8Array([0xf0, 0xbf, 0xc7])), '6n9hq');
  });
});
