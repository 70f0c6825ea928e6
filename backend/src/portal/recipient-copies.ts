/**
 * Storing copies for external recipients: the protection stage hands each message here once per
 * recipient. A copy is refused when the sender's or the organisation's portal storage is full; its
 * expiry is capped by the tenant's settings; it is written with its thread, its magic link, the
 * notification mail (spooled for delivery) and its audit entries. Copies taken up at once are written
 * in groups, one transaction each.
 */
import { GroupedWork } from '../work-signal.ts';
import { randomUUID } from 'node:crypto';
import { and, eq, inArray, sql } from 'drizzle-orm';
import { parseSealpostHeaders, type SealpostRequest } from '../../../common/src/headers.ts';
import { appendAudit, type AuditEntryInput } from '../audit/audit-log.ts';
import { queryRows, type Queryable } from '../db/client.ts';
import { inTenantScope, withTenants } from '../db/tenant-scope.ts';
import { portalMessages } from '../db/schema.ts';
import { controlHeaderLookup, headerValue, splitMessage } from '../mail/header-block.ts';
import { describeHeaderRefusal } from '../mail/header-section.ts';
import { prepareOutgoingMessage } from '../mail/outgoing-message.ts';
import { spoolWithin, type SpoolRequest } from '../messages/spool.ts';
import type { InternalCopiesRequest, InternalCopyOutcome } from '../protect/portal-mode.ts';
import type { ProtectionContext, ProtectionOutcome } from '../protect/protection-modes.ts';
import type { TenantDirectory, TenantInfo } from '../tenants/tenant-directory.ts';
import type { PortalMailingDeps } from './portal-outbox.ts';
import { issueLinks, newLinkToken } from './magic-links.ts';
import { readPortalHeaders, type PortalMessageHeaders } from './message-parsing.ts';
import { buildNotificationMail } from './notification-mail.ts';
import { languageFor, portalExpiry, type PortalSettings } from './portal-settings.ts';
import { insertPortalMessages, type NewPortalMessage, type PortalMessageMeta } from './portal-store.ts';
import { portalQuotaRefusal, portalStorageUsed, senderMemberAddress } from './portal-quota.ts';
import { previewOf } from './portal-text.ts';
import { findOrCreateThreadsWithSlots, referencedMessageIds, subjectKey } from './threads.ts';

export interface RecipientCopiesOptions extends PortalMailingDeps {
  directory: TenantDirectory;
}

/** What a copy needs read before it is written. */
interface PendingRead {
  context: ProtectionContext;
  tenant: TenantInfo;
  recipient: string;
  fromAddress: string | undefined;
  bytes: number;
}

type ReadResult =
  | { kind: 'stored'; existing: { id: string; threadId: string } }
  | { kind: 'missing' }
  | { kind: 'new'; source: { mailFrom: string; clientAddress: string }; memberAddress: string; settings: PortalSettings; refusal?: ProtectionOutcome };

/** A copy for one recipient, checked and prepared, waiting to be written. */
interface PendingStore {
  context: ProtectionContext;
  tenant: TenantInfo;
  source: { mailFrom: string; clientAddress: string };
  recipient: string;
  request: SealpostRequest;
  eml: Buffer;
  parsed: PortalMessageHeaders;
  memberAddress: string;
  settings: PortalSettings;
  now: Date;
  /** Unset: the copy does not expire. */
  expiresAt: Date | undefined;
  linkExpiresAt: Date;
  language: ReturnType<typeof languageFor>;
  portalMessageId: string;
  meta: PortalMessageMeta;
  messageIdHeader: string | undefined;
  referencedIds: string[];
  /** The magic link's token, made before the link is written so the notification is composed outside the transaction. */
  linkToken: string;
  notification: { raw: Buffer; messageId: string };
}

/** Stores written in one transaction at most (one audit append, one commit). */
const MAX_STORES_PER_GROUP = 50;
/** Groups written at once, on their own connections: while one waits for its commit, the next is written. */
const MAX_STORE_GROUPS_WRITING = 2;

export class RecipientCopies {
  constructor(private readonly options: RecipientCopiesOptions) {}

