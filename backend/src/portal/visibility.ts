/**
 * Who may see, and act on, a portal message. Every part of the portal decides it here, in one place.
 *
 * A portal message belongs to a thread with two parties: the member of the organisation who wrote to
 * the external address (`memberAddress`) and that external recipient (`externalAddress`).
 *
 * - Only the two parties of its thread see a message; to anyone else it does not exist (not found).
 * - Each party sees a message as its author (they sent it) or as its addressee; a party who deleted
 *   the message (deletedBySenderAt for the author, deletedByRecipientAt for the addressee) no longer
 *   sees it. The other party still does, until both deleted it.
 * - What a member sent is withdrawn from the external recipient once the member revoked it or it
 *   expired: the recipient is told it is gone (410), while the member still sees it. Replies of the
 *   recipient are never withdrawn.
 * - Only the external recipient replies, and only to what a member sent, unless the member asked for
 *   no replies or the thread is full.
 * - Relay mode: when a member's portal message also went to colleagues (internal recipients), each of them
 *   got it as mail and keeps an internal copy in the conversation's thread (direction from-member,
 *   delivery mode relay). An internal copy is seen by its addressee alone: its author has the same message
 *   as the external recipient's copy, and the external recipient never sees it. Holding an internal copy
 *   makes the colleague a follower of the thread: they read the whole conversation (the member's messages
 *   and the external recipient's replies), but reply, mark read or delete only what is theirs.
 *
 * The same rule as database conditions (for thread listings, fresh links, the sender's copies and
 * digests) sits below the row-by-row form, so a query and a check cannot drift apart.
 */
import { and, eq, isNull, or, sql, type SQL } from 'drizzle-orm';
import { portalMessages, portalThreads } from '../db/schema.ts';
import type { PortalMessageHead, ThreadParties } from './portal-store.ts';
import { MAX_THREAD_MESSAGES } from './threads.ts';

/** How a viewer stands to one message: they wrote it, it was written to them, or they follow its thread. */
export type Relation = 'author' | 'addressee' | 'follower';

/** Who is looking: a portal session (or the add-in's sender, seen as one). */
export interface Viewer {
  address: string;
}

type VisibilityColumns = Pick<
  PortalMessageHead,
  'fromAddress' | 'toAddress' | 'direction' | 'deliveryMode' | 'revokedAt' | 'expiresAt' | 'deletedBySenderAt' | 'deletedByRecipientAt'
>;

/** A member's message kept for an internal recipient, who also got it as mail (relay mode). */
export function isInternalCopy(row: Pick<PortalMessageHead, 'direction' | 'deliveryMode'>): boolean {
  return row.direction === 'from-member' && row.deliveryMode === 'relay';
}

/** Whether the viewer holds an internal copy among these messages of a thread, and so follows it. */
export function followsThread(viewer: Viewer, rows: readonly Pick<PortalMessageHead, 'direction' | 'deliveryMode' | 'toAddress' | 'deletedByRecipientAt'>[]): boolean {
  return rows.some((row) => isInternalCopy(row) && row.toAddress === viewer.address && !row.deletedByRecipientAt);
}

/** Why a message a member sent is no longer shown to its external recipient. */
export type Withdrawal = 'revoked' | 'expired';

export type Visibility =
  | { kind: 'hidden' }
  | { kind: 'visible'; relation: Relation; viewerIsExternal: boolean }
  | { kind: 'withdrawn'; withdrawal: Withdrawal; relation: Relation; viewerIsExternal: boolean };

export function isThreadParty(viewer: Viewer, thread: ThreadParties): boolean {
  return thread.externalAddress === viewer.address || thread.memberAddress === viewer.address;
}

/** True when the viewer is the thread's external recipient (not the organisation's member). */
export function isExternalIn(viewer: Viewer, thread: ThreadParties): boolean {
  return thread.externalAddress === viewer.address;
}

export function relationOf(viewer: Viewer, row: Pick<PortalMessageHead, 'fromAddress'>): Relation {
  return row.fromAddress === viewer.address ? 'author' : 'addressee';
}

