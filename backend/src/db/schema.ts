/**
 * The database schema. Migrations are generated from this file with `npm run db:generate`,
 * committed under backend/drizzle/, and applied at start-up on PGlite and PostgreSQL alike.
 */
import { sql } from 'drizzle-orm';
import type { PolicyMatch, PolicySettings } from '../guard-policy-settings.ts';
import {
  bigserial,
  boolean,
  customType,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';

const bytea = customType<{ data: Buffer; driverData: Buffer | Uint8Array }>({
  dataType: () => 'bytea',
  fromDriver: (value) => (Buffer.isBuffer(value) ? value : Buffer.from(value)),
});

const createdAt = () => timestamp('created_at', { withTimezone: true }).notNull().defaultNow();

export const tenants = pgTable('tenants', {
  id: uuid('id').primaryKey().defaultRandom(),
  name: text('name').notNull().unique(),
  /** Where inbound and internal mail for the tenant goes: smtp://host:port or mailbox:<folder>. */
  mailServer: text('mail_server'),
  settings: jsonb('settings').$type<TenantSettings>().notNull().default({}),
  createdAt: createdAt(),
});

export interface TenantSettings {
  subjectTriggers?: string[];
  smartAlert?: SmartAlertRule;
  entra?: { applicationId: string; tenantIds: string[] };
  /** From the tenant file's branding, checked there (the logo as a data: URL). */
  branding?: { name?: string; colour?: string; logo?: string };
  /** S/MIME: auto-import (on unless set false), when to sign, the signature's form, auto-issue from the tenant CA. */
  smime?: {
    autoImport?: boolean;
    sign?: 'on-request' | 'always';
    signatureForm?: 'detached' | 'opaque';
    autoIssue?: boolean;
    inbound?: 'decrypt' | 'as-received';
    /** PEM text of the roots that vouch for signers of inbound mail. */
    trustAnchors?: string[];
    /** LDAP directories asked for recipients' certificates (the bind password is named, not stored). */
    directories?: Array<{ url: string; baseDn: string; bindDn?: string; bindPasswordEnv?: string; timeoutMs?: number }>;
  };
  /** The password PDF: how recipients get the password, and the SMS provider. */
  pdf?: { password?: 'portal' | 'sms'; senderPassword?: boolean; sms?: { url: string; tokenEnv?: string; from?: string; timeoutMs?: number } };
  /** Encryption policy: the mode for mail that asks for nothing, per-recipient rules, the ways 'auto' may take. */
  encryption?: {
    mode?: 'off' | 'allow' | 'mandatory';
    rules?: Array<{ recipients: string[]; mode: 'off' | 'allow' | 'mandatory' }>;
    ways?: { smime?: boolean; pgp?: boolean; pdf?: boolean; portal?: boolean };
    onlyIfMandatory?: { pdf?: boolean; portal?: boolean };
  };
  /** OpenPGP: auto-import (on unless set false), when to sign, key pairs made on demand, inbound, Web Key Directory look-up. */
  pgp?: {
    autoImport?: boolean;
    sign?: 'on-request' | 'always';
    autoGenerate?: boolean;
    inbound?: 'decrypt' | 'as-received';
    wkd?: boolean | { timeoutMs: number };
  };
}

/** When the add-in asks at send time: external recipients with attachments, and/or these words. */
export interface SmartAlertRule {
  externalRecipientsWithAttachments: boolean;
  keywords: string[];
}

export const tenantDomains = pgTable(
  'tenant_domains',
  {
    domain: text('domain').primaryKey(),
    tenantId: uuid('tenant_id').notNull().references(() => tenants.id, { onDelete: 'cascade' }),
  },
  (t) => [index('tenant_domains_tenant_idx').on(t.tenantId)],
);

export const connectors = pgTable(
  'connectors',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id').notNull().references(() => tenants.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    ips: text('ips').array().notNull().default(sql`'{}'::text[]`),
    smtpAuthUser: text('smtp_auth_user'),
    smtpAuthPasswordHash: text('smtp_auth_password_hash'),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('connectors_tenant_name_idx').on(t.tenantId, t.name)],
);

