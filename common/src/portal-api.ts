/**
 * The contract between the portal (portal/) and the backend's portal routes (backend/src/http/).
 * Paths are relative to the backend's origin. Errors are RFC 9457 problem documents
 * (`application/problem+json`) whose `type` is one of PortalProblemType.
 *
 * Sessions: an HttpOnly, Secure (when the public URL is https), SameSite=Strict cookie named
 * PORTAL_SESSION_COOKIE, bound to the browser (a second cookie-held secret) and, where the tenant
 * enables it, to the client IP. State-changing requests also need the header `X-Sealpost-CSRF` with the
 * value of `csrfToken` from GET /api/portal/session.
 */

export const PORTAL_SESSION_COOKIE = 'sealpost_session';
export const CSRF_HEADER = 'X-Sealpost-CSRF';

/** Where the notification's magic link points: the portal page shows an "Open message" button. */
export const OPEN_LINK_PATH = '/portal/open';
/** Query parameter of OPEN_LINK_PATH that carries the link token. */
export const OPEN_LINK_TOKEN_PARAM = 'token';
/** Query parameter of OPEN_LINK_PATH naming the tenant's branding (GET /api/portal/branding/:key). */
export const OPEN_LINK_BRAND_PARAM = 'brand';
/** Query parameter of OPEN_LINK_PATH set to `sign-in` on a member's sign-in link, so the page says so. */
export const OPEN_LINK_PURPOSE_PARAM = 'for';

export type PortalLanguage = 'en' | 'de';
export type PortalRole = 'owner' | 'operator' | 'analyst' | 'auditor' | 'contact';

export type PortalProblemType =
  /** Used, expired and tampered links get the same answer, so nothing can be learnt from it. */
  | 'urn:sealpost:problem:link-unusable'
  | 'urn:sealpost:problem:session-required'
  | 'urn:sealpost:problem:session-ip-changed'
  | 'urn:sealpost:problem:forbidden'
  | 'urn:sealpost:problem:not-found'
  | 'urn:sealpost:problem:thread-full'
  | 'urn:sealpost:problem:replies-disabled'
  | 'urn:sealpost:problem:too-large'
  | 'urn:sealpost:problem:rate-limited'
  /** 503 with Retry-After: too many large messages are being opened at once. */
  | 'urn:sealpost:problem:busy'
  | 'urn:sealpost:problem:integrity-failed'
  | 'urn:sealpost:problem:expired'
  | 'urn:sealpost:problem:invalid-request'
  /** 403: the session must prove the recipient's second factor first (GET /api/portal/second-factor). */
  | 'urn:sealpost:problem:second-factor-required'
  /** 400: the code, recovery code or passkey answer did not match. */
  | 'urn:sealpost:problem:second-factor-invalid'
  /** 409: the change is not possible as things are (a row from the tenant file, the last owner). */
  | 'urn:sealpost:problem:conflict'

  /** 403: the address's organisation has no Entra ID sign-in for the portal (GET/POST /api/portal/entra-sign-in). */
  | 'urn:sealpost:problem:organisation-sign-in-unavailable'
  /** 401: the ID token was refused; `reason` says why (bad_signature, wrong_audience, expired, nonce_mismatch, replayed, ...). */
  | 'urn:sealpost:problem:organisation-sign-in-failed'
  /** 403: the token comes from an Entra tenant the organisation does not allow. */
  | 'urn:sealpost:problem:organisation-not-allowed'
  /** 403: the signed-in address is not one of the organisation's domains, or not a member where only members may sign in. */
  | 'urn:sealpost:problem:not-a-member'
  /** 403: this address has a console role and its organisation lets it in only with the organisation sign-in (magicLinkForAdmins off). */
  | 'urn:sealpost:problem:organisation-sign-in-required';

