/**
 * Certificate auto-import, in the guard stage: a signed inbound message that is delivered puts its
 * sender's certificate into the tenant's store, when the signature verifies, the certificate is valid
 * now and names the address the message is from, and sender authentication verified that the message
 * comes from that address's domain (SPF or DKIM, DMARC not failing) — without that last condition anyone
 * could plant a certificate for a partner's address with one forged message. Whether it was imported, and
 * why not, is in the trace. A certificate that differs from the one the address had is kept beside it and
 * the tenant's owners and operators are told (certificate continuity).
 */
import addressparser from 'nodemailer/lib/addressparser';
import { CertificateProblem, readCertificates, type CertificateStore } from '../certs/certificate-store.ts';
import { signatureOf, verifySignature } from '../certs/signed-mail.ts';
import type { GuardFacts } from '../guard/contract.ts';
import { compose, fromTenant, type MailTemplate } from '../mail/branded-mail.ts';
import { headerValue, type SplitMessage } from '../mail/header-block.ts';
import type { TraceEntry } from '../messages/message-trace.ts';
import type { SpoolRequest } from '../messages/spool.ts';
import type { MessageContext } from './message-context.ts';
import { noticeRequest } from './notice-request.ts';
import type { GuardNoticeDeps } from './stage.ts';

const CHANGE_NOTICE: Record<'en' | 'de', MailTemplate> = {
  en: {
    subject: 'The S/MIME certificate of {{address}} changed',
    text:
      'A signed message from {{address}} brought a certificate that differs from the one your organisation had for this address.\n\n' +
      'New:      {{fingerprint}} (valid until {{notAfter}}, issued by {{issuer}})\nPrevious: {{previous}}\nMessage:  {{subject}}\n\n' +
      'Both are kept. If the sender did not get a new certificate, the address may be in someone else\'s hands: check with the sender by another way before you rely on it.\n',
    html:
      '<p>A signed message from <strong>{{address}}</strong> brought a certificate that differs from the one your organisation had for this address.</p>' +
      '<p>New: {{fingerprint}} (valid until {{notAfter}}, issued by {{issuer}})<br>Previous: {{previous}}<br>Message: {{subject}}</p>' +
      '<p>Both are kept. If the sender did not get a new certificate, the address may be in someone else\'s hands: check with the sender by another way before you rely on it.</p>',
  },
  de: {
    subject: 'Das S/MIME-Zertifikat von {{address}} hat sich geändert',
    text:
      'Eine signierte Nachricht von {{address}} brachte ein anderes Zertifikat, als Ihre Organisation für diese Adresse hatte.\n\n' +
      'Neu:       {{fingerprint}} (gültig bis {{notAfter}}, ausgestellt von {{issuer}})\nBisher:    {{previous}}\nNachricht: {{subject}}\n\n' +
      'Beide werden aufbewahrt. Hat der Absender kein neues Zertifikat bekommen, ist die Adresse vielleicht in fremder Hand: Fragen Sie auf anderem Weg nach, bevor Sie sich darauf verlassen.\n',
    html:
      '<p>Eine signierte Nachricht von <strong>{{address}}</strong> brachte ein anderes Zertifikat, als Ihre Organisation für diese Adresse hatte.</p>' +
      '<p>Neu: {{fingerprint}} (gültig bis {{notAfter}}, ausgestellt von {{issuer}})<br>Bisher: {{previous}}<br>Nachricht: {{subject}}</p>' +
      '<p>Beide werden aufbewahrt. Hat der Absender kein neues Zertifikat bekommen, ist die Adresse vielleicht in fremder Hand: Fragen Sie auf anderem Weg nach, bevor Sie sich darauf verlassen.</p>',
  },
};

/** The same alert for an OpenPGP key (from an Autocrypt header or a signed message). */
const PGP_CHANGE_NOTICE: Record<'en' | 'de', MailTemplate> = {
  en: {
    subject: 'The OpenPGP key of {{address}} changed',
    text:
      'A message from {{address}} brought an OpenPGP key that differs from the one your organisation had for this address.\n\n' +
      'New:      {{fingerprint}} ({{detail}})\nPrevious: {{previous}}\nMessage:  {{subject}}\n\n' +
      'Both are kept. If the sender did not make a new key, the address may be in someone else\'s hands: check with the sender by another way before you rely on it.\n',
    html:
      '<p>A message from <strong>{{address}}</strong> brought an OpenPGP key that differs from the one your organisation had for this address.</p>' +
      '<p>New: {{fingerprint}} ({{detail}})<br>Previous: {{previous}}<br>Message: {{subject}}</p>' +
      '<p>Both are kept. If the sender did not make a new key, the address may be in someone else\'s hands: check with the sender by another way before you rely on it.</p>',
  },
  de: {
    subject: 'Der OpenPGP-Schlüssel von {{address}} hat sich geändert',
    text:
      'Eine Nachricht von {{address}} brachte einen anderen OpenPGP-Schlüssel, als Ihre Organisation für diese Adresse hatte.\n\n' +
      'Neu:       {{fingerprint}} ({{detail}})\nBisher:    {{previous}}\nNachricht: {{subject}}\n\n' +
      'Beide werden aufbewahrt. Hat der Absender keinen neuen Schlüssel erzeugt, ist die Adresse vielleicht in fremder Hand: Fragen Sie auf anderem Weg nach, bevor Sie sich darauf verlassen.\n',
    html:
      '<p>Eine Nachricht von <strong>{{address}}</strong> brachte einen anderen OpenPGP-Schlüssel, als Ihre Organisation für diese Adresse hatte.</p>' +
      '<p>Neu: {{fingerprint}} ({{detail}})<br>Bisher: {{previous}}<br>Nachricht: {{subject}}</p>' +
      '<p>Beide werden aufbewahrt. Hat der Absender keinen neuen Schlüssel erzeugt, ist die Adresse vielleicht in fremder Hand: Fragen Sie auf anderem Weg nach, bevor Sie sich darauf verlassen.</p>',
  },
};