export const members = pgTable(
  'members',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id').notNull().references(() => tenants.id, { onDelete: 'cascade' }),
    email: text('email').notNull(),
    role: text('role').notNull(),
    /** The member's name as mail shows it (the header protection knows impersonations by it). */
    name: text('name'),
    /** The member's Entra ID object id (oid), remembered at the first add-in sign-in. */
    entraObjectId: text('entra_object_id'),
    /** file (the tenant file, written again at every start), console (added in the portal), entra (first Entra sign-in) */
    source: text('source').notNull().default('file'),
    /** Who last added or changed the member in the console. */
    changedBy: text('changed_by'),
    updatedAt: timestamp('updated_at', { withTimezone: true }),
    createdAt: createdAt(),
  },
  (t) => [
    uniqueIndex('members_tenant_email_idx').on(t.tenantId, t.email),
    uniqueIndex('members_tenant_entra_object_idx').on(t.tenantId, t.entraObjectId),
  ],
);

export const apiTokens = pgTable(
  'api_tokens',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id').notNull().references(() => tenants.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    tokenHash: text('token_hash').notNull().unique(),
    /** file (the tenant file) or console (made in the portal, shown once) */
    source: text('source').notNull().default('file'),
    /** The token's first characters, so a list can tell tokens apart without holding them. */
    hint: text('hint'),
    createdBy: text('created_by'),
    lastUsedAt: timestamp('last_used_at', { withTimezone: true }),
    expiresAt: timestamp('expires_at', { withTimezone: true }),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('api_tokens_tenant_name_idx').on(t.tenantId, t.name)],
);

/** Tenant keys, wrapped by the master key (AES-256-GCM, tenant id bound in as additional data). */
export const tenantKeys = pgTable('tenant_keys', {
  tenantId: uuid('tenant_id')
    .primaryKey()
    .references(() => tenants.id, { onDelete: 'cascade' }),
  wrappedKey: bytea('wrapped_key').notNull(),
  createdAt: createdAt(),
});

/**
 * One received message for one tenant. The raw message is stored encrypted with its own data key,
 * wrapped by the tenant key; the message and tenant ids are bound in as additional data.
 */
