/**
 * How 'auto' picks a mode for an external recipient, written once as data: the first step whose condition
 * holds for the recipient, and whose mode this gateway has, serves it. The gateway's 'auto' handler, the
 * add-in preview and the admin preview all read this list (through method-resolution.ts), so what a
 * sender is shown is what the gateway does.
 */
import type { SecuredMode } from '../../../common/src/headers.ts';

export type FallbackCondition =
  /** The certificate store knows a valid S/MIME certificate for the recipient. */
  | 'certificate-known'
  /** The key store knows an OpenPGP key for the recipient. */
  | 'key-known'
  /**
   * Only if mandatory: taken when encryption is mandatory for the recipient (the sender asked for
   * protection, or the tenant's policy requires it), or for merely allowed encryption when the tenant
   * lets this way serve it too (`encryption.onlyIfMandatory` false). Never chosen merely because the mode exists.
   */
  | 'only-if-mandatory'
  /** Every recipient: the last resort, which needs nothing from the recipient. */
  | 'always';

export interface FallbackStep {
  mode: Exclude<SecuredMode, 'auto'>;
  when: FallbackCondition;
  /** Why a recipient was served this way, in words for the sender and the trace. */
  reason: string;
  /** The same reason as a code, for clients that word it in their own language. */
  reasonCode: 'certificate-known' | 'key-known' | 'mandatory' | 'nothing-known';
}

export const FALLBACK_ORDER: readonly FallbackStep[] = [
  { mode: 'smime', when: 'certificate-known', reasonCode: 'certificate-known', reason: 'a valid S/MIME certificate is known' },
  { mode: 'pgp', when: 'key-known', reasonCode: 'key-known', reason: 'no S/MIME certificate, but an OpenPGP key is known' },
  { mode: 'pdf', when: 'only-if-mandatory', reasonCode: 'mandatory', reason: 'no certificate or key known: encryption is mandatory and the tenant sends a password-protected PDF' },
  { mode: 'portal', when: 'only-if-mandatory', reasonCode: 'nothing-known', reason: 'no certificate or key known' },
];
