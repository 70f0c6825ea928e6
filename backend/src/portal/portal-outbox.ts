/** The gateway's own spool, for the mails the portal writes (notifications, sign-in links, receipts, digests). */
import { randomUUID } from 'node:crypto';
import type { Database, Queryable } from '../db/client.ts';
import { spoolWithin } from '../messages/spool.ts';
import type { KeyVault } from '../vault/key-vault.ts';
import type { TenantPortal } from './tenant-portal.ts';

/** What every portal job that writes mail is given. */
export interface PortalMailingDeps {
  db: Database;
  vault: KeyVault;
  tenants: TenantPortal;
  hostname: string;
  /** Called after mail was spooled, so the pipeline routes it at once. */
  onSpooled: () => void;
}

/** Queues one mail the portal wrote, within the caller's transaction. */
export async function spoolPortalMail(
  tx: Queryable,
  vault: KeyVault,
  tenantId: string,
  mailFrom: string,
  to: string,
  mail: { raw: Buffer; messageId: string },
  traceDetail: Record<string, unknown>,
): Promise<void> {
  await spoolWithin(tx, vault, [
    {
      id: randomUUID(),
      tenantId,
      direction: 'notification',
      mailFrom,
      recipients: [to],
      clientAddress: 'gateway',
      tls: false,
      raw: mail.raw,
      messageIdHeader: mail.messageId,
      traceDetail,
    },
  ]);
}
