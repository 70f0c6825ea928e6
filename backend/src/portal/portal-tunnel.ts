/**
 * The S/MIME tunnel between a gateway and a portal on its own host. The gateway need not be reachable from
 * the Internet and the portal host holds no route to the tenants' mail servers: the gateway hands each
 * portal copy over the tunnel, and the portal host hands every mail it writes (notifications, replies,
 * receipts, digests, sign-in links) back over it for the gateway to deliver.
 *
 * A tunnel message is an ordinary SMTP message whose whole content is S/MIME: signed (opaque SignedData)
 * with the sender's tunnel key, then encrypted (AES-256-GCM AuthEnvelopedData, RSA-OAEP or ECDH) to the
 * other side's tunnel certificate. Each side knows the other's certificate and accepts nothing signed by
 * any other, so neither a third host nor a certificate authority can speak for either side. Inside is a
 * message/rfc822 entity, the mail itself, whose X-Sealpost-Tunnel field carries what the SMTP envelope
 * cannot be trusted with (the tenant, the route, the envelope again), covered by the signature.
 */
import { randomUUID } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { SealpostRequest } from '../../../common/src/headers.ts';
import { decryptEnveloped, encryptForRecipients } from '../certs/smime-envelope.ts';
import { pkcs7MimeEntity, withOuterFields } from '../certs/smime-mime.ts';
import { signContent } from '../certs/smime-sign.ts';
import { signedContentOf, verifySignature } from '../certs/signed-mail.ts';
import type { SmtpDeliveryClient, SmtpTarget } from '../delivery/smtp-client.ts';
import { headerValue, splitMessage } from '../mail/header-block.ts';
import { contentTypeOf } from '../mail/mime-structure.ts';
import type { PortalStorage } from '../protect/portal-mode.ts';
import type { ProtectionContext, ProtectionOutcome } from '../protect/protection-modes.ts';
import type { TenantDirectory } from '../tenants/tenant-directory.ts';

const CRLF = '\r\n';
const TUNNEL_FIELD = 'X-Sealpost-Tunnel';

/** This side's tunnel certificate and key, and the one certificate the other side signs with. */
export interface TunnelIdentity {
  /** DER. */
  certificate: Buffer;
  privateKey: KeyObject;
  /** DER: the other side's tunnel certificate, the only signer accepted. */
  peerCertificate: Buffer;
}

/** What travels beside the mail. Tenants are named by their first domain: each side has its own database ids. */
export type TunnelPayload =
  | {
      /** Gateway → portal: store this message for one external recipient and notify them. */
      kind: 'portal-copy';
      domain: string;
      messageId: string;
      mailFrom: string;
      recipient: string;
      sender?: { mailFrom: string; from?: string };
      request?: Omit<SealpostRequest, 'expiresAt'> & { expiresAt?: string };
      requirement?: 'allow' | 'mandatory';
    }
  | {
      /** Portal → gateway: deliver this mail the portal wrote, on the route it names. */
      kind: 'deliver';
      domain: string;
      messageId: string;
      mailFrom: string;
      recipients: string[];
      route: 'external' | 'tenant-mail-server';
    };

export class TunnelError extends Error {
  constructor(
    message: string,
    /** Whether sending the same message again could work (a broken connection, not a forged signature). */
    readonly transient = false,
  ) {
    super(message);
    this.name = 'TunnelError';
  }
}