export interface PortalProblem {
  type: PortalProblemType;
  title: string;
  status: number;
  detail?: string;
  /** A refused settings change: each wrong field with what is wrong (PATCH /api/portal/admin/settings). */
  errors?: PortalFieldError[];
  /** A refused organisation sign-in: which check failed (organisation-sign-in-failed). */
  reason?: string;
}

/** What the settings' validation found wrong with one field. */
export type PortalFieldRule =
  | 'unknown-field'
  | 'type'
  | 'minimum'
  | 'maximum'
  | 'one-of'
  | 'too-long'
  | 'at-least'
  | 'at-most'
  | 'placeholder-missing'
  | 'placeholder-unknown'
  | 'address'
  | 'foreign-domain'
  /** A value that must be given was empty. */
  | 'required'
  /** Another member or token already has it (an address, a token's name). */
  | 'duplicate'

  /** magicLinkForAdmins off needs the organisation's Entra ID sign-in. */
  | 'needs-organisation-sign-in';

export interface PortalFieldError {
  /** The field as the request named it; nested ones with dots: `notificationTemplates.de.html`, `memberQuotaBytes.bob@acme.test`. */
  field: string;
  /** In English, naming the field and the rule: "maxExpiryDays: must be at least defaultExpiryDays (30)". */
  message: string;
  /** The rule, for a portal that says it in the reader's language. */
  rule: PortalFieldRule;
  /** The rule's bound or name (30, defaultExpiryDays (30), {{link}}, acme.test), when it has one. */
  limit?: string | number;
}

// --- Links and sessions -------------------------------------------------------------------------

/** POST /api/portal/links/open — consumes the token and starts a session (Set-Cookie). */
export interface OpenLinkRequest {
  token: string;
}
export interface OpenLinkResponse {
  /** Where the portal goes next ('' for a member's sign-in without any thread yet). */
  threadId: string;
  messageId?: string;
  /** What the link was for: a recipient's message, or a member's sign-in (then go to the sent list). */
  purpose?: 'message' | 'sign-in';
  /** The session the link started, as GET /api/portal/session would answer: the portal needs no second request. */
  session?: PortalSession;
  /** For a message's link (and no second factor to prove first): the thread, as GET /api/portal/threads/:threadId answers. */
  thread?: ThreadDetail;
  /** And the message, as GET /api/portal/messages/:messageId answers (reading it here counts as its read). */
  message?: PortalMessageView;
}

/**
 * POST /api/portal/links/request — ask for a fresh link. Always 202 (it never tells whether the address
 * has messages); rate-limited per address and per client IP (429 with Retry-After when exceeded).
 * `token` may be the unusable link's token, so the new link leads to the same message.
 */
export interface RequestLinkRequest {
  email?: string;
  token?: string;
}

/**
 * A RequestLinkRequest with neither field sends a fresh link to the address of the browser's current
 * session, also when that session answered session-ip-changed.
 * DELETE /api/portal/session — signs out (204, cookies cleared).
 */

/** POST /api/portal/sign-in — a member asks for a sign-in link to their own address. Always 202. */
export interface SignInRequest {
  email: string;
}

/** The portal's sign-in with the organisation's Entra ID account: the start, and where Entra sends the browser back. */
export const ENTRA_SIGN_IN_PATH = '/api/portal/entra-sign-in';
export const ENTRA_SIGN_IN_CALLBACK_PATH = '/portal/signed-in';

/** GET ENTRA_SIGN_IN_PATH?address=: what the browser needs to send the user to Entra ID. */
export interface EntraSignInStart {
  applicationId: string;
  /** `${authority}/${Entra tenant id}`, or `/organizations` when the organisation allows several. */
  authority: string;
  /** Signed by the gateway, short-lived, bound to this browser (a cookie): Entra puts it into the ID token. */
  nonce: string;
  /** The login hint (the address typed), so Entra does not ask again. */
  loginHint: string;
}

/** POST ENTRA_SIGN_IN_PATH */
export interface EntraSignInRequest {
  idToken: string;
}

