/**
 * Policy simulation: what the inbound checks would decide, without delivering anything.
 * - simulateMessage(): one message (an uploaded .eml) under the policy the tenant's routing rules pick, or
 *   under a policy being edited: which policy applies, every symbol with its reason, the score and the verdict.
 * - replayPolicyChange(): a policy change tried on the tenant's stored inbound mail of the last N days,
 *   counting the verdicts that would change. The stored messages are checked again with the changed
 *   policy; checks that asked the outside world at receipt (DNS) contribute their stored findings instead.
 */
import type { ReplaySummary, SimulatedPart, SimulationView } from '../../../common/src/guard-api.ts';
import { and, desc, eq, gte, inArray } from 'drizzle-orm';
import addressparser from 'nodemailer/lib/addressparser';
import type { Database } from '../db/client.ts';
import { messages, recipients } from '../db/schema.ts';
import { withTenants } from '../db/tenant-scope.ts';
import { headerValue, splitMessage } from '../mail/header-block.ts';
import type { KeyVault } from '../vault/key-vault.ts';
import type { GuardAction, GuardChange, GuardFinding, GuardHeader, GuardRunner, GuardTenant } from './contract.ts';
import { resolveGuardPolicy, selectPolicy, type GuardPolicy } from './policy.ts';
import type { ActivePolicy } from './policy-store.ts';
import { DEFAULT_POLICY_NAME, type NamedPolicySettings } from '../guard-policy-settings.ts';
import { DEFAULT_GUARD_POLICY } from './policy.ts';

export interface SimulationInput {
  tenant: GuardTenant;
  raw: Buffer;
  /** The envelope; by default the From address and the To/Cc addresses in the tenant's domains. */
  mailFrom?: string;
  recipients?: string[];
  remoteAddress?: string;
  helo?: string;
  /** Decide under this policy (being edited) instead of the one the routing rules pick. */
  policy?: GuardPolicy;
  /** The recipients grouped by the policy that decides each (the gateway splits a message that way). */
  recipientGroups?: (envelope: { tenantId: string; mailFrom: string; recipients: string[] }) => Promise<string[][]>;
}

export type { SimulatedPart };

export interface SimulationResult extends SimulationView {
  action: GuardAction;
  findings: GuardFinding[];
  headers: GuardHeader[];
  /** What the disarm steps would change in the delivered message (attachments removed, links rewritten). */
  changes?: GuardChange[];
  envelope: { mailFrom: string; recipients: string[]; remoteAddress: string };
}

export class SimulationInputError extends Error {}

/** The largest message a simulation reads. */
export const MAX_SIMULATED_BYTES = 25 * 1024 * 1024;

