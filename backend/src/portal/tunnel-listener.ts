/**
 * Each side's end of the S/MIME tunnel (portal-tunnel.ts): an SMTP listener of its own, apart from the
 * public one, that takes only tunnel messages from the other side. The portal host takes portal copies and
 * stores them before its 250; the gateway takes the mail the portal wrote and spools it, already routed,
 * before its 250. Anything not sealed for this side and signed by the other is refused with the reason.
 */
import { createHash } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { SMTPServer } from 'smtp-server';
import type { Database } from '../db/client.ts';
import { withTenants } from '../db/tenant-scope.ts';
import { messages } from '../db/schema.ts';
import type { Logger } from '../logger.ts';
import { spoolWithin } from '../messages/spool.ts';
import { smtpError } from '../smtp/smtp-server-adjustments.ts';
import type { TenantDirectory } from '../tenants/tenant-directory.ts';
import type { KeyVault } from '../vault/key-vault.ts';
import { contextFromTunnel, openTunnelMessage, TunnelError, type TunnelIdentity, type TunnelPayload } from './portal-tunnel.ts';
import type { RecipientCopies } from './recipient-copies.ts';

/** What a tunnel listener answers a message: the SMTP reply after its DATA. */
export interface TunnelAnswer {
  code: number;
  enhancedCode: string;
  text: string;
}

export interface TunnelListenerOptions {
  identity: TunnelIdentity;
  hostname: string;
  logger: Logger;
  /** The largest tunnel message taken (the gateway's message limit, plus base64 and the seals). */
  maxMessageBytes: number;
  receive: (payload: TunnelPayload, raw: Buffer, envelope: { mailFrom: string; recipients: string[] }) => Promise<TunnelAnswer>;
}

export function createTunnelListener(options: TunnelListenerOptions): SMTPServer {
  return new SMTPServer({
    name: options.hostname,
    banner: 'Sealpost tunnel',
    size: options.maxMessageBytes,
    // Who may speak is decided by the signature inside each message, not by a password or the network.
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    hideSTARTTLS: true,
    hide8BITMIME: false,
    hideSMTPUTF8: false,
    hideENHANCEDSTATUSCODES: false,
    disableReverseLookup: true,
    socketTimeout: 120_000,
    closeTimeout: 10_000,
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      let bytes = 0;
      stream.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes <= options.maxMessageBytes) chunks.push(chunk);
      });
      stream.once('error', (error) => callback(error));
      stream.once('end', () => {
        if ((stream as unknown as { sizeExceeded?: boolean }).sizeExceeded || bytes > options.maxMessageBytes) {
          callback(smtpError(552, '5.3.4', `the tunnel message is larger than ${options.maxMessageBytes} bytes`));
          return;
        }
        const envelope = {
          mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          recipients: session.envelope.rcptTo.map((r) => r.address),
        };
        void answer(options, Buffer.concat(chunks), envelope).then(
          (reply) => {
            if (reply.code === 250) callback(null, `${reply.enhancedCode} ${reply.text}`);
            else callback(smtpError(reply.code, reply.enhancedCode, reply.text));
          },
          (error: unknown) => {
            options.logger.error({ err: error }, 'a tunnel message could not be taken');
            callback(smtpError(451, '4.3.0', 'the tunnel message could not be taken now; try again'));
          },
        );
      });
    },
  });
}

async function answer(options: TunnelListenerOptions, message: Buffer, envelope: { mailFrom: string; recipients: string[] }): Promise<TunnelAnswer> {
  let opened: Awaited<ReturnType<typeof openTunnelMessage>>;
  try {
    opened = await openTunnelMessage(options.identity, message);
  } catch (error) {
    if (error instanceof TunnelError) {
      options.logger.warn({ reason: error.message }, 'refused a tunnel message');
      return { code: 554, enhancedCode: '5.7.1', text: error.message };
    }
    throw error;
  }
  // The envelope the signature covers is the one that counts; one that differs on the wire was changed there.
  const signed = opened.payload.kind === 'deliver' ? opened.payload.recipients : [opened.payload.recipient];
  const sameRecipients = signed.length === envelope.recipients.length && signed.every((r, i) => r.toLowerCase() === envelope.recipients[i]!.toLowerCase());
  if (!sameRecipients || opened.payload.mailFrom.toLowerCase() !== envelope.mailFrom.toLowerCase()) {
    return { code: 554, enhancedCode: '5.7.1', text: 'the SMTP envelope differs from the signed one' };
  }
  return options.receive(opened.payload, opened.raw, envelope);
}

