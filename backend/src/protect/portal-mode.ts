/**
 * The portal's protection handlers: 'portal' stores the message for the external recipient and sends a
 * notification; 'auto' asks the method resolution and hands the recipient to S/MIME, OpenPGP or the portal,
 * sends it as it is when encryption is only allowed and no way is at hand, or returns it to the sender when
 * encryption is mandatory and no enabled way can serve it.
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

/** A portal message that also went to colleagues: the conversation's thread, and who they are. */
export interface InternalCopiesRequest {
  messageId: string;
  tenantId: string;
  /** The cleaned message, as the external recipients' copies were made from it. */
  raw: Buffer;
  /** The thread of the external recipient's copy the colleagues follow. */
  threadId: string;
  /** The internal recipients (the tenant's own addresses), delivered as mail besides. */
  recipients: string[];
}

export interface InternalCopyOutcome {
  recipient: string;
  /** kept: stored before (a resumed message); skipped: not stored, with the reason (the mail went anyway). */
  outcome: 'stored' | 'kept' | 'skipped';
  portalMessageId?: string;
  reason?: string;
}

/**
 * Relay mode: the portal keeps a copy of a portal message for the colleagues it also went to, in the
 * conversation's thread, so a colleague reading the portal sees the whole conversation. The portal's
 * service provides it; declared here for the protect stage, which cannot depend on the portal above it.
 */
export interface InternalCopyStorage {
  storeInternalCopies(request: InternalCopiesRequest): Promise<InternalCopyOutcome[]>;
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
      const resolution = await resolveRecipientMethod(deps, context.tenantId, context.recipient, context.requirement ?? 'mandatory');
      // Allowed, not required, and no way at hand: the cleaned message goes as it is, and the trace says why.
      if (resolution.method === 'clear') return { kind: 'deliver', raw: context.raw, detail: { method: 'clear', reason: resolution.reason } };
      // Required, and no enabled way: back to the sender with the reason, never out in the clear.
      if (resolution.method === 'refused') return { kind: 'refused', reason: resolution.reason, enhancedCode: '5.7.1' };
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
