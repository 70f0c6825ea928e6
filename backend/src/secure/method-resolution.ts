/**
 * How each recipient of a protected message will be reached, and why. The gateway's 'auto' handler and
 * the per-recipient preview (add-in, admin) call the same function, so what a sender is shown is what
 * the gateway does: S/MIME when a certificate is known, else OpenPGP when a key is known, else the portal.
 */
import type { TenantDirectory } from '../tenants/tenant-directory.ts';
import type { ProtectionModes } from './protection-modes.ts';

export type RecipientMethod = 'smime' | 'pgp' | 'portal' | 'relay';

export interface MethodResolution {
  recipient: string;
  method: RecipientMethod;
  reason: string;
  /** The same reason as a code, for clients that word it in their own language. */
  reasonCode: 'internal' | 'certificate-known' | 'key-known' | 'nothing-known';
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
  const usable = (mode: 'smime' | 'pgp') => !deps.protectionModes || deps.protectionModes.handlerFor(mode) !== undefined;
  return normalised.map((recipient): MethodResolution => {
    if (!external.includes(recipient)) {
      return { recipient, method: 'relay', reasonCode: 'internal', reason: 'internal recipient: delivered to the tenant mail server' };
    }
    if (certificates.has(recipient) && usable('smime')) {
      return { recipient, method: 'smime', reasonCode: 'certificate-known', reason: 'a valid S/MIME certificate is known' };
    }
    if (pgpKeys.has(recipient) && usable('pgp')) {
      return { recipient, method: 'pgp', reasonCode: 'key-known', reason: 'no S/MIME certificate, but an OpenPGP key is known' };
    }
    return { recipient, method: 'portal', reasonCode: 'nothing-known', reason: 'no certificate or key known' };
  });
}

export async function resolveRecipientMethod(deps: MethodResolutionDeps, tenantId: string, recipient: string): Promise<MethodResolution> {
  const [resolution] = await resolveRecipientMethods(deps, tenantId, [recipient]);
  return resolution!;
}