/** The portal host's receiver: stores each portal copy (and its notification) before answering 250. */
export function portalCopyReceiver(deps: { db: Database; vault: KeyVault; directory: TenantDirectory; copies: RecipientCopies; onStored: () => void }) {
  return async (payload: TunnelPayload, raw: Buffer): Promise<TunnelAnswer> => {
    if (payload.kind !== 'portal-copy') return { code: 554, enhancedCode: '5.7.1', text: `the portal host takes portal copies only, not "${payload.kind}"` };
    const tenant = deps.directory.tenantForDomain(payload.domain);
    if (!tenant) return { code: 550, enhancedCode: '5.1.2', text: `no tenant with the domain ${payload.domain} on the portal host` };
    // The gateway's message becomes the source record the copy refers to (its sender, for the notification and quotas).
    await withTenants(deps.db, tenant.id, async (tx) => {
      const [known] = await tx.select({ id: messages.id }).from(messages).where(eq(messages.id, payload.messageId));
      if (known) return;
      await spoolWithin(tx, deps.vault, [
        {
          id: payload.messageId,
          tenantId: tenant.id,
          direction: 'outbound',
          mailFrom: payload.mailFrom,
          recipients: [payload.recipient],
          clientAddress: 'tunnel',
          tls: false,
          raw,
          traceDetail: { tunnel: 'portal-copy' },
        },
      ]);
      // Handed over whole: nothing of it runs through this host's stages or delivery.
      await tx.update(messages).set({ state: 'delivered', stage: 'queued' }).where(eq(messages.id, payload.messageId));
    });
    const outcome = await deps.copies.storeForRecipient(contextFromTunnel(payload, tenant.id, raw));
    switch (outcome.kind) {
      case 'handled':
        deps.onStored();
        return { code: 250, enhancedCode: '2.0.0', text: `stored as portal message ${String(outcome.detail.portalMessageId ?? '')}`.trim() };
      case 'refused':
        return { code: 550, enhancedCode: outcome.enhancedCode, text: outcome.reason };
      case 'unavailable':
        return { code: 451, enhancedCode: '4.3.0', text: outcome.reason };
      default:
        return { code: 451, enhancedCode: '4.3.0', text: `the portal answered ${outcome.kind}` };
    }
  };
}

/**
 * The gateway's receiver: spools the mail the portal wrote with its delivery already queued on the route
 * the portal named (notifications out to the Internet, replies and receipts to the tenant's mail server).
 * A message sent again after a lost answer is recognised by its id and taken once.
 */
export function portalMailReceiver(deps: { db: Database; vault: KeyVault; directory: TenantDirectory; onSpooled: () => void }) {
  return async (payload: TunnelPayload, raw: Buffer): Promise<TunnelAnswer> => {
    if (payload.kind !== 'deliver') return { code: 554, enhancedCode: '5.7.1', text: `the gateway takes mail to deliver only, not "${payload.kind}"` };
    const tenant = deps.directory.tenantForDomain(payload.domain);
    if (!tenant) return { code: 550, enhancedCode: '5.1.2', text: `no tenant with the domain ${payload.domain} on the gateway` };
    const id = idFor(payload.messageId, payload.recipients);
    await withTenants(deps.db, tenant.id, async (tx) => {
      const [known] = await tx.select({ id: messages.id }).from(messages).where(eq(messages.id, id));
      if (known) return;
      await spoolWithin(tx, deps.vault, [
        {
          id,
          tenantId: tenant.id,
          direction: 'notification',
          mailFrom: payload.mailFrom,
          recipients: payload.recipients,
          clientAddress: 'tunnel',
          tls: false,
          raw,
          traceDetail: { tunnel: 'from-portal', portalMessageId: payload.messageId },
          queuedFor: payload.route,
        },
      ]);
    });
    deps.onSpooled();
    return { code: 250, enhancedCode: '2.0.0', text: `queued as ${id}` };
  };
}

/** One id per (portal-host message, recipients): the same delivery sent twice is one message here. */
function idFor(messageId: string, recipients: readonly string[]): string {
  const hex = createHash('sha256').update(`${messageId}\n${[...recipients].sort().join('\n')}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
