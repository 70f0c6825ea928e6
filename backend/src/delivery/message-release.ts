/**
 * An operator's release of a message the stages stopped (held, quarantined). What a release does follows
 * from why the message stopped:
 * - held by a failure a retry can cure (a stage kept failing): the stages try again from where it stopped;
 * - inbound and quarantined: delivered to the tenant's mail server as the stages had it (loop header added),
 *   to every recipient or, when a recipient releases their own copy, to that recipient only: the message
 *   stays in quarantine for the others until each of them (or an operator) releases it;
 * - inbound and unreadable: delivered to the tenant's mail server exactly as it was received;
 * - outbound and unreadable: it cannot be protected, so it goes back to the sender with a delivery status
 *   notification; it is never sent unprotected.
 * Each release is in the trace (who, what was skipped) and in the tenant's audit log.
 */
import { randomUUID } from 'node:crypto';
import { and, eq, sql } from 'drizzle-orm';
import { appendAudit } from '../audit/audit-log.ts';
import type { Database } from '../db/client.ts';
import { withTenants } from '../db/tenant-scope.ts';
import { deliveries, messages, recipients } from '../db/schema.ts';
import { headerValue, splitMessage } from '../mail/header-block.ts';
import { recordTrace } from '../messages/message-trace.ts';
import { STAGE_ORDER, stageIndex, type StageResults } from '../stages/message-context.ts';
import { spoolWithin } from '../messages/spool.ts';
import type { KeyVault } from '../vault/key-vault.ts';
import { buildDeliveryStatusNotification } from './delivery-status-notification.ts';
import type { BounceLanguage } from './delivery-worker.ts';

export interface MessageReleaseDeps {
  db: Database;
  vault: KeyVault;
  /** The gateway's host name, for the notification that returns an unprotectable message. */
  hostname: string;
  /** Wakes the stage runner and the delivery worker. */
  onReleased: () => void;
  /** The language of the notification that returns a message to its sender; unset: English. */
  bounceLanguage?: BounceLanguage;
}

export interface ReleasedBy {
  /** Who released it, as the audit log names them (for the admin API, the token's tenant admin). */
  actor: string;
  clientIp?: string;
}

export type ReleaseOutcome =
  | { kind: 'not_found' }
  | { kind: 'not_releasable'; state: string; reason: string }
  | { kind: 'released'; action: 'retry' | 'delivered_as_received' | 'delivered' | 'returned_to_sender'; state: string; detail: string };

/** pipeline_failed: held by a version before the stages (a header section that could not be read). */
const RELEASABLE = new Set(['held', 'quarantined', 'pipeline_failed']);

