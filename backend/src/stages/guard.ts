/**
 * Guard: the inbound checks. The checks themselves live in guard/ (one file per check, a runner with
 * budgets); this stage hands them the message and acts on the verdict:
 * deliver → go on; flag → go on, and the delivered copy says so (X-Spam-Flag, X-Spam-Status);
 * quarantine → kept encrypted, nothing delivered; reject → kept, nothing delivered and no bounce (the
 * sender of Internet mail may be forged). Outbound and gateway mail is not checked here.
 */
import type { GuardAction, GuardVerdict } from '../guard/contract.ts';
import { readHeader } from './parse.ts';
import type { Stage } from './stage.ts';

export type { GuardAction, GuardFinding, GuardInput, GuardRunner, GuardVerdict } from '../guard/contract.ts';

const GUARD_ACTIONS: readonly GuardAction[] = ['deliver', 'flag', 'quarantine', 'reject'];

export const guardStage: Stage = {
  name: 'guard',
  reaches: 'guarded',
  actsOutside: (context, { guard }) => context.direction === 'inbound' && guard !== undefined,
  async run(context, { guard }) {
    if (context.direction !== 'inbound') return;
    const base = { messageId: context.id, tenantId: context.tenantId, step: 'scored' as const };
    if (!guard) {
      context.results.guard = { checked: false, action: 'deliver', score: 0, findings: [] };
      context.trace.push({ ...base, detail: { action: 'deliver', reason: 'no checks configured' } });
      return;
    }
    const verdict = await guard({
      messageId: context.id,
      tenantId: context.tenantId,
      direction: 'inbound',
      mailFrom: context.mailFrom,
      recipients: context.recipients,
      remoteAddress: context.clientAddress,
      helo: context.results.received?.helo,
      raw: context.raw,
      header: readHeader(context),
      tenant: context.tenant
        ? { id: context.tenant.id, name: context.tenant.name, domains: context.tenant.domains, members: context.tenant.members }
        : undefined,
      smtpFindings: context.results.received?.smtpFindings,
    });
    // A verdict the stage cannot act on is a failure of the checks, not a reason to deliver.
    if (!GUARD_ACTIONS.includes(verdict.action)) throw new Error(`the checks answered an unknown action "${String(verdict.action)}"`);
    context.results.guard = { checked: true, action: verdict.action, score: verdict.score, findings: verdict.findings };
    const symbols = verdict.findings.map((f) => `${f.symbol} (${f.score >= 0 ? '+' : ''}${f.score}): ${f.reason}`);
    context.trace.push({ ...base, detail: { action: verdict.action, score: verdict.score, symbols } });
    if (verdict.action === 'quarantine' || verdict.action === 'reject') {
      context.stopped = { state: verdict.action === 'quarantine' ? 'quarantined' : 'rejected' };
      context.trace.push({
        messageId: context.id,
        tenantId: context.tenantId,
        step: context.stopped.state,
        detail: {
          reason: `the inbound checks scored ${verdict.score}: ${symbols.join('; ') || 'no symbols'}`,
          bounce: verdict.action === 'reject' ? 'none: the sender of Internet mail may be forged' : undefined,
        },
      });
    }
  },
};

/** The headers a flagged message is delivered with (SpamAssassin's names, which mail clients filter on). */
export function spamHeaders(verdict: GuardVerdict): { flag: string; status: string } {
  const tests = verdict.findings.map((f) => f.symbol).join(',') || 'none';
  return { flag: 'YES', status: `Yes, score=${verdict.score} tests=${tests}` };
}
