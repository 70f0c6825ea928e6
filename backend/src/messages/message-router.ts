/**
 * Where each recipient of a message goes and how it must be protected.
 * Inbound mail goes to the tenant's mail server; outbound mail to the tenant's own users goes there too;
 * outbound mail to everyone else leaves through the relay or the recipient's MX, protected as the
 * sender asked or the tenant's encryption policy says (a request can raise protection, never lower it).
 */
import type { ProtectionMode, SealpostRequest } from '../../../common/src/headers.ts';
import type { MessageDirection } from './spool.ts';
import type { TenantDirectory, TenantInfo } from '../tenants/tenant-directory.ts';
import { protectionFor } from '../tenants/encryption-policy.ts';

export type Route = 'tenant-mail-server' | 'external';

export interface RecipientRoute {
  recipient: string;
  route: Route;
  protection: ProtectionMode;
  /** For 'auto': whether encryption is only allowed or mandatory (tenants/encryption-policy.ts). */
  requirement?: 'allow' | 'mandatory';
  reason: string;
}

export function routeRecipients(
  direction: MessageDirection,
  tenant: TenantInfo,
  recipients: string[],
  request: SealpostRequest,
  directory: TenantDirectory,
): RecipientRoute[] {
  return recipients.map((recipient) => {
    const recipientTenant = directory.tenantForAddress(recipient);
    if (direction === 'inbound') {
      return { recipient, route: 'tenant-mail-server', protection: 'none', reason: 'inbound mail for the tenant' };
    }
    if (recipientTenant?.id === tenant.id) {
      return {
        recipient,
        route: 'tenant-mail-server',
        protection: 'none',
        reason: 'internal recipient: delivered to the tenant mail server',
      };
    }
    if (direction === 'notification') {
      return { recipient, route: 'external', protection: 'none', reason: 'gateway notification to an external address' };
    }
    return { recipient, route: 'external', ...protectionFor(tenant.encryption, request, recipient) };
  });
}
