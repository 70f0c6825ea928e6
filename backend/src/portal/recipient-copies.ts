/**
 * Storing copies for external recipients: the protection stage hands each message here once per
 * recipient. A copy is refused when the sender's or the organisation's portal storage is full; its
 * expiry is capped by the tenant's settings; it is written with its thread, its magic link, the
 * notification mail (spooled for delivery) and its audit entries. Copies taken up at once are written
 * in groups, one transaction each.
 */
import { randomUUID } from 'node:crypto';
import { and, eq, sql } from 'drizzle-orm';
import { parseSealpostHeaders, type SealpostRequest } from '../../../common/src/headers.ts';
import { appendAudit, type AuditEntryInput } from '../audit/audit-log.ts';
import { queryRows, type Queryable } from '../db/client.ts';
import { inTenantScope, withTenants } from '../db/tenant-scope.ts';
import { messages, portalMessages } from '../db/schema.ts';
import { controlHeaderLookup, headerValue, splitMessage } from '../mail/header-block.ts';
import { describeHeaderRefusal } from '../mail/header-section.ts';
import { prepareOutgoingMessage } from '../mail/outgoing-message.ts';
import { spoolWithin, type SpoolRequest } from '../messages/spool.ts';
import type { ProtectionContext, ProtectionOutcome } from '../protect/protection-modes.ts';
import type { TenantDirectory, TenantInfo } from '../tenants/tenant-directory.ts';
import type { PortalMailingDeps } from './portal-outbox.ts';
import { issueLink } from './magic-links.ts';
import { parsePortalMessage, type ParsedPortalMessage } from './message-parsing.ts';
import { buildNotificationMail } from './notification-mail.ts';
import { languageFor, type PortalSettings } from './portal-settings.ts';
import { insertPortalMessage, type PortalMessageMeta } from './portal-store.ts';
import { formatBytes, previewOf } from './portal-text.ts';
import { findOrCreateThread, referencedMessageIds, subjectKey, takeThreadSlot } from './threads.ts';

const DAY_MS = 86_400_000;

export interface RecipientCopiesOptions extends PortalMailingDeps {
  directory: TenantDirectory;
}

/** A copy for one recipient, checked and prepared, waiting to be written. */
interface PendingStore {
  context: ProtectionContext;
  tenant: TenantInfo;
  source: { mailFrom: string; clientAddress: string };
  recipient: string;
  request: SealpostRequest;
  eml: Buffer;
  parsed: ParsedPortalMessage;
  memberAddress: string;
  settings: PortalSettings;
  now: Date;
  expiresAt: Date;
  linkExpiresAt: Date;
  language: ReturnType<typeof languageFor>;
  portalMessageId: string;
  meta: PortalMessageMeta;
  messageIdHeader: string | undefined;
  referencedIds: string[];
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
    const parsed = await parsePortalMessage(eml);

    // What is already stored, who sent it, the tenant's settings and the storage used, read in one
    // transaction in the tenant's scope: one round of begin, scope and commit per copy instead of three.
    const read = await withTenants(db, context.tenantId, async (tx) => {
      const existing = await this.copyOf(tx, context.messageId, recipient);
      if (existing) return { kind: 'stored', existing } as const;
      const [source] = await tx
        .select({ mailFrom: messages.mailFrom, clientAddress: messages.clientAddress })
        .from(messages)
        .where(eq(messages.id, context.messageId));
      if (!source) return { kind: 'missing' } as const;
      const memberAddress = this.memberAddressOf(tenant, parsed.from?.address, source.mailFrom);
      const settings = await this.options.tenants.settings(tenant.id, tx);
      const usage = await this.storageUsed(tx, tenant.id, memberAddress);
      return { kind: 'new', source, memberAddress, settings, usage } as const;
    });
    if (read.kind === 'stored') return { kind: 'handled', detail: { portalMessageId: read.existing.id, threadId: read.existing.threadId, repeated: true } };
    if (read.kind === 'missing') return { kind: 'unavailable', reason: 'the message is missing' };
    const { source, memberAddress, settings, usage } = read;

