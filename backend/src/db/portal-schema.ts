/**
 * The message portal's tables. Message content and everything readable about it (subject, sender name,
 * preview) is sealed with the key vault; what stays in clear are addresses, ids and times, which access
 * control, threading and quotas need.
 */
import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  boolean,
  customType,
  index,
  integer,
  jsonb,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';

const bytea = customType<{ data: Buffer; driverData: Buffer | Uint8Array }>({
  dataType: () => 'bytea',
  fromDriver: (value) => (Buffer.isBuffer(value) ? value : Buffer.from(value)),
});

const at = (name: string) => timestamp(name, { withTimezone: true });

/** Portal settings of a tenant (language, templates, expiry, links, quotas, retention, digests). */
export const portalTenantSettings = pgTable('portal_tenant_settings', {
  tenantId: uuid('tenant_id').primaryKey(),
  settings: jsonb('settings').$type<Record<string, unknown>>().notNull().default({}),
  updatedAt: at('updated_at').notNull().defaultNow(),
});

/**
 * A conversation between one tenant member and one external address. Threads are found by a keyed
 * hash of the normalised subject (the subject itself is never stored in clear) or by In-Reply-To.
 */
export const portalThreads = pgTable(
  'portal_threads',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id').notNull(),
    memberAddress: text('member_address').notNull(),
    externalAddress: text('external_address').notNull(),
    subjectKey: text('subject_key').notNull(),
    messageCount: integer('message_count').notNull().default(0),
    createdAt: at('created_at').notNull().defaultNow(),
    lastMessageAt: at('last_message_at').notNull().defaultNow(),
  },
  (t) => [
    index('portal_threads_lookup_idx').on(t.tenantId, t.memberAddress, t.externalAddress, t.subjectKey),
    index('portal_threads_external_idx').on(t.tenantId, t.externalAddress),
    index('portal_threads_member_idx').on(t.tenantId, t.memberAddress),
  ],
);

/**
 * One stored message in a thread: either a member's message as one external recipient gets it, or a
 * reply written in the portal. The EML is sealed as `${id}:eml`, its metadata as `${id}:meta`.
 */
export const portalMessages = pgTable(
  'portal_messages',
  {
    id: uuid('id').primaryKey(),
    tenantId: uuid('tenant_id').notNull(),
    threadId: uuid('thread_id')
      .notNull()
      .references(() => portalThreads.id, { onDelete: 'cascade' }),
    /** The gateway message this copy was made from (null for replies written in the portal). */
    sourceMessageId: uuid('source_message_id'),
    /** from-member | from-recipient */
    direction: text('direction').notNull(),
    /** portal_secure (external recipient, notified) or relay (internal recipient, delivered as mail too). */
    deliveryMode: text('delivery_mode').notNull().default('portal_secure'),
    fromAddress: text('from_address').notNull(),
    /** The address this copy is addressed to (the external recipient, or the member for replies). */
    toAddress: text('to_address').notNull(),
    messageIdHeader: text('message_id_header'),
    sizeBytes: integer('size_bytes').notNull(),
    /** Keyed fingerprint `hmac-sha256:<hex>` (KeyVault.fingerprint); a bare SHA-256 only in rows from before. */
    contentSha256: text('content_sha256').notNull(),
    content: bytea('content').notNull(),
    wrappedDataKey: bytea('wrapped_data_key').notNull(),
    meta: bytea('meta').notNull(),
    metaWrappedDataKey: bytea('meta_wrapped_data_key').notNull(),
    readReceipt: boolean('read_receipt').notNull().default(false),
    noReply: boolean('no_reply').notNull().default(false),
    /** The sender asked that the recipient prove a second factor (TOTP or passkey) before reading. */
    requireSecondFactor: boolean('require_second_factor').notNull().default(false),
    sentAt: at('sent_at').notNull().defaultNow(),
    expiresAt: at('expires_at'),
    firstReadAt: at('first_read_at'),
    revokedAt: at('revoked_at'),
    deletedBySenderAt: at('deleted_by_sender_at'),
    deletedByRecipientAt: at('deleted_by_recipient_at'),
  },
  (t) => [
    // One copy per message, addressee and conversation: a colleague copied on a message to several outsiders
    // keeps one in each outsider's thread (relay mode), everyone else has one thread per message anyway.
    uniqueIndex('portal_messages_source_recipient_thread_idx')
      .on(t.sourceMessageId, t.toAddress, t.threadId)
      .where(sql`${t.sourceMessageId} is not null`),
    index('portal_messages_thread_idx').on(t.threadId, t.sentAt),
    index('portal_messages_message_id_idx').on(t.tenantId, t.messageIdHeader),
    index('portal_messages_from_idx').on(t.tenantId, t.fromAddress),
    // Housekeeping finds expired messages and those past a tenant's retention period without a scan.
    index('portal_messages_expires_idx').on(t.expiresAt).where(sql`${t.expiresAt} is not null`),
    index('portal_messages_sent_idx').on(t.tenantId, t.sentAt),
  ],
);

/** Magic links: only the SHA-256 of the token is kept. */
export const portalLinks = pgTable(
  'portal_links',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id').notNull(),
    tokenHash: text('token_hash').notNull().unique(),
    address: text('address').notNull(),
    /** message (a recipient opens a message) or sign-in (a member signs in). */
    purpose: text('purpose').notNull(),
    threadId: uuid('thread_id'),
    portalMessageId: uuid('portal_message_id'),
    expiresAt: at('expires_at').notNull(),
    usedAt: at('used_at'),
    createdAt: at('created_at').notNull().defaultNow(),
  },
  (t) => [index('portal_links_address_idx').on(t.tenantId, t.address)],
);

