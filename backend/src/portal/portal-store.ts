/**
 * Sealed storage of portal messages: the EML and its readable metadata are each sealed with their own
 * data key (`${id}:eml`, `${id}:meta`). The SHA-256 of the EML is kept and checked on every retrieval.
 */
import { createHash } from 'node:crypto';
import type { Queryable } from '../db/client.ts';
import { portalMessages } from '../db/schema.ts';
import { storableOptionalText, storableText } from '../db/storable-text.ts';
import type { KeyVault } from '../vault/key-vault.ts';

export interface PortalMessageMeta {
  subject: string;
  fromName?: string;
  preview: string;
  to: string[];
  cc: string[];
  references: string[];
}

export type PortalMessageRow = typeof portalMessages.$inferSelect;

export interface NewPortalMessage {
  id: string;
  tenantId: string;
  threadId: string;
  sourceMessageId?: string;
  direction: 'from-member' | 'from-recipient';
  deliveryMode: 'portal_secure' | 'relay';
  fromAddress: string;
  toAddress: string;
  messageIdHeader?: string;
  eml: Buffer;
  meta: PortalMessageMeta;
  readReceipt: boolean;
  noReply: boolean;
  sentAt: Date;
  expiresAt?: Date;
}

export const sha256Hex = (data: Buffer) => createHash('sha256').update(data).digest('hex');

export async function insertPortalMessage(q: Queryable, vault: KeyVault, message: NewPortalMessage): Promise<void> {
  const sealedEml = await vault.seal(message.tenantId, `${message.id}:eml`, message.eml, q);
  const sealedMeta = await vault.seal(message.tenantId, `${message.id}:meta`, Buffer.from(JSON.stringify(message.meta)), q);
  await q.insert(portalMessages).values({
    id: message.id,
    tenantId: message.tenantId,
    threadId: message.threadId,
    sourceMessageId: message.sourceMessageId ?? null,
    direction: message.direction,
    deliveryMode: message.deliveryMode,
    fromAddress: storableText(message.fromAddress),
    toAddress: storableText(message.toAddress),
    messageIdHeader: storableOptionalText(message.messageIdHeader, 998),
    sizeBytes: message.eml.length,
    contentSha256: sha256Hex(message.eml),
    content: sealedEml.content,
    wrappedDataKey: sealedEml.wrappedDataKey,
    meta: sealedMeta.content,
    metaWrappedDataKey: sealedMeta.wrappedDataKey,
    readReceipt: message.readReceipt,
    noReply: message.noReply,
    sentAt: message.sentAt,
    expiresAt: message.expiresAt ?? null,
  });
}

export type OpenedEml = { integrity: 'verified'; eml: Buffer } | { integrity: 'failed'; reason: string; eml?: Buffer };

/** Opens the EML and checks it against the stored SHA-256. */
export async function openEml(vault: KeyVault, row: PortalMessageRow, q?: Queryable): Promise<OpenedEml> {
  let eml: Buffer;
  try {
    eml = await vault.open(row.tenantId, `${row.id}:eml`, { content: row.content, wrappedDataKey: row.wrappedDataKey }, q);
  } catch (error) {
    return { integrity: 'failed', reason: `the stored content could not be decrypted: ${(error as Error).message}` };
  }
  const actual = sha256Hex(eml);
  if (actual !== row.contentSha256) {
    return { integrity: 'failed', reason: `SHA-256 mismatch: stored ${row.contentSha256}, computed ${actual}`, eml };
  }
  return { integrity: 'verified', eml };
}

export async function openMeta(vault: KeyVault, row: Pick<PortalMessageRow, 'id' | 'tenantId' | 'meta' | 'metaWrappedDataKey'>, q?: Queryable): Promise<PortalMessageMeta> {
  try {
    const plain = await vault.open(row.tenantId, `${row.id}:meta`, { content: row.meta, wrappedDataKey: row.metaWrappedDataKey }, q);
    return JSON.parse(plain.toString('utf8')) as PortalMessageMeta;
  } catch {
    return { subject: '', preview: '', to: [], cc: [], references: [] };
  }
}
