/**
 * The portal's protection handlers: 'portal' stores the message for the external recipient and sends a
 * notification; 'auto' asks the method resolution and hands the recipient to S/MIME, OpenPGP or the portal.
 */
import type { TenantDirectory } from '../tenants/tenant-directory.ts';
import { resolveRecipientMethod, type RecipientKeyLookup } from './method-resolution.ts';
import type { ProtectionContext, ProtectionHandler, ProtectionModes, ProtectionOutcome } from './protection-modes.ts';

/**
 * What the portal mode needs from the portal: store the message for one recipient and notify them. The
 * portal's service provides it; declared here so protection does not depend on the portal above it.
 */
export interface PortalStorage {
  storeForRecipient(context: ProtectionContext): Promise<ProtectionOutcome>;
}

export function portalProtection(portal: PortalStorage): ProtectionHandler {
  return {
    mode: 'portal',
    protect: (context) => portal.storeForRecipient(context),
  };
}

export function autoProtection(deps: {
  portal: PortalStorage;
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
