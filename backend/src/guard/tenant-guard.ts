/**
 * The guard as the gateway runs it: the shipped checks, each message's policy from the tenant's stored
 * policies (their routing rules pick one; defaults otherwise) and the gateway's metrics. The guard stage
 * calls the returned GuardRunner once per message.
 */
import { attachmentFilterCheck } from './checks/attachment-filter.ts';
import { createLinkProtectionCheck, linkProtectionCheck } from './checks/link-protection.ts';
import type { Registry } from 'prom-client';
import type { Logger } from '../logger.ts';
import type { TenantDirectory } from '../tenants/tenant-directory.ts';
import { contentFilterCheck } from './checks/content-filter.ts';
import { headerProtectionCheck } from './checks/header-protection.ts';
import { networkGeoCheck, networkGeoHook } from './checks/network-geo.ts';
import { messageStructureCheck } from './checks/message-structure.ts';
import { replyToDomainCheck } from './checks/reply-to-domain.ts';
import { senderAuthenticationCheck } from './checks/sender-authentication.ts';
import type { GuardCheck, GuardFinding, GuardRunner, GuardServices, SmtpHook } from './contract.ts';
import { DEFAULT_GUARD_POLICY } from './policy.ts';
import type { GuardPolicyStore } from './policy-store.ts';
import { createGuardRunner, decide, type GuardBudgets } from './runner.ts';

/** The checks that need nothing from outside the message. */
export const GUARD_CHECKS: readonly GuardCheck[] = [messageStructureCheck, replyToDomainCheck, headerProtectionCheck, contentFilterCheck, linkProtectionCheck, attachmentFilterCheck()];

/** Every check the gateway ships, in the order their findings are listed. */
export function gatewayGuardChecks(services: GuardServices): GuardCheck[] {
  return [
    ...GUARD_CHECKS.map((check) =>
      check.name === 'link-protection' && (services.linkFollower || services.clickLinks)
        ? createLinkProtectionCheck({
            ...(services.linkFollower ? { follower: services.linkFollower } : {}),
            ...(services.linkFollowTimeoutMs ? { followTimeoutMs: services.linkFollowTimeoutMs } : {}),
            ...(services.clickLinks ? { clickLinks: services.clickLinks } : {}),
          })
        : check,
    ),
    networkGeoCheck(services),
    ...(services.resolver ? [senderAuthenticationCheck(services)] : []),
  ];
}

/** The SMTP-time hooks of the modules whose verdict is known before the 250 (network, geo, size). */
export function gatewayGuardHooks(services: GuardServices): SmtpHook[] {
  return [networkGeoHook(services)];
}

/** What an allowed sender's mail scores: enough to outweigh a flag and most blocks, not a forced action. */
export const SENDER_ALLOWED_SCORE = -20;

export function createTenantGuard(options: {
  policies: Pick<GuardPolicyStore, 'policyFor'> & Partial<Pick<GuardPolicyStore, 'allowedSender'>>;
  /** A message for a tenant the directory does not know is not decided by defaults: its policy is unavailable. */
  directory?: Pick<TenantDirectory, 'tenantById'>;
  logger?: Logger;
  metrics?: Registry;
  budgets?: Partial<GuardBudgets>;
  checks?: readonly GuardCheck[];
}): GuardRunner {
  const run = createGuardRunner({
    checks: options.checks ?? GUARD_CHECKS,
    policyFor: (input) => {
      if (options.directory && !options.directory.tenantById(input.tenantId)) throw new Error(`no tenant ${input.tenantId}`);
      return options.policies.policyFor(input);
    },
    budgets: options.budgets,
    logger: options.logger,
    metrics: options.metrics,
  });
  if (!options.policies.allowedSender) return run;
  const allowedSender = options.policies.allowedSender.bind(options.policies);
  return async (input, runOptions) => {
    const verdict = await run(input, runOptions);
    const allowed = await allowedSender(input.tenantId, input.mailFrom).catch(() => undefined);
    // An allowed sender that fails DMARC may be anyone using its name: the allowance does not apply.
    if (!allowed || verdict.facts?.dmarc === 'fail') return verdict;
    const finding: GuardFinding = {
      symbol: 'SENDER_ALLOWED',
      score: SENDER_ALLOWED_SCORE,
      reason: `${allowed.address} was allowed from now on by ${allowed.addedBy} on ${allowed.createdAt.toISOString().slice(0, 10)}`,
      check: 'allowed-senders',
    };
    const again = decide([...verdict.findings, finding], verdict.appliedPolicy ?? DEFAULT_GUARD_POLICY);
    return { ...verdict, ...again, forced: again.forced };
  };
}
