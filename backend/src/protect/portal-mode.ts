/**
 * The portal's protection handlers: 'portal' stores the message for the external recipient and sends a
 * notification; 'auto' asks the method resolution and hands the recipient to S/MIME, OpenPGP or the portal.
 */
import type { PortalService } from '../portal/portal-service.ts';
import type { TenantDirectory } from '../tenants/tenant-directory.ts';
import { resolveRecipientMethod, type RecipientKeyLookup } from './method-resolution.ts';
import type { ProtectionHandler, ProtectionModes } from './protection-modes.ts';

export function portalProtection(portal: PortalService): ProtectionHandler {
  return {
    mode: 'portal',
    protect: (context) => portal.storeForRecipient(context),
  };
}

export function autoProtection(deps: {
  portal: PortalService;
  directory: TenantDirectory;
  protectionModes: ProtectionModes;
  keys?: RecipientKeyLookup;
}): ProtectionHandler {
  return {
    mode: 'auto',
    async protect(context) {
      const resolution = await resolveRecipientMethod(deps, context.tenantId, context.recipient);
      if (resolution.method === 'portal' || resolution.method === 'relay') {
        const outcome = await deps.portal.storeForRecipient(context);
        return outcome.kind === 'handled' ? { ...outcome, detail: { ...outcome.detail, method: 'portal', reason: resolution.reason } } : outcome;
      }
      const handler = deps.protectionModes.handlerFor(resolution.method);
      if (!handler) return { kind: 'unavailable', reason: `${resolution.method} was chosen (${resolution.reason}) but is not available` };
      return handler.protect(context);
    },
  };
}
