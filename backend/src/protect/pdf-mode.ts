/**
 * The 'pdf' protection mode: the message and its attachments become one PDF encrypted with AES-256 (PDF 2.0,
 * revision 6; pdf-render.ts), sent to the recipient as the attachment of a short cover mail, with a password
 * of its own per recipient. The password reaches the recipient another way: by SMS to the number the
 * sender gave, where the tenant sends passwords so; otherwise through the portal: a portal message to the
 * recipient holds it, and the portal's own notification brings the link, so the recipient proves control
 * of the address before seeing it (the one-time-password way comparable gateways offer). Such a password
 * has the portal message's lifecycle: when the sender revokes it, or it expires, the PDF no longer opens
 * for anyone who has not read the password yet. Where the tenant allows it, the sender may instead tell
 * the recipients a password of their own (by phone, in person): the add-in fetched it from the gateway
 * with a sealed ticket (pdf-passwords.ts), and a message carrying a valid ticket of its sender is
 * encrypted with that password for every recipient, and no password goes out. A ticket that cannot serve
 * (changed, expired, another member's, or the tenant does not allow it) leaves the tenant's way in charge,
 * and the trace says why. A PDF that cannot be built (too large, unreadable) leaves the recipient held
 * with the reason, never sent in the clear.
 */
import { randomBytes } from 'node:crypto';
import addressparser from 'nodemailer/lib/addressparser';
import { headerValue, splitMessage } from '../mail/header-block.ts';
import { splitForSmime, withOuterFields } from '../certs/smime-mime.ts';
import type { TenantDirectory } from '../tenants/tenant-directory.ts';
import type { PortalStorage } from './portal-mode.ts';
import { openPasswordTicket, pdfPassword } from './pdf-passwords.ts';
import { PdfBuildError, renderMessagePdf } from './pdf-render.ts';
import type { ProtectionContext, ProtectionHandler, ProtectionOutcome } from './protection-modes.ts';
import { sendSms } from './sms-provider.ts';

const CRLF = '\r\n';

type Language = 'en' | 'de';

type PasswordChannel = 'portal' | 'sms' | 'sender';

const WORDS: Record<Language, { passwordSubject: string; passwordBody: string; cover: string; coverSms: string; coverSender: string; sms: string; file: string }> = {
  en: {
    passwordSubject: 'Password for: {subject}',
    passwordBody: 'The password for the protected PDF "{subject}" that {sender} sent you by e-mail:\n\n    {password}\n\nThe PDF comes in a separate e-mail. Type the password when your PDF reader asks for it.\n',
    cover:
      'This message is protected: its content and attachments are in the attached PDF, which is encrypted.\n\n' +
      'You get its password through the secure portal: a separate e-mail brings you a link. Open it, and type the password when your PDF reader asks for it.\n',
    coverSms: 'This message is protected: its content and attachments are in the attached PDF, which is encrypted.\n\nYou get its password by text message to your mobile phone. Type it when your PDF reader asks for it.\n',
    coverSender:
      'This message is protected: its content and attachments are in the attached PDF, which is encrypted.\n\n' +
      'The sender tells you its password another way, for example by phone. Type it when your PDF reader asks for it.\n',
    sms: 'Password for the PDF "{subject}": {password}',
    file: 'message',
  },
  de: {
    passwordSubject: 'Kennwort für: {subject}',
    passwordBody: 'Das Kennwort für das geschützte PDF „{subject}“, das {sender} Ihnen per E-Mail geschickt hat:\n\n    {password}\n\nDas PDF kommt in einer eigenen E-Mail. Geben Sie das Kennwort ein, wenn Ihr PDF-Programm danach fragt.\n',
    cover:
      'Diese Nachricht ist geschützt: Inhalt und Anhänge stehen im angehängten, verschlüsselten PDF.\n\n' +
      'Das Kennwort erhalten Sie über das sichere Portal: Eine eigene E-Mail bringt Ihnen einen Link. Öffnen Sie ihn, und geben Sie das Kennwort ein, wenn Ihr PDF-Programm danach fragt.\n',
    coverSms: 'Diese Nachricht ist geschützt: Inhalt und Anhänge stehen im angehängten, verschlüsselten PDF.\n\nDas Kennwort erhalten Sie per SMS auf Ihr Mobiltelefon. Geben Sie es ein, wenn Ihr PDF-Programm danach fragt.\n',
    coverSender:
      'Diese Nachricht ist geschützt: Inhalt und Anhänge stehen im angehängten, verschlüsselten PDF.\n\n' +
      'Das Kennwort teilt Ihnen der Absender auf anderem Weg mit, zum Beispiel am Telefon. Geben Sie es ein, wenn Ihr PDF-Programm danach fragt.\n',
    sms: 'Kennwort für das PDF „{subject}“: {password}',
    file: 'nachricht',
  },
};

