/**
 * Replies in the portal: the external recipient answers a message a member sent. The reply is composed
 * as MIME, kept in the thread, and spooled to the member through the gateway's stages.
 */
import { randomUUID } from 'node:crypto';
import MailComposer from 'nodemailer/lib/mail-composer';
import { appendAudit } from '../audit/audit-log.ts';
import { withTenants } from '../db/tenant-scope.ts';
import { spoolWithin } from '../messages/spool.ts';
import type { PortalMailingDeps } from './portal-outbox.ts';
import { sanitizeMailHtml } from './html-sanitizer.ts';
import { checkReply, findAccess, type Actor } from './message-access.ts';
import { problems } from './portal-problems.ts';
import { insertPortalMessage, openMeta } from './portal-store.ts';
import { formatBytes, previewOf } from './portal-text.ts';
import type { PortalSessionInfo } from './sessions.ts';
import { MAX_THREAD_MESSAGES, takeThreadSlot } from './threads.ts';

export interface ReplyInput {
  text: string;
  html?: string;
  attachments: Array<{ filename: string; contentType: string; content: Buffer }>;
}

export type PortalRepliesOptions = PortalMailingDeps;

export class PortalReplies {
  constructor(private readonly options: PortalRepliesOptions) {}

  /** Checks that a reply to this message may be written now (before the upload is read). */
  async replyAllowed(session: PortalSessionInfo, messageId: string): Promise<void> {
    const access = await findAccess(this.options.db, session, messageId);
    checkReply(access);
  }

  /** A reply from the external recipient: composed as MIME, kept in the thread, delivered to the member. */
  async reply(session: PortalSessionInfo, messageId: string, input: ReplyInput, actor: Actor): Promise<{ messageId: string; threadId: string }> {
    const access = await findAccess(this.options.db, session, messageId);
    checkReply(access);
    const { row, thread } = access;
    const limits = await this.options.tenants.limitsFor(session.tenantId);
    const total = Buffer.byteLength(input.text) + Buffer.byteLength(input.html ?? '') + input.attachments.reduce((n, a) => n + a.content.length, 0);
    if (total > limits.maxReplyBytes) throw problems.tooLarge(`A reply may hold at most ${formatBytes(limits.maxReplyBytes)} in all.`);
    if (input.attachments.length > limits.maxAttachments) throw problems.tooLarge(`A reply may carry at most ${limits.maxAttachments} attachments.`);

    const meta = await openMeta(this.options.vault, row, undefined, thread);
    const subject = /^\s*(re|aw)\s*:/i.test(meta.subject) ? meta.subject : `Re: ${meta.subject}`;
    const parentId = row.messageIdHeader ?? undefined;
    const references = [...meta.references, ...(parentId ? [parentId] : [])].slice(-30);
    const newMessageId = `<${randomUUID()}@${this.options.hostname}>`;
    const html = input.html
      ? sanitizeMailHtml(input.html, { allowRemote: false, inlineUrlFor: () => undefined }).html
      : undefined;
    const eml = await new MailComposer({
      from: session.address,
      to: thread.memberAddress,
      subject,
      messageId: newMessageId,
      date: new Date(),
      ...(parentId ? { inReplyTo: parentId } : {}),
      ...(references.length ? { references } : {}),
      text: input.text,
      ...(html ? { html } : {}),
      attachments: input.attachments.map((a) => ({ filename: a.filename, contentType: a.contentType, content: a.content })),
    })
      .compile()
      .build();

    const replyId = randomUUID();
    await withTenants(this.options.db, session.tenantId, async (tx) => {
      if (!(await takeThreadSlot(tx, thread.id))) throw problems.threadFull(MAX_THREAD_MESSAGES);
      await insertPortalMessage(tx, this.options.vault, {
        id: replyId,
        tenantId: session.tenantId,
        threadId: thread.id,
        direction: 'from-recipient',
        deliveryMode: 'relay',
        fromAddress: session.address,
        toAddress: thread.memberAddress,
        messageIdHeader: newMessageId,
        eml,
        meta: { subject, preview: previewOf(input.text), to: [thread.memberAddress], cc: [], references },
        readReceipt: false,
        noReply: false,
        sentAt: new Date(),
      });
      await spoolWithin(tx, this.options.vault, [
        {
          id: randomUUID(),
          tenantId: session.tenantId,
          direction: 'notification',
          mailFrom: session.address,
          recipients: [thread.memberAddress],
          clientAddress: actor.clientIp,
          tls: false,
          raw: eml,
          messageIdHeader: newMessageId,
          traceDetail: { portalReply: replyId, inReplyTo: row.id },
        },
      ]);
      await appendAudit(tx, this.options.vault.auditKeys, {
        tenantId: session.tenantId,
        action: 'replied',
        actorId: session.id,
        actorAddress: session.address,
        clientIp: actor.clientIp,
        subjectId: replyId,
        details: {
          channel: 'portal',
          inReplyTo: row.id,
          threadId: thread.id,
          attachments: input.attachments.length,
          sizeBytes: eml.length,
        },
      });
    });
    this.options.onSpooled();
    return { messageId: replyId, threadId: thread.id };
  }
}
