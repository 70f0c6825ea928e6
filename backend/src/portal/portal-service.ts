/**
 * The message portal: storing messages for external recipients, notifying them, links and sessions,
 * reading, replying, and what members see of what they sent. HTTP routes and the gateway's protection
 * handler both call this; it owns every rule about who may see what.
 */
import { createHash, randomUUID } from 'node:crypto';
import { and, asc, desc, eq, inArray, isNull, or, sql } from 'drizzle-orm';
import MailComposer from 'nodemailer/lib/mail-composer';
import { Counter, type Registry } from 'prom-client';
import {
  OPEN_LINK_BRAND_PARAM,
  OPEN_LINK_PATH,
  OPEN_LINK_PURPOSE_PARAM,
  OPEN_LINK_TOKEN_PARAM,
  type PortalBranding,
  type MessageSummary,
  type PortalLanguage,
  type PortalLimits,
  type PortalMessageView,
  type PortalSession,
  type PortalRole,
  type SentMessage,
  type ThreadDetail,
  type ThreadSummary,
} from '../../../common/src/portal-api.ts';
import { parseSealpostHeaders, type SealpostRequest } from '../../../common/src/headers.ts';
import {
  appendAudit,
  readAudit,
  verifyAuditChain,
  type AuditEntry,
  type AuditEntryInput,
  type ChainVerification,
  type CheckpointSource,
} from '../audit/audit-log.ts';
import { openAuditDetails, sealAuditDetails, SEALED_DETAILS_KEY } from '../audit/sealed-details.ts';
import type { Database, Queryable } from '../db/client.ts';
import { members, messages, portalLinks, portalMessages, portalThreads } from '../db/schema.ts';
import { prepareOutgoingMessage } from '../mail/outgoing-message.ts';
import type { Logger } from '../logger.ts';
import { controlHeaderLookup, headerValue, splitMessage } from '../mail/header-block.ts';
import { describeHeaderRefusal } from '../mail/header-section.ts';
import type { ProtectionContext, ProtectionOutcome } from '../protect/protection-modes.ts';
import { spoolWithin, type SpoolRequest } from '../messages/spool.ts';
import type { TenantDirectory, TenantInfo } from '../tenants/tenant-directory.ts';
import { decodeLogo, type Logo, type TenantBranding } from '../tenants/branding.ts';
import type { KeyVault } from '../vault/key-vault.ts';
import { sanitizeMailHtml } from './html-sanitizer.ts';
import { consumeLink, findLink, issueLink, takeRateToken, type LinkRow } from './magic-links.ts';
import { HeavyWorkLimiter } from './heavy-work-limiter.ts';
import { parsePortalMessage, type ParsedAttachment, type ParsedPortalMessage } from './message-parsing.ts';
import { ParsedMessageCache, type CachedAttachment, type ParsedStructure } from './parsed-message-cache.ts';
import { buildNotificationMail, buildReadReceiptMail, buildSignInMail, type MailBranding } from './notification-mail.ts';
import { problems } from './portal-problems.ts';
import { languageFor, loadPortalSettings, type PortalSettings } from './portal-settings.ts';
import {
  accessBinding,
  insertPortalMessage,
  loadSealedEml,
  openEml,
  openMeta,
  portalMessageHeadColumns,
  type PortalMessageHead,
  type PortalMessageMeta,
} from './portal-store.ts';
import { createSession, type NewSession, type PortalSessionInfo } from './sessions.ts';
import { findOrCreateThread, MAX_THREAD_MESSAGES, referencedMessageIds, subjectKey, takeThreadSlot } from './threads.ts';

const DAY_MS = 86_400_000;

/** Work a route runs after it has answered (so its duration tells the client nothing). */
export type DeferredWork = () => Promise<void>;
const nothingToDo: DeferredWork = async () => {};

export interface PortalServiceOptions {
  db: Database;
  vault: KeyVault;
  directory: TenantDirectory;
  logger: Logger;
  publicUrl: string;
  hostname: string;
  /** The gateway's SMTP size limit: replies must fit through the tenant's mail server too. */
  maxMessageBytes: number;
  /** Called after mail was spooled, so the pipeline routes it at once. */
  onSpooled: () => void;
  /** Rate limits for asking for links: per address and per client IP, within windowSeconds. */
  linkRequestLimits?: { perAddress: number; perIp: number; windowSeconds: number };
  /** The signed checkpoints the audit chain is verified against (outside the database). */
  auditCheckpoints?: CheckpointSource;
  /** Bounds on opening stored messages (see Config.portalReading); defaults suit tests and small hosts. */
  reading?: { openConcurrency: number; openQueue: number; cacheBytes: number; cacheTtlMs: number };
}

/** Attachments up to this size stay in the structure cache; larger ones are decoded again per download. */
const SMALL_PART_BYTES = 512 * 1024;
/** What a busy portal tells the browser to wait before trying again. */
const BUSY_RETRY_SECONDS = 5;

/** The outcome of one decrypt + parse, shared by every request for the same message that came meanwhile. */
type OpenedMessage =
  | { integrity: 'failed'; reason: string }
  | { integrity: 'verified'; structure: ParsedStructure; parsed: ParsedPortalMessage };

/** What one reader gets: the structure, and the bytes of the attachment asked for if any. */
type ReadMessage =
  | { integrity: 'failed' }
  | { integrity: 'verified'; structure: ParsedStructure; attachmentContent?: Buffer };

