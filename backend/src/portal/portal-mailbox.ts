/**
 * A reader's mailbox in the portal: the threads and messages a session may see (visibility.ts decides
 * which), reading one message (recorded as read, with a read receipt when the sender asked for one),
 * its attachments, and removing a message from one's own view.
 */
import { and, asc, desc, eq, isNull, sql } from 'drizzle-orm';
import type { MessageSummary, PortalMessageView, ThreadDetail, ThreadSummary } from '../../../common/src/portal-api.ts';
import { appendAudit } from '../audit/audit-log.ts';
import { sealAuditDetails, SEALED_DETAILS_KEY } from '../audit/sealed-details.ts';
import { withTenants } from '../db/tenant-scope.ts';
import { portalMessages, portalThreads } from '../db/schema.ts';
import type { TenantDirectory } from '../tenants/tenant-directory.ts';
import { sanitizeMailHtml } from './html-sanitizer.ts';
import { canReplyTo, findAccess, isUuid, type Access, type Actor } from './message-access.ts';
import type { MessageOpener } from './message-opener.ts';
import type { ParsedAttachment } from './message-parsing.ts';
import { buildReadReceiptMail } from './notification-mail.ts';
import { spoolPortalMail, type PortalMailingDeps } from './portal-outbox.ts';
import { problems } from './portal-problems.ts';
import { languageFor } from './portal-settings.ts';
import { openMeta, portalMessageHeadColumns, type PortalMessageMeta } from './portal-store.ts';
import type { PortalSessionInfo } from './sessions.ts';
import { MAX_THREAD_MESSAGES } from './threads.ts';
import { followsThread, isExternalIn, isInternalCopy, isThreadParty, replyRefusal, threadsOfParty, visibilityOf } from './visibility.ts';

export interface PortalMailboxOptions extends PortalMailingDeps {
  directory: TenantDirectory;
  opener: MessageOpener;
}

export class PortalMailbox {
  constructor(private readonly options: PortalMailboxOptions) {}

  private async threadsOf(session: PortalSessionInfo, threadId?: string) {
    const mine = threadsOfParty(session.address);
    const where = threadId ? and(eq(portalThreads.tenantId, session.tenantId), mine, eq(portalThreads.id, threadId)) : and(eq(portalThreads.tenantId, session.tenantId), mine);
    return withTenants(this.options.db, session.tenantId, (tx) => tx.select().from(portalThreads).where(where).orderBy(desc(portalThreads.lastMessageAt)).limit(500));
  }

  private async summarise(session: PortalSessionInfo, thread: typeof portalThreads.$inferSelect) {
    const rows = await withTenants(this.options.db, session.tenantId, (tx) =>
      tx
      .select(portalMessageHeadColumns)
      .from(portalMessages)
      .where(eq(portalMessages.threadId, thread.id))
      .orderBy(asc(portalMessages.sentAt)),
    );
    const now = Date.now();
    const follower = !isThreadParty(session, thread) && followsThread(session, rows);
    // The viewer's own internal copy of a message stands for the external recipient's copy of it (one
    // message, shown once), for a follower and for a member who was copied on a colleague's reply alike.
    const ownCopies = new Set(rows.filter((row) => isInternalCopy(row) && row.toAddress === session.address).map((row) => row.sourceMessageId));
    const visible = rows.filter(
      (row) =>
        visibilityOf(session, thread, row, now, follower).kind === 'visible' &&
        !(!isInternalCopy(row) && row.sourceMessageId !== null && ownCopies.has(row.sourceMessageId)),
    );
    const metas = await Promise.all(visible.map((row) => openMeta(this.options.vault, row, undefined, thread)));
    const external = isExternalIn(session, thread);
    const summary: ThreadSummary = {
      id: thread.id,
      subject: metas[0]?.subject ?? '',
      counterpart: external ? thread.memberAddress : thread.externalAddress,
      messageCount: visible.length,
      unread: visible.filter((row) => row.toAddress === session.address && !row.firstReadAt).length,
      lastMessageAt: (visible[visible.length - 1]?.sentAt ?? thread.lastMessageAt).toISOString(),
    };
    const messagesOut: MessageSummary[] = visible.map((row, i) => ({
      id: row.id,
      from: row.fromAddress,
      ...(metas[i]!.fromName ? { fromName: metas[i]!.fromName } : {}),
      sentAt: row.sentAt.toISOString(),
      subject: metas[i]!.subject,
      // What the sender asked a second factor for shows no preview until the recipient proved it.
      preview: external && row.requireSecondFactor && !session.factorVerified ? '' : metas[i]!.preview,
      read: row.toAddress === session.address ? row.firstReadAt !== null : true,
      direction: row.direction as MessageSummary['direction'],
    }));
    // The thread takes a reply when one of its messages does.
    const canReply = visible.some((row) => replyRefusal(external, row, thread) === undefined);
    return { summary, messages: messagesOut, canReply };
  }

