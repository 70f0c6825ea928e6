/**
 * The contract between the portal's MailGuard pages (portal/src/pages) and MailGuard's routes
 * (backend/src/http/guard-routes.ts, under /api/portal/guard for members and /api/admin/guard for the
 * admin API): the quarantine, the modules' status and the simulation's answers. The backend's own types
 * extend these with what only it uses.
 */

export const PORTAL_GUARD_API = '/api/portal/guard';

/** One named result of a check: what it found, its score and why, in words a person can read. */
export interface GuardFindingView {
  symbol: string;
  score: number;
  reason: string;
  /** A finding that forces its verdict whatever the sum. */
  action?: string;
}

export interface QuarantinedSummary {
  id: string;
  receivedAt: string;
  mailFrom: string;
  from: string;
  subject: string;
  recipients: string[];
  score: number;
  policy?: string;
  reason: string;
  /** Whether this viewer may release it. */
  releasable: boolean;
  /** Whether a recipient may release it (below the admin-release threshold and not forced). */
  userReleasable: boolean;
  keepUntil?: string;
  sizeBytes: number;
}

export interface QuarantinedMessage extends QuarantinedSummary {
  findings: GuardFindingView[];
  /** The message's header fields a person checks (From, Reply-To, To, Cc, Date, Message-ID), as text. */
  headers: Array<{ name: string; value: string }>;
}

export interface QuarantineList {
  messages: QuarantinedSummary[];
  /** Owners, operators and analysts see and manage the whole tenant's quarantine. */
  admin: boolean;
}

/** Whether a module can work on this gateway, and if not, why not (never silently passing). */
export interface ModuleState {
  active: boolean;
  reason?: string;
  source?: string;
}

export interface GuardModuleStatus {
  countryRules: ModuleState;
  senderAuthentication: ModuleState;
}

/** One message of a split: its recipients and what their policy does with it. */
export interface SimulatedPart {
  recipients: string[];
  policy: { id?: string; name: string };
  action: string;
  score: number;
  outcome: string;
}

export interface SimulationView {
  policy: { id?: string; name: string };
  action: string;
  score: number;
  thresholds: { flag: number; block: number };
  findings: GuardFindingView[];
  /** What the gateway would do, in a sentence. */
  outcome: string;
  /** What was assumed because the upload did not say (no envelope, no connecting address). */
  assumptions: string[];
  /**
   * When the recipients fall under different policies: the gateway splits the message, one per policy,
   * and this lists each part. The fields above are those of the first part.
   */
  parts?: SimulatedPart[];
}

export interface ReplaySummary {
  days: number;
  /** Stored inbound verdicts looked at (the most recent, up to the limit). */
  considered: number;
  /** Of those, the ones the changed policy decides (its routing rules take them). */
  underPolicy: number;
  changed: number;
  /** "deliver→flag": 3 */
  transitions: Record<string, number>;
  /** True when more messages were in the period than the replay reads. */
  truncated: boolean;
}