export const messages = pgTable(
  'messages',
  {
    id: uuid('id').primaryKey(),
    tenantId: uuid('tenant_id').notNull().references(() => tenants.id, { onDelete: 'cascade' }),
    /** inbound (from the Internet), outbound (from a tenant connector) or notification (made by the gateway). */
    direction: text('direction').notNull(),
    mailFrom: text('mail_from').notNull(),
    clientAddress: text('client_address').notNull(),
    clientHelo: text('client_helo'),
    tls: boolean('tls').notNull().default(false),
    connectorName: text('connector_name'),
    sizeBytes: integer('size_bytes').notNull(),
    messageIdHeader: text('message_id_header'),
    /** Keyed fingerprint `hmac-sha256:<hex>` (KeyVault.fingerprint); a bare SHA-256 only in rows from before. */
    contentSha256: text('content_sha256').notNull(),
    content: bytea('content').notNull(),
    wrappedDataKey: bytea('wrapped_data_key').notNull(),
    /**
     * received → routed once the stages have queued its deliveries; then delivered, bounced or partly_delivered.
     * A message the stages stopped is held (a stage failed), quarantined or rejected (the guard's verdict).
     */
    state: text('state').notNull().default('received'),
    /** The last stage the message passed (stages/stage-runner.ts): a restart resumes after it. */
    stage: text('stage').notNull().default('received'),
    /** What each passed stage decided (classification, request, guard verdict, routes), for the stages after it. */
    stageResults: jsonb('stage_results').$type<Record<string, unknown>>().notNull().default({}),
    pipelineAttempts: integer('pipeline_attempts').notNull().default(0),
    /** The stage runner that leases the message, until pipeline_locked_until; an expired lease is anyone's. */
    pipelineLeaseOwner: text('pipeline_lease_owner'),
    pipelineLockedUntil: timestamp('pipeline_locked_until', { withTimezone: true }),
    pipelineNextAt: timestamp('pipeline_next_at', { withTimezone: true }).notNull().defaultNow(),
    receivedAt: timestamp('received_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index('messages_pipeline_idx').on(t.pipelineNextAt).where(sql`${t.state} = 'received'`),
    index('messages_tenant_received_idx').on(t.tenantId, t.receivedAt),
    // The message trace's searches (messages/message-search.ts) of the few messages that need an admin
    // (held, quarantined, …; flagged and blocked verdicts), without reading past the many that do not.
    index('messages_attention_idx')
      .on(t.tenantId, t.receivedAt)
      .where(sql`${t.state} in ('held', 'quarantined', 'rejected', 'bounced', 'partly_delivered')`),
    index('messages_verdict_idx')
      .on(t.tenantId, t.receivedAt)
      .where(sql`(${t.stageResults} -> 'guard' ->> 'action') in ('flag', 'quarantine', 'reject')`),
  ],
);

/**
 * What the message trace searches a message by (messages/message-search.ts), written once when the message
 * is stored (a trigger, drizzle/0017_message_search.sql) and never changed: the messages row itself is
 * updated at every stage, and every index on it is written again at each update, so these live apart.
 * The sender is kept lower-case and reversed, so one index serves an address (equality) and a domain (a
 * prefix), compared with leakproof operators only, which row-level security lets an index scan use.
 */
export const messageSearch = pgTable(
  'message_search',
  {
    messageId: uuid('message_id')
      .primaryKey()
      .references(() => messages.id, { onDelete: 'cascade' }),
    tenantId: uuid('tenant_id').notNull(),
    senderKey: text('sender_key').notNull(),
    messageIdHeader: text('message_id_header'),
    receivedAt: timestamp('received_at', { withTimezone: true }).notNull(),
  },
  (t) => [
    index('message_search_sender_idx').on(t.tenantId, t.senderKey.op('text_pattern_ops')),
    index('message_search_message_id_idx').on(t.tenantId, t.messageIdHeader),
  ],
);

export const recipients = pgTable(
  'message_recipients',
  {
    messageId: uuid('message_id')
      .notNull()
      .references(() => messages.id, { onDelete: 'cascade' }),
    /** The message's tenant, so that row-level security needs no look-up of the message. */
    tenantId: uuid('tenant_id').notNull(),
    position: integer('position').notNull(),
    address: text('address').notNull(),
    /** The address lower-case and reversed, for searches by address or domain (message-search.ts). */
    addressKey: text('address_key').generatedAlwaysAs(sql`reverse(lower(address))`),
  },
  (t) => [
    primaryKey({ columns: [t.messageId, t.position] }),
    // The message trace's search by recipient address or domain (reversed, as for senders).
    index('message_recipients_search_idx').on(t.tenantId, t.addressKey.op('text_pattern_ops')),
  ],
);

/**
 * The delivery queue: one row per recipient of a message. Claimed with FOR UPDATE SKIP LOCKED so that
 * any number of gateway processes can share it.
 */
export const deliveries = pgTable(
  'deliveries',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    messageId: uuid('message_id')
      .notNull()
      .references(() => messages.id, { onDelete: 'cascade' }),
    tenantId: uuid('tenant_id').notNull().references(() => tenants.id, { onDelete: 'cascade' }),
    recipient: text('recipient').notNull(),
    /** tenant-mail-server | external */
    route: text('route').notNull(),
    /** The protection mode the pipeline resolved: none, portal, smime, pgp, pdf, auto. */
    protection: text('protection').notNull().default('none'),
    /** queued | delivering | held | delivered | failed | expired */
    status: text('status').notNull(),
    /** Deliver the message exactly as it was received (an operator released it past the stages). */
    asReceived: boolean('as_received').notNull().default(false),
    /** The stored protected copy this delivery sends (protected_copies); null when no mode made one. */
    protectedCopyId: uuid('protected_copy_id'),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: timestamp('next_attempt_at', { withTimezone: true }).notNull().defaultNow(),
    lockedUntil: timestamp('locked_until', { withTimezone: true }),
    lockedBy: text('locked_by'),
    lastReply: text('last_reply'),
    lastRemote: text('last_remote'),
    createdAt: createdAt(),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
  },
  (t) => [
    index('deliveries_due_idx').on(t.nextAttemptAt).where(sql`${t.status} in ('queued', 'held', 'delivering')`),
    index('deliveries_message_idx').on(t.messageId),
  ],
);

