/**
 * Guard: the inbound checks. The checks themselves live in guard/ (one file per check, a runner with
 * budgets, each message's policy picked by the tenant's routing rules); this stage hands them the message
 * and acts on the verdict, as the policy says:
 * - deliver → go on; the delivered copy carries its score, symbols and Authentication-Results;
 * - flag → go on, marked: `X-Sealpost-Flag: YES` (the tenant's Exchange rule makes it junk) and/or a
 *   subject prefix, or delivered to the policy's catch-all address instead of its recipients;
 * - quarantine → kept encrypted, nothing delivered; each recipient gets a notice (unless the policy says
 *   portal only) and finds it in the portal, where it can be released;
 * - reject → kept, nothing delivered; the sender gets a rejection notice only when the sender
 *   authentication check verified it (never a null, forged or DMARC-failing sender: that would be backscatter).
 * Outbound and gateway mail is not checked here.
 */
import addressparser from 'nodemailer/lib/addressparser';
import type { GuardAction, GuardVerdict } from '../guard/contract.ts';
import { DEFAULT_GUARD_POLICY, type GuardPolicy } from '../guard/policy.ts';
import { buildQuarantineNotice, buildRejectionNotice, readableReason } from '../guard/verdict-mail.ts';
import { headerValue } from '../mail/header-block.ts';
import type { SpoolRequest } from '../messages/spool.ts';
import { sealProtectedCopy } from '../protect/protected-copies.ts';
import type { MessageContext, StoredGuardResult } from './message-context.ts';
import { readHeader } from './parse.ts';
import { importSignerCertificate } from './certificate-import.ts';
import { unwrapSmime } from './smime-unwrap.ts';
import { importSenderPgpKey, unwrapPgp } from './pgp-inbound.ts';
import { noticeRequest } from './notice-request.ts';
import type { GuardNoticeDeps, Stage } from './stage.ts';

export type { GuardAction, GuardFinding, GuardInput, GuardRunner, GuardVerdict } from '../guard/contract.ts';

const GUARD_ACTIONS: readonly GuardAction[] = ['deliver', 'flag', 'quarantine', 'reject'];
const DAY_MS = 24 * 60 * 60 * 1000;

