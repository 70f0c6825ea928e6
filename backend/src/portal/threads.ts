/** Threading: which conversation a new portal message belongs to. */
import { createHmac, randomUUID } from 'node:crypto';
import { and, desc, eq, inArray, lt, sql } from 'drizzle-orm';
import { queryRows, type Queryable } from '../db/client.ts';
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
    const replied = await repliedThread(tx, key);
    if (replied) return replied;
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

/** The open thread with the newest message a reply refers to (In-Reply-To, References), if any. */
async function repliedThread(tx: Queryable, key: ThreadKey): Promise<string | undefined> {
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
  return replied?.threadId;
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

/**
 * findOrCreateThread and takeThreadSlot for a group of new messages written in one transaction, in a
 * few set-wise statements instead of four a message: the pairs' locks in one statement (in key order, as
 * every writer takes them), the threads of replies one by one (they need the referenced messages), the
 * latest open thread per subject in one query, the missing threads in one insert, and the slots in one
 * update. Messages of one key in the group share the thread they find or create. Returns each key's
 * thread, or undefined when a thread would overflow (the caller writes such a group message by message).
 */
export async function findOrCreateThreadsWithSlots(tx: Queryable, unchecked: readonly ThreadKey[]): Promise<string[] | undefined> {
  if (unchecked.length === 0) return [];
  const keys = unchecked.map((key) => ({
    ...key,
    memberAddress: storableText(key.memberAddress),
    externalAddress: storableText(key.externalAddress),
    referencedIds: key.referencedIds.map((id) => storableText(id, 998)),
  }));
  const lockNames = [...new Set(keys.map((key) => `portal-thread:${key.tenantId}:${key.memberAddress}:${key.externalAddress}`))].sort();
  await tx.execute(
    sql`select count(pg_advisory_xact_lock(hashtextextended(name, 0)))
        from (select name from unnest(array[${sql.join(
          lockNames.map((name) => sql`${name}`),
          sql`, `,
        )}]::text[]) as name order by name) as ordered`,
  );
  const threadIds: Array<string | undefined> = [];
  for (const [index, key] of keys.entries()) {
    if (key.referencedIds.length === 0) continue;
    const replied = await repliedThread(tx, key);
    if (replied) threadIds[index] = replied;
  }
  const subjectOf = (key: ThreadKey) => `${key.tenantId}\n${key.memberAddress}\n${key.externalAddress}\n${key.subjectKey}`;
  const open = keys.filter((_, index) => threadIds[index] === undefined);
  const wanted = [...new Map(open.map((key) => [subjectOf(key), key])).values()];
  const bySubject = new Map<string, string>();
  if (wanted.length > 0) {
    const rows = await queryRows<{ id: string; tenant_id: string; member_address: string; external_address: string; subject_key: string }>(
      tx,
      sql`select distinct on (t.tenant_id, t.member_address, t.external_address, t.subject_key)
                 t.id, t.tenant_id, t.member_address, t.external_address, t.subject_key
          from portal_threads t
          join (values ${sql.join(
            wanted.map((key) => sql`(${key.tenantId}::uuid, ${key.memberAddress}, ${key.externalAddress}, ${key.subjectKey})`),
            sql`, `,
          )}) as k(tenant_id, member_address, external_address, subject_key)
            on t.tenant_id = k.tenant_id and t.member_address = k.member_address
           and t.external_address = k.external_address and t.subject_key = k.subject_key
          where t.message_count < ${MAX_THREAD_MESSAGES}
          order by t.tenant_id, t.member_address, t.external_address, t.subject_key, t.last_message_at desc`,
    );
    for (const row of rows) {
      bySubject.set(`${row.tenant_id}\n${row.member_address}\n${row.external_address}\n${row.subject_key}`, row.id);
    }
    const missing = wanted.filter((key) => !bySubject.has(subjectOf(key)));
    if (missing.length > 0) {
      const created = missing.map((key) => ({ id: randomUUID(), tenantId: key.tenantId, memberAddress: key.memberAddress, externalAddress: key.externalAddress, subjectKey: key.subjectKey }));
      await tx.insert(portalThreads).values(created);
      created.forEach((thread, i) => bySubject.set(subjectOf(missing[i]!), thread.id));
    }
  }
  const result = keys.map((key, index) => threadIds[index] ?? bySubject.get(subjectOf(key))!);
  // Each thread takes as many slots as messages of the group join it; a thread that has not room for all is left as it was.
  const slots = new Map<string, number>();
  for (const id of result) slots.set(id, (slots.get(id) ?? 0) + 1);
  const taken = await queryRows<{ id: string }>(
    tx,
    sql`update portal_threads t set message_count = t.message_count + s.n, last_message_at = now()
        from (values ${sql.join(
          [...slots].map(([id, n]) => sql`(${id}::uuid, ${n}::int)`),
          sql`, `,
        )}) as s(id, n)
        where t.id = s.id and t.message_count + s.n <= ${MAX_THREAD_MESSAGES}
        returning t.id`,
  );
  if (taken.length !== slots.size) return undefined;
  return result;
}
