/**
 * How each recipient of a protected message will be reached, and why. The gateway's 'auto' handler and
 * the per-recipient preview (add-in, admin) call the same function, so what a sender is shown is what
 * the gateway does. The order (S/MIME, OpenPGP, PDF only if mandatory, the portal) is data in fallback-order.ts.
 */
import type { TenantDirectory } from '../tenants/tenant-directory.ts';
import { FALLBACK_ORDER, type FallbackStep } from './fallback-order.ts';
import type { ProtectionModes } from './protection-modes.ts';

export type RecipientMethod = FallbackStep['mode'] | 'relay';

export interface MethodResolution {
  recipient: string;
  method: RecipientMethod;
  reason: string;
  /** The same reason as a code, for clients that word it in their own language. */
  reasonCode: 'internal' | FallbackStep['reasonCode'];
}

/** What the certificate and key stores know about recipients; both stores answer in batches. */
export interface RecipientKeyLookup {
  smimeCertificates(tenantId: string, recipients: string[]): Promise<Set<string>>;
  pgpKeys(tenantId: string, recipients: string[]): Promise<Set<string>>;
}

/** Until the certificate and key stores exist, nobody has a certificate or key. */
export const noKeysKnown: RecipientKeyLookup = {
  smimeCertificates: async () => new Set(),
  pgpKeys: async () => new Set(),
};

export interface MethodResolutionDeps {
  directory: TenantDirectory;
  protectionModes?: ProtectionModes;
  keys?: RecipientKeyLookup;
}

export async function resolveRecipientMethods(
  deps: MethodResolutionDeps,
  tenantId: string,
  recipients: string[],
): Promise<MethodResolution[]> {
  const keys = deps.keys ?? noKeysKnown;
  const normalised = recipients.map((r) => r.trim().toLowerCase());
  const external = normalised.filter((r) => deps.directory.tenantForAddress(r)?.id !== tenantId);
  const [certificates, pgpKeys] = await Promise.all([keys.smimeCertificates(tenantId, external), keys.pgpKeys(tenantId, external)]);
  const usable = (mode: FallbackStep['mode']) => !deps.protectionModes || deps.protectionModes.handlerFor(mode) !== undefined;
  const holds = (step: FallbackStep, recipient: string): boolean => {
    switch (step.when) {
      case 'certificate-known':
        return certificates.has(recipient);
      case 'key-known':
        return pgpKeys.has(recipient);
      case 'only-if-mandatory':
        // No tenant policy makes a mode mandatory yet.
        return false;
      case 'always':
        return true;
    }
  };
  return normalised.map((recipient): MethodResolution => {
    if (!external.includes(recipient)) {
      return { recipient, method: 'relay', reasonCode: 'internal', reason: 'internal recipient: delivered to the tenant mail server' };
    }
    // The last step (the portal) serves everyone, even before its handler is registered: the preview says so.
    const step = FALLBACK_ORDER.find((s) => holds(s, recipient) && (s.when === 'always' || usable(s.mode)))!;
    return { recipient, method: step.mode, reasonCode: step.reasonCode, reason: step.reason } as MethodResolution;
  });
}

export async function resolveRecipientMethod(deps: MethodResolutionDeps, tenantId: string, recipient: string): Promise<MethodResolution> {
  const [resolution] = await resolveRecipientMethods(deps, tenantId, [recipient]);
  return resolution!;
}
