/**
 * Inbound S/MIME, in the guard stage before the checks: a message encrypted to members whose keys the
 * tenant holds is decrypted (unless the tenant delivers S/MIME as received), so the checks see what the
 * recipient will read and the recipient gets the plaintext; a signature (inside the encryption or on a
 * plain message) is verified and judged against the tenant's trust anchors, and the result is stated in
 * an Authentication-Results field (`smime=pass|fail|neutral`) on the delivered copy. What was done, with
 * which key and algorithm, or why nothing could be, is traced. A message that cannot be decrypted goes on
 * as it came: it is still encrypted, for a recipient whose own client may hold the key.
 */
import type { CrlSource, SignatureJudgement } from '../certs/smime-inbound.ts';
import { decryptedMessage, decryptWithKeys, encryptedContent, judgeSignature, type MemberDecryptionKey } from '../certs/smime-inbound.ts';
import type { MemberKeys } from '../certs/member-keys.ts';
import type { GuardHeader } from '../guard/contract.ts';
import { signatureOf } from '../certs/signed-mail.ts';
import { splitMessage, type SplitMessage } from '../mail/header-block.ts';
import type { TraceEntry } from '../messages/message-trace.ts';
import type { MessageContext } from './message-context.ts';

export interface SmimeUnwrapDeps {
  memberKeys: MemberKeys;
  crls?: CrlSource;
  /** The gateway's name, as Authentication-Results names it. */
  hostname: string;
}

export interface Unwrapped {
  /** The message the checks see and the recipients get, when it was decrypted. */
  decrypted?: { raw: Buffer; header: SplitMessage };
  /** Authentication-Results for the delivered copy. */
  headers: GuardHeader[];
  trace: TraceEntry[];
}

/** A value for an RFC 8601 comment: no parentheses or line breaks of its own. */
const comment = (text: string) => text.replace(/[()\\\r\n]/g, ' ').slice(0, 300);

export async function unwrapSmime(context: MessageContext, header: SplitMessage, deps: SmimeUnwrapDeps): Promise<Unwrapped> {
  const tenant = context.tenant;
  const out: Unwrapped = { headers: [], trace: [] };
  if (!tenant) return out;
  const step = (detail: Record<string, unknown>): TraceEntry => ({ messageId: context.id, tenantId: context.tenantId, step: 'smime', detail });
  let message = header;
  const der = encryptedContent(header);
  if (der) {
    if (!tenant.smimeInbound.decrypt) {
      out.trace.push(step({ decrypted: false, reason: 'the tenant delivers S/MIME as received' }));
      return out;
    }
    const keys: MemberDecryptionKey[] = [];
    for (const recipient of new Set(context.recipients.map((r) => r.toLowerCase()))) {
      for (const key of await deps.memberKeys.decryptionKeys(context.tenantId, recipient)) {
        keys.push({ address: key.address, fingerprint: key.fingerprint, certificate: key.certificate, privateKey: key.privateKey });
      }
    }
    const decryption = decryptWithKeys(der, keys);
    if (decryption.outcome === 'failed') {
      out.trace.push(step({ decrypted: false, reason: decryption.reason }));
      return out;
    }
    const raw = decryptedMessage(header, decryption.entity);
    const split = splitMessage(raw);
    if (split.outcome !== 'split') {
      out.trace.push(step({ decrypted: false, reason: 'the decrypted content has no readable header section' }));
      return out;
    }
    message = split;
    out.decrypted = { raw, header: split };
    out.trace.push(
      step({ decrypted: true, algorithm: decryption.algorithm, keyTransport: decryption.keyTransport, recipientKey: decryption.fingerprint, recipient: decryption.recipient }),
    );
  }
  const signature = signatureOf(message);
  if (signature) {
    const ownCa = await deps.memberKeys.existingCaCertificate(context.tenantId);
    const anchors = [...tenant.smimeInbound.trustAnchors, ...(ownCa ? [ownCa] : [])];
    const judgement: SignatureJudgement = await judgeSignature(signature, { anchors, ...(deps.crls ? { crls: deps.crls } : {}) });
    out.trace.push(step({ signature: judgement.result, reason: judgement.reason, signer: judgement.signer, fingerprint: judgement.fingerprint, trust: judgement.trust, revocation: judgement.revocation }));
    const identity = judgement.signer ? ` body.smime-identifier=${judgement.signer}` : '';
    out.headers.push({ name: 'Authentication-Results', value: `${deps.hostname}; smime=${judgement.result} (${comment(judgement.reason)})${identity}` });
  }
  return out;
}