    const refusal = this.quotaRefusal(memberAddress, eml.length, usage, settings);
    if (refusal) return refusal;

    const now = new Date();
    const expiresAt = this.capExpiry(request.expiresAt, now, settings);
    const linkExpiresAt = new Date(Math.min(now.getTime() + settings.magicLinkTtlMinutes * 60_000, expiresAt.getTime()));
    const language = languageFor(settings, recipient);
    const portalMessageId = randomUUID();
    const meta: PortalMessageMeta = {
      subject: parsed.subject,
      fromName: parsed.from?.name,
      preview: previewOf(parsed.text),
      to: parsed.to,
      cc: parsed.cc,
      references: parsed.references,
    };

    const store: PendingStore = {
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
      detail: { portalMessageId, threadId, deliveryMode: 'portal_secure', expiresAt: expiresAt.toISOString() },
    };
  }

  /**
   * Stores wait here for a transaction. Every store taken up at once is written in one transaction, which
   * extends the tenant's audit chain once: the chain's lock and the commit's flush to disk are paid once a
   * group instead of once a message (with every store in its own transaction, the stores queued on that lock).
   */
  private readonly storeQueue: Array<{ store: PendingStore; resolve: (threadId: string) => void; reject: (error: unknown) => void }> = [];
  private storeGroupsWriting = 0;

  private storeInGroup(store: PendingStore): Promise<string> {
    return new Promise((resolve, reject) => {
      this.storeQueue.push({ store, resolve, reject });
      if (this.storeGroupsWriting < MAX_STORE_GROUPS_WRITING) void this.writeStoreGroups();
    });
  }

  private async writeStoreGroups(): Promise<void> {
    this.storeGroupsWriting += 1;
    try {
      for (;;) {
        const group = this.storeQueue.splice(0, MAX_STORES_PER_GROUP);
        if (group.length === 0) return;
        try {
          const threadIds = await this.writeStores(group.map((g) => g.store));
          group.forEach((g, i) => g.resolve(threadIds[i]!));
        } catch (error) {
          if (group.length === 1) {
            group[0]!.reject(error);
            continue;
          }
          // One store of the group failed (a copy another worker stored, a full thread): each is written
          // alone, so the others are stored and only the failing one gets its error.
          for (const g of group) {
            try {
              const [threadId] = await this.writeStores([g.store]);
              g.resolve(threadId!);
            } catch (single) {
              g.reject(single);
            }
          }
        }
      }
    } finally {
      this.storeGroupsWriting -= 1;
    }
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
      const notifications: SpoolRequest[] = [];
      for (const index of order) {
        const store = stores[index]!;
        const { context, tenant, source, recipient, request, eml, parsed, memberAddress, settings, now, expiresAt, linkExpiresAt, language, portalMessageId, meta } = store;
        const threadId = await findOrCreateThread(tx, {
          tenantId: tenant.id,
          memberAddress,
          externalAddress: recipient,
          subjectKey: await subjectKey(vault, tenant.id, parsed.subject, tx),
          referencedIds: store.referencedIds,
        });
        if (!(await takeThreadSlot(tx, threadId))) throw new Error('a new thread was full at once');
        await insertPortalMessage(tx, vault, {
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
          sentAt: now,
          expiresAt,
        });
        const link = await issueLink(tx, {
          tenantId: tenant.id,
          address: recipient,
          purpose: 'message',
          threadId,
          portalMessageId,
          expiresAt: linkExpiresAt,
        });
        const notification = await buildNotificationMail({
          language,
          template: settings.notificationTemplates[language],
          sender: { name: parsed.from?.name, address: memberAddress },
          recipient,
          subject: parsed.subject,
          link: this.options.tenants.linkUrl(link.token, tenant.id),
          expiresAt: linkExpiresAt,
          hostname: this.options.hostname,
          branding: this.options.tenants.mailBranding(tenant.id),
        });
        notifications.push({
            id: randomUUID(),
            tenantId: tenant.id,
            direction: 'notification',
            // Bounces for a wrong address belong to the sender who wrote to it.
            mailFrom: source.mailFrom,
            recipients: [recipient],
            clientAddress: 'gateway',
            tls: false,
            raw: notification.raw,
            messageIdHeader: notification.messageId,
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
              expiresAt: expiresAt.toISOString(),
              options: request.options,
            },
          },
          { tenantId: tenant.id, action: 'link_issued', ...gateway, details: { channel: 'email', recipient, expiresAt: linkExpiresAt.toISOString() } },
        );
        threadIds[index] = threadId;
      }
      await spoolWithin(tx, vault, notifications);
      await appendAudit(tx, this.options.vault.auditKeys, audit);
      return threadIds;
    });
  }

  private async copyOf(q: Queryable, messageId: string, recipient: string) {
    const [row] = await q
      .select({ id: portalMessages.id, threadId: portalMessages.threadId })
      .from(portalMessages)
      .where(and(eq(portalMessages.sourceMessageId, messageId), eq(portalMessages.toAddress, recipient)));
    return row;
  }

  private memberAddressOf(tenant: TenantInfo, fromHeader: string | undefined, mailFrom: string): string {
    const inTenant = (address: string) => tenant.domains.includes(address.slice(address.lastIndexOf('@') + 1).toLowerCase());
    if (fromHeader && inTenant(fromHeader)) return fromHeader.toLowerCase();
    return mailFrom.toLowerCase();
  }

  capExpiry(requested: Date | undefined, now: Date, settings: PortalSettings): Date {
    const max = now.getTime() + settings.maxExpiryDays * DAY_MS;
    const wanted = requested && requested.getTime() > now.getTime() ? requested.getTime() : now.getTime() + settings.defaultExpiryDays * DAY_MS;
    return new Date(Math.min(wanted, max));
  }

  /** Bytes the tenant's portal holds, all of it and what the member sent. */
  private async storageUsed(tx: Queryable, tenantId: string, member: string): Promise<{ tenantBytes: number; memberBytes: number }> {
    const [usage] = await queryRows<{ tenant_bytes: string | number; member_bytes: string | number }>(
      tx,
      sql`select coalesce(sum(size_bytes), 0)::bigint as tenant_bytes,
                 coalesce(sum(size_bytes) filter (where from_address = ${member} and direction = 'from-member'), 0)::bigint as member_bytes
          from portal_messages where tenant_id = ${tenantId}`,
    );
    return { tenantBytes: Number(usage?.tenant_bytes ?? 0), memberBytes: Number(usage?.member_bytes ?? 0) };
  }

  private quotaRefusal(
    member: string,
    bytes: number,
    usage: { tenantBytes: number; memberBytes: number },
    settings: PortalSettings,
  ): ProtectionOutcome | undefined {
    const memberQuota = settings.memberQuotaBytes[member] ?? settings.memberDefaultQuotaBytes;
    if (usage.memberBytes + bytes > memberQuota) {
      return {
        kind: 'refused',
        reason: `the sender's portal storage is full (quota ${formatBytes(memberQuota)}); delete or let expire older secure messages, or ask the administrator for more space`,
        enhancedCode: '5.2.2',
      };
    }
    if (settings.tenantQuotaBytes !== undefined && usage.tenantBytes + bytes > settings.tenantQuotaBytes) {
      return {
        kind: 'refused',
        reason: `the organisation's portal storage is full (quota ${formatBytes(settings.tenantQuotaBytes)}); ask the administrator`,
        enhancedCode: '5.2.2',
      };
    }
    return undefined;
  }
}
