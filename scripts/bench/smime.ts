/**
 * `npm run bench:smime`: what S/MIME costs the gateway per message, against OpenSSL doing the same work on
 * this machine. Two directions, for a 50 kB and a 5 MB message (RSA-2048 keys, SHA-256, AES-256-CBC,
 * RSA-OAEP key transport):
 * - sign + encrypt: detached signature over the entity, multipart/signed, enveloped for one recipient;
 * - decrypt + verify: the enveloped data opened with the recipient's key, the signature verified.
 * Sealpost's figures are in-process: process.cpuUsage (user + system) around N rounds, divided by N, and
 * messages per second of wall time. OpenSSL's are `openssl cms -sign | openssl cms -encrypt` (and
 * `-decrypt | -verify`) per message, the CPU of those child processes (bash `times`), divided by N: this
 * includes starting the processes, as a gateway calling OpenSSL would pay it.
 *
 * Options: --rounds N (default 200 for 50 kB, a tenth of that for 5 MB). Prints one table; exit code 1 when
 * an in-process cost is over 1.5× OpenSSL's.
 */
import { execFileSync } from 'node:child_process';
import { createPrivateKey, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { signatureOf, verifySignature } from '../../backend/src/certs/signed-mail.ts';
import { decryptEnveloped, encryptForRecipients } from '../../backend/src/certs/smime-envelope.ts';
import { detachedSignedEntity, pkcs7MimeEntity, splitForSmime, withOuterFields } from '../../backend/src/certs/smime-mime.ts';
import { encryptedContent } from '../../backend/src/certs/smime-inbound.ts';
import { signContent } from '../../backend/src/certs/smime-sign.ts';
import { splitMessage } from '../../backend/src/mail/header-block.ts';
import { benchMessage as message, childProcesses, inProcess } from './cpu-cost.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '200' }, 'budget-ratio': { type: 'string', default: '1.5' } } });
const rounds = Math.max(10, Number(values.rounds));
const budget = Number(values['budget-ratio']);

const folder = mkdtempSync(join(tmpdir(), 'sealpost-bench-smime-'));
const file = (name: string) => join(folder, name);
const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
for (const who of ['sender', 'recipient']) {
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', file(`${who}.key`), '-out', file(`${who}.pem`), '-days', '5', '-subj', `/CN=${who}`, '-addext', `subjectAltName=email:${who}@bench.example`);
}
const der = (who: string) => openssl('x509', '-in', file(`${who}.pem`), '-outform', 'DER');
const sender = { certificate: der('sender'), chain: [], privateKey: createPrivateKey(readFileSync(file('sender.key'))) };
const recipient = { certificate: der('recipient'), privateKey: createPrivateKey(readFileSync(file('recipient.key'))) };

async function signAndEncrypt(raw: Buffer): Promise<Buffer> {
  const { outer, entity } = splitForSmime(raw);
  const signed = detachedSignedEntity(entity, await signContent(entity, sender, 'detached'));
  return withOuterFields(outer, pkcs7MimeEntity(encryptForRecipients(signed, [{ certificate: recipient.certificate }]), 'enveloped-data'));
}

async function decryptAndVerify(raw: Buffer): Promise<void> {
  const split = splitMessage(raw);
  if (split.outcome !== 'split') throw new Error('unreadable');
  const entity = decryptEnveloped(encryptedContent(split)!, recipient).content;
  const inner = splitMessage(entity);
  if (inner.outcome !== 'split') throw new Error('unreadable entity');
  const check = await verifySignature(signatureOf(inner)!);
  if (!check.valid) throw new Error(`the benchmark's own signature does not verify: ${check.problem}`);
}

const rows: Array<Record<string, string>> = [];
let over = false;
for (const [label, bytes, n] of [['50 kB', 50_000, rounds], ['5 MB', 5_000_000, Math.max(5, Math.round(rounds / 10))]] as const) {
  const raw = message(bytes);
  writeFileSync(file('plain.eml'), raw);
  const encrypted = await signAndEncrypt(raw);
  writeFileSync(file('ours.eml'), encrypted);
  // OpenSSL reads what Sealpost wrote (the same work in the other direction), and makes its own for its decrypt round.
  openssl('cms', '-sign', '-in', file('plain.eml'), '-signer', file('sender.pem'), '-inkey', file('sender.key'), '-out', file('signed.eml'));
  openssl('cms', '-encrypt', '-aes256', '-in', file('signed.eml'), '-out', file('theirs.eml'), '-recip', file('recipient.pem'), '-keyopt', 'rsa_padding_mode:oaep');
  const ours = { seal: await inProcess(n, () => signAndEncrypt(raw)), open: await inProcess(n, () => decryptAndVerify(encrypted)) };
  const theirs = {
    seal: childProcesses(n, folder, 'openssl cms -sign -in plain.eml -signer sender.pem -inkey sender.key | openssl cms -encrypt -aes256 -out /dev/null -recip recipient.pem -keyopt rsa_padding_mode:oaep'),
    open: childProcesses(n, folder, 'openssl cms -decrypt -in ours.eml -recip recipient.pem -inkey recipient.key | openssl cms -verify -CAfile sender.pem -out /dev/null 2>/dev/null'),
  };
  for (const direction of ['seal', 'open'] as const) {
    const ratio = ours[direction].cpuMs / theirs[direction].cpuMs;
    if (ratio > budget) over = true;
    rows.push({
      message: label,
      work: direction === 'seal' ? 'sign + encrypt' : 'decrypt + verify',
      'Sealpost CPU-ms': ours[direction].cpuMs.toFixed(2),
      'Sealpost msg/s': ours[direction].perSecond.toFixed(1),
      'OpenSSL CPU-ms': theirs[direction].cpuMs.toFixed(2),
      'OpenSSL msg/s': theirs[direction].perSecond.toFixed(1),
      ratio: ratio.toFixed(2),
    });
  }
}
rmSync(folder, { recursive: true, force: true });
console.table(rows);
console.log(`goal: Sealpost's CPU per message within ${budget}× OpenSSL's: ${over ? 'NOT met' : 'met'}`);
process.exitCode = over ? 1 : 0;
