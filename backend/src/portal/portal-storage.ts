/**
 * What a tenant's portal holds, against its quotas: the figures the storage page shows admins.
 *
 * The sums are the ones the quota check counts when a copy is stored (recipient-copies.ts): the tenant's
 * usage is every stored portal message, recipients' replies included; a member's usage is what they sent
 * (direction from-member, by their lower-cased address). Rows deleted by one side still count until
 * housekeeping removes them, as they do for the quota. Subjects are not shown: they are sealed, and the
 * page names a thread by its member, counterpart, size and dates, which is what freeing space needs.
 */
import { sql } from 'drizzle-orm';
import type { StorageMember, StorageOverview, StorageThread } from '../../../common/src/portal-api.ts';
import { queryRows, type Queryable } from '../db/client.ts';
import { withTenants } from '../db/tenant-scope.ts';
import type { PortalSettings } from './portal-settings.ts';

/** The most member rows the page lists (the largest first); a tenant with more sees its biggest users. */
export const MAX_STORAGE_MEMBERS = 500;
/** The largest threads listed. */
export const LARGEST_THREADS = 20;

export async function storageOverview(db: Queryable, tenantId: string, settings: PortalSettings): Promise<StorageOverview> {
  return withTenants(db, tenantId, async (tx) => {
    const [total] = await queryRows<{ messages: string | number; bytes: string | number }>(
      tx,
      sql`select count(*)::bigint as messages, coalesce(sum(size_bytes), 0)::bigint as bytes from portal_messages where tenant_id = ${tenantId}`,
    );
    const senders = await queryRows<{ address: string; messages: string | number; bytes: string | number }>(
      tx,
      sql`select from_address as address, count(*)::bigint as messages, coalesce(sum(size_bytes), 0)::bigint as bytes
          from portal_messages where tenant_id = ${tenantId} and direction = 'from-member'
          group by from_address order by bytes desc, from_address limit ${MAX_STORAGE_MEMBERS}`,
    );
    const threads = await queryRows<{ id: string; member: string; counterpart: string; messages: string | number; bytes: string | number; last: Date | string }>(
      tx,
      sql`select t.id, t.member_address as member, t.external_address as counterpart,
                 count(m.id)::bigint as messages, coalesce(sum(m.size_bytes), 0)::bigint as bytes, max(m.sent_at) as last
          from portal_messages m join portal_threads t on t.id = m.thread_id
          where m.tenant_id = ${tenantId} and t.tenant_id = ${tenantId}
          group by t.id, t.member_address, t.external_address
          order by bytes desc, t.id limit ${LARGEST_THREADS}`,
    );

    const quotaOf = (address: string) => (Object.hasOwn(settings.memberQuotaBytes, address) ? settings.memberQuotaBytes[address]! : settings.memberDefaultQuotaBytes);
    const members = new Map<string, StorageMember>();
    for (const row of senders) {
      members.set(row.address, {
        address: row.address,
        usedBytes: Number(row.bytes),
        quotaBytes: quotaOf(row.address),
        ownQuota: Object.hasOwn(settings.memberQuotaBytes, row.address),
        messageCount: Number(row.messages),
      });
    }
    // A member given a quota of their own is listed before they send anything, so the setting is seen.
    for (const [address, quotaBytes] of Object.entries(settings.memberQuotaBytes)) {
      if (!members.has(address) && members.size < MAX_STORAGE_MEMBERS) members.set(address, { address, usedBytes: 0, quotaBytes, ownQuota: true, messageCount: 0 });
    }

    const largestThreads: StorageThread[] = threads.map((row) => ({
      id: row.id,
      member: row.member,
      counterpart: row.counterpart,
      bytes: Number(row.bytes),
      messageCount: Number(row.messages),
      lastMessageAt: new Date(row.last).toISOString(),
    }));
    return {
      usedBytes: Number(total?.bytes ?? 0),
      ...(settings.tenantQuotaBytes !== undefined ? { tenantQuotaBytes: settings.tenantQuotaBytes } : {}),
      memberDefaultQuotaBytes: settings.memberDefaultQuotaBytes,
      messageCount: Number(total?.messages ?? 0),
      members: [...members.values()],
      largestThreads,
    };
  });
}
