/**
 * The guard as the gateway runs it: the shipped checks, each tenant's policy from the tenant directory
 * (the tenant file's `guard:` section, defaults otherwise) and the gateway's metrics. The guard stage
 * calls the returned GuardRunner once per message.
 */
import type { Registry } from 'prom-client';
import type { GuardSettings } from '../config.ts';
import type { Logger } from '../logger.ts';
import type { TenantDirectory } from '../tenants/tenant-directory.ts';
import { messageStructureCheck } from './checks/message-structure.ts';
import { replyToDomainCheck } from './checks/reply-to-domain.ts';
import type { GuardCheck, GuardRunner } from './contract.ts';
import { DEFAULT_GUARD_POLICY, resolveGuardPolicy, type GuardPolicy } from './policy.ts';
import { createGuardRunner, type GuardBudgets } from './runner.ts';

/** Every check the gateway ships, in the order their findings are listed. */
export const GUARD_CHECKS: readonly GuardCheck[] = [messageStructureCheck, replyToDomainCheck];

export function createTenantGuard(options: {
  directory: Pick<TenantDirectory, 'tenantById'>;
  logger?: Logger;
  metrics?: Registry;
  budgets?: Partial<GuardBudgets>;
  checks?: readonly GuardCheck[];
}): GuardRunner {
  // The directory hands out the same settings object until it is refreshed: resolve each once.
  const resolved = new WeakMap<GuardSettings, GuardPolicy>();
  const policyFor = (tenantId: string): GuardPolicy => {
    const tenant = options.directory.tenantById(tenantId);
    if (!tenant) throw new Error(`no tenant ${tenantId}`);
    const settings = tenant.guard;
    if (!settings) return DEFAULT_GUARD_POLICY;
    let policy = resolved.get(settings);
    if (!policy) {
      policy = resolveGuardPolicy(settings);
      resolved.set(settings, policy);
    }
    return policy;
  };
  return createGuardRunner({
    checks: options.checks ?? GUARD_CHECKS,
    policyFor,
    budgets: options.budgets,
    logger: options.logger,
    metrics: options.metrics,
  });
}
