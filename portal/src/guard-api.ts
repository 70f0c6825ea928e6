/**
 * What the portal reads from MailGuard's routes under /api/portal/guard (backend/src/http/guard-routes.ts):
 * the shared contract (common/src/guard-api.ts) and the stored policies as the pages edit them.
 */

import type { GuardModuleStatus } from '../../common/src/guard-api.ts';

export {
  PORTAL_GUARD_API as GUARD_API,
  type GuardFindingView,
  type QuarantinedSummary,
  type QuarantinedMessage,
  type QuarantineList,
  type ModuleState,
  type SimulationView as SimulationResult,
  type ReplaySummary as ReplayResult,
} from '../../common/src/guard-api.ts';

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
  status: GuardModuleStatus;
  defaults: { thresholds: { flag: number; block: number } };
}

/** The policy's settings as an admin writes them: without the fields the server keeps itself. */
export function editableSettings(policy: StoredPolicy): Record<string, unknown> {
  const { id: _id, source: _source, revision: _revision, updatedAt: _updatedAt, updatedBy: _updatedBy, ...settings } = policy;
  return settings;
}