export async function simulateMessage(guard: GuardRunner, input: SimulationInput): Promise<SimulationResult> {
  if (input.raw.length === 0) throw new SimulationInputError('the upload is empty: send the message as it would arrive (an .eml file)');
  if (input.raw.length > MAX_SIMULATED_BYTES) throw new SimulationInputError(`the message has ${input.raw.length} bytes; at most ${MAX_SIMULATED_BYTES} are simulated`);
  const split = splitMessage(input.raw);
  if (split.outcome !== 'split') throw new SimulationInputError(`the upload is not a message the gateway would accept: ${split.outcome}`);
  if (!split.fields.some((f) => /^[\x21-\x39\x3b-\x7e]+:/.test(f.raw.subarray(0, 200).toString('latin1')))) {
    throw new SimulationInputError('the upload has no header fields (From:, Subject: …): send the message as it would arrive (an .eml file)');
  }
  const assumptions: string[] = [];
  const fromHeader = firstAddress(headerValue(split.fields, 'from'));
  const mailFrom = input.mailFrom ?? fromHeader ?? '';
  if (input.mailFrom === undefined) assumptions.push(`envelope sender taken from the From header: ${mailFrom || '(null sender)'}`);
  let rcpts = input.recipients?.filter(Boolean) ?? [];
  if (rcpts.length === 0) {
    const listed = [...addressesOf(headerValue(split.fields, 'to')), ...addressesOf(headerValue(split.fields, 'cc'))];
    rcpts = listed.filter((a) => input.tenant.domains.includes(a.slice(a.lastIndexOf('@') + 1)));
    if (rcpts.length === 0) rcpts = [`postmaster@${input.tenant.domains[0] ?? 'invalid'}`];
    assumptions.push(`recipients taken from To/Cc in the tenant's domains: ${rcpts.join(', ')}`);
  }
  const remoteAddress = input.remoteAddress ?? '192.0.2.1';
  if (input.remoteAddress === undefined) assumptions.push('connecting address assumed 192.0.2.1 (documentation range): network and SPF results reflect that');
  const groups =
    !input.policy && input.recipientGroups && rcpts.length > 1 ? await input.recipientGroups({ tenantId: input.tenant.id, mailFrom, recipients: rcpts }) : [rcpts];
  if (groups.length > 1) {
    const parts: SimulationResult[] = [];
    for (const group of groups) {
      parts.push(await simulateMessage(guard, { ...input, mailFrom, recipients: group, remoteAddress, recipientGroups: undefined }));
    }
    const summary = parts.map((part) => ({
      recipients: part.envelope.recipients,
      policy: part.policy,
      action: part.action,
      score: part.score,
      outcome: part.outcome,
    }));
    assumptions.push(
      `the recipients fall under ${parts.length} policies, so the gateway splits the message: ${summary
        .map((part) => `${part.recipients.join(', ')} under "${part.policy.name}"`)
        .join('; ')}; the verdict shown is the first part's`,
    );
    return { ...parts[0]!, assumptions, parts: summary };
  }
  const verdict = await guard(
    {
      messageId: '00000000-0000-4000-8000-000000000000',
      tenantId: input.tenant.id,
      direction: 'inbound',
      mailFrom,
      recipients: rcpts,
      remoteAddress,
      helo: input.helo,
      raw: input.raw,
      header: { fields: split.fields, body: split.body },
      tenant: input.tenant,
    },
    input.policy ? { policy: input.policy } : {},
  );
  const policy = verdict.appliedPolicy ?? DEFAULT_GUARD_POLICY;
  return {
    policy: verdict.policy ?? { name: policy.name },
    action: verdict.action,
    score: verdict.score,
    thresholds: policy.thresholds,
    findings: verdict.findings,
    ...(verdict.disarmed ? { changes: verdict.disarmed.changes } : {}),
    headers: verdict.headers ?? [],
    envelope: { mailFrom, recipients: rcpts, remoteAddress },
    outcome: describeOutcome(verdict.action, policy),
    assumptions,
  };
}

function describeOutcome(action: GuardAction, policy: GuardPolicy): string {
  switch (action) {
    case 'deliver':
      return 'delivered to its recipients';
    case 'flag': {
      const marks = [
        policy.onFlag.header ? 'marked X-Sealpost-Flag: YES (junk folder)' : undefined,
        policy.onFlag.subjectPrefix ? `subject prefixed with "${policy.onFlag.subjectPrefix}"` : undefined,
        policy.onFlag.catchAll ? `delivered to ${policy.onFlag.catchAll} instead of its recipients` : 'delivered to its recipients',
      ].filter(Boolean);
      return `flagged: ${marks.join(', ')}`;
    }
    case 'quarantine':
      return `quarantined${policy.quarantine.delivery === 'notify' ? '; each recipient is notified' : '; recipients find it in the portal'}`;
    case 'reject':
      return 'rejected (a 5xx when known before the 250, otherwise kept and the verified sender told)';
  }
}

function addressesOf(value: string | undefined): string[] {
  if (!value) return [];
  try {
    return addressparser(value.slice(0, 20_000), { flatten: true })
      .map((a) => a.address?.toLowerCase())
      .filter((a): a is string => Boolean(a && a.includes('@')))
      .slice(0, 100);
  } catch {
    return [];
  }
}

function firstAddress(value: string | undefined): string | undefined {
  return addressesOf(value)[0];
}

export interface ReplayResult extends ReplaySummary {
  examples: Array<{ id: string; receivedAt: string; before: GuardAction; after: GuardAction; scoreBefore: number; scoreAfter: number }>;
}

export const MAX_REPLAYED_MESSAGES = 2000;
/** Messages decrypted at once during a replay. */
const REPLAY_BATCH = 25;