/** GET /api/portal/session */
export interface PortalSession {
  address: string;
  tenantName: string;
  language: PortalLanguage;
  /** Set for members of the tenant; external recipients have none. */
  role?: PortalRole;
  csrfToken: string;
  expiresAt: string;
  /** The tenant's look; absent for Sealpost's own. */
  branding?: PortalBranding;
  /**
   * `required`: this session reads nothing until the recipient proves their second factor;
   * `verified`: it did. Absent where no second factor is asked.
   */
  secondFactor?: 'required' | 'verified';
}

/**
 * GET /api/portal/branding/:key — a tenant's look, by the opaque key its links carry. An unknown key
 * answers {} like a tenant without branding, so the endpoint tells nobody which tenants exist.
 */
export interface PortalBranding {
  name?: string;
  /** #rrggbb, readable under white text. */
  colour?: string;
  /** Same-origin URL of the logo image (PNG, JPEG or SVG, served so it cannot run script). */
  logoUrl?: string;
}

/**
 * GET /api/portal/session/state — whether this browser has a session, always 200 so that an anonymous
 * visit logs no failed request. Everything a session may do still checks the session itself.
 */
export type PortalSessionState = { signedIn: true; session: PortalSession } | { signedIn: false; ipChanged?: boolean };

// --- Reading --------------------------------------------------------------------------------------

export interface ThreadSummary {
  id: string;
  subject: string;
  /** The other party: the tenant member for an external recipient, and the reverse. */
  counterpart: string;
  messageCount: number;
  unread: number;
  lastMessageAt: string;
}

/** GET /api/portal/threads */
export interface ThreadList {
  threads: ThreadSummary[];
}

export interface MessageSummary {
  id: string;
  from: string;
  fromName?: string;
  sentAt: string;
  subject: string;
  /** Up to 200 characters of the plain text. */
  preview: string;
  read: boolean;
  direction: 'from-member' | 'from-recipient';
}

/** GET /api/portal/threads/:threadId */
export interface ThreadDetail {
  thread: ThreadSummary;
  messages: MessageSummary[];
  /** 30 messages at most per thread. */
  maxMessages: number;
  canReply: boolean;
}

export interface AttachmentInfo {
  id: string;
  filename: string;
  contentType: string;
  size: number;
  /** Set for inline parts referenced by `cid:` in the HTML. */
  contentId?: string;
}

/** GET /api/portal/messages/:messageId — reading it counts as read (audit `read`, read receipt). */
export interface PortalMessageView {
  id: string;
  threadId: string;
  from: string;
  fromName?: string;
  to: string[];
  cc: string[];
  subject: string;
  sentAt: string;
  expiresAt?: string;
  /** The message's plain-text part ('' when it has only HTML: the HTML below is what a reader is shown). */
  text: string;
  /**
   * Sanitised HTML, to be shown in an iframe with `sandbox` (no allow-scripts) and a CSP that allows no
   * script. `cid:` references are already rewritten to the inline URL below. Remote images and styles are
   * blocked unless requested with `?remote=allow`.
   */
  html?: string;
  /** True when the HTML references remote images or styles that were blocked. */
  hasBlockedRemoteContent: boolean;
  attachments: AttachmentInfo[];
  /** SHA-256 of the stored content was checked on this retrieval. */
  integrity: 'verified' | 'failed';
  canReply: boolean;
}

// Downloads:
//   GET /api/portal/messages/:messageId/attachments/:attachmentId
//     Content-Disposition: attachment; filename="…"; filename*=UTF-8''…, X-Content-Type-Options: nosniff
//   GET /api/portal/messages/:messageId/inline/:attachmentId   (images referenced by cid:, inline)

// --- Replying -------------------------------------------------------------------------------------

/** GET /api/portal/limits — shown before upload. */
export interface PortalLimits {
  maxAttachmentBytes: number;
  maxReplyBytes: number;
  maxAttachments: number;
}

