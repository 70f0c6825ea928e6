/**
 * The typed context every stage after the 250 reads and writes. What a stage decides is stored with the
 * message (messages.stage_results), so a message that a restart finds half-way resumes at the next stage
 * with the earlier decisions at hand instead of making them again.
 */
import type { GuardChange } from '../guard/contract.ts';
import type { ProtectionMode, SealpostRequest, SendOption } from '../../../common/src/headers.ts';
import type { SplitMessage } from '../mail/header-block.ts';
import type { TraceEntry } from '../messages/message-trace.ts';
import type { Route } from '../messages/message-router.ts';
import type { MessageDirection, ReceivedFacts, SpoolRequest } from '../messages/spool.ts';
import type { SealedProtectedCopy } from '../protect/protected-copies.ts';
import type { TenantInfo } from '../tenants/tenant-directory.ts';
import type { GuardVerdict } from './guard.ts';

/** The guard's verdict as stored with the message, and what it decided to do. */
export interface StoredGuardResult extends Omit<GuardVerdict, 'appliedPolicy' | 'disarmed'> {
  checked: boolean;
  /** How the delivered copy of a flagged message is marked. */
  marking?: { header: boolean; subjectPrefix?: string };
  /** A flagged message goes to this address instead of its recipients (the policy's catch-all). */
  deliverTo?: string;
  /** A quarantined message: whether its recipients may release it themselves, and until when it is kept. */
  quarantine?: { releaseThreshold: number; userReleasable: boolean; keepUntil: string; notice: 'notify' | 'portalOnly' };
  /** A rejected message: whether its sender was told, and why (not). */
  rejectionNotice?: { sent: boolean; reason: string };
  /**
   * The delivered message is the checks' disarmed copy (stored encrypted as a protected copy for these
   * recipients), not the message as received; `changes` says what was removed or rewritten.
   */
  disarmed?: { copyId: string; recipients: string[]; changes: GuardChange[] };
}

/** The stages in the order they run; `received` is where the 250 leaves a message. */
export const STAGE_ORDER = ['received', 'parsed', 'classified', 'requested', 'guarded', 'routed', 'protected', 'queued'] as const;
export type StagePoint = (typeof STAGE_ORDER)[number];

export function stageIndex(point: string): number {
  const index = STAGE_ORDER.indexOf(point as StagePoint);
  return index < 0 ? 0 : index;
}

/** The parsed request as stored: the date as text, so it survives the round trip through jsonb. */
export interface StoredRequest {
  mode?: ProtectionMode;
  modeSource?: 'header' | 'subject';
  failedClosed?: boolean;
  expiresAt?: string;
  options: SendOption[];
  smsNumbers?: Record<string, string>;
  /** Sealed (the password inside is encrypted and authenticated; only the gateway can open it). */
  pdfPasswordTicket?: string;
  notes: string[];
}

export interface StoredRoute {
  recipient: string;
  route: Route;
  protection: ProtectionMode;
  /** For 'auto': whether encryption is only allowed or mandatory for the recipient. */
  requirement?: 'allow' | 'mandatory';
  /** Why it goes this way; for a held route, why it cannot go yet. */
  reason: string;
  held: boolean;
}

/** What a protection mode did for one recipient. */
export type ProtectedRoute =
  /** The mode took the message over (the portal stored it and queued the notification). */
  | { outcome: 'handled'; detail: Record<string, unknown> }
  /** The mode cannot serve the recipient now: the route is held and retried, never sent in the clear. */
  | { outcome: 'unavailable'; reason: string }
  /** The message goes back to the sender (for example over quota). */
  | { outcome: 'refused'; reason: string; enhancedCode: string }
  /**
   * The mode made a protected copy to deliver, stored encrypted (protected_copies, `copyId`) for the
   * recipients that share it; every delivery attempt sends those bytes and the mode is not asked again.
   */
  | { outcome: 'stored'; copyId: string; recipients: string[]; detail: Record<string, unknown> };

/** Everything the stages decided so far, as stored in messages.stage_results. */
export interface StageResults {
  /** What the SMTP conversation established (HELO name, SMTP-time findings). */
  received?: ReceivedFacts;
  parsed?: { headerBytes: number; fields: number };
  classified?: { direction: MessageDirection; tenantId: string; tenant: string; connector: string | null };
  request?: StoredRequest;
  guard?: StoredGuardResult;
  routes?: StoredRoute[];
  /** What the protect stage did for each protected recipient. */
  protected?: Record<string, ProtectedRoute>;
  /** Why the stages stopped the message (state held): the stage, the reason and whether a retry can help. */
  held?: { stage: string; reason: string; transient: boolean };
}

export interface QueuedDelivery {
  messageId: string;
  tenantId: string;
  recipient: string;
  route: Route;
  protection: ProtectionMode;
  status: 'queued' | 'held' | 'delivered';
  /** The stored protected copy the delivery sends, when the protect stage made one. */
  protectedCopyId: string | null;
  heldRetry: boolean;
  lastReply: string | null;
}

export interface MessageContext {
  id: string;
  tenantId: string;
  tenant?: TenantInfo;
  direction: MessageDirection;
  mailFrom: string;
  clientAddress: string;
  connectorName: string | null;
  recipients: string[];
  /** The whole message as received (decrypted for this run only, never stored in the clear). */
  raw: Buffer;
  /** The split header section; set by the parse stage (and again on resume, from the same bytes). */
  header?: SplitMessage;
  results: StageResults;
  /** The last stage passed. */
  stage: StagePoint;
  attempts: number;
  /** Trace steps the current stage wrote; committed with its result. */
  trace: TraceEntry[];
  /** The deliveries the queue stage made; written with its result. */
  deliveries?: QueuedDelivery[];
  /** Messages the gateway writes because of this stage (a verdict's notices); spooled with its result. */
  spool?: SpoolRequest[];
  /** Protected copies the protect stage sealed; written with its result. */
  protectedCopies?: SealedProtectedCopy[];
  /** Set by a stage that ends the message's way through the stages (quarantine, reject). */
  stopped?: { state: 'quarantined' | 'rejected' };
}

export function requestFromStored(stored: StoredRequest | undefined): SealpostRequest {
  if (!stored) return { options: [], notes: [] };
  return { ...stored, expiresAt: stored.expiresAt ? new Date(stored.expiresAt) : undefined };
}

export function storedRequest(request: SealpostRequest): StoredRequest {
  return {
    mode: request.mode,
    modeSource: request.modeSource,
    failedClosed: request.failedClosed,
    expiresAt: request.expiresAt?.toISOString(),
    options: request.options,
    ...(request.smsNumbers ? { smsNumbers: request.smsNumbers } : {}),
    ...(request.pdfPasswordTicket ? { pdfPasswordTicket: request.pdfPasswordTicket } : {}),
    notes: request.notes,
  };
}

/** The message's tenant as this process knows it; a tenant added moments ago may not be known yet (a retry helps). */
export function requireTenant(context: MessageContext): TenantInfo {
  if (!context.tenant) throw new Error(`tenant ${context.tenantId} is unknown to this process`);
  return context.tenant;
}
