/**
 * Portal storage quotas: whose storage a copy counts against (the sending member), how much the tenant
 * and its members hold, and the refusal when a copy would not fit. Used when a copy is stored, and at
 * SMTP time (sender-quota-hook.ts), so both say the same thing.
 */
import { sql } from 'drizzle-orm';
import { queryRows, type Queryable } from '../db/client.ts';
import type { TenantInfo } from '../tenants/tenant-directory.ts';
import type { PortalSettings } from './portal-settings.ts';
import { formatBytes } from './portal-text.ts';

export interface PortalStorageUsage {
  tenantBytes: number;
  memberBytes: number;
}

/** The member a copy counts against: the From address when it is the tenant's, else the envelope sender. */
export function senderMemberAddress(tenant: Pick<TenantInfo, 'domains'>, fromHeader: string | undefined, mailFrom: string): string {
  const inTenant = (address: string) => tenant.domains.includes(address.slice(address.lastIndexOf('@') + 1).toLowerCase());
  if (fromHeader && inTenant(fromHeader)) return fromHeader.toLowerCase();
  return mailFrom.toLowerCase();
}

/** Bytes the tenant's portal holds, all of it and what each of these members sent. */
export async function portalStorageUsed(tx: Queryable, tenantId: string, members: string[]): Promise<{ tenantBytes: number; memberBytes: Map<string, number> }> {
  const rows = await queryRows<{ from_address: string | null; bytes: string | number }>(
    tx,
    sql`select case when direction = 'from-member' and from_address in (${sql.join(members.map((m) => sql`${m}`), sql`, `)}) then from_address end as from_address,
               coalesce(sum(size_bytes), 0)::bigint as bytes
        from portal_messages where tenant_id = ${tenantId}
        group by 1`,
  );
  const memberBytes = new Map<string, number>();
  let tenantBytes = 0;
  for (const row of rows) {
    tenantBytes += Number(row.bytes);
    if (row.from_address) memberBytes.set(row.from_address, Number(row.bytes));
  }
  return { tenantBytes, memberBytes };
}

/** Why `bytes` more from `member` do not fit, or undefined when they do. */
export function portalQuotaRefusal(member: string, bytes: number, usage: PortalStorageUsage, settings: PortalSettings): string | undefined {
  const memberQuota = settings.memberQuotaBytes[member] ?? settings.memberDefaultQuotaBytes;
  if (usage.memberBytes + bytes > memberQuota) {
    return `the sender's portal storage is full (quota ${formatBytes(memberQuota)}); delete or let expire older secure messages, or ask the administrator for more space`;
  }
  if (settings.tenantQuotaBytes !== undefined && usage.tenantBytes + bytes > settings.tenantQuotaBytes) {
    return `the organisation's portal storage is full (quota ${formatBytes(settings.tenantQuotaBytes)}); ask the administrator`;
  }
  return undefined;
}