  /**
   * Stores one gateway message for one external recipient and queues the notification. Idempotent per
   * (gateway message, recipient): the delivery worker may call again after a crash.
   */
  async storeForRecipient(context: ProtectionContext): Promise<ProtectionOutcome> {
    const { db, directory } = this.options;
    const recipient = context.recipient.toLowerCase();
    const tenant = directory.tenantById(context.tenantId);
    if (!tenant) {
      const stored = await inTenantScope(db, context.tenantId, (q) => this.copyOf(q, context.messageId, recipient));
      if (stored) return { kind: 'handled', detail: { portalMessageId: stored.id, threadId: stored.threadId, repeated: true } };
      return { kind: 'unavailable', reason: 'the tenant is unknown to this gateway process' };
    }

    // A header section that cannot be read whole would be stored with fields nobody checked: refused.
    const split = splitMessage(context.raw);
    if (split.outcome !== 'split') return { kind: 'refused', reason: describeHeaderRefusal(split), enhancedCode: '5.6.0' };
    const prepared = prepareOutgoingMessage(context.raw, 'external', [recipient], tenant.subjectTriggers);
    if (prepared.outcome === 'refused') return { kind: 'refused', reason: prepared.reason, enhancedCode: '5.6.0' };
    const lookup = (name: string) => headerValue(split.fields, name);
    // From the protect stage the request comes parsed and the message cleaned of the headers that carried it.
    const request = context.request ?? parseSealpostHeaders(controlHeaderLookup(split.fields), lookup('subject'), tenant.subjectTriggers);
    const eml = prepared.raw;
    const parsed = readPortalHeaders(eml);

    // What is already stored, who sent it, the tenant's settings and the storage used: read together with
    // the other copies taken up at once, in one transaction (readInGroup).
    const read = await this.readInGroup({ context, tenant, recipient, fromAddress: parsed.from?.address, bytes: eml.length });
    if (read.kind === 'stored') return { kind: 'handled', detail: { portalMessageId: read.existing.id, threadId: read.existing.threadId, repeated: true } };
    if (read.kind === 'missing') return { kind: 'unavailable', reason: 'the message is missing' };
    if (read.refusal) return read.refusal;
    const { source, memberAddress, settings } = read;

    const now = new Date();
    const expiresAt = portalExpiry(request.expiresAt, now, settings);
    const linkExpiresAt = new Date(Math.min(now.getTime() + settings.magicLinkTtlMinutes * 60_000, expiresAt?.getTime() ?? Infinity));
    const language = languageFor(settings, recipient);
    const portalMessageId = randomUUID();
    const meta: PortalMessageMeta = {
      subject: parsed.subject,
      fromName: parsed.from?.name,
      preview: previewOf(parsed.previewText),
      to: parsed.to,
      cc: parsed.cc,
      references: parsed.references,
    };

    // Composed before the copy is written, so the transaction that writes a group holds no composing.
    const linkToken = newLinkToken();
    const notification = await buildNotificationMail({
      language,
      template: settings.notificationTemplates[language],
      sender: { name: parsed.from?.name, address: memberAddress },
      recipient,
      subject: parsed.subject,
      link: this.options.tenants.linkUrl(linkToken, tenant.id),
      expiresAt: linkExpiresAt,
      hostname: this.options.hostname,
      branding: this.options.tenants.mailBranding(tenant.id),
    });
    const store: PendingStore = {
      linkToken,
      notification: { raw: notification.raw, messageId: notification.messageId },
      context,
      tenant,
      source,
      recipient,
      request,
      eml,
      parsed,
      memberAddress,
      settings,
      now,
      expiresAt,
      linkExpiresAt,
      language,
      portalMessageId,
      meta,
      messageIdHeader: lookup('message-id')?.trim(),
      referencedIds: referencedMessageIds(lookup('in-reply-to'), lookup('references')),
    };
    let threadId: string;
    try {
      threadId = await this.storeInGroup(store);
    } catch (error) {
      // A second worker stored the same copy at the same moment: that is the one.
      const again = await inTenantScope(this.options.db, context.tenantId, (q) => this.copyOf(q, context.messageId, recipient));
      if (again) return { kind: 'handled', detail: { portalMessageId: again.id, threadId: again.threadId, repeated: true } };
      throw error;
    }
    this.options.onSpooled();
    return {
      kind: 'handled',
      detail: { portalMessageId, threadId, deliveryMode: 'portal_secure', expiresAt: expiresAt?.toISOString() ?? null },
    };
  }