/** How often stored messages were opened and how the cache and the limiter answered, for tests and operators. */
export interface ReadingStats {
  decrypts: number;
  cacheHits: number;
  coalesced: number;
}

/** Who is asking, for the audit log. */
export interface Actor {
  clientIp: string;
}

type Relation = 'author' | 'addressee';

interface Access {
  row: PortalMessageHead;
  thread: typeof portalThreads.$inferSelect;
  relation: Relation;
  viewerIsExternal: boolean;
}

export interface ReplyInput {
  text: string;
  html?: string;
  attachments: Array<{ filename: string; contentType: string; content: Buffer }>;
}

export interface AttachmentDownload {
  attachment: ParsedAttachment;
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

export class PortalService {
  private readonly limits: { perAddress: number; perIp: number; windowSeconds: number };
  /** Decrypt + parse of stored messages: a few at a time, a bounded queue, 503 beyond. */
  readonly openLimiter: HeavyWorkLimiter;
  readonly structureCache: ParsedMessageCache;
  /** Opens under way, by cache key: a second request for the same message waits for the first. */
  private readonly opening = new Map<string, Promise<OpenedMessage>>();
  readonly readingStats: ReadingStats = { decrypts: 0, cacheHits: 0, coalesced: 0 };

  constructor(private readonly options: PortalServiceOptions) {
    this.limits = options.linkRequestLimits ?? { perAddress: 5, perIp: 20, windowSeconds: 3600 };
    const reading = options.reading ?? { openConcurrency: 2, openQueue: 16, cacheBytes: 64 * 1024 * 1024, cacheTtlMs: 300_000 };
    this.openLimiter = new HeavyWorkLimiter({
      concurrency: reading.openConcurrency,
      maxQueued: reading.openQueue,
      retryAfterSeconds: BUSY_RETRY_SECONDS,
    });
    this.structureCache = new ParsedMessageCache({ maxBytes: reading.cacheBytes, ttlMs: reading.cacheTtlMs, smallPartBytes: SMALL_PART_BYTES });
  }

  get db(): Database {
    return this.options.db;
  }

  /** The tenant's audit entries, newest first, with sealed details (such as attachment names) opened. */
  async readAudit(tenantId: string, options: { limit?: number; subjectId?: string } = {}): Promise<AuditEntry[]> {
    const entries = await readAudit(this.options.db, tenantId, options);
    return Promise.all(entries.map(async (e) => ({ ...e, details: await openAuditDetails(this.options.vault, tenantId, e.details) })));
  }

  /** The tenant's audit chain: every entry's HMAC and link, and the signed checkpoints it must still reach. */
  verifyAudit(tenantId: string): Promise<ChainVerification> {
    return verifyAuditChain(this.options.db, this.options.vault.auditKeys, { tenantId, checkpoints: this.options.auditCheckpoints });
  }

  settings(tenantId: string, q: Queryable = this.options.db): Promise<PortalSettings> {
    return loadPortalSettings(q, tenantId);
  }

  /**
   * The magic link: the token, then the tenant's branding key (so the page shows the tenant's look before
   * anything is opened) and, for a member's sign-in link, its purpose (so the page speaks of signing in).
   */
  linkUrl(token: string, tenantId?: string, purpose?: 'sign-in'): string {
    const tenant = tenantId ? this.options.directory.tenantById(tenantId) : undefined;
    const brand = tenant && hasBranding(tenant.branding) ? `&${OPEN_LINK_BRAND_PARAM}=${tenant.brandingKey}` : '';
    const forSignIn = purpose ? `&${OPEN_LINK_PURPOSE_PARAM}=${purpose}` : '';
    return `${this.options.publicUrl}${OPEN_LINK_PATH}?${OPEN_LINK_TOKEN_PARAM}=${encodeURIComponent(token)}${brand}${forSignIn}`;
  }

  /** GET /api/portal/branding/:key: the look of the tenant whose links carry this key; {} for any other. */
  brandingByKey(key: string): PortalBranding {
    const tenant = this.options.directory.tenantByBrandingKey(key);
    return tenant ? portalBranding(tenant) : {};
  }

  /** The logo image of the tenant whose links carry this key. */
  logoByKey(key: string): Logo | undefined {
    const logo = this.options.directory.tenantByBrandingKey(key)?.branding.logo;
    return logo ? decodeLogo(logo) : undefined;
  }

  /** What the mails of a tenant show: its branding, else nothing of its own. */
  mailBranding(tenantId: string): MailBranding | undefined {
    const tenant = this.options.directory.tenantById(tenantId);
    if (!tenant || !hasBranding(tenant.branding)) return undefined;
    const { name, colour, logo } = tenant.branding;
    const decoded = logo ? decodeLogo(logo) : undefined;
    return { name: name ?? tenant.name, ...(colour ? { colour } : {}), ...(decoded ? { logo: decoded } : {}) };
  }

  get secureCookies(): boolean {
    return this.options.publicUrl.startsWith('https:');
  }

  // --- Storing -------------------------------------------------------------------------------------

