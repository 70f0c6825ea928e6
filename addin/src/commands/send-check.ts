/**
 * The send-time check (Smart Alerts), as pure decisions: given what the draft holds and the tenant's rule,
 * may it leave as it is, or should the sender be asked to send it securely? And what does Outlook's dialog
 * say, in English or German? No Office.js here, so every rule is tested in Node.
 */
import type { AddinSettings } from '../../../common/src/addin-api.ts';
import { DEFAULT_SUBJECT_TRIGGERS, HEADER_ENCRYPT, parseSealpostHeaders } from '../../../common/src/headers.ts';

export interface DraftAttachment {
  name: string;
  /** Inline pictures (signature logos) are part of the body, not attachments the sender chose. */
  isInline: boolean;
}

export interface DraftMessage {
  /** To, Cc and Bcc together. */
  recipients: string[];
  attachments: DraftAttachment[];
  subject: string;
  bodyText: string;
  /** The draft's internet headers by name (any case). */
  headers: Record<string, string>;
}

export type SendCheckRule = Pick<AddinSettings, 'smartAlert' | 'tenantDomains' | 'subjectTrigger'>;

export type SendCheckFinding =
  | { kind: 'external-recipients-with-attachments'; externalRecipients: string[]; attachments: string[] }
  | { kind: 'keyword'; keyword: string };

export type SendDecision =
  | { action: 'allow'; reason: 'already-secured' | 'rule-not-matched' }
  | { action: 'ask'; findings: SendCheckFinding[] };

export type Language = 'en' | 'de';

/** The ids of the manifest's controls that the Smart Alerts dialog can run. */
export const SEND_SECURELY_COMMAND_ID = 'sealpostSendSecurelyButton';
export const SECURE_PANE_COMMAND_ID = 'sealpostSecureButton';

export function languageOf(displayLanguage: string | undefined): Language {
  return displayLanguage?.toLowerCase().startsWith('de') ? 'de' : 'en';
}