/** Seals a mail and what travels beside it for the other side: signed with this side's key, encrypted to the other's. */
export async function sealTunnelMessage(identity: TunnelIdentity, payload: TunnelPayload, raw: Buffer, hostname: string): Promise<Buffer> {
  const inner = Buffer.concat([
    Buffer.from(`Content-Type: message/rfc822${CRLF}${TUNNEL_FIELD}: ${Buffer.from(JSON.stringify({ v: 1, ...payload })).toString('base64')}${CRLF}${CRLF}`),
    raw,
  ]);
  const signed = await signContent(inner, { certificate: identity.certificate, chain: [], privateKey: identity.privateKey }, 'opaque');
  const signedEntity = pkcs7MimeEntity(signed, 'signed-data');
  const enveloped = encryptForRecipients(signedEntity, [{ certificate: identity.peerCertificate }], 'aes-256-gcm');
  const outer = [
    `From: <tunnel@${hostname}>`,
    `To: <tunnel@sealpost.invalid>`,
    `Subject: Sealpost tunnel`,
    `Date: ${new Date().toUTCString()}`,
    `Message-ID: <${randomUUID()}@${hostname}>`,
  ].map((line) => Buffer.from(`${line}${CRLF}`));
  return withOuterFields(outer, pkcs7MimeEntity(enveloped, 'authEnveloped-data'));
}

/** Opens a tunnel message: decrypts it, checks it was signed by the other side's certificate, reads what it carries. */
export async function openTunnelMessage(identity: TunnelIdentity, message: Buffer): Promise<{ payload: TunnelPayload; raw: Buffer }> {
  const outer = pkcs7Body(message, 'the tunnel message');
  let signedEntity: Buffer;
  try {
    signedEntity = decryptEnveloped(outer, { certificate: identity.certificate, privateKey: identity.privateKey }).content;
  } catch (error) {
    throw new TunnelError(`the tunnel message does not decrypt with this side's tunnel key: ${(error as Error).message.slice(0, 160)}`);
  }
  const signedData = pkcs7Body(signedEntity, 'the encrypted entity');
  const check = await verifySignature({ signedData });
  if (!check.valid) throw new TunnelError(`the tunnel message's signature is not valid: ${check.problem ?? 'unknown reason'}`);
  if (!check.signer || !check.signer.equals(identity.peerCertificate)) {
    throw new TunnelError("the tunnel message is not signed with the other side's tunnel certificate");
  }
  const inner = signedContentOf(signedData);
  if (!inner) throw new TunnelError('the signed tunnel message carries no content');
  const split = splitMessage(inner);
  if (split.outcome !== 'split') throw new TunnelError('the tunnel entity has no readable header section');
  const field = headerValue(split.fields, TUNNEL_FIELD);
  if (!field) throw new TunnelError(`the tunnel entity has no ${TUNNEL_FIELD} field`);
  let payload: TunnelPayload & { v?: number };
  try {
    payload = JSON.parse(Buffer.from(field.replace(/\s/g, ''), 'base64').toString('utf8')) as TunnelPayload & { v?: number };
  } catch {
    throw new TunnelError(`the ${TUNNEL_FIELD} field is not readable`);
  }
  if (payload.v !== 1 || (payload.kind !== 'portal-copy' && payload.kind !== 'deliver') || typeof payload.domain !== 'string') {
    throw new TunnelError(`the ${TUNNEL_FIELD} field names no tunnel message this side knows`);
  }
  // The body after the blank line is the mail, byte for byte.
  const raw = split.body.subarray(split.body.indexOf('\n') + 1);
  return { payload, raw };
}

/** The base64 body of an application/pkcs7-mime entity, decoded. */
function pkcs7Body(entity: Buffer, what: string): Buffer {
  const split = splitMessage(entity);
  if (split.outcome !== 'split') throw new TunnelError(`${what} has no readable header section`);
  const type = contentTypeOf(split.fields);
  if (type.value !== 'application/pkcs7-mime') throw new TunnelError(`${what} is ${type.value}, not application/pkcs7-mime`);
  const der = Buffer.from(split.body.toString('latin1'), 'base64');
  if (der.length === 0) throw new TunnelError(`${what} is empty`);
  return der;
}

/** Where the other side's tunnel listener is (smtp://host:port). */
export function tunnelTarget(url: string): SmtpTarget {
  const parsed = new URL(url);
  return { host: parsed.hostname, port: Number(parsed.port || 25) };
}

/**
 * The gateway's side of the portal mode when the portal runs on its own host: each copy goes over the
 * tunnel, and counts as stored only when the portal host answered 250 after storing it. A refusal there
 * (the sender's storage is full) returns the message to the sender; anything else is tried again later.
 */