/**
 * The bytes a protection mode made for a group of recipients of one message (S/MIME, OpenPGP, a password
 * PDF), stored once so that every delivery attempt sends the same bytes. Encrypted at rest like the
 * message itself: its own data key, wrapped by the tenant key, with the copy id, message, mode and
 * recipients bound in as additional data. Deleted once the message's deliveries are final.
 */
export const protectedCopies = pgTable(
  'protected_copies',
  {
    id: uuid('id').primaryKey(),
    tenantId: uuid('tenant_id').notNull().references(() => tenants.id, { onDelete: 'cascade' }),
    messageId: uuid('message_id')
      .notNull()
      .references(() => messages.id, { onDelete: 'cascade' }),
    /** The protection mode that made the copy (the route's mode: smime, pgp, pdf, auto). */
    mode: text('mode').notNull(),
    /** The recipients the copy serves. */
    recipients: text('recipients').array().notNull(),
    content: bytea('content').notNull(),
    wrappedDataKey: bytea('wrapped_data_key').notNull(),
    /** Bytes of the protected copy before encryption. */
    sizeBytes: integer('size_bytes').notNull(),
    createdAt: createdAt(),
  },
  (t) => [index('protected_copies_message_idx').on(t.messageId)],
);

/**
 * A tenant's inbound policies (guard-policy-settings.ts): the first enabled one by priority whose routing
 * rules match decides a message. Written by the tenant file (source 'file', replaced at each start) or the
 * admin API (source 'admin'); a policy the file names cannot be edited through the API.
 */
export const guardPolicies = pgTable(
  'guard_policies',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id').notNull().references(() => tenants.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    enabled: boolean('enabled').notNull().default(true),
    /** Lower first. */
    priority: integer('priority').notNull(),
    match: jsonb('match').$type<PolicyMatch>().notNull().default({}),
    settings: jsonb('settings').$type<PolicySettings>().notNull().default({}),
    /** file | admin */
    source: text('source').notNull(),
    /** Bumped on every change, so an editor's stale copy is refused rather than overwriting a newer one. */
    revision: integer('revision').notNull().default(1),
    createdAt: createdAt(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
    updatedBy: text('updated_by'),
  },
  (t) => [uniqueIndex('guard_policies_tenant_name_idx').on(t.tenantId, sql`lower(${t.name})`)],
);

/**
 * Senders a tenant's operators allowed "from now on" when releasing a message from quarantine. An allowed
 * sender's mail gets a strong negative score, unless it fails DMARC (a forged sender gains nothing) or a
 * module forces an action (a blocked network stays blocked).
 */
export const guardAllowedSenders = pgTable(
  'guard_allowed_senders',
  {
    tenantId: uuid('tenant_id').notNull().references(() => tenants.id, { onDelete: 'cascade' }),
    /** Lower-case address. */
    address: text('address').notNull(),
    addedBy: text('added_by').notNull(),
    /** The quarantined message whose release allowed it. */
    messageId: uuid('message_id'),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.address] })],
);

