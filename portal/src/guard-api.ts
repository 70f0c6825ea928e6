/**
 * What the portal reads from MailGuard's routes under /api/portal/guard (backend/src/http/guard-routes.ts):
 * the quarantine, the tenant's inbound policies with the modules' status, and the simulation's answers.
 * Only the fields the pages show are written down here.
 */

export const GUARD_API = '/api/portal/guard';

export interface GuardFindingView {
  symbol: string;
  score: number;
  reason: string;
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
  /** Whether this member may release it. */
  releasable: boolean;
  /** Whether a recipient may release it (below the admin-release threshold and not forced). */
  userReleasable: boolean;
  keepUntil?: string;
  sizeBytes: number;
}

export interface QuarantinedMessage extends QuarantinedSummary {
  findings: GuardFindingView[];
  headers: Array<{ name: string; value: string }>;
}

export interface QuarantineList {
  messages: QuarantinedSummary[];
  /** Owners, operators and analysts see and manage the whole tenant's quarantine. */
  admin: boolean;
}

export interface ModuleState {
  active: boolean;
  reason?: string;
  source?: string;
}

export interface StoredPolicy {
  id: string;
  name: string;
  enabled: boolean;
  priority: number;
  source: 'file' | 'admin';
  revision: number;
  updatedAt: string;
  updatedBy: string | null;
  match?: Record<string, string[] | undefined>;
  thresholds?: { flag?: number; block?: number };
  [setting: string]: unknown;
}

export interface PolicyList {
  policies: StoredPolicy[];
  status: { countryRules: ModuleState; senderAuthentication: ModuleState };
  defaults: { thresholds: { flag: number; block: number } };
}

export interface SimulationResult {
  policy: { id?: string; name: string };
  action: string;
  score: number;
  thresholds: { flag: number; block: number };
  findings: GuardFindingView[];
  outcome: string;
  assumptions: string[];
}

export interface ReplayResult {
  days: number;
  considered: number;
  underPolicy: number;
  changed: number;
  transitions: Record<string, number>;
  truncated: boolean;
}

/** The policy's settings as an admin writes them: without the fields the server keeps itself. */
export function editableSettings(policy: StoredPolicy): Record<string, unknown> {
  const { id: _id, source: _source, revision: _revision, updatedAt: _updatedAt, updatedBy: _updatedBy, ...settings } = policy;
  return settings;
}
