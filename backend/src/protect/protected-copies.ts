/**
 * Protected copies: the bytes a protection mode made for a group of recipients, stored once so that each
 * delivery attempt sends exactly these bytes (a password PDF keeps its password, an S/MIME message its
 * ciphertext). They are encrypted at rest with the key vault, like every stored message: a data key of
 * their own, wrapped by the tenant key, with the copy id, its message, mode and recipients bound in, so a
 * row moved to another message or given other recipients no longer opens.
 */
import { randomUUID } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import { queryRows, type Queryable } from '../db/client.ts';
import { protectedCopies } from '../db/schema.ts';
import { inTenantScope } from '../db/tenant-scope.ts';
import type { KeyVault } from '../vault/key-vault.ts';

export type SealedProtectedCopy = typeof protectedCopies.$inferInsert & { id: string };

export interface ProtectedCopyInput {
  tenantId: string;
  messageId: string;
  mode: string;
  recipients: string[];
  raw: Buffer;
}

/** What the copy is bound to besides its id: the message, the mode and the recipients it serves. */
function binding(copy: { messageId: string; mode: string; recipients: string[] }): string {
  return `protected-copy:${copy.messageId}:${copy.mode}:${copy.recipients.join(',')}`;
}

/** Seals a protected copy under a fresh data key; the row is written by the caller. */
export async function sealProtectedCopy(vault: KeyVault, input: ProtectedCopyInput, q: Queryable = vault.db): Promise<SealedProtectedCopy> {
  const id = randomUUID();
  const recipients = [...input.recipients];
  const sealed = await vault.seal(input.tenantId, id, input.raw, q, binding({ ...input, recipients }));
  return {
    id,
    tenantId: input.tenantId,
    messageId: input.messageId,
    mode: input.mode,
    recipients,
    content: sealed.content,
    wrappedDataKey: sealed.wrappedDataKey,
    sizeBytes: input.raw.length,
  };
}

export async function insertProtectedCopies(q: Queryable, copies: SealedProtectedCopy[]): Promise<void> {
  for (let i = 0; i < copies.length; i += 100) await q.insert(protectedCopies).values(copies.slice(i, i + 100));
}

export type OpenedProtectedCopy =
  | { outcome: 'opened'; raw: Buffer; recipients: string[]; mode: string }
  | { outcome: 'missing' }
  | { outcome: 'unreadable'; reason: string };

/** Reads and decrypts one stored copy; a copy that is gone or fails its integrity check is reported, never guessed at. */
export async function openProtectedCopy(vault: KeyVault, q: Queryable, tenantId: string, copyId: string): Promise<OpenedProtectedCopy> {
  const [row] = await inTenantScope(q, tenantId, (tx) => tx.select().from(protectedCopies).where(eq(protectedCopies.id, copyId)));
  if (!row || row.tenantId !== tenantId) return { outcome: 'missing' };
  try {
    const raw = await vault.open(tenantId, row.id, { content: row.content, wrappedDataKey: row.wrappedDataKey }, q, binding(row));
    return { outcome: 'opened', raw, recipients: row.recipients, mode: row.mode };
  } catch (error) {
    return { outcome: 'unreadable', reason: (error as Error).message };
  }
}

/**
 * Deletes the copies of those messages whose every delivery is final (delivered, failed or expired):
 * nothing will send them again. Returns how many were deleted.
 */
export async function deleteCopiesOfFinishedMessages(q: Queryable, messageIds: string[]): Promise<number> {
  let deleted = 0;
  const ids = [...new Set(messageIds)].sort();
  for (let i = 0; i < ids.length; i += 500) {
    const list = sql.join(ids.slice(i, i + 500).map((id) => sql`${id}::uuid`), sql`, `);
    const gone = await queryRows<{ id: string }>(
      q,
      sql`
      delete from protected_copies c
      where c.message_id in (
        select d.message_id from deliveries d
        where d.message_id in (${list})
        group by d.message_id
        having bool_and(d.status in ('delivered', 'failed', 'expired')))
      returning c.id`,
    );
    deleted += gone.length;
  }
  return deleted;
}