export const guardStage: Stage = {
  name: 'guard',
  reaches: 'guarded',
  actsOutside: (context, { guard }) => context.direction === 'inbound' && guard !== undefined,
  async run(context, { guard, notices, vault, certificates, memberKeys, crls, pgpKeys, memberPgpKeys }) {
    if (context.direction !== 'inbound') return;
    const base = { messageId: context.id, tenantId: context.tenantId, step: 'scored' as const };
    // S/MIME first: the checks see, and the recipients get, what a member's key decrypts.
    const received = readHeader(context);
    const smime = memberKeys && notices ? await unwrapSmime(context, received, { memberKeys, hostname: notices.hostname, ...(crls ? { crls } : {}) }) : undefined;
    if (smime) context.trace.push(...smime.trace);
    // Then OpenPGP, on what S/MIME left (PGP/MIME is not nested in S/MIME in practice, but costs nothing to allow).
    const afterSmime = smime?.decrypted?.header ?? received;
    const pgp =
      pgpKeys && memberPgpKeys && notices ? await unwrapPgp(context, afterSmime, { memberKeys: memberPgpKeys, store: pgpKeys, hostname: notices.hostname }) : undefined;
    if (pgp) context.trace.push(...pgp.trace);
    const unwrapped = pgp?.decrypted ?? smime?.decrypted;
    const header = unwrapped?.header ?? received;
    const raw = unwrapped?.raw ?? context.raw;
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
      raw,
      header,
      tenant: context.tenant
        ? { id: context.tenant.id, name: context.tenant.name, domains: context.tenant.domains, members: context.tenant.members }
        : undefined,
      smtpFindings: context.results.received?.smtpFindings,
    });
    // A verdict the stage cannot act on is a failure of the checks, not a reason to deliver.
    if (!GUARD_ACTIONS.includes(verdict.action)) throw new Error(`the checks answered an unknown action "${String(verdict.action)}"`);
    const { appliedPolicy: policy, disarmed, ...stored } = verdict;
    const result: StoredGuardResult = { checked: true, ...stored };
    const unwrapHeaders = [...(smime?.headers ?? []), ...(pgp?.headers ?? [])];
    if (unwrapHeaders.length > 0) result.headers = [...(result.headers ?? []), ...unwrapHeaders];
    context.results.guard = result;
    const symbols = verdict.findings.map((f) => `${f.symbol} (${f.score >= 0 ? '+' : ''}${f.score}): ${f.reason}`);
    const subject = headerValue(header.fields, 'subject') ?? '';

    if (verdict.action === 'flag' && policy) {
      result.marking = { header: policy.onFlag.header, ...(policy.onFlag.subjectPrefix ? { subjectPrefix: policy.onFlag.subjectPrefix } : {}) };
      if (policy.onFlag.catchAll) result.deliverTo = policy.onFlag.catchAll;
    }
    // A disarmed message (made from the decrypted one when there was one), or else the decrypted message, is
    // what is delivered: stored once, encrypted at rest like a protected copy, and every delivery attempt
    // sends exactly these bytes. The message as received stays in the spool.
    const delivered = disarmed ?? (unwrapped ? { raw: unwrapped.raw, changes: [] } : undefined);
    if (delivered && (verdict.action === 'deliver' || verdict.action === 'flag')) {
      const recipients = result.deliverTo ? [result.deliverTo] : context.recipients;
      const mode = disarmed ? 'disarmed' : 'decrypted';
      const copy = await sealProtectedCopy(vault, { tenantId: context.tenantId, messageId: context.id, mode, recipients, raw: delivered.raw });
      (context.protectedCopies ??= []).push(copy);
      result.disarmed = { copyId: copy.id, recipients, changes: delivered.changes };
    }
    context.trace.push({
      ...base,
      detail: {
        action: verdict.action,
        score: verdict.score,
        policy: verdict.policy?.name,
        symbols,
        ...(result.marking ? { marking: result.marking } : {}),
        ...(result.deliverTo ? { deliverTo: result.deliverTo } : {}),
        ...(result.disarmed && result.disarmed.changes.length > 0 ? { disarmed: result.disarmed.changes.map((c) => `${c.symbol}: ${c.reason}`) } : {}),
      },
    });
    if (verdict.action !== 'quarantine' && verdict.action !== 'reject') {
      if (certificates) {
        const imported = await importSignerCertificate({
          context,
          header,
          facts: verdict.facts,
          certificates,
          notices,
          language: (policy ?? DEFAULT_GUARD_POLICY).quarantine.language,
        });
        if (imported.trace) context.trace.push(imported.trace);
        if (imported.spool.length > 0) context.spool = [...(context.spool ?? []), ...imported.spool];
      }
      if (pgpKeys) {
        const imported = await importSenderPgpKey({
          context,
          header,
          facts: verdict.facts,
          store: pgpKeys,
          notices,
          language: (policy ?? DEFAULT_GUARD_POLICY).quarantine.language,
          ...(pgp?.signature ? { signature: pgp.signature } : {}),
        });
        if (imported.trace) context.trace.push(imported.trace);
        if (imported.spool.length > 0) context.spool = [...(context.spool ?? []), ...imported.spool];
      }
      return;
    }

    context.stopped = { state: verdict.action === 'quarantine' ? 'quarantined' : 'rejected' };
    const detail: Record<string, unknown> = { reason: `the inbound checks scored ${verdict.score}: ${symbols.join('; ') || 'no symbols'}` };
    // A runner that names no policy (an embedding's own checks) is acted on with the defaults.
    const effective = policy ?? DEFAULT_GUARD_POLICY;
    if (verdict.action === 'quarantine') {
      const retentionDays = effective.quarantine.retentionDays;
      const releaseThreshold = effective.quarantine.adminReleaseThreshold;
      const keepUntil = new Date(Date.now() + retentionDays * DAY_MS);
      result.quarantine = {
        releaseThreshold,
        // A message a finding forced into quarantine (a blocked address, a check that failed) is not the
        // recipient's to release, whatever its score: an operator looks at it.
        userReleasable: verdict.score < releaseThreshold && !verdict.forced,
        keepUntil: keepUntil.toISOString(),
        notice: effective.quarantine.delivery,
      };
      detail.keepUntil = result.quarantine.keepUntil;
      detail.userReleasable = result.quarantine.userReleasable;
      if (notices && result.quarantine.notice === 'notify') {
        context.spool = await quarantineNotices(context, verdict, effective, notices, subject, keepUntil);
        detail.noticeTo = context.spool.flatMap((r) => r.recipients);
      }
    } else {
      const notice = rejectionNoticeDecision(context, verdict, effective);
      if (notice.send && notices) {
        context.spool = [await rejectionNotice(context, verdict, effective, notices, subject)];
        result.rejectionNotice = { sent: true, reason: `sent to ${context.mailFrom}` };
      } else {
        result.rejectionNotice = { sent: false, reason: notice.send ? 'notices are not configured on this gateway' : notice.reason };
      }
      detail.rejectionNotice = result.rejectionNotice.reason;
    }
    context.trace.push({ messageId: context.id, tenantId: context.tenantId, step: context.stopped.state, detail });
  },
};