  /**
   * Copies taken up at once are read together: what is stored already, who sent the messages, the
   * tenants' settings and their storage used, in one transaction of a few set-wise queries instead of a
   * transaction of several queries per copy (which, for a batch of copies, queued on the connection pool).
   * The quota is checked here in the order the copies came, each counting the ones before it, so a batch
   * cannot together overrun what each alone would fit.
   */
  private readonly reads = new GroupedWork<PendingRead, ReadResult>({
    maxGroup: MAX_STORES_PER_GROUP,
    maxRunning: MAX_STORE_GROUPS_WRITING,
    retrySingly: false,
    run: (reads) => this.readMany(reads),
  });

  private readInGroup(read: PendingRead): Promise<ReadResult> {
    return this.reads.submit(read);
  }

  private async readMany(reads: PendingRead[]): Promise<ReadResult[]> {
    const tenantIds = [...new Set(reads.map((r) => r.tenant.id))];
    const messageIds = [...new Set(reads.map((r) => r.context.messageId))];
    return withTenants(this.options.db, tenantIds, async (tx) => {
      const idList = sql.join(messageIds.map((id) => sql`${id}::uuid`), sql`, `);
      const stored = await queryRows<{ id: string; thread_id: string; source_message_id: string; to_address: string }>(
        tx,
        sql`select id, thread_id, source_message_id, to_address from portal_messages where source_message_id in (${idList})`,
      );
      const storedBy = new Map(stored.map((row) => [`${row.source_message_id}\n${row.to_address}`, { id: row.id, threadId: row.thread_id }]));
      const sources = await queryRows<{ id: string; mail_from: string; client_address: string }>(
        tx,
        sql`select id, mail_from, client_address from messages where id in (${idList})`,
      );
      const sourceBy = new Map(sources.map((row) => [row.id, { mailFrom: row.mail_from, clientAddress: row.client_address }]));
      const settingsBy = new Map<string, PortalSettings>();
      const usageBy = new Map<string, { tenantBytes: number; memberBytes: Map<string, number> }>();
      const results: ReadResult[] = [];
      for (const read of reads) {
        const existing = storedBy.get(`${read.context.messageId}\n${read.recipient}`);
        if (existing) {
          results.push({ kind: 'stored', existing });
          continue;
        }
        const source = sourceBy.get(read.context.messageId);
        if (!source) {
          results.push({ kind: 'missing' });
          continue;
        }
        const tenantId = read.tenant.id;
        const memberAddress = senderMemberAddress(read.tenant, read.fromAddress, source.mailFrom);
        let settings = settingsBy.get(tenantId);
        if (!settings) {
          settings = await this.options.tenants.settings(tenantId, tx);
          settingsBy.set(tenantId, settings);
        }
        let usage = usageBy.get(tenantId);
        if (!usage) {
          const members = [...new Set(reads.filter((r) => r.tenant.id === tenantId).map((r) => senderMemberAddress(r.tenant, r.fromAddress, sourceBy.get(r.context.messageId)?.mailFrom ?? '')))];
          usage = await portalStorageUsed(tx, tenantId, members);
          usageBy.set(tenantId, usage);
        }
        const memberBytes = usage.memberBytes.get(memberAddress) ?? 0;
        const refused = portalQuotaRefusal(memberAddress, read.bytes, { tenantBytes: usage.tenantBytes, memberBytes }, settings);
        const refusal: ProtectionOutcome | undefined = refused ? { kind: 'refused', reason: refused, enhancedCode: '5.2.2' } : undefined;
        if (!refusal) {
          // Counted for the copies after it in this batch.
          usage.tenantBytes += read.bytes;
          usage.memberBytes.set(memberAddress, memberBytes + read.bytes);
        }
        results.push({ kind: 'new', source, memberAddress, settings, ...(refusal ? { refusal } : {}) });
      }
      return results;
    });
  }

  /**
   * Stores wait here for a transaction. Every store taken up at once is written in one transaction, which
   * extends the tenant's audit chain once: the chain's lock and the commit's flush to disk are paid once a
   * group instead of once a message (with every store in its own transaction, the stores queued on that lock).
   */
  // One store of a group that fails (a copy another worker stored, a full thread) is written alone, so
  // the others are stored and only the failing one gets its error.
  private readonly stores = new GroupedWork<PendingStore, string>({
    maxGroup: MAX_STORES_PER_GROUP,
    maxRunning: MAX_STORE_GROUPS_WRITING,
    retrySingly: true,
    run: (stores) => this.writeStores(stores),
  });

  private storeInGroup(store: PendingStore): Promise<string> {
    return this.stores.submit(store);
  }

