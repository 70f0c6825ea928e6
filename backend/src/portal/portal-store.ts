/**
 * Sealed storage of portal messages: the EML and its readable metadata are each sealed with their own
 * data key (`${id}:eml`, `${id}:meta`). A keyed fingerprint of the EML is kept in `content_sha256` and
 * checked on every retrieval.
 *
 * Who may read a copy (its thread and that thread's two parties, its sender, its addressee, its
 * direction) is bound into both seals as additional authenticated data, so a row moved to another
 * reader with SQL fails to open instead of being shown with "verified" integrity. The `hmac-sha256:`
 * prefix of `content_sha256` is the version marker: rows without it are from before the binding
 * (plain SHA-256, ids-only AAD) and still open the old way. Turning a new row into an old one by
 * editing the marker does not help an attacker: its seal then fails, because it was made with the binding.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { eq, getTableColumns, inArray } from 'drizzle-orm';
import type { Queryable } from '../db/client.ts';
import { inTenantScope } from '../db/tenant-scope.ts';
import { portalMessages, portalThreads } from '../db/schema.ts';
import { storableOptionalText, storableText } from '../db/storable-text.ts';
import { FINGERPRINT_PREFIX, type KeyVault } from '../vault/key-vault.ts';

export interface PortalMessageMeta {
  subject: string;
  fromName?: string;
  preview: string;
  to: string[];
  cc: string[];
  references: string[];
}

export type PortalMessageRow = typeof portalMessages.$inferSelect;
/** A row without its sealed EML, which can be tens of megabytes: loaded only when the EML is opened. */
export type PortalMessageHead = Omit<PortalMessageRow, 'content'>;

const { content: _sealedEml, ...headColumns } = getTableColumns(portalMessages);
/** Every column but the sealed EML: what listings and access checks select. */
export const portalMessageHeadColumns = headColumns;

/** The two parties of the thread a message belongs to; the portal decides access by them. */
export interface ThreadParties {
  memberAddress: string;
  externalAddress: string;
}

type BindingColumns = Pick<PortalMessageRow, 'threadId' | 'direction' | 'fromAddress' | 'toAddress'>;

/** The canonical "who may read this" string sealed with a message (JSON: unambiguous for any address). */
export function accessBinding(row: BindingColumns, thread: ThreadParties): string {
  return JSON.stringify({
    v: 2,
    thread: row.threadId,
    member: thread.memberAddress,
    external: thread.externalAddress,
    direction: row.direction,
    from: row.fromAddress,
    to: row.toAddress,
  });
}

/** Rows sealed before the access binding and keyed fingerprints (see the file comment). */
export function isLegacyRow(row: Pick<PortalMessageRow, 'contentSha256'>): boolean {
  return !row.contentSha256.startsWith(FINGERPRINT_PREFIX);
}

async function threadPartiesOf(q: Queryable, threadId: string): Promise<ThreadParties | undefined> {
  const [thread] = await q
    .select({ memberAddress: portalThreads.memberAddress, externalAddress: portalThreads.externalAddress })
    .from(portalThreads)
    .where(eq(portalThreads.id, threadId));
  return thread;
}

/** The sealed EML of a message, read only when it is about to be opened. */
export async function loadSealedEml(q: Queryable, messageId: string): Promise<Buffer | undefined> {
  const [row] = await q.select({ content: portalMessages.content }).from(portalMessages).where(eq(portalMessages.id, messageId));
  return row?.content;
}

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
  /** The sender asked that the recipient prove a second factor before reading (option otp). */
  requireSecondFactor?: boolean;
  sentAt: Date;
  expiresAt?: Date;
}

export const sha256Hex = (data: Buffer) => createHash('sha256').update(data).digest('hex');

export async function insertPortalMessage(q: Queryable, vault: KeyVault, message: NewPortalMessage): Promise<void> {
  await insertPortalMessages(q, vault, [message]);
}

/**
 * Stores messages with one read of their threads' parties and one insert: each EML and its metadata
 * sealed under data keys of their own, bound to the message's place in its thread.
 */
