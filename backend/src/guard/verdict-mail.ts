/**
 * The mails a verdict sends: the quarantine notice to a recipient whose message was held, and the
 * rejection notice to a sender whose message was refused after the 250. Both follow the policy's
 * template (HTML with placeholders) and language, in the tenant's look, and carry nothing of the
 * message beyond its sender, subject and the reason.
 */
import type { PortalLanguage } from '../../../common/src/portal-api.ts';
import { compose, formatDate, fromTenant, type ComposedMail, type MailBranding } from '../mail/branded-mail.ts';
import type { MailTemplate as NotificationTemplate } from '../mail/branded-mail.ts';
import type { GuardPolicy } from './policy.ts';

const QUARANTINE_NOTICE: Record<PortalLanguage, NotificationTemplate> = {
  en: {
    subject: 'A message to you was held in quarantine',
    text:
      'A message to {{recipient}} was held because it looks suspicious.\n\n' +
      'From: {{sender}}\nSubject: {{subject}}\nReceived: {{date}}\nWhy: {{reason}} (score {{score}})\n\n' +
      'If you expected it, review it and release it here:\n{{link}}\n\nIf you did not expect it, do nothing: it is deleted on {{expires}}.\n',
    html:
      '<p>A message to {{recipient}} was held because it looks suspicious.</p>' +
      '<table role="presentation" cellpadding="0" cellspacing="0" style="margin:8px 0">' +
      '<tr><td style="padding:2px 12px 2px 0;color:#616161">From</td><td>{{sender}}</td></tr>' +
      '<tr><td style="padding:2px 12px 2px 0;color:#616161">Subject</td><td><strong>{{subject}}</strong></td></tr>' +
      '<tr><td style="padding:2px 12px 2px 0;color:#616161">Received</td><td>{{date}}</td></tr>' +
      '<tr><td style="padding:2px 12px 2px 0;color:#616161">Why</td><td>{{reason}} (score {{score}})</td></tr></table>' +
      '<p><a href="{{link}}" style="{{buttonStyle}}">Review the message</a></p>' +
      '<p>If you did not expect it, do nothing: it is deleted on {{expires}}.</p>',
  },
  de: {
    subject: 'Eine Nachricht an Sie wurde in Quarantäne gehalten',
    text:
      'Eine Nachricht an {{recipient}} wurde zurückgehalten, weil sie verdächtig wirkt.\n\n' +
      'Von: {{sender}}\nBetreff: {{subject}}\nEmpfangen: {{date}}\nGrund: {{reason}} (Punktzahl {{score}})\n\n' +
      'Wenn Sie sie erwartet haben, prüfen und freigeben:\n{{link}}\n\nAndernfalls müssen Sie nichts tun: Sie wird am {{expires}} gelöscht.\n',
    html:
      '<p>Eine Nachricht an {{recipient}} wurde zurückgehalten, weil sie verdächtig wirkt.</p>' +
      '<table role="presentation" cellpadding="0" cellspacing="0" style="margin:8px 0">' +
      '<tr><td style="padding:2px 12px 2px 0;color:#616161">Von</td><td>{{sender}}</td></tr>' +
      '<tr><td style="padding:2px 12px 2px 0;color:#616161">Betreff</td><td><strong>{{subject}}</strong></td></tr>' +
      '<tr><td style="padding:2px 12px 2px 0;color:#616161">Empfangen</td><td>{{date}}</td></tr>' +
      '<tr><td style="padding:2px 12px 2px 0;color:#616161">Grund</td><td>{{reason}} (Punktzahl {{score}})</td></tr></table>' +
      '<p><a href="{{link}}" style="{{buttonStyle}}">Nachricht prüfen</a></p>' +
      '<p>Andernfalls müssen Sie nichts tun: Sie wird am {{expires}} gelöscht.</p>',
  },
};