  /** Writes the stores in one transaction: each copy, its link and notification, and one audit append for all. */
  private async writeStores(stores: PendingStore[]): Promise<string[]> {
    const { db, vault } = this.options;
    // Thread locks are taken in one order (sender, then recipient) by every group, and the audit lock last,
    // so two groups written at once never wait on each other in a circle.
    const order = stores.map((_, i) => i);
    const threadKey = (s: PendingStore) => `${s.tenant.id}\n${s.memberAddress}\n${s.recipient}`;
    order.sort((a, b) => (threadKey(stores[a]!) < threadKey(stores[b]!) ? -1 : threadKey(stores[a]!) > threadKey(stores[b]!) ? 1 : a - b));
    return withTenants(db, stores.map((s) => s.tenant.id), async (tx) => {
      const threadIds: string[] = [];
      const audit: AuditEntryInput[] = [];
      const copies: NewPortalMessage[] = [];
      const links: Array<Parameters<typeof issueLinks>[1][number]> = [];
      const notifications: SpoolRequest[] = [];
      const keys = [];
      for (const index of order) {
        const store = stores[index]!;
        keys.push({
          tenantId: store.tenant.id,
          memberAddress: store.memberAddress,
          externalAddress: store.recipient,
          subjectKey: await subjectKey(vault, store.tenant.id, store.parsed.subject, tx),
          referencedIds: store.referencedIds,
        });
      }
      // The group's threads, found or created, each with a slot per message that joins it.
      const threads = await findOrCreateThreadsWithSlots(tx, keys);
      if (!threads) throw new Error('a thread of the group has no room for all its new messages');
      for (const [position, index] of order.entries()) {
        const store = stores[index]!;
        const { context, tenant, source, recipient, request, eml, memberAddress, now, expiresAt, linkExpiresAt, portalMessageId, meta } = store;
        const threadId = threads[position]!;
        copies.push({
          id: portalMessageId,
          tenantId: tenant.id,
          threadId,
          sourceMessageId: context.messageId,
          direction: 'from-member',
          deliveryMode: 'portal_secure',
          fromAddress: memberAddress,
          toAddress: recipient,
          messageIdHeader: store.messageIdHeader,
          eml,
          meta,
          readReceipt: request.options.includes('read-receipt'),
          noReply: request.options.includes('no-reply'),
          requireSecondFactor: request.options.includes('otp'),
          sentAt: now,
          expiresAt,
        });
        links.push({ token: store.linkToken, tenantId: tenant.id, address: recipient, purpose: 'message', threadId, portalMessageId, expiresAt: linkExpiresAt });
        notifications.push({
          id: randomUUID(),
          tenantId: tenant.id,
          direction: 'notification',
          // Bounces for a wrong address belong to the sender who wrote to it.
          mailFrom: source.mailFrom,
          recipients: [recipient],
          clientAddress: 'gateway',
          tls: false,
          raw: store.notification.raw,
          messageIdHeader: store.notification.messageId,
          traceDetail: { portalNotificationFor: context.messageId, portalMessageId },
          queuedFor: 'external',
        });
        const gateway = { actorId: context.messageId, actorAddress: memberAddress, clientIp: source.clientAddress, subjectId: portalMessageId };
        audit.push(
          {
            tenantId: tenant.id,
            action: 'sent',
            ...gateway,
            details: {
              channel: 'smtp',
              deliveryMode: 'portal_secure',
              recipient,
              threadId,
              sizeBytes: eml.length,
              expiresAt: expiresAt?.toISOString() ?? null,
              options: request.options,
            },
          },
          { tenantId: tenant.id, action: 'link_issued', ...gateway, details: { channel: 'email', recipient, expiresAt: linkExpiresAt.toISOString() } },
        );
        threadIds[index] = threadId;
      }
      // The copies, their links and their notifications: one insert each for the whole group.
      await insertPortalMessages(tx, vault, copies);
      await issueLinks(tx, links);
      await spoolWithin(tx, vault, notifications);
      await appendAudit(tx, this.options.vault.auditKeys, audit);
      return threadIds;
    });
  }

