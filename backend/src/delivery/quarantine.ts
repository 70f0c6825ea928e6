/**
 * Quarantine: inbound messages the guard held. They stay stored as every message is, encrypted under
 * their own data key (messages.content); this module lists them, shows one, releases or deletes it, and
 * expires them after the policy's retention. Who may do what:
 * - a recipient (signed in to the portal) sees the quarantined mail addressed to them and releases it
 *   while its score is below the policy's admin-release threshold and no finding forced the quarantine;
 * - owners, operators and analysts (and the admin API) see all of the tenant's quarantine, release any
 *   message, may allow its sender from now on, and delete;
 * every view, release and deletion is in the tenant's audit log.
 */
import type { QuarantinedSummary } from '../../../common/src/guard-api.ts';
import { and, desc, eq, inArray, lt, sql } from 'drizzle-orm';
import addressparser from 'nodemailer/lib/addressparser';
import { appendAudit } from '../audit/audit-log.ts';
import type { Database } from '../db/client.ts';
import { guardAllowedSenders, messages, recipients } from '../db/schema.ts';
import { allTenantIds, withTenants } from '../db/tenant-scope.ts';
import { releaseMessage, type MessageReleaseDeps } from './message-release.ts';
import { headerValue, splitMessage } from '../mail/header-block.ts';
import { recordTrace } from '../messages/message-trace.ts';
import type { StageResults } from '../stages/message-context.ts';
import type { GuardFinding } from '../guard/contract.ts';
import { readableReason } from '../guard/verdict-mail.ts';

/** Roles that manage the whole tenant's quarantine. */
export const QUARANTINE_ADMIN_ROLES = ['owner', 'operator', 'analyst'] as const;

export interface QuarantineViewer {
  tenantId: string;
  /** Who acts, as the audit log names them (an address, or "admin API token"). */
  actor: string;
  clientIp?: string;
  /** A portal member's address: without an admin role they see only mail addressed to it. */
  address?: string;
  /** True for the admin roles and the admin API. */
  admin: boolean;
}

export type { QuarantinedSummary };

export interface QuarantinedMessage extends QuarantinedSummary {
  findings: GuardFinding[];
  headers: Array<{ name: string; value: string }>;
}

export class QuarantineProblem extends Error {
  constructor(
    readonly status: 403 | 404 | 409,
    readonly title: string,
    detail: string,
  ) {
    super(detail);
  }
}

const SHOWN_HEADERS = ['from', 'sender', 'reply-to', 'to', 'cc', 'date', 'message-id', 'return-path'];
const MAX_SHOWN_VALUE = 500;

type MessageRow = typeof messages.$inferSelect;

export class Quarantine {
  constructor(private readonly deps: MessageReleaseDeps) {}

  async list(viewer: QuarantineViewer, options: { limit?: number; before?: Date } = {}): Promise<QuarantinedSummary[]> {
    const { db, vault } = this.deps;
    return withTenants(db, viewer.tenantId, async (tx) => {
      const conditions = [eq(messages.tenantId, viewer.tenantId), eq(messages.state, 'quarantined')];
      if (options.before) conditions.push(lt(messages.receivedAt, options.before));
      if (!viewer.admin) {
        if (!viewer.address) return [];
        const address = viewer.address.toLowerCase();
        // A message this viewer released is theirs no longer to see here, though others may still hold it.
        conditions.push(
          sql`exists (select 1 from message_recipients r where r.message_id = ${messages.id} and lower(r.address) = ${address})`,
          sql`not exists (select 1 from deliveries d where d.message_id = ${messages.id} and lower(d.recipient) = ${address})`,
        );
      }
      const rows = await tx
        .select()
        .from(messages)
        .where(and(...conditions))
        .orderBy(desc(messages.receivedAt))
        .limit(Math.min(options.limit ?? 50, 200));
      if (rows.length === 0) return [];
      const addressRows = await tx
        .select({ messageId: recipients.messageId, address: recipients.address })
        .from(recipients)
        .where(inArray(recipients.messageId, rows.map((r) => r.id)));
      const summaries: QuarantinedSummary[] = [];
      for (const row of rows) {
        const raw = await vault.open(row.tenantId, row.id, { content: row.content, wrappedDataKey: row.wrappedDataKey }, tx);
        const addresses = addressRows.filter((a) => a.messageId === row.id).map((a) => a.address);
        summaries.push(summarise(row, raw, addresses, viewer));
      }
      return summaries;
    });
  }

