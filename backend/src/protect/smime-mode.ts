/**
 * The 'smime' protection mode: the message is encrypted once for every recipient of the group with the
 * certificates the tenant's store holds for them (RFC 8551: the MIME entity inside, the RFC 5322 header
 * fields outside), signed first with the sender's own key when the sender asks (option `sign`) or the
 * tenant always signs, and the certificates, algorithms and signer are named in the trace. A recipient
 * without a valid certificate, or a signature that cannot be made, leaves the recipient held, never sent
 * in the clear or unsigned.
 */
import { X509Certificate } from 'node:crypto';
import addressparser from 'nodemailer/lib/addressparser';
import type { CertificateStore } from '../certs/certificate-store.ts';
import type { DirectoryLookup, DirectoryProblem } from '../certs/directory-lookup.ts';
import type { MemberKeys } from '../certs/member-keys.ts';
import { choiceFor } from '../certs/smime-capabilities.ts';
import { encryptForRecipients, SmimeError } from '../certs/smime-envelope.ts';
import { detachedSignedEntity, pkcs7MimeEntity, splitForSmime, withOuterFields } from '../certs/smime-mime.ts';
import { signContent } from '../certs/smime-sign.ts';
import type { TenantDirectory } from '../tenants/tenant-directory.ts';
import type { RecipientKeyLookup } from './method-resolution.ts';
import type { GroupProtectionContext, ProtectionHandler } from './protection-modes.ts';

/** Which recipients the store has a valid certificate for, for the method resolution. */
export function certificateLookup(store: CertificateStore, directories?: { lookup: DirectoryLookup; tenants: TenantDirectory }): RecipientKeyLookup['smimeCertificates'] {
  return async (tenantId, recipients) => {
    const known = new Set((await store.validForEach(tenantId, recipients)).keys());
    const tenant = directories?.tenants.tenantById(tenantId);
    const rest = recipients.filter((r) => !known.has(r));
    if (directories && tenant && tenant.smimeDirectories.length > 0 && rest.length > 0) {
      for (const address of (await directories.lookup.certificatesFor(tenant, rest)).found.keys()) known.add(address);
    }
    return known;
  };
}

/** A certificate chosen for a recipient, from the store or, for this message only, a directory. */
interface ChosenCertificate {
  der: Buffer;
  fingerprint: string;
  notAfter: Date;
  source: string;
  capabilities?: string[] | null;
  directory?: string;
}

export interface SmimeModeDeps {
  store: CertificateStore;
  /** Members' keys for signing; without them a signature cannot be made and such a message is held. */
  memberKeys?: MemberKeys;
  directory?: TenantDirectory;
  /** The tenants' LDAP directories, asked for recipients the store has no certificate for. */
  directories?: DirectoryLookup;
}

/** The sender's address to sign as: the From address when it is a single one, else the envelope sender. */
export function signerAddress(context: GroupProtectionContext): string | undefined {
  const from = context.sender?.from ? addressparser(context.sender.from.slice(0, 2000), { flatten: true }) : [];
  const address = from.length === 1 ? from[0]!.address : context.sender?.mailFrom;
  return address?.trim().toLowerCase() || undefined;
}

type SignOutcome = { kind: 'signed'; entity: Buffer; detail: Record<string, unknown> } | { kind: 'unavailable'; reason: string } | { kind: 'unsigned' };

/** Signs the entity when the sender asked for it or the tenant always signs; the member's key, or one issued now. */
async function signIfWanted(deps: SmimeModeDeps, context: GroupProtectionContext, entity: Buffer): Promise<SignOutcome> {
  const tenant = deps.directory?.tenantById(context.tenantId);
  const asked = context.request?.options.includes('sign') ?? false;
  if (!asked && tenant?.smimeSigning.sign !== 'always') return { kind: 'unsigned' };
  const address = signerAddress(context);
  if (!address) return { kind: 'unavailable', reason: 'a signature was asked for, but the message names no sender to sign as' };
  if (!deps.memberKeys || !tenant) return { kind: 'unavailable', reason: `no S/MIME key is available to sign as ${address}` };
  let key = await deps.memberKeys.signingKey(context.tenantId, address);
  let issued = false;
  if (!key && tenant.smimeSigning.autoIssue && tenant.members.some((m) => m.email.toLowerCase() === address)) {
    const name = tenant.members.find((m) => m.email.toLowerCase() === address)?.name;
    await deps.memberKeys.issue(context.tenantId, tenant.name, address, { actor: 'sealpost (auto-issue)' }, name);
    key = await deps.memberKeys.signingKey(context.tenantId, address);
    issued = true;
  }
  if (!key) {
    return {
      kind: 'unavailable',
      reason: `${address} has no valid S/MIME key to sign with: import one for them, or let the tenant's CA issue keys (smime.autoIssue); held, never sent unsigned`,
    };
  }
  const form = tenant.smimeSigning.form;
  const der = await signContent(entity, key, form);
  return {
    kind: 'signed',
    entity: form === 'opaque' ? pkcs7MimeEntity(der, 'signed-data') : detachedSignedEntity(entity, der),
    detail: { signer: address, fingerprint: key.fingerprint, source: key.source, form, digest: 'sha-256', ...(issued ? { issued: true } : {}) },
  };
}