/**
 * The recipient's language, from the address: German for the German-speaking country domains, else
 * English. (The PDF is made before the portal knows the recipient, whose own choice it cannot read here.)
 */
export function recipientLanguage(recipient: string): Language {
  return /\.(de|at|ch|li)$/i.test(recipient.trim()) ? 'de' : 'en';
}

const fill = (template: string, values: Record<string, string>) => template.replace(/\{(\w+)\}/g, (_all, name: string) => values[name] ?? '');

function base64Lines(bytes: Buffer): string {
  return (bytes.toString('base64').match(/.{1,76}/g) ?? []).join(CRLF);
}

/** A header value as RFC 2047 UTF-8 words when it is not plain ASCII. */
function encodedWord(value: string): string {
  return /^[\x20-\x7e]*$/.test(value) ? value : `=?UTF-8?B?${Buffer.from(value, 'utf8').toString('base64')}?=`;
}

/** A file name from the subject: letters, digits and a few marks, at most 60 characters. */
function fileName(subject: string, fallback: string): string {
  const name = subject.normalize('NFKD').replace(/[^\w .-]+/g, '').trim().replace(/\s+/g, '-').slice(0, 60);
  return `${name || fallback}.pdf`;
}

/** The short message that holds the password, stored in the portal for the recipient. */
function passwordMessage(original: Buffer, recipient: string, password: string, language: Language): Buffer {
  const split = splitMessage(original);
  const fields = split.outcome === 'split' ? split.fields : [];
  const subject = headerValue(fields, 'subject')?.trim() || '(no subject)';
  const from = headerValue(fields, 'from')?.trim() ?? '';
  const words = WORDS[language];
  const body = fill(words.passwordBody, { subject, sender: from.replace(/[<>"]/g, '').trim() || 'the sender', password }).replace(/\n/g, CRLF);
  return Buffer.from(
    [
      `From: ${from}`,
      `To: <${recipient}>`,
      `Subject: ${encodedWord(fill(words.passwordSubject, { subject }))}`,
      `Date: ${new Date().toUTCString()}`,
      `Message-ID: <${randomBytes(12).toString('hex')}@pdf-password.sealpost>`,
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: base64',
      '',
      base64Lines(Buffer.from(body, 'utf8')),
      '',
    ].join(CRLF),
  );
}

/** The mail the recipient gets: the original's header fields, a cover text and the PDF. */
function pdfMail(original: Buffer, pdf: Buffer, language: Language, channel: PasswordChannel): Buffer {
  const { outer } = splitForSmime(original);
  const split = splitMessage(original);
  const subject = split.outcome === 'split' ? (headerValue(split.fields, 'subject') ?? '') : '';
  const boundary = `----sealpost-pdf-${randomBytes(12).toString('hex')}`;
  const name = fileName(subject, WORDS[language].file);
  const entity = Buffer.from(
    `Content-Type: multipart/mixed; boundary="${boundary}"${CRLF}${CRLF}` +
      `--${boundary}${CRLF}Content-Type: text/plain; charset=utf-8${CRLF}Content-Transfer-Encoding: base64${CRLF}${CRLF}` +
      `${base64Lines(Buffer.from(WORDS[language][channel === 'sms' ? 'coverSms' : channel === 'sender' ? 'coverSender' : 'cover'].replace(/\n/g, CRLF), 'utf8'))}${CRLF}` +
      `--${boundary}${CRLF}Content-Type: application/pdf; name="${name}"${CRLF}Content-Disposition: attachment; filename="${name}"${CRLF}` +
      `Content-Transfer-Encoding: base64${CRLF}${CRLF}${base64Lines(pdf)}${CRLF}--${boundary}--${CRLF}`,
  );
  return withOuterFields(outer, entity);
}

type PdfDeps = {
  portal: PortalStorage;
  directory: TenantDirectory;
  passwordKey: Buffer;
  /** Opens the sealed tickets of sender-told passwords (pdf-passwords.ts); without it no ticket is honoured. */
  ticketKey?: Uint8Array;
  maxMessageBytes?: number;
  env?: NodeJS.ProcessEnv;
};

/** Who sends the message: the envelope sender and the From address (when it names one), lower-case. */
function senderAddresses(context: ProtectionContext): string[] {
  const from = context.sender?.from ? addressparser(context.sender.from.slice(0, 2000), { flatten: true }) : [];
  const addresses = [context.sender?.mailFrom, ...(from.length === 1 ? [from[0]!.address] : [])];
  return [...new Set(addresses.map((a) => a?.trim().toLowerCase()).filter((a): a is string => Boolean(a)))];
}

/**
 * The sender-told password of the message's ticket, or why the ticket cannot serve; undefined when the
 * message carries none. The reason never holds the password.
 */
async function senderToldPassword(deps: PdfDeps, context: ProtectionContext): Promise<{ password: string; expiresAt: Date } | { refused: string } | undefined> {
  const ticket = context.request?.pdfPasswordTicket;
  if (!ticket) return undefined;
  const tenant = deps.directory.tenantById(context.tenantId);
  if (!tenant?.pdf.senderPassword) return { refused: 'the organisation does not allow passwords the sender tells (pdf.senderPassword)' };
  if (!deps.ticketKey) return { refused: 'this gateway cannot open password tickets' };
  const opened = await openPasswordTicket(deps.ticketKey, ticket, { tenantId: context.tenantId, senders: senderAddresses(context) });
  return opened.valid ? { password: opened.password, expiresAt: opened.expiresAt } : { refused: opened.reason };
}

/**
 * Gets the password to the recipient: by SMS when the tenant sends passwords that way and the sender gave
 * the recipient's number, else (or when the SMS cannot be sent) through the portal. What was done, and why
 * the portal served instead, goes into the trace.
 */
async function deliverPassword(
  deps: PdfDeps,
  context: ProtectionContext,
  password: string,
  language: Language,
): Promise<{ detail: Record<string, unknown> } | { outcome: ProtectionOutcome }> {
  const tenant = deps.directory.tenantById(context.tenantId);
  let fallback: string | undefined;
  if (tenant?.pdf.password === 'sms' && tenant.pdf.sms) {
    const number = context.request?.smsNumbers?.[context.recipient.toLowerCase()];
    if (number) {
      const subject = headerOf(context.raw, 'subject') ?? '';
      const text = fill(WORDS[language].sms, { subject: subject.slice(0, 60), password });
      const sent = await sendSms(tenant.pdf.sms, number, text, deps.env);
      if (sent.sent) return { detail: { channel: 'sms', to: `${number.slice(0, 4)}…${number.slice(-3)}` } };
      fallback = sent.problem;
    } else {
      fallback = `the sender gave no mobile number for ${context.recipient}`;
    }
  }
  const stored = await deps.portal.storeForRecipient({ ...context, raw: passwordMessage(context.raw, context.recipient, password, language) });
  if (stored.kind !== 'handled') return { outcome: stored };
  return { detail: { channel: 'portal', ...stored.detail, ...(fallback ? { smsFallback: fallback } : {}) } };
}

function headerOf(raw: Buffer, name: string): string | undefined {
  const split = splitMessage(raw);
  return split.outcome === 'split' ? headerValue(split.fields, name)?.trim() : undefined;
}

export function pdfProtection(deps: PdfDeps): ProtectionHandler {
  return {
    mode: 'pdf',
    async protect(context) {
      const language = recipientLanguage(context.recipient);
      const told = await senderToldPassword(deps, context);
      const password = told && 'password' in told ? told.password : pdfPassword(deps.passwordKey, context.messageId, context.recipient);
      let rendered;
      try {
        rendered = await renderMessagePdf(context.raw, { password, language, ...(deps.maxMessageBytes ? { maxMessageBytes: deps.maxMessageBytes } : {}) });
      } catch (error) {
        if (error instanceof PdfBuildError) return { kind: 'unavailable', reason: `the password PDF cannot be made (${error.code}): ${error.message}; held, never sent unprotected` };
        throw error;
      }
      // The password first: without it on its way, the PDF would reach a recipient who can never open it.
      // A sender-told password is on its way already: the sender has it and passes it on.
      const channel =
        told && 'password' in told
          ? { detail: { channel: 'sender', ticketExpires: told.expiresAt.toISOString() } as Record<string, unknown> }
          : await deliverPassword(deps, context, password, language);
      if ('outcome' in channel) return channel.outcome;
      if (told && 'refused' in told) channel.detail.senderPasswordRefused = told.refused;
      const sent = channel.detail.channel;
      return {
        kind: 'deliver',
        raw: pdfMail(context.raw, rendered.pdf, language, sent === 'sms' || sent === 'sender' ? sent : 'portal'),
        detail: {
          pdf: { bytes: rendered.pdf.length, encryption: 'AES-256 (PDF 2.0, R6)', attachments: rendered.attachments.length, ...(rendered.notes.length > 0 ? { notes: rendered.notes } : {}) },
          password: channel.detail,
          language,
        },
      };
    },
  };
}
