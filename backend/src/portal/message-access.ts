/**
 * Finding one portal message for one session, answered by the visibility rule (visibility.ts):
 * not found for what the session may not see, gone (410) for what was withdrawn from it.
 */
import { and, eq } from 'drizzle-orm';
import type { Queryable } from '../db/client.ts';
import { inTenantScope } from '../db/tenant-scope.ts';
import { portalMessages, portalThreads } from '../db/schema.ts';
import { problems } from './portal-problems.ts';
import { portalMessageHeadColumns, type PortalMessageHead } from './portal-store.ts';
import type { PortalSessionInfo } from './sessions.ts';
import { MAX_THREAD_MESSAGES } from './threads.ts';
import { followsThread, isThreadParty, replyRefusal, visibilityOf, type Relation } from './visibility.ts';

/** Who is asking, for the audit log. */
export interface Actor {
  clientIp: string;
}

/** A message a session may act on, with its thread and how the session stands to it. */
export interface Access {
  row: PortalMessageHead;
  thread: typeof portalThreads.$inferSelect;
  relation: Relation;
  viewerIsExternal: boolean;
}

export function isUuid(value: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value);
}

/**
 * The message if this session may see it; not-found for everything else, expired for withdrawn ones.
 * With `withdrawn: 'allow'` a withdrawn message is answered too (its reader may still remove it).
 */
export async function findAccess(
  q: Queryable,
  session: PortalSessionInfo,
  messageId: string,
  options: { withdrawn: 'refuse' | 'allow' } = { withdrawn: 'refuse' },
): Promise<Access> {
  if (!isUuid(messageId)) throw problems.notFound();
  const [found] = await inTenantScope(q, session.tenantId, (tx) =>
    tx
      .select({ row: portalMessageHeadColumns, thread: portalThreads })
      .from(portalMessages)
      .innerJoin(portalThreads, eq(portalThreads.id, portalMessages.threadId))
      .where(and(eq(portalMessages.id, messageId), eq(portalMessages.tenantId, session.tenantId))),
  );
  if (!found) throw problems.notFound();
  const { row, thread } = found;
  const follower = !isThreadParty(session, thread) && (await followsThreadOf(q, session, thread.id));
  const visibility = visibilityOf(session, thread, row, Date.now(), follower);
  if (visibility.kind === 'hidden') throw problems.notFound();
  if (visibility.kind === 'withdrawn' && options.withdrawn === 'refuse') {
    throw problems.expired(visibility.withdrawal === 'revoked' ? 'The sender withdrew access to this message.' : 'This message has expired.');
  }
  // The sender asked the recipient to prove a second factor (option otp): a session that has not, reads nothing of it.
  if (visibility.viewerIsExternal && row.requireSecondFactor && !session.factorVerified) throw problems.secondFactorRequired();
  return { row, thread, relation: visibility.relation, viewerIsExternal: visibility.viewerIsExternal };
}

/** Whether the session holds an internal copy in the thread (visibility.ts: a follower). */
async function followsThreadOf(q: Queryable, session: PortalSessionInfo, threadId: string): Promise<boolean> {
  const copies = await inTenantScope(q, session.tenantId, (tx) =>
    tx
      .select({ direction: portalMessages.direction, deliveryMode: portalMessages.deliveryMode, toAddress: portalMessages.toAddress, deletedByRecipientAt: portalMessages.deletedByRecipientAt })
      .from(portalMessages)
      .where(and(eq(portalMessages.threadId, threadId), eq(portalMessages.toAddress, session.address), eq(portalMessages.deliveryMode, 'relay'))),
  );
  return followsThread(session, copies);
}

/** Whether this session may reply to the message now, as the portal shows it (no error). */
export function canReplyTo(access: Access): boolean {
  return replyRefusal(access.viewerIsExternal, access.row, access.thread) === undefined;
}

/** Refuses a reply this session may not write now, with the problem the API answers. */
export function checkReply(access: Access): void {
  switch (replyRefusal(access.viewerIsExternal, access.row, access.thread)) {
    case 'not-the-recipient':
      throw problems.forbidden('Only the recipient of a message can reply to it in the portal.');
    case 'replies-disabled':
      throw problems.repliesDisabled();
    case 'thread-full':
      throw problems.threadFull(MAX_THREAD_MESSAGES);
    case undefined:
      return;
  }
}
