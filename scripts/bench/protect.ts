/**
 * `npm run bench:protect`: what the OpenPGP mode costs the gateway per message, beside GnuPG doing the same
 * work on this machine, for a 50 kB and a 5 MB message (Ed25519 signing key, Curve25519 encryption key,
 * one recipient):
 * - sign + encrypt: the entity split off, encrypted and signed inside (RFC 3156 §6.2), as PGP/MIME;
 * - decrypt + verify: the PGP/MIME payload opened with the recipient's key pair and the signature verified.
 * Sealpost's figures are in process (CPU per message and messages per second); GnuPG's are
 * `gpg --encrypt --sign` and `gpg --decrypt` per message, the CPU of those child processes (its agent
 * included), process start included.
 *
 * And the password PDF: the message rendered and encrypted (AES-256, R6) with its attachment embedded,
 * beside `qpdf --encrypt` (AES-256) of the same PDF unencrypted. qpdf only encrypts a finished PDF, so its
 * figure is the floor of the work, not the same work.
 *
 * Options: --rounds N (default 100 for 50 kB, a tenth of that for 5 MB). Prints one table.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as openpgp from 'openpgp';
import { encryptEntity, pgpEncryptedPayload, readArmoredMessage } from '../../backend/src/certs/pgp-mime.ts';
import { splitForSmime, withOuterFields } from '../../backend/src/certs/smime-mime.ts';
import { splitMessage } from '../../backend/src/mail/header-block.ts';
import { renderMessagePdf } from '../../backend/src/protect/pdf-render.ts';
import { benchMessage as message, childProcesses, inProcess, type Cost } from './cpu-cost.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '100' } } });
const rounds = Math.max(10, Number(values.rounds));

const folder = mkdtempSync(join(tmpdir(), 'sealpost-bench-protect-'));
const home = join(folder, 'gnupg');
mkdirSync(home, { mode: 0o700 });
const env = { ...process.env, GNUPGHOME: home };
const gpg = (args: string[], input?: Buffer | string) => execFileSync('gpg', ['--batch', '--yes', '--trust-model', 'always', ...args], { env, stdio: 'pipe', ...(input !== undefined ? { input } : {}) });

const generate = (email: string) =>
  openpgp.generateKey({ type: 'ecc', curve: 'curve25519Legacy', userIDs: [{ email }], format: 'object' }).then((k) => k.privateKey);
const sender = await generate('sender@bench.example');
const recipient = await generate('recipient@bench.example');
for (const key of [sender, recipient]) gpg(['--import'], key.armor());

async function signAndEncrypt(raw: Buffer): Promise<Buffer> {
  const { outer, entity } = splitForSmime(raw);
  return withOuterFields(outer, await encryptEntity(entity, [recipient.toPublic()], sender));
}

async function decryptAndVerify(raw: Buffer): Promise<void> {
  const split = splitMessage(raw);
  if (split.outcome !== 'split') throw new Error('unreadable');
  const armored = pgpEncryptedPayload(split)!;
  const result = await openpgp.decrypt({ message: await readArmoredMessage(armored), decryptionKeys: recipient, verificationKeys: sender.toPublic(), format: 'binary' });
  await result.signatures[0]!.verified;
}

const rows: Array<Record<string, string>> = [];
for (const [label, bytes, n] of [['50 kB', 50_000, rounds], ['5 MB', 5_000_000, Math.max(5, Math.round(rounds / 10))]] as const) {
  const raw = message(bytes);
  writeFileSync(join(folder, 'plain.eml'), raw);
  const encrypted = await signAndEncrypt(raw);
  const split = splitMessage(encrypted);
  if (split.outcome !== 'split') throw new Error('unreadable');
  writeFileSync(join(folder, 'ours.asc'), pgpEncryptedPayload(split)!);
  const ours: Record<'seal' | 'open', Cost> = { seal: await inProcess(n, () => signAndEncrypt(raw)), open: await inProcess(n, () => decryptAndVerify(encrypted)) };
  const theirs: Record<'seal' | 'open', Cost> = {
    seal: childProcesses(n, folder, 'gpg --batch --yes --trust-model always --armor --encrypt --sign --local-user sender@bench.example --recipient recipient@bench.example --output /dev/null plain.eml', env),
    // GnuPG decrypts what Sealpost wrote: the same work in the other direction.
    open: childProcesses(n, folder, 'gpg --batch --yes --trust-model always --decrypt --output /dev/null ours.asc 2>/dev/null', env),
  };
  for (const direction of ['seal', 'open'] as const) {
    rows.push({
      mode: 'pgp',
      tool: 'gpg',
      message: label,
      work: direction === 'seal' ? 'sign + encrypt' : 'decrypt + verify',
      'Sealpost CPU-ms': ours[direction].cpuMs.toFixed(2),
      'Sealpost msg/s': ours[direction].perSecond.toFixed(1),
      'tool CPU-ms': theirs[direction].cpuMs.toFixed(2),
      'tool msg/s': theirs[direction].perSecond.toFixed(1),
      ratio: (ours[direction].cpuMs / theirs[direction].cpuMs).toFixed(2),
    });
  }
}
/** A message with a text body and one attachment making up most of its size, as a PDF would carry it. */
function withAttachment(bytes: number): Buffer {
  const content = randomBytes(Math.floor((bytes * 3) / 4));
  const body = (content.toString('base64').match(/.{1,76}/g) ?? []).join('\r\n');
  return Buffer.from(
    'From: sender@bench.example\r\nTo: recipient@bench.example\r\nSubject: Bench\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n' +
      `--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${'Sehr geehrte Damen und Herren, anbei die Unterlagen. '.repeat(40)}\r\n` +
      `--b\r\nContent-Type: application/octet-stream; name="data.bin"\r\nContent-Disposition: attachment; filename="data.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n${body}\r\n--b--\r\n`,
  );
}
for (const [label, bytes, n] of [['50 kB', 50_000, rounds], ['5 MB', 5_000_000, Math.max(5, Math.round(rounds / 10))]] as const) {
  const raw = withAttachment(bytes);
  const password = 'bench-password-12345';
  const ours = await inProcess(n, () => renderMessagePdf(raw, { password, language: 'de' }));
  const { pdf } = await renderMessagePdf(raw, { password, language: 'de' });
  writeFileSync(join(folder, 'ours.pdf'), pdf);
  execFileSync('qpdf', [`--password=${password}`, '--decrypt', join(folder, 'ours.pdf'), join(folder, 'plain.pdf')]);
  const theirs = childProcesses(n, folder, `qpdf --encrypt ${password} owner-password 256 -- plain.pdf /dev/null`);
  rows.push({
    mode: 'pdf',
    tool: 'qpdf',
    message: label,
    work: 'render + encrypt (qpdf: encrypt only)',
    'Sealpost CPU-ms': ours.cpuMs.toFixed(2),
    'Sealpost msg/s': ours.perSecond.toFixed(1),
    'tool CPU-ms': theirs.cpuMs.toFixed(2),
    'tool msg/s': theirs.perSecond.toFixed(1),
    ratio: (ours.cpuMs / theirs.cpuMs).toFixed(2),
  });
}
execFileSync('gpgconf', ['--kill', 'gpg-agent'], { env });
rmSync(folder, { recursive: true, force: true });
console.table(rows);
console.log("gpg's CPU counts its processes, not its agent, which does the secret-key work: read its figures as a lower bound. qpdf only encrypts a finished PDF.");