/**
 * POST /api/portal/messages/:messageId/replies — multipart/form-data: field `text` (required),
 * field `html` (optional), files `attachments` (0..maxAttachments). 201 with the new message.
 * 409 thread-full, 403 replies-disabled (no-reply), 413 too-large.
 */
export interface ReplyCreated {
  messageId: string;
  threadId: string;
}

/** DELETE /api/portal/messages/:messageId — removes it for this reader (bilateral deletion). 204. */

// --- Members: what they sent ----------------------------------------------------------------------

export interface SentRecipientStatus {
  address: string;
  firstReadAt?: string;
  revokedAt?: string;
}

export interface SentMessage {
  id: string;
  threadId: string;
  subject: string;
  sentAt: string;
  expiresAt?: string;
  recipients: SentRecipientStatus[];
}

/** GET /api/portal/sent */
export interface SentMessageList {
  messages: SentMessage[];
}

/** POST /api/portal/sent/:messageId/revoke — body { recipient?: string }: all recipients when absent. */
export interface RevokeRequest {
  recipient?: string;
}

/** PATCH /api/portal/sent/:messageId — change the expiry (capped by the tenant maximum). */
export interface ChangeExpiryRequest {
  expiresAt: string;
}

/** PATCH /api/portal/sent/:messageId answers with the expiry that was set (after capping). */
export interface ChangeExpiryResponse {
  expiresAt: string;
}

// --- Admins (roles owner and operator; the audit routes also auditor) -----------------------------

/** GET /api/portal/admin/audit/verify — the first broken link of the tenant's audit chain, if any. */
export interface AuditVerification {
  ok: boolean;
  checked: number;
  tenants: number;
  /** Signed checkpoints (kept outside the database) the chain was compared with. */
  checkpoints?: number;
  firstBroken?: { tenantId: string; seq: number; id: number | null; reason: string };
  /** Everything found: altered, relinked, missing, truncated, checkpoint_mismatch, bad_checkpoint_signature. */
  problems?: Array<{ kind: string; tenantId: string | null; seq: number | null; id: number | null; reason: string }>;
}

/**
 * An audit entry's action, one of the backend's AUDIT_ACTIONS (backend/src/audit/audit-log.ts). The list
 * answers with the known actions, so the portal offers every one of them without a copy of its own.
 */
export type AuditAction = string;

/**
 * GET /api/portal/admin/audit?action=&actor=&subjectId=&from=&to=&limit=&before=|after= — newest first.
 * `actor` finds a part of the actor's address; `from` is inclusive, `to` exclusive (ISO 8601). Pages are
 * cut by seq: `before=<seq of the last entry shown>` for older entries, `after=<seq of the first>` for newer.
 * GET /api/portal/admin/audit/export?format=csv|json&<the same filter> downloads what the filter finds,
 * newest first, at most AUDIT_EXPORT_CAP entries (header x-sealpost-export-capped says when it cut).
 */
export interface AuditEntryView {
  seq: number;
  at: string;
  action: AuditAction;
  actorId: string | null;
  actorAddress: string | null;
  clientIp: string | null;
  subjectId: string | null;
  details: Record<string, unknown>;
  prevHash: string;
  hash: string;
}
export interface AuditEntryList {
  entries: AuditEntryView[];
  hasOlder: boolean;
  hasNewer: boolean;
  /** Every action the log knows, for a filter to offer. */
  actions: AuditAction[];
}

/** The most entries one audit export holds; narrow the filter (a time range) for the rest. */
export const AUDIT_EXPORT_CAP = 100_000;
/** Answer headers of an export: how many entries it holds, and whether more matched than it holds. */
export const AUDIT_EXPORT_COUNT_HEADER = 'x-sealpost-export-count';
export const AUDIT_EXPORT_CAPPED_HEADER = 'x-sealpost-export-capped';