export async function releaseMessage(
  deps: MessageReleaseDeps,
  tenantId: string,
  messageId: string,
  by: ReleasedBy,
  options: { onlyFor?: string } = {},
): Promise<ReleaseOutcome> {
  const { db, vault } = deps;
  const outcome = await withTenants(db, tenantId, async (tx): Promise<ReleaseOutcome> => {
    const [row] = await tx
      .select()
      .from(messages)
      .where(and(eq(messages.id, messageId), eq(messages.tenantId, tenantId)))
      .for('update');
    if (!row) return { kind: 'not_found' };
    if (!RELEASABLE.has(row.state)) {
      return {
        kind: 'not_releasable',
        state: row.state,
        reason: `the message is ${row.state}; only held or quarantined messages can be released`,
      };
    }
    const results = row.stageResults as StageResults;
    const held = results.held;
    const skipped = STAGE_ORDER.slice(stageIndex(row.stage) + 1);
    const trace = (detail: Record<string, unknown>) =>
      recordTrace(tx, { messageId, tenantId, step: 'released', detail: { by: by.actor, clientIp: by.clientIp, ...detail } });

    let result: ReleaseOutcome;
    if (row.state === 'held' && held?.transient) {
      const { held: _cleared, ...rest } = results;
      await tx
        .update(messages)
        .set({ state: 'received', stageResults: rest, pipelineAttempts: 0, pipelineNextAt: sql`now()`, pipelineLeaseOwner: null, pipelineLockedUntil: null })
        .where(eq(messages.id, messageId));
      await trace({ action: 'retry', fromStage: held.stage, heldFor: held.reason });
      result = { kind: 'released', action: 'retry', state: 'received', detail: `the stages try again from "${held.stage}"` };
    } else if (row.direction === 'inbound') {
      const all = await tx
        .select({ address: recipients.address })
        .from(recipients)
        .where(eq(recipients.messageId, messageId))
        .orderBy(recipients.position);
      // Recipients a quarantined message was already released to have a delivery; they do not get it twice.
      const already = new Set(
        (await tx.select({ recipient: deliveries.recipient }).from(deliveries).where(eq(deliveries.messageId, messageId))).map((d) => d.recipient.toLowerCase()),
      );
      const waiting = all.filter(({ address }) => !already.has(address.toLowerCase()));
      const addresses = options.onlyFor ? waiting.filter(({ address }) => address.toLowerCase() === options.onlyFor!.toLowerCase()) : waiting;
      if (addresses.length === 0) {
        return { kind: 'not_releasable', state: row.state, reason: options.onlyFor ? 'the message was already released to you' : 'the message was already released to every recipient' };
      }
      const remaining = waiting.length - addresses.length;
      const asReceived = row.state !== 'quarantined';
      await tx.insert(deliveries).values(
        addresses.map(({ address }) => ({
          messageId,
          tenantId,
          recipient: address,
          route: 'tenant-mail-server',
          protection: 'none',
          status: 'queued',
          asReceived,
        })),
      );
      if (remaining === 0) await tx.update(messages).set({ state: 'routed' }).where(eq(messages.id, messageId));
      const why = row.state !== 'quarantined' ? (held?.reason ?? 'the message could not be read') : `quarantined by the inbound checks (score ${results.guard?.score ?? 'unknown'})`;
      await trace({
        action: asReceived ? 'delivered as received' : 'delivered',
        to: 'the tenant mail server',
        recipients: addresses.map((a) => a.address),
        ...(remaining > 0 ? { stillQuarantinedFor: remaining } : {}),
        skipped: skipped.length > 0 ? skipped : undefined,
        stoppedBecause: why,
      });
      result = {
        kind: 'released',
        action: asReceived ? 'delivered_as_received' : 'delivered',
        state: remaining === 0 ? 'routed' : row.state,
        detail:
          `queued for the tenant mail server${skipped.length ? `, skipping ${skipped.join(', ')}` : ''}` +
          (remaining > 0 ? `; still in quarantine for ${remaining} other recipient${remaining === 1 ? '' : 's'}` : ''),
      };
    } else if (row.direction === 'outbound' && row.mailFrom) {
      // It could not be read, so it cannot be protected: it goes back to the sender, never out unprotected.
      const raw = await vault.open(tenantId, messageId, { content: row.content, wrappedDataKey: row.wrappedDataKey }, tx);
      const split = splitMessage(raw);
      const addresses = await tx.select({ address: recipients.address }).from(recipients).where(eq(recipients.messageId, messageId));
      const reason = held?.reason ?? 'the message could not be read';
      const language = deps.bounceLanguage ? await deps.bounceLanguage(tx, tenantId, row.mailFrom) : 'en';
      const notification = buildDeliveryStatusNotification({
        language,
        reportingMta: deps.hostname,
        from: `MAILER-DAEMON@${deps.hostname}`,
        to: row.mailFrom,
        originalMessageId: row.messageIdHeader ?? undefined,
        originalSubject: split.outcome === 'split' ? headerValue(split.fields, 'subject') : undefined,
        arrivalDate: row.receivedAt,
        recipients: addresses.map(({ address }) => ({
          recipient: address,
          action: 'failed',
          status: '5.6.0',
          diagnosticCode: `smtp; the message could not be protected and was returned by an operator: ${reason}`,
        })),
        originalMessage: raw,
        returnContent: 'headers',
      });
      const bounceId = randomUUID();
      const notificationSplit = splitMessage(notification);
      await spoolWithin(tx, vault, [
        {
          id: bounceId,
          tenantId,
          direction: 'notification',
          mailFrom: '',
          recipients: [row.mailFrom],
          clientAddress: 'gateway',
          tls: false,
          raw: notification,
          messageIdHeader: notificationSplit.outcome === 'split' ? headerValue(notificationSplit.fields, 'message-id') : undefined,
          traceDetail: { bounceFor: messageId, failedRecipients: addresses.map((a) => a.address) },
        },
      ]);
      await tx.update(messages).set({ state: 'bounced' }).where(eq(messages.id, messageId));
      await trace({ action: 'returned to the sender', to: row.mailFrom, skipped, stoppedBecause: reason });
      await recordTrace(tx, { messageId, tenantId, step: 'bounce_sent', detail: { to: row.mailFrom, bounceMessageId: bounceId } });
      result = { kind: 'released', action: 'returned_to_sender', state: 'bounced', detail: `returned to ${row.mailFrom}: it could not be protected` };
    } else {
      return {
        kind: 'not_releasable',
        state: row.state,
        reason: 'a message from the null sender that cannot be read can neither be delivered nor returned',
      };
    }
    await appendAudit(tx, vault.auditKeys, {
      tenantId,
      action: 'message_released',
      actorAddress: by.actor,
      clientIp: by.clientIp,
      subjectId: messageId,
      details: { action: result.action, previousState: row.state, stage: held?.stage ?? row.stage },
    });
    return result;
  });
  if (outcome.kind === 'released') deps.onReleased();
  return outcome;
}