export async function insertPortalMessages(q: Queryable, vault: KeyVault, list: readonly NewPortalMessage[]): Promise<void> {
  if (list.length === 0) return;
  const threadIds = [...new Set(list.map((m) => m.threadId))];
  const parties = await q
    .select({ id: portalThreads.id, memberAddress: portalThreads.memberAddress, externalAddress: portalThreads.externalAddress })
    .from(portalThreads)
    .where(inArray(portalThreads.id, threadIds));
  const partiesOf = new Map(parties.map((p) => [p.id, { memberAddress: p.memberAddress, externalAddress: p.externalAddress }]));
  const rows = [];
  for (const message of list) {
    const thread = partiesOf.get(message.threadId);
    if (!thread) throw new Error(`portal thread ${message.threadId} is missing`);
    const binding = accessBinding(message, thread);
    const sealedEml = await vault.seal(message.tenantId, `${message.id}:eml`, message.eml, q, binding);
    const sealedMeta = await vault.seal(message.tenantId, `${message.id}:meta`, Buffer.from(JSON.stringify(message.meta)), q, binding);
    rows.push({
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
      contentSha256: await vault.fingerprint(message.tenantId, message.eml, q),
      content: sealedEml.content,
      wrappedDataKey: sealedEml.wrappedDataKey,
      meta: sealedMeta.content,
      metaWrappedDataKey: sealedMeta.wrappedDataKey,
      readReceipt: message.readReceipt,
      noReply: message.noReply,
      requireSecondFactor: message.requireSecondFactor ?? false,
      sentAt: message.sentAt,
      expiresAt: message.expiresAt ?? null,
    });
  }
  await q.insert(portalMessages).values(rows);
}

export type OpenedEml = { integrity: 'verified'; eml: Buffer } | { integrity: 'failed'; reason: string; eml?: Buffer };

/** Opens the EML (`sealed`, from loadSealedEml) and checks the access binding and the fingerprint. */
export async function openEml(vault: KeyVault, row: PortalMessageHead, thread: ThreadParties, sealed: Buffer, q?: Queryable): Promise<OpenedEml> {
  const legacy = isLegacyRow(row);
  let eml: Buffer;
  try {
    eml = await vault.open(
      row.tenantId,
      `${row.id}:eml`,
      { content: sealed, wrappedDataKey: row.wrappedDataKey },
      q,
      legacy ? undefined : accessBinding(row, thread),
    );
  } catch (error) {
    return {
      integrity: 'failed',
      reason: `the stored content could not be decrypted for this thread and addressee (moved, tampered or wrong key): ${(error as Error).message}`,
    };
  }
  const actual = legacy ? sha256Hex(eml) : await vault.fingerprint(row.tenantId, eml, q);
  if (!sameText(actual, row.contentSha256)) {
    return { integrity: 'failed', reason: `fingerprint mismatch: stored ${row.contentSha256}, computed ${actual}`, eml };
  }
  return { integrity: 'verified', eml };
}

function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

type MetaRow = Pick<PortalMessageRow, 'id' | 'tenantId' | 'meta' | 'metaWrappedDataKey' | 'contentSha256'> & BindingColumns;

/**
 * The sealed metadata (subject, preview) of a message; empty when it does not open, so a moved row
 * shows nothing in listings either. Pass the thread when it is at hand, else it is looked up.
 */
export async function openMeta(vault: KeyVault, row: MetaRow, q?: Queryable, thread?: ThreadParties): Promise<PortalMessageMeta> {
  try {
    let binding: string | undefined;
    if (!isLegacyRow(row)) {
      const parties = thread ?? (await inTenantScope(q ?? vault.db, row.tenantId, (tx) => threadPartiesOf(tx, row.threadId)));
      if (!parties) throw new Error('the thread is missing');
      binding = accessBinding(row, parties);
    }
    const plain = await vault.open(row.tenantId, `${row.id}:meta`, { content: row.meta, wrappedDataKey: row.metaWrappedDataKey }, q, binding);
    return JSON.parse(plain.toString('utf8')) as PortalMessageMeta;
  } catch {
    return { subject: '', preview: '', to: [], cc: [], references: [] };
  }
}