/** GET /api/portal/admin/storage — the tenant's portal storage against its quotas (owner, operator; analyst reads). */
export interface StorageOverview {
  /** Bytes of every stored portal message of the tenant (members' messages and recipients' replies). */
  usedBytes: number;
  /** The tenant-wide quota; absent when there is none. */
  tenantQuotaBytes?: number;
  memberDefaultQuotaBytes: number;
  messageCount: number;
  /** Members who sent portal messages or have a quota of their own, most storage first. */
  members: StorageMember[];
  /** The threads that hold the most, largest first. */
  largestThreads: StorageThread[];
}
export interface StorageMember {
  address: string;
  /** What the member's own messages hold (what their quota counts). */
  usedBytes: number;
  quotaBytes: number;
  /** True when the quota is the member's own, false when it is the default. */
  ownQuota: boolean;
  messageCount: number;
}
export interface StorageThread {
  id: string;
  member: string;
  counterpart: string;
  bytes: number;
  messageCount: number;
  lastMessageAt: string;
}

// GET/PATCH /api/portal/admin/settings — the tenant's portal settings (backend/src/portal/portal-settings.ts).
// Owners and operators change them; analysts and auditors read them. A PATCH names only what changes; null
// takes the tenant's value away (the product default applies, or for optional values: none); a refused
// change is 400 invalid-request with `errors`, one per wrong field.

// --- Second factor --------------------------------------------------------------------------------

/** GET /api/portal/second-factor — what the recipient has set up and what this session proved. */
export interface SecondFactorStatus {
  required: boolean;
  verified: boolean;
  /** May this session set up a (further) factor: none yet, or this session proved one. */
  canEnrol: boolean;
  totp: boolean;
  passkeys: number;
  recoveryCodesLeft: number;
}

/** POST /api/portal/second-factor/totp/start — the secret to put into an authenticator app. */
export interface TotpEnrolment {
  /** Base32, for typing in by hand. */
  secret: string;
  /** The otpauth:// URI the QR code holds. */
  uri: string;
  /** The QR code as an SVG document. */
  qrSvg: string;
}

/** Answer of a confirmed enrolment or a verification; recovery codes only once, when they were made. */
export interface SecondFactorResult {
  verified: true;
  recoveryCodes?: string[];
}

// --- Admin console --------------------------------------------------------------------------------

/** GET/PATCH /api/portal/admin/settings: a tenant's portal settings (defaults in backend/src/portal/portal-settings.ts). */
export type DigestInterval = 'never' | 'hourly' | 'daily' | 'weekly';

export interface PortalSettings {
  /** Language of notifications and the portal; unset: German for .de/.at/.ch recipients, else English. */
  language?: PortalLanguage;
  notificationTemplates: Partial<Record<PortalLanguage, Partial<{ subject: string; text: string; html: string }>>>;
  /** Days a portal message stays readable when its sender sets no expiry. Unset: no expiry. */
  defaultExpiryDays?: number;
  /** The latest expiry a sender may set, in days after sending; also caps messages without one. Unset: no limit. */
  maxExpiryDays?: number;
  magicLinkTtlMinutes: number;
  signInLinkTtlMinutes: number;
  sessionTtlMinutes: number;
  bindSessionToIp: boolean;
  /** Unset: no tenant-wide limit. */
  tenantQuotaBytes?: number;
  memberDefaultQuotaBytes: number;
  memberQuotaBytes: Record<string, number>;
  /** Unset: kept until expiry or deletion. */
  retentionDays?: number;
  digestInterval: DigestInterval;
  /** Placeholders: {{subject}}, {{rows}}, {{domain}}. */
  digestTemplate?: string;
  digestLanguage?: PortalLanguage;
  maxAttachmentBytes: number;
  maxAttachments: number;
  maxReplyBytes: number;
  /**
   * When recipients must prove a second factor (authenticator app, passkey): `on-request` when the sender
   * asks (option `otp`) or the recipient set one up; `always` for every recipient outside the tenant.
   */
  secondFactor: 'on-request' | 'always';
  /** Whether addresses of the organisation's domains that are not members sign in (as Contact). */
  unlistedAsContact: boolean;
  /**
   * Whether members with a console role (owner, operator, analyst, auditor) may sign in with a mailed link;
   * false: the organisation's Entra ID sign-in is the only way in for them (only with Entra configured).
   */
  magicLinkForAdmins: boolean;
}