function headerLookup(headers: Record<string, string>) {
  const byName = new Map(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
  return (name: string) => byName.get(name.toLowerCase());
}

/**
 * Secured means the gateway will protect it: a mode in X-Sealpost-Encrypt other than `none`, or a subject
 * that starts with the tenant's trigger.
 */
export function isAlreadySecured(draft: Pick<DraftMessage, 'headers' | 'subject'>, subjectTrigger?: string): boolean {
  const triggers = subjectTrigger ? [subjectTrigger, ...DEFAULT_SUBJECT_TRIGGERS] : DEFAULT_SUBJECT_TRIGGERS;
  const request = parseSealpostHeaders(headerLookup(draft.headers), draft.subject, triggers);
  return request.mode !== undefined && request.mode !== 'none';
}

export function hasEncryptHeader(headers: Record<string, string>): boolean {
  return headerLookup(headers)(HEADER_ENCRYPT) !== undefined;
}

/** A recipient is external unless their domain is one of the tenant's domains (case-insensitive). */
export function isExternalRecipient(address: string, tenantDomains: readonly string[]): boolean {
  const at = address.lastIndexOf('@');
  if (at < 0) return true;
  const domain = address.slice(at + 1).trim().toLowerCase().replace(/\.$/, '');
  return !tenantDomains.some((d) => d.toLowerCase() === domain);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The keywords that occur as whole words (letters and digits around them do not count), in keyword order. */
export function findKeywords(text: string, keywords: readonly string[]): string[] {
  const found: string[] = [];
  for (const raw of keywords) {
    const keyword = raw.trim();
    if (!keyword || found.some((k) => k.toLowerCase() === keyword.toLowerCase())) continue;
    const pattern = new RegExp(`(?<![\\p{L}\\p{N}])${escapeRegExp(keyword)}(?![\\p{L}\\p{N}])`, 'iu');
    if (pattern.test(text)) found.push(keyword);
  }
  return found;
}

/** Whether the rule can match anything at all: if not, the draft need not even be read. */
export function ruleIsActive(rule: SendCheckRule): boolean {
  return rule.smartAlert.externalRecipientsWithAttachments || rule.smartAlert.keywords.some((k) => k.trim() !== '');
}

export function decideBeforeSend(draft: DraftMessage, rule: SendCheckRule): SendDecision {
  if (isAlreadySecured(draft, rule.subjectTrigger)) return { action: 'allow', reason: 'already-secured' };
  const findings: SendCheckFinding[] = [];
  if (rule.smartAlert.externalRecipientsWithAttachments) {
    const attachments = draft.attachments.filter((a) => !a.isInline).map((a) => a.name);
    const externalRecipients = [...new Set(draft.recipients.map((r) => r.trim().toLowerCase()).filter((r) => r && isExternalRecipient(r, rule.tenantDomains)))];
    if (attachments.length > 0 && externalRecipients.length > 0) {
      findings.push({ kind: 'external-recipients-with-attachments', externalRecipients, attachments });
    }
  }
  for (const keyword of findKeywords(`${draft.subject}\n${draft.bodyText}`, rule.smartAlert.keywords)) {
    findings.push({ kind: 'keyword', keyword });
  }
  return findings.length > 0 ? { action: 'ask', findings } : { action: 'allow', reason: 'rule-not-matched' };
}

// --- What the sender reads ------------------------------------------------------------------------

/** Outlook shows at most 500 characters in the dialog and 20 on its button. */
export const MAX_ALERT_MESSAGE = 500;
export const MAX_ALERT_BUTTON = 20;

const TEXT = {
  en: {
    sendSecurely: 'Send securely',
    intro: 'This message',
    externalWithAttachments: (recipients: string, attachments: string) =>
      `goes to recipients outside your organisation (${recipients}) with attachments (${attachments})`,
    keywords: (words: string) => `mentions ${words}`,
    and: 'and',
    more: (n: number) => `${n} more`,
    askWithAction: 'Your organisation asks you to send it securely with Sealpost. Select "Send securely", then Send again.',
    askWithPane: 'Your organisation asks you to send it securely with Sealpost. Select "Send securely" to choose how, then Send again.',
    askWithRibbon: 'Your organisation asks you to send it securely with Sealpost. Select Secure on the ribbon, then Send again.',
    noToken: 'Sealpost could not check this message before sending because you are not signed in; it was sent as it was.',
    settingsUnavailable: 'Sealpost could not check this message before sending (the service did not answer); it was sent as it was.',
    secured: 'Sealpost will send this message securely. Select Send to send it.',
  },
  de: {
    sendSecurely: 'Sicher senden',
    intro: 'Diese Nachricht',
    externalWithAttachments: (recipients: string, attachments: string) =>
      `geht mit Anhängen (${attachments}) an Empfänger außerhalb Ihrer Organisation (${recipients})`,
    keywords: (words: string) => `erwähnt ${words}`,
    and: 'und',
    more: (n: number) => `${n} weitere`,
    askWithAction: 'Ihre Organisation bittet Sie, sie mit Sealpost sicher zu senden. Wählen Sie „Sicher senden“ und dann erneut Senden.',
    askWithPane: 'Ihre Organisation bittet Sie, sie mit Sealpost sicher zu senden. Wählen Sie „Sicher senden“, um die Art zu wählen, dann erneut Senden.',
    askWithRibbon: 'Ihre Organisation bittet Sie, sie mit Sealpost sicher zu senden. Wählen Sie im Menüband „Sichern“ und dann erneut Senden.',
    noToken: 'Sealpost konnte diese Nachricht vor dem Senden nicht prüfen, weil Sie nicht angemeldet sind; sie wurde unverändert gesendet.',
    settingsUnavailable: 'Sealpost konnte diese Nachricht vor dem Senden nicht prüfen (der Dienst antwortete nicht); sie wurde unverändert gesendet.',
    secured: 'Sealpost sendet diese Nachricht sicher. Wählen Sie Senden, um sie zu senden.',
  },
} as const;

function shortList(items: readonly string[], language: Language, shown = 2, maxItem = 60): string {
  const clipped = items.slice(0, shown).map((item) => (item.length > maxItem ? `${item.slice(0, maxItem - 1)}…` : item));
  const rest = items.length - clipped.length;
  return rest > 0 ? `${clipped.join(', ')} ${TEXT[language].and} ${TEXT[language].more(rest)}` : clipped.join(', ');
}

function quote(word: string, language: Language): string {
  return language === 'de' ? `„${word}“` : `"${word}"`;
}

/** How far the client can take the sender from the dialog (Mailbox requirement sets). */
export type AlertAction = 'run-send-securely' | 'open-secure-pane' | 'message-only';

export function alertActionFor(isSetSupported: (minVersion: string) => boolean): AlertAction {
  if (isSetSupported('1.15')) return 'run-send-securely';
  if (isSetSupported('1.14')) return 'open-secure-pane';
  return 'message-only';
}

export function alertMessage(findings: readonly SendCheckFinding[], action: AlertAction, language: Language): string {
  const text = TEXT[language];
  const parts: string[] = [];
  const keywords: string[] = [];
  for (const finding of findings) {
    if (finding.kind === 'external-recipients-with-attachments') {
      parts.push(text.externalWithAttachments(shortList(finding.externalRecipients, language), shortList(finding.attachments, language)));
    } else {
      keywords.push(quote(finding.keyword, language));
    }
  }
  if (keywords.length > 0) parts.push(text.keywords(shortList(keywords, language, 3)));
  const ask = action === 'run-send-securely' ? text.askWithAction : action === 'open-secure-pane' ? text.askWithPane : text.askWithRibbon;
  const message = `${text.intro} ${parts.join(` ${text.and} `)}. ${ask}`;
  if (message.length <= MAX_ALERT_MESSAGE) return message;
  return `${message.slice(0, MAX_ALERT_MESSAGE - ask.length - 3)}… ${ask}`;
}

/** The options of event.completed (Office.SmartAlertsEventCompletedOptions) for a decision. */
export interface SendCheckCompletion {
  allowEvent: boolean;
  errorMessage?: string;
  cancelLabel?: string;
  commandId?: string;
  contextData?: string;
}

export function completionFor(decision: SendDecision, language: Language, action: AlertAction): SendCheckCompletion {
  if (decision.action === 'allow') return { allowEvent: true };
  const completion: SendCheckCompletion = { allowEvent: false, errorMessage: alertMessage(decision.findings, action, language) };
  // The dialog's button label and command exist from Mailbox 1.14 on; below that, only the message.
  if (action !== 'message-only') {
    completion.cancelLabel = TEXT[language].sendSecurely.slice(0, MAX_ALERT_BUTTON);
    completion.commandId = action === 'run-send-securely' ? SEND_SECURELY_COMMAND_ID : SECURE_PANE_COMMAND_ID;
    completion.contextData = JSON.stringify({ source: 'send-check', findings: decision.findings.map((f) => f.kind) });
  }
  return completion;
}

export type FailOpenReason = 'no-token' | 'settings-unavailable';

/** The notification left on the item when the check could not run and the message went as it was. */
export function failOpenNotice(reason: FailOpenReason, language: Language): string {
  return reason === 'no-token' ? TEXT[language].noToken : TEXT[language].settingsUnavailable;
}

export function securedNotice(language: Language): string {
  return TEXT[language].secured;
}