export class TunnelPortalStorage implements PortalStorage {
  constructor(
    private readonly options: { identity: TunnelIdentity; peer: string; client: SmtpDeliveryClient; directory: TenantDirectory; hostname: string },
  ) {}

  async storeForRecipient(context: ProtectionContext): Promise<ProtectionOutcome> {
    const tenant = this.options.directory.tenantById(context.tenantId);
    const domain = tenant?.domains[0];
    if (!domain) return { kind: 'unavailable', reason: 'the tenant has no domain to name it by on the portal host' };
    const mailFrom = context.sender?.mailFrom ?? '';
    const { expiresAt, ...request } = context.request ?? { options: [], notes: [] };
    const payload: TunnelPayload = {
      kind: 'portal-copy',
      domain,
      messageId: context.messageId,
      mailFrom,
      recipient: context.recipient,
      ...(context.sender ? { sender: context.sender } : {}),
      ...(context.request ? { request: { ...request, ...(expiresAt ? { expiresAt: expiresAt.toISOString() } : {}) } } : {}),
      ...(context.requirement ? { requirement: context.requirement } : {}),
    };
    const sealed = await sealTunnelMessage(this.options.identity, payload, context.raw, this.options.hostname);
    const result = await this.options.client.send(tunnelTarget(this.options.peer), { mailFrom, recipients: [context.recipient], eightBitMime: true }, sealed);
    const outcome = result.outcomes[0];
    const reply = outcome ? `${outcome.code ?? ''} ${outcome.reply}`.trim() : 'no answer';
    if (outcome?.status === 'delivered') {
      const stored = /portal message ([0-9a-f-]{36})/.exec(outcome.reply);
      return { kind: 'handled', detail: { channel: 'tunnel', portalHost: result.remote, ...(stored ? { portalMessageId: stored[1] } : {}) } };
    }
    if (outcome?.status === 'failed') return { kind: 'refused', reason: `the portal host refused the copy: ${reply}`, enhancedCode: outcome.enhancedCode ?? '5.7.0' };
    return { kind: 'unavailable', reason: `the portal host did not take the copy (${result.remote}): ${reply}` };
  }
}

/** A portal copy's protection context again, on the portal host, from what the tunnel carried. */
export function contextFromTunnel(payload: Extract<TunnelPayload, { kind: 'portal-copy' }>, tenantId: string, raw: Buffer): ProtectionContext {
  const request = payload.request
    ? { ...payload.request, ...(payload.request.expiresAt ? { expiresAt: new Date(payload.request.expiresAt) } : { expiresAt: undefined }) }
    : undefined;
  return {
    messageId: payload.messageId,
    tenantId,
    recipient: payload.recipient,
    raw,
    ...(payload.sender ? { sender: payload.sender } : {}),
    ...(request ? { request: request as SealpostRequest } : {}),
    ...(payload.requirement ? { requirement: payload.requirement } : {}),
  };
}

/**
 * The portal host's delivery: every mail it wrote goes to the gateway over the tunnel, with the route it
 * would have taken, and the gateway delivers it. The gateway's answer is the delivery's outcome.
 */
export function tunnelForwarder(options: { identity: TunnelIdentity; peer: string; client: SmtpDeliveryClient; hostname: string }) {
  return async (delivery: {
    messageId: string;
    tenant: { domains: string[] };
    route: 'external' | 'tenant-mail-server';
    envelope: { mailFrom: string; recipients: string[]; smtpUtf8?: boolean; eightBitMime?: boolean };
    raw: Buffer;
  }) => {
    const payload: TunnelPayload = {
      kind: 'deliver',
      domain: delivery.tenant.domains[0] ?? '',
      messageId: delivery.messageId,
      mailFrom: delivery.envelope.mailFrom,
      recipients: delivery.envelope.recipients,
      route: delivery.route,
    };
    const sealed = await sealTunnelMessage(options.identity, payload, delivery.raw, options.hostname);
    return options.client.send(tunnelTarget(options.peer), delivery.envelope, sealed);
  };
}