  /** One quarantined message with its findings and header fields; the view is audited. */
  async view(viewer: QuarantineViewer, messageId: string): Promise<QuarantinedMessage> {
    const { db, vault } = this.deps;
    return withTenants(db, viewer.tenantId, async (tx) => {
      const { row, addresses } = await this.visible(tx, viewer, messageId);
      const raw = await vault.open(row.tenantId, row.id, { content: row.content, wrappedDataKey: row.wrappedDataKey }, tx);
      const split = splitMessage(raw);
      const headers =
        split.outcome === 'split'
          ? split.fields
              .filter((f) => SHOWN_HEADERS.includes(f.name.toLowerCase()))
              .slice(0, 30)
              .map((f) => ({ name: f.name, value: (headerValue([f], f.name) ?? '').slice(0, MAX_SHOWN_VALUE) }))
          : [];
      await appendAudit(tx, vault.auditKeys, {
        tenantId: viewer.tenantId,
        action: 'quarantine_viewed',
        actorAddress: viewer.actor,
        clientIp: viewer.clientIp,
        subjectId: messageId,
      });
      const results = row.stageResults as StageResults;
      return { ...summarise(row, raw, addresses, viewer), findings: results.guard?.findings ?? [], headers };
    });
  }

  /**
   * Releases a quarantined message: a recipient releases it to themselves only (below the policy's
   * threshold), an admin to every recipient still waiting for it, and may allow its sender from now on.
   */
  async release(viewer: QuarantineViewer, messageId: string, options: { allowSender?: boolean } = {}) {
    const { db } = this.deps;
    const row = await withTenants(db, viewer.tenantId, async (tx) => (await this.visible(tx, viewer, messageId)).row);
    const results = row.stageResults as StageResults;
    if (!viewer.admin && !results.guard?.quarantine?.userReleasable) {
      throw new QuarantineProblem(
        403,
        'Release needs an administrator',
        results.guard?.forced
          ? 'A finding forced this message into quarantine: an operator or analyst decides whether it is released.'
          : `Its score ${results.guard?.score ?? '?'} is at or above ${results.guard?.quarantine?.releaseThreshold ?? 'the threshold'}, up to which you may release messages yourself: ask an operator or analyst.`,
      );
    }
    if (options.allowSender && !viewer.admin) {
      throw new QuarantineProblem(403, 'Only administrators allow senders', 'Allowing a sender from now on is for operators and analysts.');
    }
    if (options.allowSender && !row.mailFrom) {
      throw new QuarantineProblem(409, 'No sender to allow', 'The message came from the null sender, which cannot be allowed.');
    }
    // A recipient releases their own copy; an operator releases it to everyone still waiting for it.
    const outcome = await releaseMessage(
      this.deps,
      viewer.tenantId,
      messageId,
      { actor: viewer.actor, clientIp: viewer.clientIp },
      viewer.admin ? {} : { onlyFor: viewer.address ?? '' },
    );
    if (outcome.kind === 'not_found') throw new QuarantineProblem(404, 'No such message', 'No quarantined message of your tenant has this id.');
    if (outcome.kind === 'not_releasable') throw new QuarantineProblem(409, 'Message not releasable', outcome.reason);
    if (options.allowSender) {
      const address = row.mailFrom.toLowerCase();
      await withTenants(db, viewer.tenantId, async (tx) => {
        await tx
          .insert(guardAllowedSenders)
          .values({ tenantId: viewer.tenantId, address, addedBy: viewer.actor, messageId })
          .onConflictDoUpdate({ target: [guardAllowedSenders.tenantId, guardAllowedSenders.address], set: { addedBy: viewer.actor, messageId } });
        await recordTrace(tx, { messageId, tenantId: viewer.tenantId, step: 'released', detail: { allowedSender: address, by: viewer.actor } });
      });
    }
    return { ...outcome, allowedSender: options.allowSender ? row.mailFrom.toLowerCase() : undefined };
  }