  /**
   * Stores one gateway message for one external recipient and queues the notification. Idempotent per
   * (gateway message, recipient): the delivery worker may call again after a crash.
   */
  async storeForRecipient(context: ProtectionContext): Promise<ProtectionOutcome> {
    const { db, directory } = this.options;
    const recipient = context.recipient.toLowerCase();
    const existing = await this.copyOf(context.messageId, recipient);
    if (existing) return { kind: 'handled', detail: { portalMessageId: existing.id, threadId: existing.threadId, repeated: true } };

    const tenant = directory.tenantById(context.tenantId);
    if (!tenant) return { kind: 'unavailable', reason: 'the tenant is unknown to this gateway process' };
    const [source] = await db
      .select({ mailFrom: messages.mailFrom, clientAddress: messages.clientAddress })
      .from(messages)
      .where(eq(messages.id, context.messageId));
    if (!source) return { kind: 'unavailable', reason: 'the message is missing' };

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
    const memberAddress = this.memberAddressOf(tenant, parsed.from?.address, source.mailFrom);
    const settings = await this.settings(tenant.id);

    const refusal = await this.quotaRefusal(tenant.id, memberAddress, eml.length * 1, settings);
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
      const again = await this.copyOf(context.messageId, recipient);
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
    return db.transaction(async (tx) => {
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
          link: this.linkUrl(link.token, tenant.id),
          expiresAt: linkExpiresAt,
          hostname: this.options.hostname,
          branding: this.mailBranding(tenant.id),
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

  private async copyOf(messageId: string, recipient: string) {
    const [row] = await this.options.db
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

  private async quotaRefusal(tenantId: string, member: string, bytes: number, settings: PortalSettings): Promise<ProtectionOutcome | undefined> {
    const rows = (await this.options.db.execute(
      sql`select coalesce(sum(size_bytes), 0)::bigint as tenant_bytes,
                 coalesce(sum(size_bytes) filter (where from_address = ${member} and direction = 'from-member'), 0)::bigint as member_bytes
          from portal_messages where tenant_id = ${tenantId}`,
    )) as unknown as { rows: Array<{ tenant_bytes: string | number; member_bytes: string | number }> };
    const usage = rows.rows[0];
    const memberQuota = settings.memberQuotaBytes[member] ?? settings.memberDefaultQuotaBytes;
    if (Number(usage?.member_bytes ?? 0) + bytes > memberQuota) {
      return {
        kind: 'refused',
        reason: `the sender's portal storage is full (quota ${formatBytes(memberQuota)}); delete or let expire older secure messages, or ask the administrator for more space`,
        enhancedCode: '5.2.2',
      };
    }
    if (settings.tenantQuotaBytes !== undefined && Number(usage?.tenant_bytes ?? 0) + bytes > settings.tenantQuotaBytes) {
      return {
        kind: 'refused',
        reason: `the organisation's portal storage is full (quota ${formatBytes(settings.tenantQuotaBytes)}); ask the administrator`,
        enhancedCode: '5.2.2',
      };
    }
    return undefined;
  }

  // --- Links and sessions --------------------------------------------------------------------------

  /** POST links/open: consumes the link and starts a session. */
  async openLink(
    token: string,
    clientIp: string,
  ): Promise<{ created: NewSession; view: PortalSession; threadId: string; messageId?: string; purpose: string }> {
    const { db } = this.options;
    return db.transaction(async (tx) => {
      const link = await consumeLink(tx, token);
      if (!link) throw problems.linkUnusable();
      const settings = await this.settings(link.tenantId, tx);
      let role: PortalRole | undefined;
      let threadId = link.threadId ?? '';
      if (link.purpose === 'sign-in') {
        const [member] = await tx.select().from(members).where(and(eq(members.tenantId, link.tenantId), eq(members.email, link.address)));
        role = (member?.role as PortalRole | undefined) ?? 'contact';
        const [latest] = await tx
          .select({ id: portalThreads.id })
          .from(portalThreads)
          .where(and(eq(portalThreads.tenantId, link.tenantId), eq(portalThreads.memberAddress, link.address)))
          .orderBy(desc(portalThreads.lastMessageAt))
          .limit(1);
        threadId = latest?.id ?? '';
      } else if (link.portalMessageId) {
        const [row] = await tx.select(portalMessageHeadColumns).from(portalMessages).where(eq(portalMessages.id, link.portalMessageId));
        if (!row || row.revokedAt || (row.expiresAt && row.expiresAt.getTime() <= Date.now())) throw problems.linkUnusable();
      }
      const created = await createSession(tx, {
        tenantId: link.tenantId,
        address: link.address,
        role,
        clientIp,
        bindToIp: settings.bindSessionToIp,
        ttlMinutes: settings.sessionTtlMinutes,
        linkId: link.id,
      });
      await appendAudit(tx, this.options.vault.auditKeys, {
        tenantId: link.tenantId,
        action: 'signed_in',
        actorId: created.session.id,
        actorAddress: link.address,
        clientIp,
        subjectId: link.portalMessageId ?? undefined,
        details: { channel: 'magic-link', purpose: link.purpose, role: role ?? null },
      });
      const view = this.describeSession(created.session, settings);
      return { created, view, threadId, messageId: link.portalMessageId ?? undefined, purpose: link.purpose };
    });
  }

  /**
   * POST links/request: a fresh link for the address (or the unusable link's address, or the address of
   * an IP-changed session). Never tells whether the address has messages: this call does only what is the
   * same for every address (the rate limits), and returns the address-specific work, which the route runs
   * after answering, so the answer takes the same time for known and unknown addresses.
   */
  async requestLink(
    input: { email?: string; token?: string; sessionAddress?: { tenantId: string; address: string } },
    clientIp: string,
  ): Promise<DeferredWork> {
    const { db } = this.options;
    const ipWait = await takeRateToken(db, `link-request:ip:${clientIp}`, this.limits.perIp, this.limits.windowSeconds);
    if (ipWait) throw problems.rateLimited(ipWait);

    const link = input.token ? await findLink(db, input.token) : undefined;
    const address = input.token ? link?.address : input.email ? input.email.trim().toLowerCase() : input.sessionAddress?.address;
    if (!address) return nothingToDo;
    const addressWait = await takeRateToken(db, `link-request:address:${address}`, this.limits.perAddress, this.limits.windowSeconds);
    if (addressWait) throw problems.rateLimited(addressWait);

    return async () => {
      let targets: Array<{ tenantId: string; address: string; portalMessageId?: string }> = [];
      if (link) {
        if (link.purpose === 'sign-in') return this.sendSignInLink(link.address, clientIp);
        targets = [{ tenantId: link.tenantId, address: link.address, portalMessageId: link.portalMessageId ?? undefined }];
      } else if (input.email) {
        if (this.options.directory.tenantForAddress(address)) return this.sendSignInLink(address, clientIp);
        targets = this.options.directory.allTenants().map((t) => ({ tenantId: t.id, address }));
      } else if (input.sessionAddress) {
        targets = [input.sessionAddress];
      }
      let spooled = false;
      for (const target of targets) {
        const row = await this.latestReadable(target.tenantId, target.address, target.portalMessageId);
        if (!row) continue;
        await db.transaction(async (tx) => {
          await this.sendFreshLink(tx, row, clientIp);
        });
        spooled = true;
      }
      if (spooled) this.options.onSpooled();
    };
  }

  /** The message a fresh link leads to: the one asked for if still readable, else the latest readable. */
  private async latestReadable(tenantId: string, address: string, preferredId?: string): Promise<PortalMessageHead | undefined> {
    const readable = and(
      eq(portalMessages.tenantId, tenantId),
      eq(portalMessages.toAddress, address),
      eq(portalMessages.direction, 'from-member'),
      isNull(portalMessages.revokedAt),
      isNull(portalMessages.deletedByRecipientAt),
      or(isNull(portalMessages.expiresAt), sql`${portalMessages.expiresAt} > now()`),
    );
    if (preferredId) {
      const [row] = await this.options.db.select(portalMessageHeadColumns).from(portalMessages).where(and(readable, eq(portalMessages.id, preferredId)));
      if (row) return row;
    }
    const [latest] = await this.options.db.select(portalMessageHeadColumns).from(portalMessages).where(readable).orderBy(desc(portalMessages.sentAt)).limit(1);
    return latest;
  }

  private async sendFreshLink(tx: Queryable, row: PortalMessageHead, clientIp: string): Promise<void> {
    const settings = await this.settings(row.tenantId, tx);
    const now = Date.now();
    const expiresAt = new Date(Math.min(now + settings.magicLinkTtlMinutes * 60_000, row.expiresAt?.getTime() ?? Infinity));
    const link = await issueLink(tx, {
      tenantId: row.tenantId,
      address: row.toAddress,
      purpose: 'message',
      threadId: row.threadId,
      portalMessageId: row.id,
      expiresAt,
    });
    const meta = await openMeta(this.options.vault, row, tx);
    const language = languageFor(settings, row.toAddress);
    const mail = await buildNotificationMail({
      language,
      template: settings.notificationTemplates[language],
      sender: { name: meta.fromName, address: row.fromAddress },
      recipient: row.toAddress,
      subject: meta.subject,
      link: this.linkUrl(link.token, row.tenantId),
      expiresAt,
      hostname: this.options.hostname,
      branding: this.mailBranding(row.tenantId),
    });
    await this.spool(tx, row.tenantId, '', row.toAddress, mail, { portalFreshLinkFor: row.id });
    await appendAudit(tx, this.options.vault.auditKeys, {
      tenantId: row.tenantId,
      action: 'link_issued',
      actorAddress: row.toAddress,
      clientIp,
      subjectId: row.id,
      details: { channel: 'email', reason: 'requested', expiresAt: expiresAt.toISOString() },
    });
  }

  /**
   * POST sign-in: a sign-in link to a member's own address. Silent for addresses of no tenant, and as fast
   * for them as for members: only the rate limits run before the answer; the returned work runs after it.
   */
  async requestSignIn(email: string, clientIp: string): Promise<DeferredWork> {
    const { db } = this.options;
    const address = email.trim().toLowerCase();
    const ipWait = await takeRateToken(db, `link-request:ip:${clientIp}`, this.limits.perIp, this.limits.windowSeconds);
    if (ipWait) throw problems.rateLimited(ipWait);
    const addressWait = await takeRateToken(db, `link-request:address:${address}`, this.limits.perAddress, this.limits.windowSeconds);
    if (addressWait) throw problems.rateLimited(addressWait);
    return () => this.sendSignInLink(address, clientIp);
  }

  private async sendSignInLink(address: string, clientIp: string): Promise<void> {
    const { db, directory } = this.options;
    const tenant = directory.tenantForAddress(address);
    if (!tenant) return;
    const settings = await this.settings(tenant.id);
    const expiresAt = new Date(Date.now() + settings.signInLinkTtlMinutes * 60_000);
    await db.transaction(async (tx) => {
      const link = await issueLink(tx, { tenantId: tenant.id, address, purpose: 'sign-in', expiresAt });
      const mail = await buildSignInMail({
        language: languageFor(settings, address),
        to: address,
        link: this.linkUrl(link.token, tenant.id, 'sign-in'),
        expiresAt,
        hostname: this.options.hostname,
        branding: this.mailBranding(tenant.id),
        from: `no-reply@${tenant.domains[0] ?? this.options.hostname}`,
      });
      await this.spool(tx, tenant.id, '', address, mail, { portalSignIn: true });
      await appendAudit(tx, this.options.vault.auditKeys, {
        tenantId: tenant.id,
        action: 'link_issued',
        actorAddress: address,
        clientIp,
        details: { channel: 'email', purpose: 'sign-in', expiresAt: expiresAt.toISOString() },
      });
    });
    this.options.onSpooled();
  }

  /** Queues a mail the portal writes (notification, sign-in link, receipt, digest) through the gateway's own spool. */
  async spool(tx: Queryable, tenantId: string, mailFrom: string, to: string, mail: { raw: Buffer; messageId: string }, traceDetail: Record<string, unknown>) {
    await spoolWithin(tx, this.options.vault, [
      {
        id: randomUUID(),
        tenantId,
        direction: 'notification',
        mailFrom,
        recipients: [to],
        clientAddress: 'gateway',
        tls: false,
        raw: mail.raw,
        messageIdHeader: mail.messageId,
        traceDetail,
      },
    ]);
  }

  async sessionView(session: PortalSessionInfo): Promise<PortalSession> {
    return this.describeSession(session, await this.settings(session.tenantId));
  }

  private describeSession(session: PortalSessionInfo, settings: PortalSettings): PortalSession {
    const tenant = this.options.directory.tenantById(session.tenantId);
    const branding = tenant && hasBranding(tenant.branding) ? portalBranding(tenant) : undefined;
    return {
      address: session.address,
      tenantName: tenant?.name ?? '',
      ...(branding ? { branding } : {}),
      language: languageFor(settings, session.address) as PortalLanguage,
      ...(session.role ? { role: session.role } : {}),
      csrfToken: session.csrfToken,
      expiresAt: session.expiresAt.toISOString(),
    };
  }

  async limitsFor(tenantId: string): Promise<PortalLimits> {
    const settings = await this.settings(tenantId);
    // A reply must fit through SMTP once encoded (base64 grows by a third).
    const smtpRoom = Math.floor((this.options.maxMessageBytes * 3) / 4) - 64 * 1024;
    const maxReplyBytes = Math.max(0, Math.min(settings.maxReplyBytes, smtpRoom));
    return {
      maxAttachmentBytes: Math.min(settings.maxAttachmentBytes, maxReplyBytes),
      maxReplyBytes,
      maxAttachments: settings.maxAttachments,
    };
  }

  // --- Reading -------------------------------------------------------------------------------------

  private isExternalIn(session: PortalSessionInfo, thread: typeof portalThreads.$inferSelect): boolean {
    return thread.externalAddress === session.address;
  }

  private visibleTo(session: PortalSessionInfo, thread: typeof portalThreads.$inferSelect, row: PortalMessageHead): boolean {
    const relation: Relation = row.fromAddress === session.address ? 'author' : 'addressee';
    if (relation === 'author' ? row.deletedBySenderAt : row.deletedByRecipientAt) return false;
    if (this.isExternalIn(session, thread) && row.direction === 'from-member') {
      if (row.revokedAt) return false;
      if (row.expiresAt && row.expiresAt.getTime() <= Date.now()) return false;
    }
    return true;
  }

  private async threadsOf(session: PortalSessionInfo, threadId?: string) {
    const mine = or(eq(portalThreads.externalAddress, session.address), eq(portalThreads.memberAddress, session.address));
    const where = threadId ? and(eq(portalThreads.tenantId, session.tenantId), mine, eq(portalThreads.id, threadId)) : and(eq(portalThreads.tenantId, session.tenantId), mine);
    return this.options.db.select().from(portalThreads).where(where).orderBy(desc(portalThreads.lastMessageAt)).limit(500);
  }

  private async summarise(session: PortalSessionInfo, thread: typeof portalThreads.$inferSelect) {
    const rows = await this.options.db
      .select(portalMessageHeadColumns)
      .from(portalMessages)
      .where(eq(portalMessages.threadId, thread.id))
      .orderBy(asc(portalMessages.sentAt));
    const visible = rows.filter((row) => this.visibleTo(session, thread, row));
    const metas = await Promise.all(visible.map((row) => openMeta(this.options.vault, row, undefined, thread)));
    const external = this.isExternalIn(session, thread);
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
      preview: metas[i]!.preview,
      read: row.toAddress === session.address ? row.firstReadAt !== null : true,
      direction: row.direction as MessageSummary['direction'],
    }));
    const canReply =
      external &&
      thread.messageCount < MAX_THREAD_MESSAGES &&
      visible.some((row) => row.direction === 'from-member' && !row.noReply);
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

  /** The message if this session may see it; not-found for everything else, expired for withdrawn ones. */
  private async access(session: PortalSessionInfo, messageId: string): Promise<Access> {
    if (!isUuid(messageId)) throw problems.notFound();
    const [found] = await this.options.db
      .select({ row: portalMessageHeadColumns, thread: portalThreads })
      .from(portalMessages)
      .innerJoin(portalThreads, eq(portalThreads.id, portalMessages.threadId))
      .where(and(eq(portalMessages.id, messageId), eq(portalMessages.tenantId, session.tenantId)));
    if (!found) throw problems.notFound();
    const { row, thread } = found;
    if (thread.externalAddress !== session.address && thread.memberAddress !== session.address) throw problems.notFound();
    const relation: Relation = row.fromAddress === session.address ? 'author' : 'addressee';
    if (relation === 'author' ? row.deletedBySenderAt : row.deletedByRecipientAt) throw problems.notFound();
    const viewerIsExternal = this.isExternalIn(session, thread);
    if (viewerIsExternal && row.direction === 'from-member') {
      if (row.revokedAt) throw problems.expired('The sender withdrew access to this message.');
      if (row.expiresAt && row.expiresAt.getTime() <= Date.now()) throw problems.expired('This message has expired.');
    }
    return { row, thread, relation, viewerIsExternal };
  }

  /**
   * The cache key names the message's content version and who may read it: a re-sealed, re-fingerprinted
   * or moved row misses the cache and is opened (and checked) again.
   */
  private structureKey(access: Access): string {
    const { row, thread } = access;
    return createHash('sha256')
      .update(JSON.stringify([row.id, row.contentSha256, row.wrappedDataKey.toString('base64'), accessBinding(row, thread)]))
      .digest('hex');
  }

  /**
   * Reads a message for one request: from the structure cache when it can, else through one decrypt +
   * parse shared with every concurrent request for the same message and limited by openLimiter. The
   * decrypted EML lives only while that one job runs; a large attachment only while it is being sent.
   */
  private async readMessage(access: Access, session: PortalSessionInfo, actor: Actor, attachmentId?: string): Promise<ReadMessage> {
    const key = this.structureKey(access);
    const cached = this.structureCache.get(key);
    if (cached) {
      const wanted = attachmentId === undefined ? undefined : cached.attachments.find((a) => a.id === attachmentId);
      if (attachmentId === undefined || !wanted || wanted.content) {
        this.readingStats.cacheHits += 1;
        return { integrity: 'verified', structure: cached, attachmentContent: wanted?.content };
      }
    }
    let job = this.opening.get(key);
    if (job) {
      this.readingStats.coalesced += 1;
    } else {
      job = this.openLimiter.run(() => this.openAndParse(access, key));
      this.opening.set(key, job);
      const started = job;
      const forget = () => {
        if (this.opening.get(key) === started) this.opening.delete(key);
      };
      started.then(forget, forget);
    }
    const opened = await job;
    if (opened.integrity === 'failed') {
      // Every reader who was shown the failure is audited, as when each request opened the message itself.
      await appendAudit(this.options.db, this.options.vault.auditKeys, {
        tenantId: session.tenantId,
        action: 'integrity_failed',
        actorId: session.id,
        actorAddress: session.address,
        clientIp: actor.clientIp,
        subjectId: access.row.id,
        details: { integrity: 'failed', reason: opened.reason, expectedSha256: access.row.contentSha256, channel: 'portal' },
      });
      this.options.logger.error({ portalMessageId: access.row.id, reason: opened.reason }, 'a portal message failed its integrity check');
      return { integrity: 'failed' };
    }
    const attachmentContent = attachmentId === undefined ? undefined : opened.parsed.attachments.find((a) => a.id === attachmentId)?.content;
    return { integrity: 'verified', structure: opened.structure, attachmentContent };
  }

  private async openAndParse(access: Access, key: string): Promise<OpenedMessage> {
    const { row, thread } = access;
    this.readingStats.decrypts += 1;
    const sealed = await loadSealedEml(this.options.db, row.id);
    if (!sealed) return { integrity: 'failed', reason: 'the stored content is missing' };
    const opened = await openEml(this.options.vault, row, thread, sealed);
    if (opened.integrity === 'failed') return { integrity: 'failed', reason: opened.reason };
    const parsed = await parsePortalMessage(opened.eml);
    const structure: ParsedStructure = {
      text: parsed.text,
      html: parsed.html,
      tooComplex: parsed.tooComplex,
      attachments: parsed.attachments.map(({ content, ...info }): CachedAttachment => ({
        ...info,
        ...(content.length <= this.structureCache.limits.smallPartBytes ? { content } : {}),
      })),
    };
    this.structureCache.set(key, structure);
    return { integrity: 'verified', structure, parsed };
  }

  async viewMessage(session: PortalSessionInfo, messageId: string, allowRemote: boolean, actor: Actor): Promise<PortalMessageView> {
    const access = await this.access(session, messageId);
    const { row, thread } = access;
    const opened = await this.readMessage(access, session, actor);
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
    const canReply =
      access.viewerIsExternal && row.direction === 'from-member' && !row.noReply && thread.messageCount < MAX_THREAD_MESSAGES;

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
    await this.options.db.transaction(async (tx) => {
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
        const settings = await this.settings(session.tenantId, tx);
        const tenant = this.options.directory.tenantById(session.tenantId);
        const mail = await buildReadReceiptMail({
          language: languageFor(settings, row.fromAddress),
          to: row.fromAddress,
          reader: session.address,
          subject: meta.subject,
          readAt: new Date(),
          hostname: this.options.hostname,
          from: `no-reply@${tenant?.domains[0] ?? this.options.hostname}`,
          branding: this.mailBranding(session.tenantId),
        });
        await this.spool(tx, session.tenantId, '', row.fromAddress, mail, { portalReadReceiptFor: row.id });
        receiptSpooled = true;
      }
    });
    if (receiptSpooled) this.options.onSpooled();
  }

  async attachment(session: PortalSessionInfo, messageId: string, attachmentId: string, inline: boolean, actor: Actor): Promise<ParsedAttachment> {
    const access = await this.access(session, messageId);
    const opened = await this.readMessage(access, session, actor, attachmentId);
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

  // --- Replying ------------------------------------------------------------------------------------

  /** Checks that a reply to this message may be written now (before the upload is read). */
  async replyAllowed(session: PortalSessionInfo, messageId: string): Promise<void> {
    const access = await this.access(session, messageId);
    this.checkReply(access);
  }

  private checkReply(access: Access): void {
    if (!access.viewerIsExternal || access.row.direction !== 'from-member') {
      throw problems.forbidden('Only the recipient of a message can reply to it in the portal.');
    }
    if (access.row.noReply) throw problems.repliesDisabled();
    if (access.thread.messageCount >= MAX_THREAD_MESSAGES) throw problems.threadFull(MAX_THREAD_MESSAGES);
  }

  /** A reply from the external recipient: composed as MIME, kept in the thread, delivered to the member. */
  async reply(session: PortalSessionInfo, messageId: string, input: ReplyInput, actor: Actor): Promise<{ messageId: string; threadId: string }> {
    const access = await this.access(session, messageId);
    this.checkReply(access);
    const { row, thread } = access;
    const limits = await this.limitsFor(session.tenantId);
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
    await this.options.db.transaction(async (tx) => {
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

  /** Deletes a message for this reader; it is physically deleted once both sides deleted it. */
  async deleteForReader(session: PortalSessionInfo, messageId: string, actor: Actor): Promise<void> {
    const access = await this.access(session, messageId).catch((error: unknown) => {
      // A withdrawn or expired message can still be removed from one's own view.
      if ((error as { problem?: { status: number } }).problem?.status === 410) return this.rawAccess(session, messageId);
      throw error;
    });
    const column = access.relation === 'author' ? { deletedBySenderAt: sql`now()` } : { deletedByRecipientAt: sql`now()` };
    await this.options.db.transaction(async (tx) => {
      const [updated] = await tx.update(portalMessages).set(column).where(eq(portalMessages.id, access.row.id)).returning();
      const physically = Boolean(updated?.deletedBySenderAt && updated.deletedByRecipientAt);
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

  private async rawAccess(session: PortalSessionInfo, messageId: string): Promise<Access> {
    const [found] = await this.options.db
      .select({ row: portalMessageHeadColumns, thread: portalThreads })
      .from(portalMessages)
      .innerJoin(portalThreads, eq(portalThreads.id, portalMessages.threadId))
      .where(and(eq(portalMessages.id, messageId), eq(portalMessages.tenantId, session.tenantId)));
    if (!found) throw problems.notFound();
    return {
      ...found,
      relation: found.row.fromAddress === session.address ? 'author' : 'addressee',
      viewerIsExternal: found.thread.externalAddress === session.address,
    };
  }

  // --- Members: what they sent ---------------------------------------------------------------------

  private requireMember(session: PortalSessionInfo): void {
    if (!session.role) throw problems.forbidden('Only members of the organisation can see sent messages.');
  }

  /** The copies (one per recipient) of a message the member sent, by gateway message id or copy id. */
  private async sentCopies(session: PortalSessionInfo, id: string): Promise<PortalMessageHead[]> {
    if (!isUuid(id)) throw problems.notFound();
    const rows = await this.options.db
      .select(portalMessageHeadColumns)
      .from(portalMessages)
      .where(
        and(
          eq(portalMessages.tenantId, session.tenantId),
          eq(portalMessages.fromAddress, session.address),
          eq(portalMessages.direction, 'from-member'),
          isNull(portalMessages.deletedBySenderAt),
          or(eq(portalMessages.sourceMessageId, id), eq(portalMessages.id, id)),
        ),
      );
    if (rows.length === 0) throw problems.notFound();
    return rows;
  }

  async listSent(session: PortalSessionInfo): Promise<SentMessage[]> {
    this.requireMember(session);
    const rows = await this.options.db
      .select(portalMessageHeadColumns)
      .from(portalMessages)
      .where(
        and(
          eq(portalMessages.tenantId, session.tenantId),
          eq(portalMessages.fromAddress, session.address),
          eq(portalMessages.direction, 'from-member'),
          isNull(portalMessages.deletedBySenderAt),
        ),
      )
      .orderBy(desc(portalMessages.sentAt))
      .limit(1000);
    const groups = new Map<string, PortalMessageHead[]>();
    for (const row of rows) {
      const key = row.sourceMessageId ?? row.id;
      groups.set(key, [...(groups.get(key) ?? []), row]);
    }
    const out: SentMessage[] = [];
    for (const [id, copies] of groups) {
      const first = copies[0]!;
      const meta = await openMeta(this.options.vault, first);
      out.push({
        id,
        threadId: first.threadId,
        subject: meta.subject,
        sentAt: first.sentAt.toISOString(),
        ...(first.expiresAt ? { expiresAt: first.expiresAt.toISOString() } : {}),
        recipients: copies.map((c) => ({
          address: c.toAddress,
          ...(c.firstReadAt ? { firstReadAt: c.firstReadAt.toISOString() } : {}),
          ...(c.revokedAt ? { revokedAt: c.revokedAt.toISOString() } : {}),
        })),
      });
    }
    return out;
  }

  async revoke(session: PortalSessionInfo, id: string, recipient: string | undefined, actor: Actor): Promise<void> {
    this.requireMember(session);
    const copies = (await this.sentCopies(session, id)).filter((c) => !recipient || c.toAddress === recipient.toLowerCase());
    if (copies.length === 0) throw problems.notFound();
    await this.options.db.transaction(async (tx) => {
      const ids = copies.map((c) => c.id);
      await tx.update(portalMessages).set({ revokedAt: sql`now()` }).where(and(inArray(portalMessages.id, ids), isNull(portalMessages.revokedAt)));
      // Open links to these copies stop working too.
      await tx.update(portalLinks).set({ usedAt: sql`now()` }).where(and(inArray(portalLinks.portalMessageId, ids), isNull(portalLinks.usedAt)));
      await appendAudit(
        tx,
        this.options.vault.auditKeys,
        copies.map((c): AuditEntryInput => ({
          tenantId: session.tenantId,
          action: 'revoked',
          actorId: session.id,
          actorAddress: session.address,
          clientIp: actor.clientIp,
          subjectId: c.id,
          details: { channel: 'portal', recipient: c.toAddress },
        })),
      );
    });
  }

  async changeExpiry(session: PortalSessionInfo, id: string, requested: Date, actor: Actor): Promise<Date> {
    this.requireMember(session);
    if (Number.isNaN(requested.getTime())) throw problems.invalid('expiresAt must be an RFC 3339 date-time.');
    const copies = await this.sentCopies(session, id);
    const settings = await this.settings(session.tenantId);
    const sentAt = copies[0]!.sentAt;
    const max = sentAt.getTime() + settings.maxExpiryDays * DAY_MS;
    const expiresAt = new Date(Math.min(requested.getTime(), max));
    await this.options.db.transaction(async (tx) => {
      await tx.update(portalMessages).set({ expiresAt }).where(inArray(portalMessages.id, copies.map((c) => c.id)));
      await appendAudit(
        tx,
        this.options.vault.auditKeys,
        copies.map((c): AuditEntryInput => ({
          tenantId: session.tenantId,
          action: 'expiry_changed',
          actorId: session.id,
          actorAddress: session.address,
          clientIp: actor.clientIp,
          subjectId: c.id,
          details: { channel: 'portal', from: c.expiresAt?.toISOString() ?? null, to: expiresAt.toISOString(), capped: expiresAt.getTime() < requested.getTime() },
        })),
      );
    });
    return expiresAt;
  }

  /**
   * Exposes how opening stored messages went as `sealpost_portal_message_opens_total{outcome}`:
   * decrypted (a decrypt + parse ran), cached (served from the structure cache), shared (joined an open
   * under way), busy (answered 503). Few decrypts for many reads is the cache and the sharing at work.
   */
  registerMetrics(registry: Registry): void {
    const stats = this.readingStats;
    const limiter = this.openLimiter;
    new Counter({
      name: 'sealpost_portal_message_opens_total',
      help: 'Reads of stored portal messages, by how they were served: decrypted, cached, shared or busy (503)',
      labelNames: ['outcome'],
      registers: [registry],
      collect() {
        this.reset();
        this.inc({ outcome: 'decrypted' }, stats.decrypts);
        this.inc({ outcome: 'cached' }, stats.cacheHits);
        this.inc({ outcome: 'shared' }, stats.coalesced);
        this.inc({ outcome: 'busy' }, limiter.refused);
      },
    });
  }

  /** For the routes: the link a (possibly unusable) token names, to find the address for a new one. */
  findLink(token: string): Promise<LinkRow | undefined> {
    return findLink(this.options.db, token);
  }
}

export function previewOf(text: string): string {
  return text.replace(/\s+/g, ' ').trim().slice(0, 200);
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(1)} GB`;
  if (bytes >= 1024 ** 2) return `${(bytes / 1024 ** 2).toFixed(1)} MB`;
  return `${Math.ceil(bytes / 1024)} KB`;
}

function isUuid(value: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value);
}

function hasBranding(branding: TenantBranding): boolean {
  return Boolean(branding.name || branding.colour || branding.logo);
}

function portalBranding(tenant: TenantInfo): PortalBranding {
  const { name, colour, logo } = tenant.branding;
  if (!hasBranding(tenant.branding)) return {};
  return {
    name: name ?? tenant.name,
    ...(colour ? { colour } : {}),
    ...(logo ? { logoUrl: `/api/portal/branding/${tenant.brandingKey}/logo` } : {}),
  };
}
