/**
 * How each recipient of a protected message will be reached, and why. The gateway's 'auto' handler and
 * the per-recipient preview (add-in, admin) call the same function, so what a sender is shown is what
 * the gateway does. The order (S/MIME, OpenPGP, PDF only if mandatory, the portal) is data in fallback-order.ts.
 */
import { encryptionPolicy } from '../tenants/encryption-policy.ts';
import type { TenantDirectory } from '../tenants/tenant-directory.ts';
import { FALLBACK_ORDER, type FallbackStep } from './fallback-order.ts';
import type { ProtectionModes } from './protection-modes.ts';

/**
 * relay: an internal recipient; clear: encryption is only allowed and no way serves the recipient, so the
 * message goes as it is; refused: encryption is mandatory and no enabled way serves the recipient, so the
 * message goes back to the sender, never out in the clear.
 */
export type RecipientMethod = FallbackStep['mode'] | 'relay' | 'clear' | 'refused';

export interface MethodResolution {
  recipient: string;
  method: RecipientMethod;
  reason: string;
  /** The same reason as a code, for clients that word it in their own language. */
  reasonCode: 'internal' | FallbackStep['reasonCode'] | 'allowed-clear' | 'no-way';
}

/** Whether encryption is merely allowed for the recipients (mail that asked for nothing) or mandatory. */
export type EncryptionRequirement = 'allow' | 'mandatory';

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
  requirement: EncryptionRequirement = 'mandatory',
): Promise<MethodResolution[]> {
  const keys = deps.keys ?? noKeysKnown;
  const policy = deps.directory.tenantById(tenantId)?.encryption ?? encryptionPolicy(undefined);
  const normalised = recipients.map((r) => r.trim().toLowerCase());
  const external = normalised.filter((r) => deps.directory.tenantForAddress(r)?.id !== tenantId);
  const [certificates, pgpKeys] = await Promise.all([
    policy.ways.smime ? keys.smimeCertificates(tenantId, external) : new Set<string>(),
    policy.ways.pgp ? keys.pgpKeys(tenantId, external) : new Set<string>(),
  ]);
  // The portal serves even before its handler is registered (the preview says so); other ways need theirs.
  const usable = (mode: FallbackStep['mode']) => mode === 'portal' || !deps.protectionModes || deps.protectionModes.handlerFor(mode) !== undefined;
  const holds = (step: FallbackStep, recipient: string): boolean => {
    if (!policy.ways[step.mode]) return false;
    switch (step.when) {
      case 'certificate-known':
        return certificates.has(recipient);
      case 'key-known':
        return pgpKeys.has(recipient);
      case 'only-if-mandatory':
        return requirement === 'mandatory' || !policy.onlyIfMandatory[step.mode as 'pdf' | 'portal'];
      case 'always':
        return true;
    }
  };
  return normalised.map((recipient): MethodResolution => {
    if (!external.includes(recipient)) {
      return { recipient, method: 'relay', reasonCode: 'internal', reason: 'internal recipient: delivered to the tenant mail server' };
    }
    const step = FALLBACK_ORDER.find((s) => holds(s, recipient) && usable(s.mode));
    if (step) return { recipient, method: step.mode, reasonCode: step.reasonCode, reason: step.reason };
    return requirement === 'allow'
      ? { recipient, method: 'clear', reasonCode: 'allowed-clear', reason: 'encryption is allowed, not required, and no certificate or key is known: sent as it is' }
      : {
          recipient,
          method: 'refused',
          reasonCode: 'no-way',
          reason: 'encryption is mandatory, but no way your organisation has switched on can reach this recipient: returned to the sender, never sent in the clear',
        };
  });
}

export async function resolveRecipientMethod(
  deps: MethodResolutionDeps,
  tenantId: string,
  recipient: string,
  requirement: EncryptionRequirement = 'mandatory',
): Promise<MethodResolution> {
  const [resolution] = await resolveRecipientMethods(deps, tenantId, [recipient], requirement);
  return resolution!;
}