  async listThreads(session: PortalSessionInfo): Promise<ThreadSummary[]> {
    const threads = await this.threadsOf(session);
    const out: ThreadSummary[] = [];
    for (const thread of threads) {
      const { summary } = await this.summarise(session, thread);
      if (summary.messageCount > 0) out.push(summary);
    }
    return out;
  }

  async threadDetail(session: PortalSessionInfo, threadId: string): Promise<ThreadDetail> {
    if (!isUuid(threadId)) throw problems.notFound();
    const [thread] = await this.threadsOf(session, threadId);
    if (!thread) throw problems.notFound();
    const { summary, messages: list, canReply } = await this.summarise(session, thread);
    if (list.length === 0) throw problems.notFound();
    return { thread: summary, messages: list, maxMessages: MAX_THREAD_MESSAGES, canReply };
  }

  async viewMessage(session: PortalSessionInfo, messageId: string, allowRemote: boolean, actor: Actor): Promise<PortalMessageView> {
    const access = await findAccess(this.options.db, session, messageId);
    const { row, thread } = access;
    const opened = await this.options.opener.read(access, session, actor);
    const meta = await openMeta(this.options.vault, row, undefined, thread);
    const base = {
      id: row.id,
      threadId: row.threadId,
      from: row.fromAddress,
      ...(meta.fromName ? { fromName: meta.fromName } : {}),
      to: meta.to.length ? meta.to : [row.toAddress],
      cc: meta.cc,
      subject: meta.subject,
      sentAt: row.sentAt.toISOString(),
      ...(row.expiresAt ? { expiresAt: row.expiresAt.toISOString() } : {}),
    };
    const canReply = canReplyTo(access);

    let view: PortalMessageView;
    if (opened.integrity === 'failed') {
      view = { ...base, text: '', hasBlockedRemoteContent: false, attachments: [], integrity: 'failed', canReply: false };
    } else {
      const parsed = opened.structure;
      const byCid = new Map(parsed.attachments.filter((a) => a.contentId).map((a) => [a.contentId!, a]));
      const sanitized = parsed.html
        ? sanitizeMailHtml(parsed.html, {
            allowRemote,
            inlineUrlFor: (cid) => {
              const part = byCid.get(cid);
              return part ? `/api/portal/messages/${row.id}/inline/${part.id}` : undefined;
            },
          })
        : undefined;
      view = {
        ...base,
        text: parsed.text,
        ...(sanitized ? { html: sanitized.html } : {}),
        hasBlockedRemoteContent: sanitized?.hasBlockedRemoteContent ?? false,
        attachments: parsed.attachments.map(({ id, filename, contentType, size, contentId }) => ({
          id,
          filename,
          contentType,
          size,
          ...(contentId ? { contentId } : {}),
        })),
        integrity: 'verified',
        canReply,
      };
    }
    await this.recordRead(session, access, meta, view.integrity, actor);
    return view;
  }