const REJECTION_NOTICE: Record<PortalLanguage, NotificationTemplate> = {
  en: {
    subject: 'Your message was not delivered',
    text:
      'Your message to {{recipients}} was not delivered: the recipient\'s organisation refused it.\n\n' +
      'Subject: {{subject}}\nSent: {{date}}\nWhy: {{reason}}\n\nIf you think this is a mistake, contact the recipient by another way.\n',
    html:
      '<p>Your message to {{recipients}} was not delivered: the recipient\'s organisation refused it.</p>' +
      '<p>Subject: <strong>{{subject}}</strong><br>Sent: {{date}}<br>Why: {{reason}}</p>' +
      '<p>If you think this is a mistake, contact the recipient by another way.</p>',
  },
  de: {
    subject: 'Ihre Nachricht wurde nicht zugestellt',
    text:
      'Ihre Nachricht an {{recipients}} wurde nicht zugestellt: Die Organisation des Empfängers hat sie abgelehnt.\n\n' +
      'Betreff: {{subject}}\nGesendet: {{date}}\nGrund: {{reason}}\n\nWenn Sie einen Irrtum vermuten, wenden Sie sich auf anderem Weg an den Empfänger.\n',
    html:
      '<p>Ihre Nachricht an {{recipients}} wurde nicht zugestellt: Die Organisation des Empfängers hat sie abgelehnt.</p>' +
      '<p>Betreff: <strong>{{subject}}</strong><br>Gesendet: {{date}}<br>Grund: {{reason}}</p>' +
      '<p>Wenn Sie einen Irrtum vermuten, wenden Sie sich auf anderem Weg an den Empfänger.</p>',
  },
};

/**
 * What a finding means, in German, by its symbol (the first prefix that matches): the findings' own
 * reasons are English and name the details (a domain, a file), which a German notice leaves out rather
 * than mixing languages.
 */
const GERMAN_BY_SYMBOL: ReadonlyArray<readonly [string, string]> = [
  ['REPLYTO_', 'die Antwortadresse gehört zu einer anderen Domain als der Absender'],
  ['FROM_NAME_IMPERSONATES', 'der Absendername gibt sich als Mitglied Ihrer Organisation aus'],
  ['FROM_NAME_HAS_ADDRESS', 'der Absendername zeigt eine andere Adresse als die, von der die Nachricht kommt'],
  ['FROM_', 'die Absenderangabe fehlt oder ist nicht lesbar'],
  ['_DOMAIN_LOOKALIKE', 'eine Absender-Domain ahmt eine bekannte Domain nach'],
  ['_DOMAIN_MIXED_SCRIPT', 'eine Absender-Domain mischt Buchstaben verschiedener Alphabete'],
  ['R_SPF_', 'der einliefernde Server darf für die Absender-Domain nicht senden (SPF)'],
  ['R_DKIM_', 'die digitale Signatur der Absender-Domain fehlt oder ist ungültig (DKIM)'],
  ['DMARC_', 'die Absenderadresse konnte nicht bestätigt werden (DMARC)'],
  ['ARC_', 'die Weiterleitungskette der Nachricht ist nicht vertrauenswürdig (ARC)'],
  ['CONTENT_', 'der Inhalt entspricht einer Regel Ihrer Organisation'],
  ['NET_COUNTRY', 'die Nachricht kommt aus einem Land, das Ihre Organisation sperrt'],
  ['NET_', 'der einliefernde Server oder die Absender-Domain ist gesperrt'],
  ['ATTACH_EXECUTABLE', 'ein Anhang ist ein Programm'],
  ['ATTACH_SCRIPT', 'ein Anhang ist ein Skript'],
  ['ATTACH_OFFICE_MACRO', 'ein Office-Dokument enthält Makros'],
  ['ATTACH_PDF_ACTIVE', 'ein PDF enthält aktive Inhalte (Skripte, Formulare oder eingebettete Dateien)'],
  ['ATTACH_ARCHIVE', 'ein Archiv ist verschlüsselt, zu tief verschachtelt oder entpackt zu groß'],
  ['ATTACH_TYPE_MISMATCH', 'der Name eines Anhangs passt nicht zu seinem Inhalt'],
  ['ATTACH_', 'ein Anhang ist gefährlich'],
  ['LINK_LOGIN_FORM', 'ein Link führt zu einer Seite, die nach einem Passwort fragt'],
  ['LINK_LOOKALIKE', 'ein Link ahmt eine bekannte Domain nach'],
  ['LINK_QR_CODE', 'ein Bild enthält einen QR-Code mit einem Link'],
  ['LINK_', 'ein Link ist verdächtig'],
  ['MIME_', 'die Nachricht ist fehlerhaft aufgebaut'],
  ['HEADER_LINE', 'die Kopfzeilen der Nachricht sind fehlerhaft'],
  ['SIZE_', 'die Nachricht ist größer, als Ihre Organisation zulässt'],
  ['GUARD_', 'die Nachricht konnte nicht vollständig geprüft werden'],
];

