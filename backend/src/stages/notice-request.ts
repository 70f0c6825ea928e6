/** A notice the stages write (quarantine, rejection, certificate change) as a spool request with its route known. */
import { randomUUID } from 'node:crypto';
import type { SpoolRequest } from '../messages/spool.ts';
import type { MessageContext } from './message-context.ts';

export function noticeRequest(
  context: MessageContext,
  recipient: string,
  raw: Buffer,
  messageIdHeader: string,
  route: 'external' | 'tenant-mail-server',
  traceDetail: Record<string, unknown>,
): SpoolRequest {
  return {
    id: randomUUID(),
    tenantId: context.tenantId,
    direction: 'notification',
    // A notice is sent from the null sender (RFC 3834): nothing answers it automatically.
    mailFrom: '',
    recipients: [recipient],
    clientAddress: 'gateway',
    tls: false,
    raw,
    messageIdHeader,
    traceDetail,
    queuedFor: route,
  };
}
