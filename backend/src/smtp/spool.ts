/**
 * Durable acceptance: the encrypted raw message, its envelope and its trace entry commit in one
 * transaction before the SMTP reply. The pipeline picks spooled messages up from the same table.
 */
import { createHash } from 'node:crypto';
import type { Database, Queryable } from '../db/client.ts';
import { messages, recipients } from '../db/schema.ts';
import { recordTrace } from '../pipeline/message-trace.ts';
import type { KeyVault } from '../vault/key-vault.ts';

export type MessageDirection = 'inbound' | 'outbound' | 'notification';

export interface SpoolRequest {
  id: string;
  tenantId: string;
  direction: MessageDirection;
  mailFrom: string;
  recipients: string[];
  clientAddress: string;
  clientHelo?: string;
  tls: boolean;
  connectorName?: string;
  raw: Buffer;
  messageIdHeader?: string;
  traceDetail: Record<string, unknown>;
}

export async function spoolMessages(db: Database, vault: KeyVault, requests: SpoolRequest[]): Promise<void> {
  await db.transaction(async (tx) => {
    await spoolWithin(tx, vault, requests);
  });
}

/** For callers that already hold a transaction (a bounce created together with a delivery's failure). */
export async function spoolWithin(q: Queryable, vault: KeyVault, requests: SpoolRequest[]): Promise<void> {
  for (const request of requests) {
    const sealed = await vault.seal(request.tenantId, request.id, request.raw, q);
    await q.insert(messages).values({
      id: request.id,
      tenantId: request.tenantId,
      direction: request.direction,
      mailFrom: request.mailFrom,
      clientAddress: request.clientAddress,
      clientHelo: request.clientHelo ?? null,
      tls: request.tls,
      connectorName: request.connectorName ?? null,
      sizeBytes: request.raw.length,
      messageIdHeader: request.messageIdHeader?.slice(0, 998) ?? null,
      contentSha256: createHash('sha256').update(request.raw).digest('hex'),
      content: sealed.content,
      wrappedDataKey: sealed.wrappedDataKey,
    });
    await q
      .insert(recipients)
      .values(request.recipients.map((address, position) => ({ messageId: request.id, position, address })));
    await recordTrace(q, {
      messageId: request.id,
      tenantId: request.tenantId,
      step: 'received',
      detail: {
        direction: request.direction,
        mailFrom: request.mailFrom,
        recipients: request.recipients,
        client: request.clientAddress,
        helo: request.clientHelo,
        tls: request.tls,
        connector: request.connectorName,
        sizeBytes: request.raw.length,
        messageIdHeader: request.messageIdHeader,
        ...request.traceDetail,
      },
    });
  }
}