function germanMeaning(symbol: string): string | undefined {
  return GERMAN_BY_SYMBOL.find(([key]) => (key.startsWith('_') ? symbol.includes(key) : symbol.startsWith(key)))?.[1];
}

/**
 * The reason as a recipient or sender reads it: the strongest findings' reasons, not the symbols; in
 * German, what each finding means (the same meaning once), with the English reason only for a finding
 * no German text covers.
 */
export function readableReason(
  findings: ReadonlyArray<{ symbol?: string; score: number; reason: string; action?: string }>,
  max = 3,
  language: 'en' | 'de' = 'en',
): string {
  const counted = findings.filter((f) => f.score > 0 || f.action).sort((a, b) => b.score - a.score);
  if (language === 'de') {
    const meanings = [...new Set(counted.map((f) => (f.symbol && germanMeaning(f.symbol)) ?? f.reason.replace(/[\r\n]+/g, ' ').slice(0, 200)))];
    return meanings.length > 0 ? meanings.slice(0, max).join('; ') : 'sie entspricht den Eingangsregeln Ihrer Organisation';
  }
  const reasons = counted.slice(0, max).map((f) => f.reason.replace(/[\r\n]+/g, ' ').slice(0, 200));
  return reasons.length > 0 ? reasons.join('; ') : 'it matched the organisation\'s inbound policy';
}

export interface QuarantineNoticeInput {
  policy: GuardPolicy;
  recipient: string;
  from: string;
  sender: string;
  subject: string;
  receivedAt: Date;
  deleteAt: Date;
  score: number;
  reason: string;
  link: string;
  hostname: string;
  branding?: MailBranding;
}

export function buildQuarantineNotice(input: QuarantineNoticeInput): Promise<ComposedMail> {
  const { language } = input.policy.quarantine;
  const defaults = QUARANTINE_NOTICE[language];
  const template: NotificationTemplate = {
    subject: input.policy.quarantine.subject ?? defaults.subject,
    text: defaults.text,
    html: input.policy.quarantine.template ?? defaults.html,
  };
  return compose(fromTenant({ language, to: input.recipient, hostname: input.hostname, from: input.from, branding: input.branding }), template, {
    recipient: input.recipient,
    sender: input.sender || '(no sender)',
    subject: input.subject || '(no subject)',
    date: formatDate(input.receivedAt, language),
    expires: formatDate(input.deleteAt, language),
    score: String(input.score),
    reason: input.reason,
    link: input.link,
  });
}

export interface RejectionNoticeInput {
  policy: GuardPolicy;
  to: string;
  from: string;
  recipients: readonly string[];
  subject: string;
  receivedAt: Date;
  reason: string;
  hostname: string;
  branding?: MailBranding;
}

export function buildRejectionNotice(input: RejectionNoticeInput): Promise<ComposedMail> {
  const language = input.policy.quarantine.language;
  const defaults = REJECTION_NOTICE[language];
  const template: NotificationTemplate = {
    subject: input.policy.rejection.subject ?? defaults.subject,
    text: defaults.text,
    html: input.policy.rejection.template ?? defaults.html,
  };
  return compose(fromTenant({ language, to: input.to, hostname: input.hostname, from: input.from, branding: input.branding }), template, {
    recipients: input.recipients.join(', '),
    subject: input.subject || '(no subject)',
    date: formatDate(input.receivedAt, language),
    reason: input.reason,
  });
}