  private async recordRead(session: PortalSessionInfo, access: Access, meta: PortalMessageMeta, integrity: string, actor: Actor) {
    const { row } = access;
    let receiptSpooled = false;
    await withTenants(this.options.db, session.tenantId, async (tx) => {
      let first = false;
      if (access.relation === 'addressee' && !row.firstReadAt) {
        const updated = await tx
          .update(portalMessages)
          .set({ firstReadAt: sql`now()` })
          .where(and(eq(portalMessages.id, row.id), isNull(portalMessages.firstReadAt)))
          .returning({ id: portalMessages.id });
        first = updated.length > 0;
      }
      await appendAudit(tx, this.options.vault.auditKeys, {
        tenantId: session.tenantId,
        action: 'read',
        actorId: session.id,
        actorAddress: session.address,
        clientIp: actor.clientIp,
        subjectId: row.id,
        details: { integrity, channel: 'portal', first },
      });
      if (first && row.readReceipt && access.viewerIsExternal) {
        const settings = await this.options.tenants.settings(session.tenantId, tx);
        const tenant = this.options.directory.tenantById(session.tenantId);
        const mail = await buildReadReceiptMail({
          language: languageFor(settings, row.fromAddress),
          to: row.fromAddress,
          reader: session.address,
          subject: meta.subject,
          readAt: new Date(),
          hostname: this.options.hostname,
          from: `no-reply@${tenant?.domains[0] ?? this.options.hostname}`,
          branding: this.options.tenants.mailBranding(session.tenantId),
        });
        await spoolPortalMail(tx, this.options.vault, session.tenantId, '', row.fromAddress, mail, { portalReadReceiptFor: row.id });
        receiptSpooled = true;
      }
    });
    if (receiptSpooled) this.options.onSpooled();
  }

  async attachment(session: PortalSessionInfo, messageId: string, attachmentId: string, inline: boolean, actor: Actor): Promise<ParsedAttachment> {
    const access = await findAccess(this.options.db, session, messageId);
    const opened = await this.options.opener.read(access, session, actor, attachmentId);
    if (opened.integrity === 'failed') throw problems.integrityFailed();
    const info = opened.structure.attachments.find((a) => a.id === attachmentId);
    if (!info || !opened.attachmentContent) throw problems.notFound();
    const attachment: ParsedAttachment = { ...info, content: opened.attachmentContent };
    if (!inline) {
      await appendAudit(this.options.db, this.options.vault.auditKeys, {
        tenantId: session.tenantId,
        action: 'attachment_downloaded',
        actorId: session.id,
        actorAddress: session.address,
        clientIp: actor.clientIp,
        subjectId: access.row.id,
        details: {
          integrity: 'verified',
          channel: 'portal',
          attachmentId,
          sizeBytes: attachment.size,
          // The file name is message content: sealed under the tenant key, shown to authorised audit readers.
          [SEALED_DETAILS_KEY]: await sealAuditDetails(this.options.vault, session.tenantId, { filename: attachment.filename }),
        },
      });
    }
    return attachment;
  }

  /** Deletes a message for this reader; it is physically deleted once both sides deleted it. */
  async deleteForReader(session: PortalSessionInfo, messageId: string, actor: Actor): Promise<void> {
    // A withdrawn or expired message can still be removed from one's own view.
    const access = await findAccess(this.options.db, session, messageId, { withdrawn: 'allow' });
    // A follower reads the conversation but removes only what is theirs.
    if (access.relation === 'follower') throw problems.forbidden('Only the sender or the recipient of a message can delete it.');
    const column = access.relation === 'author' ? { deletedBySenderAt: sql`now()` } : { deletedByRecipientAt: sql`now()` };
    await withTenants(this.options.db, session.tenantId, async (tx) => {
      const [updated] = await tx.update(portalMessages).set(column).where(eq(portalMessages.id, access.row.id)).returning();
      // An internal copy is its addressee's alone (its author never sees it): gone once they delete it.
      const physically = Boolean(updated?.deletedBySenderAt && updated.deletedByRecipientAt) || (isInternalCopy(access.row) && access.relation === 'addressee');
      if (physically) await tx.delete(portalMessages).where(eq(portalMessages.id, access.row.id));
      await appendAudit(tx, this.options.vault.auditKeys, {
        tenantId: session.tenantId,
        action: 'deleted',
        actorId: session.id,
        actorAddress: session.address,
        clientIp: actor.clientIp,
        subjectId: access.row.id,
        details: { channel: 'portal', by: access.relation === 'author' ? 'sender' : 'recipient', physically },
      });
    });
  }
}