export function smimeProtection(deps: SmimeModeDeps): ProtectionHandler {
  const { store } = deps;
  const protectGroup: NonNullable<ProtectionHandler['protectGroup']> = async (context) => {
    const stored = await store.validForEach(context.tenantId, context.recipients);
    const known = new Map<string, ChosenCertificate>();
    for (const [address, rows] of stored) known.set(address, rows[0]!);
    // The store first, then the tenant's directories, for this message only.
    const tenant = deps.directory?.tenantById(context.tenantId);
    let directoryProblems: DirectoryProblem[] = [];
    const unknown = context.recipients.filter((r) => !known.has(r));
    if (deps.directories && tenant && tenant.smimeDirectories.length > 0 && unknown.length > 0) {
      const looked = await deps.directories.certificatesFor(tenant, unknown);
      for (const [address, found] of looked.found) known.set(address, found[0]!);
      directoryProblems = looked.problems;
    }
    const chosen = context.recipients.flatMap((recipient) => {
      const certificate = known.get(recipient);
      return certificate ? [{ recipient, certificate }] : [];
    });
    const missing = context.recipients.filter((r) => !known.has(r));
    const reasonMissing = (who: string[]) =>
      `no valid S/MIME certificate is known for ${who.join(', ')}: held until one is, never sent unprotected`;
    if (chosen.length === 0) return { kind: 'unavailable', reason: reasonMissing(missing) };
    // Each recipient's key transport from what it advertised; GCM only when every recipient of the copy reads it.
    const choices = chosen.map((c) => choiceFor(c.certificate.capabilities));
    const contentEncryption = choices.every((c) => c.contentEncryption === 'aes-256-gcm') ? 'aes-256-gcm' : 'aes-256-cbc';
    let raw: Buffer;
    let signature: Record<string, unknown> | undefined;
    try {
      const { outer, entity } = splitForSmime(context.raw);
      const signed = await signIfWanted(deps, context, entity);
      if (signed.kind === 'unavailable') return signed;
      if (signed.kind === 'signed') signature = signed.detail;
      const der = encryptForRecipients(
        signed.kind === 'signed' ? signed.entity : entity,
        chosen.map((c, i) => ({ certificate: c.certificate.der, keyTransport: choices[i]!.keyTransport })),
        contentEncryption,
      );
      raw = withOuterFields(outer, pkcs7MimeEntity(der, contentEncryption === 'aes-256-gcm' ? 'authEnveloped-data' : 'enveloped-data'));
    } catch (error) {
      // A certificate that cannot take a key (not RSA, unreadable), or a key that cannot sign, holds the group with the reason.
      if (error instanceof SmimeError) return { kind: 'unavailable', reason: `S/MIME failed: ${error.message}` };
      throw error;
    }
    return {
      kind: 'deliver',
      raw,
      detail: {
        contentEncryption,
        certificates: chosen.map(({ recipient, certificate }, i) => ({
          recipient,
          fingerprint: certificate.fingerprint,
          notAfter: certificate.notAfter.toISOString(),
          source: certificate.source,
          ...(certificate.directory ? { directory: certificate.directory } : {}),
          keyTransport: new X509Certificate(certificate.der).publicKey.asymmetricKeyType === 'ec' ? 'ecdh' : choices[i]!.keyTransport,
        })),
        ...(signature ? { signature } : {}),
        ...(directoryProblems.length > 0 ? { directoryProblems } : {}),
      },
      ...(missing.length > 0 ? { unserved: { recipients: missing, reason: reasonMissing(missing) } } : {}),
    };
  };
  return {
    mode: 'smime',
    protect: (context) => protectGroup({ ...context, recipients: [context.recipient] }),
    protectGroup,
  };
}
