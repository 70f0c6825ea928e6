/**
 * The MIME side of OpenPGP (PGP/MIME, RFC 3156), which openpgp.js does not do: a message's MIME entity
 * (split off its RFC 5322 header fields as for S/MIME) is encrypted into multipart/encrypted, or signed
 * with a detached signature into multipart/signed over the entity byte for byte (CRLF line ends, 7-bit,
 * as RFC 3156 §5 asks); encrypted and signed mail is one OpenPGP message that holds the signature inside
 * the encryption (§6.2). Reading goes the other way for inbound mail.
 */
import { randomBytes } from 'node:crypto';
import * as openpgp from 'openpgp';
import type { SplitMessage } from '../mail/header-block.ts';
import { contentTypeOf } from '../mail/mime-structure.ts';
import { armorBytes, dearmor } from './pgp-armor.ts';
import { signedParts } from './signed-mail.ts';

const CRLF = '\r\n';
/** An encrypted part larger than this is not read here (the message goes on as it came). */
const MAX_ENCRYPTED_BYTES = 64 * 1024 * 1024;

const boundary = (kind: string) => `----sealpost-${kind}-${randomBytes(12).toString('hex')}`;

/** multipart/encrypted with the version part and the armored OpenPGP message (text, or bytes with CRLF lines). */
export function pgpEncryptedEntity(armoredMessage: string | Buffer): Buffer {
  const b = boundary('pgp-encrypted');
  const armored = typeof armoredMessage === 'string' ? Buffer.from(toCrlf(armoredMessage)) : armoredMessage.subarray(0, armoredMessage.length - (armoredMessage.subarray(-2).toString() === CRLF ? 2 : 0));
  return Buffer.concat([
    Buffer.from(
      `Content-Type: multipart/encrypted; protocol="application/pgp-encrypted";${CRLF} boundary="${b}"${CRLF}${CRLF}` +
        `This is an OpenPGP/MIME encrypted message (RFC 3156).${CRLF}${CRLF}` +
        `--${b}${CRLF}Content-Type: application/pgp-encrypted${CRLF}Content-Description: PGP/MIME version identification${CRLF}${CRLF}Version: 1${CRLF}${CRLF}` +
        `--${b}${CRLF}Content-Type: application/octet-stream; name="encrypted.asc"${CRLF}Content-Description: OpenPGP encrypted message${CRLF}` +
        `Content-Disposition: inline; filename="encrypted.asc"${CRLF}${CRLF}`,
    ),
    armored,
    Buffer.from(`${CRLF}--${b}--${CRLF}`),
  ]);
}

/** multipart/signed with the entity byte for byte and its armored detached signature. */
export function pgpSignedEntity(entity: Buffer, armoredSignature: string, micalg = 'pgp-sha256'): Buffer {
  const b = boundary('pgp-signed');
  return Buffer.concat([
    Buffer.from(
      `Content-Type: multipart/signed; micalg=${micalg}; protocol="application/pgp-signature";${CRLF} boundary="${b}"${CRLF}${CRLF}` +
        `This is an OpenPGP/MIME signed message (RFC 3156).${CRLF}${CRLF}--${b}${CRLF}`,
    ),
    entity,
    Buffer.from(
      `${CRLF}--${b}${CRLF}Content-Type: application/pgp-signature; name="signature.asc"${CRLF}Content-Description: OpenPGP digital signature${CRLF}` +
        `Content-Disposition: attachment; filename="signature.asc"${CRLF}${CRLF}${toCrlf(armoredSignature)}${CRLF}--${b}--${CRLF}`,
    ),
  ]);
}

function toCrlf(text: string): string {
  return text.replace(/\r?\n/g, CRLF).trimEnd();
}

/** Signs the entity (detached, SHA-256 or the key's stronger preference) and returns the multipart/signed entity. */
export async function signEntity(entity: Buffer, signingKey: openpgp.PrivateKey): Promise<Buffer> {
  const message = await openpgp.createMessage({ binary: new Uint8Array(entity) });
  const signature = await openpgp.sign({ message, signingKeys: signingKey, detached: true, format: 'armored' });
  return pgpSignedEntity(entity, signature);
}

/**
 * Encrypts the entity once to every key (and signs it inside the encryption when a signing key is given),
 * as multipart/encrypted. openpgp.js picks the content encryption every key can read (AES-256 for keys
 * that list it, SEIPD version 1 unless every key announces version 2).
 */
export async function encryptEntity(entity: Buffer, encryptionKeys: openpgp.PublicKey[], signingKey?: openpgp.PrivateKey): Promise<Buffer> {
  const message = await openpgp.createMessage({ binary: new Uint8Array(entity) });
  const binary = await openpgp.encrypt({ message, encryptionKeys, ...(signingKey ? { signingKeys: signingKey } : {}), format: 'binary' });
  return pgpEncryptedEntity(armorBytes('MESSAGE', binary));
}

/** The OpenPGP message of an armored payload, read without openpgp.js's slow dearmoring (pgp-armor.ts). */
export async function readArmoredMessage(armored: string): Promise<openpgp.Message<Uint8Array>> {
  return openpgp.readMessage({ binaryMessage: new Uint8Array(dearmor(armored, 'MESSAGE')) });
}

/** The armored OpenPGP message of a PGP/MIME encrypted message, when its top level is one. */
export function pgpEncryptedPayload(message: SplitMessage): string | undefined {
  const type = contentTypeOf(message.fields);
  if (type.value !== 'multipart/encrypted' || (type.params.protocol ?? '').toLowerCase() !== 'application/pgp-encrypted' || !type.params.boundary) return undefined;
  if (message.body.length > MAX_ENCRYPTED_BYTES * 1.4) return undefined;
  // Two parts like multipart/signed: the version part, then the encrypted data.
  const parts = signedParts(message.body, type.params.boundary, MAX_ENCRYPTED_BYTES * 2);
  const armored = parts?.signaturePart.toString('latin1');
  return armored?.includes('-----BEGIN PGP MESSAGE-----') ? armored : undefined;
}

/** The signed entity and armored signature of a PGP/MIME signed message, when its top level is one. */
export function pgpSignatureOf(message: SplitMessage): { signedContent: Buffer; armoredSignature: string } | undefined {
  const type = contentTypeOf(message.fields);
  if (type.value !== 'multipart/signed' || (type.params.protocol ?? '').toLowerCase() !== 'application/pgp-signature' || !type.params.boundary) return undefined;
  const parts = signedParts(message.body, type.params.boundary);
  const armoredSignature = parts?.signaturePart.toString('latin1');
  return parts && armoredSignature?.includes('-----BEGIN PGP SIGNATURE-----') ? { signedContent: parts.signedContent, armoredSignature } : undefined;
}