/** Whether the message is revoked or past its expiry (what withdraws it from its external recipient). */
export function withdrawalOf(row: Pick<PortalMessageHead, 'revokedAt' | 'expiresAt'>, now = Date.now()): Withdrawal | undefined {
  if (row.revokedAt) return 'revoked';
  if (row.expiresAt && row.expiresAt.getTime() <= now) return 'expired';
  return undefined;
}

/**
 * The rule for one viewer, one message and the message's thread (see the file comment). `follower`: the
 * viewer holds an internal copy in the thread (followsThread).
 */
export function visibilityOf(viewer: Viewer, thread: ThreadParties, row: VisibilityColumns, now = Date.now(), follower = false): Visibility {
  const party = isThreadParty(viewer, thread);
  if (!party && !follower) return { kind: 'hidden' };
  if (isInternalCopy(row) && row.toAddress !== viewer.address) return { kind: 'hidden' };
  // A thread's parties stand to each message as author or addressee; a follower reads the rest.
  const relation: Relation = party || row.fromAddress === viewer.address || row.toAddress === viewer.address ? relationOf(viewer, row) : 'follower';
  if (relation === 'author' ? row.deletedBySenderAt : row.deletedByRecipientAt) return { kind: 'hidden' };
  const viewerIsExternal = isExternalIn(viewer, thread);
  if (viewerIsExternal && row.direction === 'from-member') {
    const withdrawal = withdrawalOf(row, now);
    if (withdrawal) return { kind: 'withdrawn', withdrawal, relation, viewerIsExternal };
  }
  return { kind: 'visible', relation, viewerIsExternal };
}

/** Why a reply to this message may not be written now; undefined when it may. */
export type ReplyRefusal = 'not-the-recipient' | 'replies-disabled' | 'thread-full';

export function replyRefusal(
  viewerIsExternal: boolean,
  row: Pick<PortalMessageHead, 'direction' | 'noReply'>,
  thread: { messageCount: number },
): ReplyRefusal | undefined {
  if (!viewerIsExternal || row.direction !== 'from-member') return 'not-the-recipient';
  if (row.noReply) return 'replies-disabled';
  if (thread.messageCount >= MAX_THREAD_MESSAGES) return 'thread-full';
  return undefined;
}

// --- The same rule as database conditions ------------------------------------------------------------

/** Threads the address is a party of, or follows through an internal copy it has not deleted. */
export function threadsOfParty(address: string): SQL | undefined {
  return or(eq(portalThreads.externalAddress, address), eq(portalThreads.memberAddress, address), followedBy(address));
}

/** The thread (portal_threads) holds an internal copy for the address that it has not deleted. */
export function followedBy(address: string): SQL {
  return sql`exists (select 1 from portal_messages f where f.thread_id = ${portalThreads.id} and f.to_address = ${address}
    and f.direction = 'from-member' and f.delivery_mode = 'relay' and f.deleted_by_recipient_at is null)`;
}

/** What a member sent to this external address that it may still read: not revoked, deleted or expired. */
export function readableByRecipient(address: string): SQL | undefined {
  return and(
    eq(portalMessages.toAddress, address),
    eq(portalMessages.direction, 'from-member'),
    // An internal copy's reader signs in as a member; no magic link leads to it.
    eq(portalMessages.deliveryMode, 'portal_secure'),
    isNull(portalMessages.revokedAt),
    isNull(portalMessages.deletedByRecipientAt),
    or(isNull(portalMessages.expiresAt), sql`${portalMessages.expiresAt} > now()`),
  );
}

/** The copies a member sent and has not deleted (revoked and expired ones included: the sender sees them). */
export function sentByMember(address: string): SQL | undefined {
  return and(
    eq(portalMessages.fromAddress, address),
    eq(portalMessages.direction, 'from-member'),
    isNull(portalMessages.deletedBySenderAt),
  );
}

/**
 * A message that waits for its external recipient: unread, not withdrawn, not deleted, not expired at
 * `now`. For plain SQL over portal_messages under the alias `m` (the digests of housekeeping.ts).
 */
export function waitingUnread(now: Date): SQL {
  return sql`m.direction = 'from-member' and m.delivery_mode = 'portal_secure'
    and m.first_read_at is null and m.revoked_at is null and m.deleted_by_recipient_at is null
    and (m.expires_at is null or m.expires_at > ${now.toISOString()}::timestamptz)`;
}