  /**
   * Relay mode: a copy for each colleague the message also went to (delivered to them as mail), in the
   * thread of the external recipient's copy, with that copy's sender, Message-ID, sending time and expiry.
   * Only its addressee sees it (visibility.ts); it takes no slot of the thread's conversation, gets no link
   * or notification, and counts against the sender's storage like every copy. One that does not fit the
   * quota is not kept: the colleague has the mail, and the portal must not refuse it for that. Called once
   * per conversation when the message went to several outsiders; idempotent per (message, colleague, thread).
   */
  async storeInternalCopies(request: InternalCopiesRequest): Promise<InternalCopyOutcome[]> {
    const { db, vault, directory } = this.options;
    const recipients = [...new Set(request.recipients.map((r) => r.toLowerCase()))];
    const skipAll = (reason: string) => recipients.map((recipient): InternalCopyOutcome => ({ recipient, outcome: 'skipped', reason }));
    const tenant = directory.tenantById(request.tenantId);
    if (!tenant || recipients.length === 0) return skipAll('the tenant is unknown to this gateway process');
    const prepared = prepareOutgoingMessage(request.raw, 'external', [], tenant.subjectTriggers);
    if (prepared.outcome === 'refused') return skipAll(prepared.reason);
    const eml = prepared.raw;
    const parsed = readPortalHeaders(eml);
    const meta: PortalMessageMeta = {
      subject: parsed.subject,
      fromName: parsed.from?.name,
      preview: previewOf(parsed.previewText),
      to: parsed.to,
      cc: parsed.cc,
      references: parsed.references,
    };
    return withTenants(db, tenant.id, async (tx) => {
      const [external] = await tx
        .select({ fromAddress: portalMessages.fromAddress, messageIdHeader: portalMessages.messageIdHeader, sentAt: portalMessages.sentAt, expiresAt: portalMessages.expiresAt })
        .from(portalMessages)
        .where(and(eq(portalMessages.sourceMessageId, request.messageId), eq(portalMessages.threadId, request.threadId), eq(portalMessages.deliveryMode, 'portal_secure')))
        .limit(1);
      if (!external) return skipAll("the external recipient's copy is no longer stored");
      const kept = await tx
        .select({ id: portalMessages.id, toAddress: portalMessages.toAddress })
        .from(portalMessages)
        .where(and(eq(portalMessages.sourceMessageId, request.messageId), eq(portalMessages.threadId, request.threadId), inArray(portalMessages.toAddress, recipients)));
      const keptBy = new Map(kept.map((row) => [row.toAddress, row.id]));
      const settings = await this.options.tenants.settings(tenant.id, tx);
      const member = external.fromAddress;
      const used = await portalStorageUsed(tx, tenant.id, [member]);
      const usage = { tenantBytes: used.tenantBytes, memberBytes: used.memberBytes.get(member) ?? 0 };
      const outcomes: InternalCopyOutcome[] = [];
      const copies: NewPortalMessage[] = [];
      const audit: AuditEntryInput[] = [];
      for (const recipient of recipients) {
        const existing = keptBy.get(recipient);
        if (existing) {
          outcomes.push({ recipient, outcome: 'kept', portalMessageId: existing });
          continue;
        }
        const refused = portalQuotaRefusal(member, eml.length, usage, settings);
        if (refused) {
          outcomes.push({ recipient, outcome: 'skipped', reason: refused });
          continue;
        }
        usage.memberBytes += eml.length;
        usage.tenantBytes += eml.length;
        const id = randomUUID();
        copies.push({
          id,
          tenantId: tenant.id,
          threadId: request.threadId,
          sourceMessageId: request.messageId,
          direction: 'from-member',
          deliveryMode: 'relay',
          fromAddress: member,
          toAddress: recipient,
          messageIdHeader: external.messageIdHeader ?? undefined,
          eml,
          meta,
          readReceipt: false,
          noReply: true,
          sentAt: external.sentAt,
          ...(external.expiresAt ? { expiresAt: external.expiresAt } : {}),
        });
        audit.push({
          tenantId: tenant.id,
          action: 'sent',
          actorId: request.messageId,
          actorAddress: member,
          subjectId: id,
          details: { channel: 'smtp', deliveryMode: 'relay', recipient, threadId: request.threadId, sizeBytes: eml.length },
        });
        outcomes.push({ recipient, outcome: 'stored', portalMessageId: id });
      }
      await insertPortalMessages(tx, vault, copies);
      if (audit.length > 0) await appendAudit(tx, vault.auditKeys, audit);
      return outcomes;
    });
  }

  private async copyOf(q: Queryable, messageId: string, recipient: string) {
    const [row] = await q
      .select({ id: portalMessages.id, threadId: portalMessages.threadId })
      .from(portalMessages)
      .where(and(eq(portalMessages.sourceMessageId, messageId), eq(portalMessages.toAddress, recipient)));
    return row;
  }
}
