/** Threading: which conversation a new portal message belongs to. */
import { createHmac } from 'node:crypto';
import { and, desc, eq, inArray, lt, sql } from 'drizzle-orm';
import type { Queryable } from '../db/client.ts';
import { portalMessages, portalThreads } from '../db/schema.ts';
import type { KeyVault } from '../vault/key-vault.ts';
import { storableText } from '../db/storable-text.ts';
// The request stage reads Message-IDs the same way, so the reading lives with the message store.
export { referencedMessageIds } from '../messages/portal-replies.ts';

export const MAX_THREAD_MESSAGES = 30;

/**
 * One reply or forward marker at the start of a subject: "[EXT] RE[2]: ". Every repetition is followed by
 * a character it cannot match, so a subject of many spaces cannot make it backtrack.
 */
const REPLY_PREFIX = /^(?:\[[^\]]{0,40}\]\s*)?(?:re|aw|fwd?|wg|sv|vs|antw)\s*(?:\[\d+\]\s*)?:\s*/i;

/** "RE: AW:  Contract  draft" and "Contract draft" are one conversation. */
export function normaliseSubject(subject: string): string {
  let s = subject.normalize('NFC').replace(/\s+/g, ' ').trim().toLowerCase();
  for (let i = 0; i < 20; i += 1) {
    const next = s.replace(REPLY_PREFIX, '').trim();
    if (next === s) break;
    s = next;
  }
  return s;
}

/** A keyed hash of the normalised subject: threads are found without storing the subject in clear. */
export async function subjectKey(vault: KeyVault, tenantId: string, subject: string, q: Queryable): Promise<string> {
  const tenantKey = await vault.tenantKey(tenantId, q);
  const derived = createHmac('sha256', tenantKey).update('sealpost:portal-subject-key').digest();
  return createHmac('sha256', derived).update(normaliseSubject(subject)).digest('hex');
}

export interface ThreadKey {
  tenantId: string;
  memberAddress: string;
  externalAddress: string;
  subjectKey: string;
  referencedIds: string[];
}

/**
 * The thread for a new message between a member and an external address: the thread of a message it
 * replies to, else the latest thread with the same subject; a full thread is never joined (a new one
 * starts). Call inside a transaction; concurrent callers for the same pair are serialised.
 */
export async function findOrCreateThread(tx: Queryable, unchecked: ThreadKey): Promise<string> {
  // Addresses and Message-IDs come from mail; stored and looked up in the same storable form.
  const key: ThreadKey = {
    ...unchecked,
    memberAddress: storableText(unchecked.memberAddress),
    externalAddress: storableText(unchecked.externalAddress),
    referencedIds: unchecked.referencedIds.map((id) => storableText(id, 998)),
  };
  await tx.execute(
    sql`select pg_advisory_xact_lock(hashtextextended(${`portal-thread:${key.tenantId}:${key.memberAddress}:${key.externalAddress}`}, 0))`,
  );
  if (key.referencedIds.length > 0) {
    const [replied] = await tx
      .select({ threadId: portalThreads.id })
      .from(portalMessages)
      .innerJoin(portalThreads, eq(portalThreads.id, portalMessages.threadId))
      .where(
        and(
          eq(portalMessages.tenantId, key.tenantId),
          inArray(portalMessages.messageIdHeader, key.referencedIds),
          eq(portalThreads.externalAddress, key.externalAddress),
          lt(portalThreads.messageCount, MAX_THREAD_MESSAGES),
        ),
      )
      .orderBy(desc(portalMessages.sentAt))
      .limit(1);
    if (replied) return replied.threadId;
  }
  const [bySubject] = await tx
    .select({ id: portalThreads.id })
    .from(portalThreads)
    .where(
      and(
        eq(portalThreads.tenantId, key.tenantId),
        eq(portalThreads.memberAddress, key.memberAddress),
        eq(portalThreads.externalAddress, key.externalAddress),
        eq(portalThreads.subjectKey, key.subjectKey),
        lt(portalThreads.messageCount, MAX_THREAD_MESSAGES),
      ),
    )
    .orderBy(desc(portalThreads.lastMessageAt))
    .limit(1);
  if (bySubject) return bySubject.id;
  const [created] = await tx
    .insert(portalThreads)
    .values({
      tenantId: key.tenantId,
      memberAddress: key.memberAddress,
      externalAddress: key.externalAddress,
      subjectKey: key.subjectKey,
    })
    .returning({ id: portalThreads.id });
  return created!.id;
}

/** Counts a message into the thread; false when the thread is full. */
export async function takeThreadSlot(tx: Queryable, threadId: string): Promise<boolean> {
  const rows = await tx
    .update(portalThreads)
    .set({ messageCount: sql`${portalThreads.messageCount} + 1`, lastMessageAt: sql`now()` })
    .where(and(eq(portalThreads.id, threadId), lt(portalThreads.messageCount, MAX_THREAD_MESSAGES)))
    .returning({ id: portalThreads.id });
  return rows.length > 0;
}