/** Whether a rejected message's sender is told, and if not, why not (for the trace). */
function rejectionNoticeDecision(
  context: MessageContext,
  verdict: GuardVerdict,
  policy: GuardPolicy,
): { send: true } | { send: false; reason: string } {
  if (!policy.rejection.notify) return { send: false, reason: 'the policy sends no rejection notices' };
  if (!context.mailFrom) return { send: false, reason: 'none: the null sender gets no notices' };
  if (verdict.facts?.dmarc === 'fail') return { send: false, reason: 'none: the sender failed DMARC and may be forged' };
  if (verdict.facts?.senderVerified !== true) return { send: false, reason: 'none: the sender was not verified (SPF or DKIM) and may be forged' };
  return { send: true };
}

function noticeSender(context: MessageContext, notices: GuardNoticeDeps, configured: string | undefined): string {
  return configured ?? `no-reply@${context.tenant?.domains[0] ?? notices.hostname}`;
}

function displayedSender(context: MessageContext): string {
  const from = headerValue(readHeader(context).fields, 'from');
  if (!from) return context.mailFrom;
  try {
    const [first] = addressparser(from.slice(0, 2000), { flatten: true });
    if (first?.address) return first.name ? `${first.name} <${first.address}>` : first.address;
  } catch {
    // An unreadable From is shown as the envelope sender.
  }
  return context.mailFrom;
}

async function quarantineNotices(
  context: MessageContext,
  verdict: GuardVerdict,
  policy: GuardPolicy,
  notices: GuardNoticeDeps,
  subject: string,
  keepUntil: Date,
): Promise<SpoolRequest[]> {
  const requests: SpoolRequest[] = [];
  const from = noticeSender(context, notices, policy.quarantine.sender);
  const sender = displayedSender(context);
  for (const recipient of new Set(context.recipients.map((r) => r.toLowerCase()))) {
    const mail = await buildQuarantineNotice({
      policy,
      recipient,
      from,
      sender,
      subject,
      receivedAt: new Date(),
      deleteAt: keepUntil,
      score: verdict.score,
      reason: readableReason(verdict.findings, 3, policy.quarantine.language),
      link: `${notices.publicUrl}/portal/quarantine/${context.id}`,
      hostname: notices.hostname,
      branding: notices.branding?.(context.tenantId),
    });
    requests.push(noticeRequest(context, recipient, mail.raw, mail.messageId, 'tenant-mail-server', { quarantineNoticeFor: context.id }));
  }
  return requests;
}

async function rejectionNotice(
  context: MessageContext,
  verdict: GuardVerdict,
  policy: GuardPolicy,
  notices: GuardNoticeDeps,
  subject: string,
): Promise<SpoolRequest> {
  const from = noticeSender(context, notices, policy.quarantine.sender);
  const mail = await buildRejectionNotice({
    policy,
    to: context.mailFrom,
    from,
    recipients: context.recipients,
    subject,
    receivedAt: new Date(),
    reason: readableReason(verdict.findings, 3, policy.quarantine.language),
    hostname: notices.hostname,
    branding: notices.branding?.(context.tenantId),
  });
  const internal = context.tenant?.domains.includes(context.mailFrom.slice(context.mailFrom.lastIndexOf('@') + 1).toLowerCase());
  return noticeRequest(context, context.mailFrom, mail.raw, mail.messageId, internal ? 'tenant-mail-server' : 'external', {
    rejectionNoticeFor: context.id,
  });
}

