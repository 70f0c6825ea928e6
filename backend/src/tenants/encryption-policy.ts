/**
 * A tenant's encryption policy for outbound mail to outsiders, in the terms comparable gateways use:
 * - the encrypt mode of a recipient: `off` (sent as it is), `allow` (encrypted when a way is at hand,
 *   else sent as it is) or `mandatory` (never sent in the clear: a recipient no enabled way can serve is
 *   returned to the sender with the reason). The tenant's mode applies unless a rule for the recipient's
 *   address or domain gives another; a sender who asks for protection makes the message mandatory;
 * - the ways 'auto' may take, each of which the tenant may switch off (S/MIME, OpenPGP, PDF, portal), and
 *   for the PDF and the portal "only if mandatory": taken for mandatory mail only, so that allowed mail
 *   without a certificate or key is not turned into PDFs or portal messages.
 */
import type { ProtectionMode, SealpostRequest } from '../../../common/src/headers.ts';

export type EncryptMode = 'off' | 'allow' | 'mandatory';
export type EncryptionWay = 'smime' | 'pgp' | 'pdf' | 'portal';

export interface EncryptionPolicy {
  mode: EncryptMode;
  rules: Array<{ recipients: string[]; mode: EncryptMode }>;
  ways: Record<EncryptionWay, boolean>;
  onlyIfMandatory: { pdf: boolean; portal: boolean };
}

type StoredPolicy = {
  mode?: EncryptMode;
  rules?: Array<{ recipients: string[]; mode: EncryptMode }>;
  ways?: Partial<Record<EncryptionWay, boolean>>;
  onlyIfMandatory?: { pdf?: boolean; portal?: boolean };
};

/**
 * The tenant file's policy with its defaults: allow; S/MIME, OpenPGP and the portal on; the password PDF
 * off until the tenant turns it on (it needs a way to give recipients the password); the PDF and the
 * portal only if mandatory.
 */
export function encryptionPolicy(stored: StoredPolicy | undefined): EncryptionPolicy {
  return {
    mode: stored?.mode ?? 'allow',
    rules: stored?.rules ?? [],
    ways: { smime: stored?.ways?.smime ?? true, pgp: stored?.ways?.pgp ?? true, pdf: stored?.ways?.pdf ?? false, portal: stored?.ways?.portal ?? true },
    onlyIfMandatory: { pdf: stored?.onlyIfMandatory?.pdf ?? true, portal: stored?.onlyIfMandatory?.portal ?? true },
  };
}

/** Whether a rule's entry names the address: the address itself, its domain, or `*.domain` for subdomains. */
function matches(entry: string, address: string): boolean {
  if (entry.includes('@')) return entry === address;
  const domain = address.slice(address.lastIndexOf('@') + 1);
  if (entry.startsWith('*.')) return domain.endsWith(entry.slice(1));
  return domain === entry;
}

/** The encrypt mode for one outside recipient of mail that asked for nothing: the first matching rule's, else the tenant's. */
export function encryptModeFor(policy: EncryptionPolicy, recipient: string): { mode: EncryptMode; rule?: number } {
  const address = recipient.trim().toLowerCase();
  const index = policy.rules.findIndex((rule) => rule.recipients.some((entry) => matches(entry, address)));
  return index >= 0 ? { mode: policy.rules[index]!.mode, rule: index } : { mode: policy.mode };
}

export interface RecipientProtection {
  protection: ProtectionMode;
  /** For 'auto': whether encryption is only allowed (mail that asked for nothing) or mandatory. */
  requirement?: 'allow' | 'mandatory';
  reason: string;
}

/**
 * How an outside recipient of outbound mail is to be protected: as the sender asked (a request can raise
 * protection, never lower it: 'none' asks for nothing), else as the tenant's policy says for the recipient.
 * A way the tenant switched off is replaced by 'auto' over the ways it keeps, still mandatory. The route
 * stage, the protect stage and the delivery retry all ask this, so they agree.
 */
export function protectionFor(policy: EncryptionPolicy, request: Pick<SealpostRequest, 'mode' | 'modeSource'>, recipient: string): RecipientProtection {
  const asked = request.mode && request.mode !== 'none' ? request.mode : undefined;
  const by = request.modeSource === 'subject' ? 'the subject trigger' : 'the add-in header';
  if (asked === 'auto') return { protection: 'auto', requirement: 'mandatory', reason: `external recipient, protection "auto" requested by ${by}` };
  if (asked && !policy.ways[asked]) {
    return { protection: 'auto', requirement: 'mandatory', reason: `external recipient, "${asked}" requested by ${by} but switched off for the tenant: the other ways, still mandatory` };
  }
  if (asked) return { protection: asked, reason: `external recipient, protection "${asked}" requested by ${by}` };
  const { mode, rule } = encryptModeFor(policy, recipient);
  const source = rule === undefined ? "the tenant's encrypt mode" : `encryption rule ${rule + 1}`;
  if (mode === 'off') return { protection: 'none', reason: `external recipient, no protection requested (${source}: off)` };
  return { protection: 'auto', requirement: mode, reason: `external recipient, no protection requested; ${source}: ${mode}` };
}