const ALERTED_ROLES = new Set(['owner', 'operator']);

export interface CertificateImportInput {
  context: MessageContext;
  header: SplitMessage;
  facts?: GuardFacts;
  certificates: CertificateStore;
  notices?: GuardNoticeDeps;
  language: 'en' | 'de';
}

/** The trace entry of the import (none for an unsigned message) and the change notices to send. */
export async function importSignerCertificate(input: CertificateImportInput): Promise<{ trace?: TraceEntry; spool: SpoolRequest[] }> {
  const { context, header } = input;
  if (!context.tenant?.certificateAutoImport) return { spool: [] };
  const signature = signatureOf(header);
  if (!signature) return { spool: [] };
  const trace = (detail: Record<string, unknown>): TraceEntry => ({ messageId: context.id, tenantId: context.tenantId, step: 'certificate', detail: { source: 'signed mail', ...detail } });
  const skipped = (reason: string) => ({ trace: trace({ imported: false, reason }), spool: [] });

  const check = await verifySignature(signature);
  if (!check.valid || !check.signer) return skipped(check.problem ?? 'the signature names no certificate');
  let certificate;
  try {
    [certificate] = readCertificates(check.signer);
  } catch (error) {
    return skipped(error instanceof CertificateProblem ? error.message : 'the signer certificate cannot be read');
  }
  if (!certificate) return skipped('the signature names no certificate');
  const fingerprint = certificate.fingerprint;
  const from = fromAddress(header);
  if (!from) return skipped('the message has no readable From address');
  if (!certificate.addresses.includes(from)) {
    return skipped(`the certificate names ${certificate.addresses.join(', ') || 'no address'}, but the message is from ${from}`);
  }
  const now = new Date();
  if (now < certificate.notBefore || now > certificate.notAfter) {
    return skipped(`the certificate is valid from ${certificate.notBefore.toISOString()} to ${certificate.notAfter.toISOString()}, not now`);
  }
  if (!input.facts?.senderVerified) {
    return skipped('sender authentication did not verify that the message comes from its domain (SPF or DKIM, with DMARC not failing)');
  }
  const [result] = await input.certificates.add(context.tenantId, [{ ...certificate, addresses: [from] }], {
    source: 'signed-mail',
    by: from,
    messageId: context.id,
    ...(check.capabilities ? { capabilities: check.capabilities } : {}),
  });
  const detail = {
    imported: result!.outcome !== 'known',
    outcome: result!.outcome,
    address: from,
    fingerprint,
    subject: certificate.subject,
    issuer: certificate.issuer,
    notBefore: certificate.notBefore.toISOString(),
    notAfter: certificate.notAfter.toISOString(),
    ...(check.capabilities ? { capabilities: check.capabilities } : {}),
    ...(result!.previousFingerprints ? { previousFingerprints: result!.previousFingerprints } : {}),
  };
  const spool =
    result!.outcome === 'changed' && input.notices
      ? await continuityNotices(input, 'certificate', { ...result!, values: { notAfter: certificate.notAfter.toISOString().slice(0, 10), issuer: certificate.issuer } })
      : [];
  return { trace: trace({ ...detail, ...(spool.length > 0 ? { alerted: spool.flatMap((r) => r.recipients) } : {}) }), spool };
}

function fromAddress(header: SplitMessage): string | undefined {
  const from = headerValue(header.fields, 'from');
  if (!from) return undefined;
  const addresses = addressparser(from.slice(0, 2000), { flatten: true });
  return addresses.length === 1 ? addresses[0]!.address?.trim().toLowerCase() || undefined : undefined;
}

/**
 * Mail to the tenant's owners and operators that an address's certificate or OpenPGP key changed
 * (continuity): the new fingerprint, the previous ones, the message that brought it.
 */
export async function continuityNotices(
  input: Pick<CertificateImportInput, 'context' | 'header' | 'notices' | 'language'>,
  kind: 'certificate' | 'pgp-key',
  change: { address: string; fingerprint: string; previousFingerprints?: string[]; values: Record<string, string> },
): Promise<SpoolRequest[]> {
  const { context, notices, language } = input;
  const tenant = context.tenant!;
  const subject = headerValue(input.header.fields, 'subject') ?? '';
  const template = (kind === 'certificate' ? CHANGE_NOTICE : PGP_CHANGE_NOTICE)[language];
  const requests: SpoolRequest[] = [];
  for (const member of tenant.members.filter((m) => ALERTED_ROLES.has(m.role))) {
    const mail = await compose(
      fromTenant({ language, to: member.email, hostname: notices!.hostname, from: `no-reply@${tenant.domains[0] ?? notices!.hostname}`, branding: notices!.branding?.(tenant.id) }),
      template,
      { address: change.address, fingerprint: change.fingerprint, previous: (change.previousFingerprints ?? []).join(', '), subject: subject.slice(0, 200), ...change.values },
    );
    const reason = kind === 'certificate' ? { certificateChangeFor: context.id } : { pgpKeyChangeFor: context.id };
    requests.push(noticeRequest(context, member.email, mail.raw, mail.messageId, 'tenant-mail-server', { ...reason, address: change.address }));
  }
  return requests;
}
