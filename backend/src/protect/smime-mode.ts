/**
 * The 'smime' protection mode: the message is encrypted once for every recipient of the group with the
 * certificates the tenant's store holds for them (RFC 8551: the MIME entity inside, the RFC 5322 header
 * fields outside), and the recipients' certificates are named in the trace. A recipient without a valid
 * certificate makes the group unavailable: the message is held, never sent in the clear.
 */
import { encryptForRecipients, SmimeError } from '../certs/smime-envelope.ts';
import type { CertificateStore } from '../certs/certificate-store.ts';
import { choiceFor } from '../certs/smime-capabilities.ts';
import { splitMessage } from '../mail/header-block.ts';
import type { RecipientKeyLookup } from './method-resolution.ts';
import type { ProtectionHandler } from './protection-modes.ts';

const CRLF = '\r\n';
/** The fields that describe the content: they go inside the encrypted entity. */
const CONTENT_FIELDS = new Set(['content-type', 'content-transfer-encoding', 'content-disposition', 'content-description', 'content-id', 'content-language']);

/** Which recipients the store has a valid certificate for, for the method resolution. */
export function certificateLookup(store: CertificateStore): RecipientKeyLookup['smimeCertificates'] {
  return async (tenantId, recipients) => new Set((await store.validForEach(tenantId, recipients)).keys());
}

/** The message as S/MIME: the header fields as they were, the content encrypted inside application/pkcs7-mime. */
export function envelopedMessage(raw: Buffer, encrypt: (entity: Buffer) => { der: Buffer; authenticated: boolean }): Buffer {
  const split = splitMessage(raw);
  if (split.outcome !== 'split') throw new Error('the message header cannot be read');
  const content = split.fields.filter((f) => CONTENT_FIELDS.has(f.name.toLowerCase())).map((f) => f.raw);
  const outer = split.fields.filter((f) => !CONTENT_FIELDS.has(f.name.toLowerCase()) && f.name.toLowerCase() !== 'mime-version').map((f) => f.raw);
  const entity = Buffer.concat([...(content.length > 0 ? content : [Buffer.from(`Content-Type: text/plain; charset=us-ascii${CRLF}`)]), Buffer.from(CRLF), split.body]);
  const { der, authenticated } = encrypt(entity);
  const type = authenticated ? 'authEnveloped-data' : 'enveloped-data';
  const lines = der.toString('base64').match(/.{1,76}/g) ?? [];
  return Buffer.concat([
    ...outer,
    Buffer.from(
      `MIME-Version: 1.0${CRLF}Content-Type: application/pkcs7-mime; smime-type=${type}; name="smime.p7m"${CRLF}` +
        `Content-Transfer-Encoding: base64${CRLF}Content-Disposition: attachment; filename="smime.p7m"${CRLF}${CRLF}${lines.join(CRLF)}${CRLF}`,
    ),
  ]);
}

export function smimeProtection(store: CertificateStore): ProtectionHandler {
  const protectGroup: NonNullable<ProtectionHandler['protectGroup']> = async (context) => {
    const known = await store.validForEach(context.tenantId, context.recipients);
    const chosen = context.recipients.flatMap((recipient) => {
      const certificate = known.get(recipient)?.[0];
      return certificate ? [{ recipient, certificate }] : [];
    });
    const missing = context.recipients.filter((r) => !known.has(r));
    const reasonMissing = (who: string[]) =>
      `no valid S/MIME certificate is known for ${who.join(', ')}: held until one is, never sent unprotected`;
    if (chosen.length === 0) return { kind: 'unavailable', reason: reasonMissing(missing) };
    // Each recipient's key transport from what it advertised; GCM only when every recipient of the copy reads it.
    const choices = chosen.map((c) => choiceFor(c.certificate.capabilities));
    const contentEncryption = choices.every((c) => c.contentEncryption === 'aes-256-gcm') ? 'aes-256-gcm' : 'aes-256-cbc';
    let raw: Buffer;
    try {
      raw = envelopedMessage(context.raw, (entity) => ({
        der: encryptForRecipients(
          entity,
          chosen.map((c, i) => ({ certificate: c.certificate.der, keyTransport: choices[i]!.keyTransport })),
          contentEncryption,
        ),
        authenticated: contentEncryption === 'aes-256-gcm',
      }));
    } catch (error) {
      // A certificate that cannot take a key (not RSA, unreadable) holds the group with the reason.
      if (error instanceof SmimeError) return { kind: 'unavailable', reason: `S/MIME encryption failed: ${error.message}` };
      throw error;
    }
    return {
      kind: 'deliver',
      raw,
      detail: {
        contentEncryption,
        certificates: chosen.map(({ recipient, certificate }, i) => ({
          recipient,
          fingerprint: certificate.fingerprint,
          notAfter: certificate.notAfter.toISOString(),
          source: certificate.source,
          keyTransport: choices[i]!.keyTransport,
        })),
      },
      ...(missing.length > 0 ? { unserved: { recipients: missing, reason: reasonMissing(missing) } } : {}),
    };
  };
  return {
    mode: 'smime',
    protect: (context) => protectGroup({ ...context, recipients: [context.recipient] }),
    protectGroup,
  };
}