/** Browser sessions: the cookie secrets are kept as SHA-256 only. */
export const portalSessions = pgTable('portal_sessions', {
  id: uuid('id').primaryKey().defaultRandom(),
  tenantId: uuid('tenant_id').notNull(),
  tokenHash: text('token_hash').notNull().unique(),
  browserSecretHash: text('browser_secret_hash').notNull(),
  csrfToken: text('csrf_token').notNull(),
  address: text('address').notNull(),
  role: text('role'),
  clientIp: text('client_ip').notNull(),
  bindToIp: boolean('bind_to_ip').notNull().default(true),
  linkId: uuid('link_id'),
  /** How the session began: link (a magic link or a message link) or entra (the organisation's Entra ID). */
  signInMethod: text('sign_in_method').notNull().default('link'),
  /** The session reads nothing until its address proves a second factor (portal_factors). */
  factorRequired: boolean('factor_required').notNull().default(false),
  factorVerifiedAt: at('factor_verified_at'),
  /** The WebAuthn challenge this session was last given (registration or sign-in), used once. */
  factorChallenge: text('factor_challenge'),
  createdAt: at('created_at').notNull().defaultNow(),
  expiresAt: at('expires_at').notNull(),
  endedAt: at('ended_at'),
});

/**
 * A recipient's second factors: an authenticator app (TOTP, its secret sealed with the key vault, bound to
 * the address) or a passkey (WebAuthn public key). A TOTP secret is stored unconfirmed while the recipient
 * scans it, and counts only once a code from it was typed.
 */
export const portalFactors = pgTable(
  'portal_factors',
  {
    id: uuid('id').primaryKey(),
    tenantId: uuid('tenant_id').notNull(),
    address: text('address').notNull(),
    /** totp | passkey */
    kind: text('kind').notNull(),
    label: text('label').notNull(),
    sealedSecret: bytea('sealed_secret'),
    wrappedDataKey: bytea('wrapped_data_key'),
    /** TOTP: the last time step accepted, so one code works once. */
    lastStep: bigint('last_step', { mode: 'number' }),
    credentialId: text('credential_id'),
    publicKey: bytea('public_key'),
    signCount: bigint('sign_count', { mode: 'number' }).notNull().default(0),
    transports: jsonb('transports').$type<string[]>(),
    confirmedAt: at('confirmed_at'),
    createdAt: at('created_at').notNull().defaultNow(),
    lastUsedAt: at('last_used_at'),
  },
  (t) => [
    index('portal_factors_address_idx').on(t.tenantId, t.address),
    uniqueIndex('portal_factors_credential_idx').on(t.tenantId, t.credentialId).where(sql`${t.credentialId} is not null`),
  ],
);

/** One-time recovery codes for a recipient who lost their factor: only a hash is kept; each works once. */
export const portalRecoveryCodes = pgTable(
  'portal_recovery_codes',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    tenantId: uuid('tenant_id').notNull(),
    address: text('address').notNull(),
    codeHash: text('code_hash').notNull(),
    createdAt: at('created_at').notNull().defaultNow(),
    usedAt: at('used_at'),
  },
  (t) => [index('portal_recovery_codes_address_idx').on(t.tenantId, t.address)],
);

/** Requests for new links, counted per address and per client IP to rate-limit them across processes. */
export const portalRateEvents = pgTable(
  'portal_rate_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    bucket: text('bucket').notNull(),
    at: at('at').notNull().defaultNow(),
  },
  (t) => [index('portal_rate_events_bucket_idx').on(t.bucket, t.at)],
);

/** Digest notifications already sent, so each interval yields one digest per address. */
export const portalDigests = pgTable(
  'portal_digests',
  {
    tenantId: uuid('tenant_id').notNull(),
    address: text('address').notNull(),
    lastSentAt: at('last_sent_at').notNull(),
  },
  (t) => [uniqueIndex('portal_digests_address_idx').on(t.tenantId, t.address)],
);

/**
 * The append-only audit log. Each entry carries the hash of the previous entry of the same tenant;
 * a trigger (in the migration) refuses UPDATE, DELETE and TRUNCATE for every role.
 */
export const auditLog = pgTable(
  'audit_log',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    tenantId: uuid('tenant_id').notNull(),
    seq: bigint('seq', { mode: 'number' }).notNull(),
    at: at('at').notNull(),
    action: text('action').notNull(),
    actorId: text('actor_id'),
    actorAddress: text('actor_address'),
    clientIp: text('client_ip'),
    subjectId: text('subject_id'),
    details: jsonb('details').$type<Record<string, unknown>>().notNull().default({}),
    prevHash: text('prev_hash').notNull(),
    hash: text('hash').notNull(),
  },
  (t) => [
    uniqueIndex('audit_log_tenant_seq_idx').on(t.tenantId, t.seq),
    index('audit_log_subject_idx').on(t.tenantId, t.subjectId),
    index('audit_log_action_idx').on(t.tenantId, t.action, t.seq),
    index('audit_log_at_idx').on(t.tenantId, t.at),
  ],
);