/**
 * The tenant's public certificate store: one row per certificate and address it names, from an import or
 * from a signed message. A different certificate for an address that has one is kept beside it, marked
 * as a change (certificate continuity), never put in its place unnoticed.
 */
export const certificates = pgTable(
  'certificates',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id').notNull().references(() => tenants.id, { onDelete: 'cascade' }),
    /** Lower-case address the certificate names (subject alternative name or the subject's e-mail). */
    address: text('address').notNull(),
    /** SHA-256 of the DER certificate, lower-case hex. */
    fingerprint: text('fingerprint').notNull(),
    der: bytea('der').notNull(),
    subject: text('subject').notNull(),
    issuer: text('issuer').notNull(),
    serialNumber: text('serial_number').notNull(),
    notBefore: timestamp('not_before', { withTimezone: true }).notNull(),
    notAfter: timestamp('not_after', { withTimezone: true }).notNull(),
    /** import, signed-mail */
    source: text('source').notNull(),
    /** Who imported it, or the message that brought it. */
    addedBy: text('added_by').notNull(),
    messageId: uuid('message_id'),
    /** The fingerprint of the certificate this address had before, when this one came as a change. */
    replacesFingerprint: text('replaces_fingerprint'),
    /** The algorithms the correspondent reads (SMIMECapabilities of its last signed message, else of the certificate). */
    capabilities: text('capabilities').array(),
    firstSeenAt: timestamp('first_seen_at', { withTimezone: true }).notNull().defaultNow(),
    lastSeenAt: timestamp('last_seen_at', { withTimezone: true }).notNull().defaultNow(),
    /** When the owners and operators were told it expires soon (once). */
    expiryWarnedAt: timestamp('expiry_warned_at', { withTimezone: true }),
  },
  // Look-ups by address use this index's leading columns.
  (t) => [uniqueIndex('certificates_tenant_address_fingerprint').on(t.tenantId, t.address, t.fingerprint)],
);

/**
 * Members' own S/MIME keys: a certificate and its private key, imported (PKCS#12) or issued by the
 * tenant's CA, for signing their outbound mail and decrypting mail to them. The private key is sealed
 * with the key vault (a data key of its own under the tenant key, bound to the row and its address).
 */
export const memberKeys = pgTable(
  'member_keys',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id').notNull().references(() => tenants.id, { onDelete: 'cascade' }),
    /** Lower-case member address the certificate names. */
    address: text('address').notNull(),
    /** SHA-256 of the DER certificate, lower-case hex. */
    fingerprint: text('fingerprint').notNull(),
    certificate: bytea('certificate').notNull(),
    /** The issuing certificates up to the root, base64 DER, as sent beside signatures. */
    chain: jsonb('chain').$type<string[]>().notNull(),
    /** PKCS#8 private key, sealed. */
    sealedKey: bytea('sealed_key').notNull(),
    wrappedDataKey: bytea('wrapped_data_key').notNull(),
    subject: text('subject').notNull(),
    issuer: text('issuer').notNull(),
    notBefore: timestamp('not_before', { withTimezone: true }).notNull(),
    notAfter: timestamp('not_after', { withTimezone: true }).notNull(),
    /** import, tenant-ca */
    source: text('source').notNull(),
    createdBy: text('created_by').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    /** When the owners and operators were told it expires soon (once). */
    expiryWarnedAt: timestamp('expiry_warned_at', { withTimezone: true }),
  },
  (t) => [uniqueIndex('member_keys_tenant_address_fingerprint').on(t.tenantId, t.address, t.fingerprint)],
);

/**
 * The tenant's store of outside correspondents' OpenPGP public keys, for OpenPGP to outside recipients: one
 * row per key and address its user IDs name, from an import, a signed message or an Autocrypt header. As
 * with certificates, a different key for an address that has one is kept beside it, marked as a change.
 */
