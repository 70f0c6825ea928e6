/**
 * What a member sent through the portal, as the member manages it (in the portal and in the add-in):
 * the list of sent messages with each recipient's copy, revoking copies, and changing their expiry.
 * Which copies are the member's is decided by visibility.ts (sentByMember).
 */
import { and, desc, eq, inArray, isNull, or, sql } from 'drizzle-orm';
import type { SentMessage } from '../../../common/src/portal-api.ts';
import { appendAudit, type AuditEntryInput } from '../audit/audit-log.ts';
import type { Database, Queryable } from '../db/client.ts';
import { withTenants } from '../db/tenant-scope.ts';
import { portalLinks, portalMessages } from '../db/schema.ts';
import type { KeyVault } from '../vault/key-vault.ts';
import { isUuid, type Actor } from './message-access.ts';
import { problems } from './portal-problems.ts';
import { openMeta, portalMessageHeadColumns, type PortalMessageHead } from './portal-store.ts';
import type { PortalSessionInfo } from './sessions.ts';
import type { TenantPortal } from './tenant-portal.ts';
import { sentByMember } from './visibility.ts';

const DAY_MS = 86_400_000;

export interface SentCopiesOptions {
  db: Database;
  vault: KeyVault;
  tenants: TenantPortal;
}

export class SentCopies {
  constructor(private readonly options: SentCopiesOptions) {}

  /** One audit entry per copy the member acted on, in the transaction that acted. */
  private auditEach(
    tx: Queryable,
    session: PortalSessionInfo,
    actor: Actor,
    copies: PortalMessageHead[],
    action: AuditEntryInput['action'],
    details: (copy: PortalMessageHead) => Record<string, unknown>,
  ): Promise<void> {
    return appendAudit(
      tx,
      this.options.vault.auditKeys,
      copies.map((c): AuditEntryInput => ({
        tenantId: session.tenantId,
        action,
        actorId: session.id,
        actorAddress: session.address,
        clientIp: actor.clientIp,
        subjectId: c.id,
        details: { channel: 'portal', ...details(c) },
      })),
    );
  }

  private requireMember(session: PortalSessionInfo): void {
    if (!session.role) throw problems.forbidden('Only members of the organisation can see sent messages.');
  }

  /** The copies (one per recipient) of a message the member sent, by gateway message id or copy id. */
  private async copiesOf(session: PortalSessionInfo, id: string): Promise<PortalMessageHead[]> {
    if (!isUuid(id)) throw problems.notFound();
    const rows = await withTenants(this.options.db, session.tenantId, (tx) =>
      tx
      .select(portalMessageHeadColumns)
      .from(portalMessages)
      .where(
        and(
          eq(portalMessages.tenantId, session.tenantId),
          sentByMember(session.address),
          or(eq(portalMessages.sourceMessageId, id), eq(portalMessages.id, id)),
        ),
      ),
    );
    if (rows.length === 0) throw problems.notFound();
    return rows;
  }

  async listSent(session: PortalSessionInfo): Promise<SentMessage[]> {
    this.requireMember(session);
    const rows = await withTenants(this.options.db, session.tenantId, (tx) =>
      tx
      .select(portalMessageHeadColumns)
      .from(portalMessages)
      .where(and(eq(portalMessages.tenantId, session.tenantId), sentByMember(session.address)))
      .orderBy(desc(portalMessages.sentAt))
      .limit(1000),
    );
    const groups = new Map<string, PortalMessageHead[]>();
    for (const row of rows) {
      const key = row.sourceMessageId ?? row.id;
      groups.set(key, [...(groups.get(key) ?? []), row]);
    }
    const out: SentMessage[] = [];
    for (const [id, copies] of groups) {
      const first = copies[0]!;
      const meta = await openMeta(this.options.vault, first);
      out.push({
        id,
        threadId: first.threadId,
        subject: meta.subject,
        sentAt: first.sentAt.toISOString(),
        ...(first.expiresAt ? { expiresAt: first.expiresAt.toISOString() } : {}),
        recipients: copies.map((c) => ({
          address: c.toAddress,
          ...(c.firstReadAt ? { firstReadAt: c.firstReadAt.toISOString() } : {}),
          ...(c.revokedAt ? { revokedAt: c.revokedAt.toISOString() } : {}),
        })),
      });
    }
    return out;
  }

  async revoke(session: PortalSessionInfo, id: string, recipient: string | undefined, actor: Actor): Promise<void> {
    this.requireMember(session);
    const copies = (await this.copiesOf(session, id)).filter((c) => !recipient || c.toAddress === recipient.toLowerCase());
    if (copies.length === 0) throw problems.notFound();
    await withTenants(this.options.db, session.tenantId, async (tx) => {
      const ids = copies.map((c) => c.id);
      await tx.update(portalMessages).set({ revokedAt: sql`now()` }).where(and(inArray(portalMessages.id, ids), isNull(portalMessages.revokedAt)));
      // Open links to these copies stop working too.
      await tx.update(portalLinks).set({ usedAt: sql`now()` }).where(and(inArray(portalLinks.portalMessageId, ids), isNull(portalLinks.usedAt)));
      await this.auditEach(tx, session, actor, copies, 'revoked', (c) => ({ recipient: c.toAddress }));
    });
  }

  async changeExpiry(session: PortalSessionInfo, id: string, requested: Date, actor: Actor): Promise<Date> {
    this.requireMember(session);
    if (Number.isNaN(requested.getTime())) throw problems.invalid('expiresAt must be an RFC 3339 date-time.');
    const copies = await this.copiesOf(session, id);
    const settings = await this.options.tenants.settings(session.tenantId);
    const sentAt = copies[0]!.sentAt;
    // The tenant's maximum counts from the day the message was sent, as when it was stored.
    const latest = settings.maxExpiryDays !== undefined ? sentAt.getTime() + settings.maxExpiryDays * DAY_MS : Infinity;
    const expiresAt = new Date(Math.min(requested.getTime(), latest));
    await withTenants(this.options.db, session.tenantId, async (tx) => {
      await tx.update(portalMessages).set({ expiresAt }).where(inArray(portalMessages.id, copies.map((c) => c.id)));
      await this.auditEach(tx, session, actor, copies, 'expiry_changed', (c) => ({
        from: c.expiresAt?.toISOString() ?? null,
        to: expiresAt.toISOString(),
        capped: expiresAt.getTime() < requested.getTime(),
      }));
    });
    return expiresAt;
  }
}
