/**
 * The MIME side of S/MIME (RFC 8551 §3): a message is split into its RFC 5322 header fields, which stay
 * outside, and its MIME entity (the content fields and the body), which is signed or encrypted; the
 * results are written back as multipart/signed (RFC 1847), or application/pkcs7-mime for opaque signed
 * and enveloped data. The entity to sign is made 7-bit first, because a relay that converts 8-bit
 * content on the way would break the signature.
 */
import { randomBytes } from 'node:crypto';
import { headerValue, splitMessage } from '../mail/header-block.ts';
import { contentTypeOf } from '../mail/mime-structure.ts';

const CRLF = '\r\n';
/** The fields that describe the content: they go inside the protected entity. */
const CONTENT_FIELDS = new Set(['content-type', 'content-transfer-encoding', 'content-disposition', 'content-description', 'content-id', 'content-language']);

export interface SplitForSmime {
  /** The header fields that stay outside (raw, with their CRLF), without MIME-Version. */
  outer: Buffer[];
  /** The MIME entity: content fields, an empty line, the body. */
  entity: Buffer;
}

function base64Lines(bytes: Buffer): string {
  return (bytes.toString('base64').match(/.{1,76}/g) ?? []).join(CRLF);
}

function needsSevenBit(body: Buffer): boolean {
  for (const byte of body) if (byte >= 0x80 || byte === 0) return true;
  let lineStart = 0;
  for (let at = body.indexOf(0x0a); at >= 0; at = body.indexOf(0x0a, at + 1)) {
    if (at - lineStart > 998) return true;
    lineStart = at + 1;
  }
  return body.length - lineStart > 998;
}

/**
 * The message's outer header fields and its entity. A single-part entity sent as 8-bit (or with lines
 * too long for SMTP) is re-encoded as base64; a multipart one is kept as it is.
 */
export function splitForSmime(raw: Buffer): SplitForSmime {
  const split = splitMessage(raw);
  if (split.outcome !== 'split') throw new Error('the message header cannot be read');
  const isContent = (name: string) => CONTENT_FIELDS.has(name.toLowerCase());
  const outer = split.fields.filter((f) => !isContent(f.name) && f.name.toLowerCase() !== 'mime-version').map((f) => f.raw);
  let content = split.fields.filter((f) => isContent(f.name)).map((f) => f.raw);
  if (content.length === 0) content = [Buffer.from(`Content-Type: text/plain; charset=us-ascii${CRLF}`)];
  // The body starts with the CRLF that ends the header section.
  let body = split.body.subarray(0, 2).equals(Buffer.from(CRLF)) ? split.body.subarray(2) : split.body;
  const type = contentTypeOf(split.fields).value;
  const encoding = (headerValue(split.fields, 'content-transfer-encoding') ?? '7bit').trim().toLowerCase();
  if (!type.startsWith('multipart/') && (encoding === '7bit' || encoding === '8bit' || encoding === 'binary') && needsSevenBit(body)) {
    content = content.filter((f) => !f.toString('latin1').toLowerCase().startsWith('content-transfer-encoding'));
    content.push(Buffer.from(`Content-Transfer-Encoding: base64${CRLF}`));
    body = Buffer.from(`${base64Lines(body)}${CRLF}`);
  }
  return { outer, entity: Buffer.concat([...content, Buffer.from(CRLF), body]) };
}

/** The entity of a detached signature: multipart/signed with the entity byte for byte and the signature. */
export function detachedSignedEntity(entity: Buffer, signature: Buffer, micalg = 'sha-256'): Buffer {
  const boundary = `----sealpost-signed-${randomBytes(12).toString('hex')}`;
  return Buffer.concat([
    Buffer.from(
      `Content-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg=${micalg};${CRLF} boundary="${boundary}"${CRLF}${CRLF}` +
        `This is a cryptographically signed message in MIME format.${CRLF}${CRLF}--${boundary}${CRLF}`,
    ),
    entity,
    Buffer.from(
      `${CRLF}--${boundary}${CRLF}Content-Type: application/pkcs7-signature; name="smime.p7s"${CRLF}Content-Transfer-Encoding: base64${CRLF}` +
        `Content-Disposition: attachment; filename="smime.p7s"${CRLF}${CRLF}${base64Lines(signature)}${CRLF}--${boundary}--${CRLF}`,
    ),
  ]);
}

/** The entity of CMS content in application/pkcs7-mime: opaque signed data or (auth)enveloped data. */
export function pkcs7MimeEntity(der: Buffer, smimeType: 'signed-data' | 'enveloped-data' | 'authEnveloped-data'): Buffer {
  return Buffer.from(
    `Content-Type: application/pkcs7-mime; smime-type=${smimeType}; name="smime.p7m"${CRLF}` +
      `Content-Transfer-Encoding: base64${CRLF}Content-Disposition: attachment; filename="smime.p7m"${CRLF}${CRLF}${base64Lines(der)}${CRLF}`,
  );
}

/** The message again: the outer header fields, MIME-Version, the new entity. */
export function withOuterFields(outer: Buffer[], entity: Buffer): Buffer {
  return Buffer.concat([...outer, Buffer.from(`MIME-Version: 1.0${CRLF}`), entity]);
}