/** GET /api/portal/admin/messages (and the admin API's /message-search): one message found. */
export interface MessageHit {
  id: string;
  direction: string;
  mailFrom: string;
  recipients: string[];
  state: string;
  verdict?: string;
  score?: number;
  sizeBytes: number;
  messageIdHeader: string | null;
  receivedAt: string;
}

export interface MessageSearchPage {
  messages: MessageHit[];
  /** Give it as `after` for the next (older) page; absent on the last page. */
  next?: string;
}

/** GET /api/portal/admin/messages/:id: one message's timeline. */
export interface MessageTimeline {
  message: MessageHit;
  deliveries: Array<{
    recipient: string;
    route: string;
    protection: string;
    status: string;
    attempts: number;
    lastReply: string | null;
    lastRemote: string | null;
    nextAttemptAt: string;
    finishedAt: string | null;
  }>;
  trace: Array<{ at: string; step: string; detail: Record<string, unknown> }>;
}

/** GET /api/portal/admin/overview: the mail flow over time. */
export type FlowRange = 'hours' | 'days' | 'weeks';

export const FLOW_SERIES = ['inbound', 'outbound', 'delivered', 'bounced', 'deferred', 'flagged', 'quarantined', 'rejected', 'held', 'portalSent', 'portalOpened'] as const;
export type FlowSeries = (typeof FLOW_SERIES)[number];

export interface MailFlow {
  range: FlowRange;
  timeZone: string;
  /** The start of each bucket (ISO), oldest first, with a count per series. */
  buckets: Array<{ start: string } & Record<FlowSeries, number>>;
  totals: Record<FlowSeries, number>;
}

/** Where a member or token comes from: the tenant file (written again at every start, so read-only here), the console, or a first Entra sign-in. */
export type ConsoleRowSource = 'file' | 'console' | 'entra';

/** GET /api/portal/admin/members: one member of the organisation. */
export interface ConsoleMember {
  id: string;
  email: string;
  name: string | null;
  role: PortalRole;
  source: ConsoleRowSource;
  /** Whether the member has signed in with Entra ID (the object id is remembered). */
  entraLinked: boolean;
  /** Who last added or changed the member in the console, and when. */
  changedBy: string | null;
  updatedAt: string | null;
  createdAt: string;
  /** False for rows of the tenant file: change them there. */
  editable: boolean;
}

export interface ConsoleMemberPage {
  members: ConsoleMember[];
  /** Give it as `after` for the next page (by address); absent on the last page. */
  next?: string;
}

/** POST /api/portal/admin/members and PATCH /api/portal/admin/members/:id. */
export interface ConsoleMemberInput {
  email?: string;
  name?: string | null;
  role?: PortalRole;
}

/** GET /api/portal/admin/tokens: one API token, never the token itself. */
export interface ConsoleApiToken {
  id: string;
  name: string;
  /** The token's first characters ("spk_AbCd"), to tell tokens apart. */
  hint: string | null;
  source: 'file' | 'console';
  createdBy: string | null;
  createdAt: string;
  lastUsedAt: string | null;
  expiresAt: string | null;
  expired: boolean;
  editable: boolean;
}

/** POST /api/portal/admin/tokens: the token, this once; only its hash is stored. */
export interface CreatedApiToken {
  token: string;
  apiToken: ConsoleApiToken;
}
