/**
 * The contract between the Outlook add-in (addin/) and the backend's add-in routes
 * (backend/src/http/addin-routes.ts). Every /api/addin request carries `Authorization: Bearer <Entra ID
 * access token>` obtained with MSAL nested app authentication; the backend validates it (signature,
 * audience, expiry, Entra tenant on the tenant's allow-list) and finds the member by object id, then address.
 * Errors are RFC 9457 problem documents.
 */
import type { ProtectionMode } from './headers.ts';
import type { ChangeExpiryRequest, RevokeRequest, SentMessageList } from './portal-api.ts';

/** GET /api/addin/settings — what the task pane may offer this sender. */
export interface AddinSettings {
  tenantName: string;
  /** The modes the tenant allows, in the order to offer them; 'none' is never offered. */
  allowedModes: Exclude<ProtectionMode, 'none'>[];
  /** Days a secure message stays readable when the sender picks no date. Unset: no expiry. */
  defaultExpiryDays?: number;
  /** The latest date a sender may pick, in days from today. Unset: no limit. */
  maxExpiryDays?: number;
  /** The tenant's own domains: recipients outside them are external. */
  tenantDomains: string[];
  /** When the send-time check asks the sender to send securely. */
  smartAlert: { externalRecipientsWithAttachments: boolean; keywords: string[] };
  /** The subject trigger for clients that cannot set headers. */
  subjectTrigger: string;
  /**
   * How the password of a password PDF may reach its recipients, in the order to offer them (present when
   * the PDF is among the allowed modes): the portal always; SMS where the tenant sends passwords so;
   * `sender` where senders may tell it themselves. `default` is the tenant's way.
   */
  pdfPassword?: { ways: PdfPasswordWay[]; default: Exclude<PdfPasswordWay, 'sender'> };
}

export type PdfPasswordWay = 'portal' | 'sms' | 'sender';

/**
 * POST /api/addin/pdf-password — a password for the sender to tell the recipients, and its sealed ticket
 * for the X-Sealpost-Pdf-Password header. The password is shown once; only the ticket goes on the draft.
 * 403 when the organisation does not allow sender-told passwords.
 */
export interface PdfPasswordResponse {
  password: string;
  ticket: string;
  /** Until when messages can be sent with this ticket. */
  expiresAt: string;
}

/** POST /api/addin/preview — how each recipient would be reached, from the gateway's own resolution code. */
export interface PreviewRequest {
  /** At most 500 addresses (To, Cc and Bcc together). */
  recipients: string[];
  mode: Exclude<ProtectionMode, 'none'>;
}

export type RecipientMethod = 'relay' | 'portal' | 'smime' | 'pgp' | 'pdf' | 'held' | 'clear' | 'refused';

/** Why a recipient gets its method, for the pane to say in the sender's language. */
export type PreviewReasonCode =
  | 'internal'
  | 'certificate-known'
  | 'key-known'
  | 'nothing-known'
  | 'mandatory'
  | 'invalid-address'
  | 'mode-unavailable'
  | 'no-certificate'
  | 'no-pgp-key'
  | 'allowed-clear'
  | 'no-way'
  | 'sender-chose';

export interface RecipientPreview {
  address: string;
  method: RecipientMethod;
  reasonCode: PreviewReasonCode;
  /** Why, in English words for logs and other clients ("internal recipient", "no certificate or key known"). */
  reason: string;
}

export interface PreviewResponse {
  recipients: RecipientPreview[];
}

/** GET /api/addin/sent — the sender's recent portal messages (same shape as the portal's). */
export type AddinSentMessages = SentMessageList;
/** POST /api/addin/sent/:messageId/revoke */
export type AddinRevokeRequest = RevokeRequest;
/** PATCH /api/addin/sent/:messageId */
export type AddinChangeExpiryRequest = ChangeExpiryRequest;

/** GET /addin/manifest.xml — the manifest for this gateway's public URL (no authentication). */
export const ADDIN_MANIFEST_PATH = '/addin/manifest.xml';

/**
 * GET /addin/commands.js — the launch-event script. Classic Outlook on Windows runs it without a page, so
 * it has no origin to call the API at: the gateway serves it with its public URL in this global first.
 */
export const ADDIN_COMMANDS_SCRIPT_PATH = '/addin/commands.js';
export const ADDIN_ORIGIN_GLOBAL = '__sealpostOrigin';

/**
 * GET /api/addin-sign-in?address=<sender> — public (no token): how the task pane signs this sender in.
 * 404 when the sender's domain has no tenant with Entra ID sign-in configured.
 */
export const ADDIN_SIGN_IN_PATH = '/api/addin-sign-in';
export interface AddinSignInConfig {
  /** The Entra application (client) id of the tenant's add-in registration. */
  applicationId: string;
  /** The authority to sign in at: the Entra tenant of the organisation. */
  authority: string;
  /** The scopes to ask for; the access token's audience is the add-in's API. */
  scopes: string[];
  /**
   * Set only for the demo tenant while the local try page is enabled: the sender signs in with the
   * evaluation sign-in, which the try page's Outlook host hands over as Office's access token.
   */
  evaluation?: boolean;
}

/**
 * The local try page (off in production; see README "Try the task pane locally"): the real task pane in a
 * page that plays Outlook's compose window, for the demo tenant only, without Entra ID.
 */
export const ADDIN_TRY_PAGE_PATH = '/addin/try/';
/** POST — the evaluation sign-in: a demo member's address in, an access token for /api/addin out. */
export const ADDIN_TRY_SIGN_IN_PATH = '/api/addin-try/sign-in';
/** POST — the try page's Send: the draft goes to the gateway over SMTP from the demo's connector address. */
export const ADDIN_TRY_SEND_PATH = '/api/addin-try/send';

export interface AddinTrySignInRequest {
  address: string;
}
export interface AddinTrySignInResponse {
  accessToken: string;
  expiresAt: string;
  address: string;
}

export interface AddinTrySendRequest {
  to: string[];
  cc: string[];
  subject: string;
  body: string;
  /** The X-Sealpost-* headers the task pane set on the draft; other names are refused. */
  headers: Record<string, string>;
}
export interface AddinTrySendResponse {
  /** The gateway's message ids, from its 250 reply ("queued as …"): the trace is under these. */
  messageIds: string[];
  /** The gateway's final SMTP reply. */
  reply: string;
}

/** Who the try page's draft is from: the demo tenant's member (backend/src/tenants/tenant-directory.ts). */
export const ADDIN_TRY_SENDER = 'admin@demo.sealpost.test';
/** The address the try page's Send comes from: the demo's stand-in for the tenant's Exchange. */
export const ADDIN_TRY_CONNECTOR_ADDRESS = '127.0.0.2';
