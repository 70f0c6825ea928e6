/**
 * The guard as the gateway runs it: the shipped checks, each message's policy from the tenant's stored
 * policies (their routing rules pick one; defaults otherwise) and the gateway's metrics. The guard stage
 * calls the returned GuardRunner once per message.
 */
import type { Registry } from 'prom-client';
import type { Logger } from '../logger.ts';
import type { TenantDirectory } from '../tenants/tenant-directory.ts';
import { messageStructureCheck } from './checks/message-structure.ts';
import { replyToDomainCheck } from './checks/reply-to-domain.ts';
import { senderAuthenticationCheck } from './checks/sender-authentication.ts';
import type { GuardCheck, GuardRunner, GuardServices, SmtpHook } from './contract.ts';
import type { GuardPolicyStore } from './policy-store.ts';
import { createGuardRunner, type GuardBudgets } from './runner.ts';

/** The checks that need nothing from outside the message. */
export const GUARD_CHECKS: readonly GuardCheck[] = [messageStructureCheck, replyToDomainCheck];

/** Every check the gateway ships, in the order their findings are listed. */
export function gatewayGuardChecks(services: GuardServices): GuardCheck[] {
  return [...GUARD_CHECKS, ...(services.resolver ? [senderAuthenticationCheck(services)] : [])];
}

/** The SMTP-time hooks of the modules whose verdict is known before the 250 (network, geo, size). */
export function gatewayGuardHooks(_services: GuardServices): SmtpHook[] {
  return [];
}

export function createTenantGuard(options: {
  policies: Pick<GuardPolicyStore, 'policyFor'>;
  /** A message for a tenant the directory does not know is not decided by defaults: its policy is unavailable. */
  directory?: Pick<TenantDirectory, 'tenantById'>;
  logger?: Logger;
  metrics?: Registry;
  budgets?: Partial<GuardBudgets>;
  checks?: readonly GuardCheck[];
}): GuardRunner {
  return createGuardRunner({
    checks: options.checks ?? GUARD_CHECKS,
    policyFor: (input) => {
      if (options.directory && !options.directory.tenantById(input.tenantId)) throw new Error(`no tenant ${input.tenantId}`);
      return options.policies.policyFor(input);
    },
    budgets: options.budgets,
    logger: options.logger,
    metrics: options.metrics,
  });
}