  /** Deletes a quarantined message for good (admins only); its trace and the audit entry remain. */
  async remove(viewer: QuarantineViewer, messageId: string): Promise<void> {
    if (!viewer.admin) throw new QuarantineProblem(403, 'Only administrators delete', 'Deleting quarantined mail is for operators and analysts.');
    const { db, vault } = this.deps;
    await withTenants(db, viewer.tenantId, async (tx) => {
      const { row } = await this.visible(tx, viewer, messageId);
      await tx.delete(messages).where(eq(messages.id, row.id));
      await recordTrace(tx, { messageId, tenantId: viewer.tenantId, step: 'deleted', detail: { by: viewer.actor, from: 'quarantine' } });
      await appendAudit(tx, vault.auditKeys, {
        tenantId: viewer.tenantId,
        action: 'quarantine_deleted',
        actorAddress: viewer.actor,
        clientIp: viewer.clientIp,
        subjectId: messageId,
        details: { mailFrom: row.mailFrom, score: (row.stageResults as StageResults).guard?.score },
      });
    });
  }

  private async visible(
    tx: Parameters<Parameters<typeof withTenants>[2]>[0],
    viewer: QuarantineViewer,
    messageId: string,
  ): Promise<{ row: MessageRow; addresses: string[] }> {
    const [row] = await tx
      .select()
      .from(messages)
      .where(and(eq(messages.id, messageId), eq(messages.tenantId, viewer.tenantId), eq(messages.state, 'quarantined')));
    const notFound = new QuarantineProblem(404, 'No such message', 'No quarantined message of yours has this id.');
    if (!row) throw notFound;
    const addresses = (await tx.select({ address: recipients.address }).from(recipients).where(eq(recipients.messageId, messageId))).map((r) => r.address);
    // Someone else's quarantine is answered like a message that does not exist: its existence is not told.
    if (!viewer.admin && !addresses.some((a) => a.toLowerCase() === viewer.address?.toLowerCase())) throw notFound;
    return { row, addresses };
  }
}

function summarise(row: MessageRow, raw: Buffer, addresses: string[], viewer: QuarantineViewer): QuarantinedSummary {
  const split = splitMessage(raw);
  const fields = split.outcome === 'split' ? split.fields : [];
  const guard = (row.stageResults as StageResults).guard;
  const userReleasable = guard?.quarantine?.userReleasable ?? false;
  return {
    id: row.id,
    receivedAt: row.receivedAt.toISOString(),
    mailFrom: row.mailFrom,
    from: shownFrom(headerValue(fields, 'from')) ?? row.mailFrom,
    subject: (headerValue(fields, 'subject') ?? '').slice(0, MAX_SHOWN_VALUE),
    recipients: viewer.admin ? addresses : addresses.filter((a) => a.toLowerCase() === viewer.address?.toLowerCase()),
    score: guard?.score ?? 0,
    ...(guard?.policy?.name ? { policy: guard.policy.name } : {}),
    reason: readableReason(guard?.findings ?? []),
    releasable: viewer.admin || userReleasable,
    userReleasable,
    ...(guard?.quarantine?.keepUntil ? { keepUntil: guard.quarantine.keepUntil } : {}),
    sizeBytes: row.sizeBytes,
  };
}

function shownFrom(value: string | undefined): string | undefined {
  if (!value) return undefined;
  try {
    const [first] = addressparser(value.slice(0, 2000), { flatten: true });
    if (first?.address) return first.name ? `${first.name} <${first.address}>` : first.address;
  } catch {
    // Shown as written.
  }
  return value.slice(0, MAX_SHOWN_VALUE);
}

/**
 * Deletes quarantined messages past their retention, in every tenant; returns how many. Their trace keeps
 * a step saying so.
 */
export async function expireQuarantine(db: Database, now = new Date()): Promise<number> {
  const tenants = await allTenantIds(db);
  if (tenants.length === 0) return 0;
  return withTenants(db, tenants, async (tx) => {
    const expired = await tx
      .delete(messages)
      .where(
        and(
          eq(messages.state, 'quarantined'),
          sql`(${messages.stageResults} -> 'guard' -> 'quarantine' ->> 'keepUntil')::timestamptz < ${now.toISOString()}::timestamptz`,
        ),
      )
      .returning({ id: messages.id, tenantId: messages.tenantId });
    if (expired.length > 0) {
      await recordTrace(
        tx,
        expired.map((m) => ({ messageId: m.id, tenantId: m.tenantId, step: 'deleted' as const, detail: { by: 'retention', from: 'quarantine' } })),
      );
    }
    return expired.length;
  });
}