/**
 * Tries a changed policy on the tenant's stored inbound verdicts of the last `days` days. `change` is the
 * policy as it would be saved (its id when it replaces a stored one); the tenant's other policies stay as
 * they are, so routing decides as it would.
 */
export async function replayPolicyChange(
  deps: { db: Database; vault: KeyVault; guard: GuardRunner },
  tenant: GuardTenant,
  current: readonly ActivePolicy[],
  change: { id?: string; settings: NamedPolicySettings },
  days: number,
  limit = MAX_REPLAYED_MESSAGES,
): Promise<ReplayResult> {
  const changed: ActivePolicy = {
    ...resolveGuardPolicy({ ...change.settings, priority: change.settings.priority ?? 100 }, change.id),
    enabled: change.settings.enabled ?? true,
  };
  const others = current.filter((p) => (change.id ? p.id !== change.id : p.name.toLowerCase() !== change.settings.name.toLowerCase()));
  const policies = [...others, changed];
  const fallback = policies.find((p) => p.enabled && p.name === DEFAULT_POLICY_NAME && Object.keys(p.match).length === 0) ?? DEFAULT_GUARD_POLICY;
  const since = new Date(Date.now() - days * 24 * 60 * 60 * 1000);
  const result: ReplayResult = { days, considered: 0, underPolicy: 0, changed: 0, transitions: {}, examples: [], truncated: false };
  // The rows first, without their content; then in small batches: read and decrypt in a short
  // transaction, check outside it (a check may ask the database itself, and PGlite has one connection).
  const listed = await withTenants(deps.db, tenant.id, (tx) =>
    tx
      .select({ id: messages.id, receivedAt: messages.receivedAt, stageResults: messages.stageResults })
      .from(messages)
      .where(and(eq(messages.tenantId, tenant.id), eq(messages.direction, 'inbound'), gte(messages.receivedAt, since)))
      .orderBy(desc(messages.receivedAt))
      .limit(limit + 1),
  );
  result.truncated = listed.length > limit;
  const checked = listed.slice(0, limit).filter((row) => (row.stageResults as { guard?: { checked?: boolean } }).guard?.checked);
  result.considered = checked.length;
  for (let i = 0; i < checked.length; i += REPLAY_BATCH) {
    const batch = checked.slice(i, i + REPLAY_BATCH).map((row) => row.id);
    const opened = await withTenants(deps.db, tenant.id, async (tx) => {
      const rows = await tx.select().from(messages).where(inArray(messages.id, batch));
      const addressRows = await tx.select({ messageId: recipients.messageId, address: recipients.address }).from(recipients).where(inArray(recipients.messageId, batch));
      const out = [];
      for (const row of rows) {
        const rcpts = addressRows.filter((a) => a.messageId === row.id).map((a) => a.address);
        if (selectPolicy(policies, row.mailFrom, rcpts, fallback) !== changed) continue;
        out.push({ row, rcpts, raw: await deps.vault.open(row.tenantId, row.id, { content: row.content, wrappedDataKey: row.wrappedDataKey }, tx) });
      }
      return out;
    });
    for (const { row, rcpts, raw } of opened) {
      const stored = (row.stageResults as { guard: { action: GuardAction; score: number; findings: GuardFinding[] } }).guard;
      result.underPolicy += 1;
      const split = splitMessage(raw);
      if (split.outcome !== 'split') continue;
      const after = await deps.guard(
        {
          messageId: row.id,
          tenantId: tenant.id,
          direction: 'inbound',
          mailFrom: row.mailFrom,
          recipients: rcpts,
          remoteAddress: row.clientAddress,
          helo: row.clientHelo ?? undefined,
          raw,
          header: { fields: split.fields, body: split.body },
          tenant,
        },
        { policy: changed, storedFindings: stored.findings, disarm: false },
      );
      if (after.action === stored.action) continue;
      result.changed += 1;
      const key = `${stored.action}→${after.action}`;
      result.transitions[key] = (result.transitions[key] ?? 0) + 1;
      if (result.examples.length < 20) {
        result.examples.push({
          id: row.id,
          receivedAt: row.receivedAt.toISOString(),
          before: stored.action,
          after: after.action,
          scoreBefore: stored.score,
          scoreAfter: after.score,
        });
      }
    }
  }
  return result;
}