export const pgpKeys = pgTable(
  'pgp_keys',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id').notNull().references(() => tenants.id, { onDelete: 'cascade' }),
    /** Lower-case address a user ID of the key names. */
    address: text('address').notNull(),
    /** The primary key's fingerprint, lower-case hex (40 digits for a v4 key). */
    fingerprint: text('fingerprint').notNull(),
    /** The transferable public key, binary (RFC 9580 packets). */
    keyData: bytea('key_data').notNull(),
    userIds: jsonb('user_ids').$type<string[]>().notNull(),
    /** The primary key's algorithm, for example rsa3072 or ed25519. */
    algorithm: text('algorithm').notNull(),
    keyCreatedAt: timestamp('key_created_at', { withTimezone: true }).notNull(),
    /** When the key expires; null for a key without expiry. */
    expiresAt: timestamp('expires_at', { withTimezone: true }),
    /** import, signed-mail, autocrypt */
    source: text('source').notNull(),
    addedBy: text('added_by').notNull(),
    messageId: uuid('message_id'),
    replacesFingerprint: text('replaces_fingerprint'),
    /** Autocrypt's prefer-encrypt of the correspondent (mutual), when it came that way. */
    preferEncrypt: text('prefer_encrypt'),
    firstSeenAt: timestamp('first_seen_at', { withTimezone: true }).notNull().defaultNow(),
    lastSeenAt: timestamp('last_seen_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('pgp_keys_tenant_address_fingerprint').on(t.tenantId, t.address, t.fingerprint)],
);

/**
 * Members' own OpenPGP key pairs (generated here or imported), for signing their outbound mail and
 * decrypting mail to them. The secret key is sealed with the key vault like members' S/MIME keys.
 */
export const memberPgpKeys = pgTable(
  'member_pgp_keys',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id').notNull().references(() => tenants.id, { onDelete: 'cascade' }),
    address: text('address').notNull(),
    fingerprint: text('fingerprint').notNull(),
    /** The transferable public key, binary. */
    publicKey: bytea('public_key').notNull(),
    /** The transferable secret key (binary, without passphrase), sealed. */
    sealedKey: bytea('sealed_key').notNull(),
    wrappedDataKey: bytea('wrapped_data_key').notNull(),
    algorithm: text('algorithm').notNull(),
    expiresAt: timestamp('expires_at', { withTimezone: true }),
    /** import, generated */
    source: text('source').notNull(),
    createdBy: text('created_by').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('member_pgp_keys_tenant_address_fingerprint').on(t.tenantId, t.address, t.fingerprint)],
);

/** The tenant's own certification authority, created on first use, that issues members' certificates. */
export const tenantCas = pgTable('tenant_cas', {
  tenantId: uuid('tenant_id')
    .primaryKey()
    .references(() => tenants.id, { onDelete: 'cascade' }),
  certificate: bytea('certificate').notNull(),
  /** PKCS#8 private key, sealed. */
  sealedKey: bytea('sealed_key').notNull(),
  wrappedDataKey: bytea('wrapped_data_key').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
});

/** One message, one trace: every step recorded against the message id. */
export const messageTrace = pgTable(
  'message_trace',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    messageId: uuid('message_id').notNull(),
    tenantId: uuid('tenant_id').notNull(),
    at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
    step: text('step').notNull(),
    detail: jsonb('detail').$type<Record<string, unknown>>().notNull().default({}),
  },
  (t) => [index('message_trace_message_idx').on(t.messageId, t.id)],
);

/**
 * The Outlook add-in manifest as this installation has served it: a new revision whenever the rendered
 * content changes (a new public URL, a new manifest in a release), so that every gateway process hands
 * out the same <Version> and Outlook sees a higher one after each change.
 */
export const addinManifestRevisions = pgTable('addin_manifest_revisions', {
  revision: integer('revision').primaryKey(),
  /** SHA-256 of the rendered manifest with its <Version> left out. */
  contentHash: text('content_hash').notNull(),
  createdAt: createdAt(),
});

// The message portal's tables live in their own file.
export * from './portal-schema.ts';
