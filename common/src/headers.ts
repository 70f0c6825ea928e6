/**
 * The Sealpost header contract (shared/design/HEADERS.md), written once.
 * The Outlook add-in writes these headers with `formatSealpostHeaders`; the gateway reads them with
 * `parseSealpostHeaders`. Parsing never throws: a bad value falls back to the tenant default and the
 * reason is returned as a note for the message trace — except a protection request the gateway cannot read,
 * which fails closed: the sender asked for protection, so the message is protected automatically rather than
 * sent in the clear.
 */

export const HEADER_ENCRYPT = 'X-Sealpost-Encrypt';
export const HEADER_EXPIRES = 'X-Sealpost-Expires';
export const HEADER_OPTIONS = 'X-Sealpost-Options';
/** Mobile numbers for the password PDF's password by SMS: `recipient=+4915112345678, …` (E.164). */
export const HEADER_SMS = 'X-Sealpost-Sms';
/**
 * The password PDF with a password the sender tells the recipients: the sealed ticket the gateway's add-in
 * API issued with the password (encrypted and authenticated, readable by the gateway only). The clear
 * password never travels in a header, because the draft's headers stay in the sender's Sent Items.
 */
export const HEADER_PDF_PASSWORD = 'X-Sealpost-Pdf-Password';
/** The longest ticket the gateway reads; its tickets are about 300 characters. */
export const MAX_PDF_PASSWORD_TICKET_LENGTH = 2048;
export const HEADER_FLAG = 'X-Sealpost-Flag';
export const SEALPOST_HEADER_PREFIX = 'x-sealpost-';

/** The protection modes, written once: the add-in, the gateway and the previews all read this list. */
export const PROTECTION_MODES = ['auto', 'portal', 'smime', 'pgp', 'pdf', 'none'] as const;
export type ProtectionMode = (typeof PROTECTION_MODES)[number];
export type SecuredMode = Exclude<ProtectionMode, 'none'>;
/** The modes that protect, in the order a sender is offered them. */
export const SECURED_MODES = PROTECTION_MODES.filter((mode): mode is SecuredMode => mode !== 'none');
/** How a mode is named in a sentence ("the sender chose S/MIME"). */
export const PROTECTION_MODE_NAMES: Record<SecuredMode, string> = {
  auto: 'automatic',
  portal: 'the Sealpost portal',
  smime: 'S/MIME',
  pgp: 'OpenPGP',
  pdf: 'a password-protected PDF',
};

export const SEND_OPTIONS = ['read-receipt', 'no-reply', 'otp', 'sign'] as const;
export type SendOption = (typeof SEND_OPTIONS)[number];

export const DEFAULT_SUBJECT_TRIGGERS = ['[secure]', '[encrypt]'] as const;

export interface SealpostRequest {
  /** The mode the sender asked for, or undefined when no valid request was made. */
  mode?: ProtectionMode;
  /** Where the request came from: the add-in's header or the subject trigger. */
  modeSource?: 'header' | 'subject';
  /** True when the protection request could not be read and the message is protected with 'auto' instead. */
  failedClosed?: boolean;
  /** Expiry the sender asked for (not yet capped by the tenant maximum). */
  expiresAt?: Date;
  options: SendOption[];
  /** Mobile numbers (E.164) by lower-case recipient address, for a password sent by SMS. */
  smsNumbers?: Record<string, string>;
  /** The sealed ticket of a password the sender tells the recipients (opaque here; the gateway opens it). */
  pdfPasswordTicket?: string;
  /** Human-readable reasons for everything that was ignored or fell back, for the trace. */
  notes: string[];
}

/** Name of the loop-prevention header for a tenant domain: acme.test -> X-Sealpost-acme-test. */
export function loopHeaderName(domain: string): string {
  return `X-Sealpost-${domain.toLowerCase().replace(/\./g, '-')}`;
}

/**
 * Whitespace inside the name is ignored: `X-Sealpost -Encrypt` is not a valid field name, but a lenient
 * reader downstream may still see X-Sealpost-Encrypt in it, so it counts as a control header for removal.
 */
export function isSealpostHeader(name: string): boolean {
  return name.replace(/\s+/g, '').toLowerCase().startsWith(SEALPOST_HEADER_PREFIX);
}

const RFC3339_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const RFC3339_DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * Parses an RFC 3339 date or date-time. A bare date means the end of that day in UTC, so that
 * "expires 2026-12-01" still works on the first of December.
 */
export function parseExpiry(value: string): Date | undefined {
  const trimmed = value.trim();
  const dateOnly = RFC3339_DATE.exec(trimmed);
  if (dateOnly) {
    const [, y, m, d] = dateOnly;
    const date = new Date(Date.UTC(Number(y), Number(m) - 1, Number(d), 23, 59, 59));
    return date.getUTCDate() === Number(d) && date.getUTCMonth() === Number(m) - 1 ? date : undefined;
  }
  const match = RFC3339_DATE_TIME.exec(trimmed);
  if (!match) return undefined;
  const [, , month, day, hour, minute, second] = match;
  if (Number(month) > 12 || Number(day) > 31 || Number(hour) > 23 || Number(minute) > 59 || Number(second) > 60) {
    return undefined;
  }
  const parsed = new Date(trimmed.replace(' ', 'T'));
  return Number.isNaN(parsed.getTime()) ? undefined : parsed;
}

export function formatExpiry(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export interface SubjectTriggerResult {
  triggered: boolean;
  /** The subject with the trigger removed (unchanged when not triggered). */
  subject: string;
}

/** Recognises `[secure] Contract` style subjects; the trigger is removed before delivery. */
export function matchSubjectTrigger(
  subject: string,
  triggers: readonly string[] = DEFAULT_SUBJECT_TRIGGERS,
): SubjectTriggerResult {
  const leading = subject.match(/^\s*/)?.[0].length ?? 0;
  const rest = subject.slice(leading);
  for (const trigger of triggers) {
    if (trigger && rest.toLowerCase().startsWith(trigger.toLowerCase())) {
      return { triggered: true, subject: rest.slice(trigger.length).trimStart() };
    }
  }
  return { triggered: false, subject };
}

/**
 * Header lookup that is case-insensitive, as Outlook lower-cases names. A lookup may return every value of a
 * header that occurs more than once: conflicting values then resolve towards more protection, never less.
 */
export type HeaderLookup = (name: string) => string | readonly string[] | undefined;

function allValues(header: HeaderLookup, name: string): string[] {
  const value = header(name);
  if (value === undefined) return [];
  return typeof value === 'string' ? [value] : [...value];
}

export function parseSealpostHeaders(
  header: HeaderLookup,
  subject: string | undefined,
  subjectTriggers: readonly string[] = DEFAULT_SUBJECT_TRIGGERS,
): SealpostRequest {
  const request: SealpostRequest = { options: [], notes: [] };

  const encryptValues = allValues(header, HEADER_ENCRYPT);
  if (encryptValues.length > 0) {
    const distinct = [...new Set(encryptValues.map((v) => v.trim().toLowerCase()))];
    const value = distinct[0]!;
    if (distinct.length === 1 && (PROTECTION_MODES as readonly string[]).includes(value)) {
      request.mode = value as ProtectionMode;
      request.modeSource = 'header';
    } else {
      // The sender asked for something: an unreadable or contradictory request must never end in clear text.
      request.mode = 'auto';
      request.modeSource = 'header';
      request.failedClosed = true;
      request.notes.push(
        distinct.length === 1
          ? `${HEADER_ENCRYPT}: unknown mode "${truncate(encryptValues[0]!)}", protecting automatically instead (fail closed)`
          : `${HEADER_ENCRYPT}: ${encryptValues.length} conflicting values (${distinct.map((v) => `"${truncate(v, 20)}"`).join(', ')}), protecting automatically instead (fail closed)`,
      );
    }
  }
  // The subject trigger can raise protection over an explicit "none", never lower it.
  if ((request.mode === undefined || request.mode === 'none') && subject !== undefined) {
    const trigger = matchSubjectTrigger(subject, subjectTriggers);
    if (trigger.triggered) {
      if (request.mode === 'none') request.notes.push(`the subject trigger raises ${HEADER_ENCRYPT}: none to automatic protection`);
      request.mode = 'auto';
      request.modeSource = 'subject';
    }
  }

  // Of several expiry dates the earliest holds: a later one cannot extend what the sender limited.
  for (const expires of allValues(header, HEADER_EXPIRES)) {
    const parsed = parseExpiry(expires);
    if (!parsed) {
      request.notes.push(`${HEADER_EXPIRES}: "${truncate(expires)}" is not an RFC 3339 date, using the tenant default`);
    } else if (!request.expiresAt || parsed < request.expiresAt) {
      request.expiresAt = parsed;
    }
  }

  for (const list of allValues(header, HEADER_SMS)) {
    for (const item of list.split(',')) {
      if (!item.trim()) continue;
      const at = item.indexOf('=');
      const address = item.slice(0, Math.max(0, at)).trim().toLowerCase();
      const number = e164Number(item.slice(at + 1));
      if (at <= 0 || !address.includes('@') || !number) {
        request.notes.push(`${HEADER_SMS}: "${truncate(item.trim())}" is not recipient=+number (E.164), ignored`);
        continue;
      }
      (request.smsNumbers ??= {})[address] = number;
    }
  }

  // The ticket is not quoted in a note: it is opaque, and only the gateway's own check can judge it.
  const tickets = [...new Set(allValues(header, HEADER_PDF_PASSWORD).map((v) => v.trim()))];
  if (tickets.length > 1) {
    request.notes.push(`${HEADER_PDF_PASSWORD}: ${tickets.length} different tickets, none used (the tenant's way to send the password serves)`);
  } else if (tickets.length === 1) {
    const ticket = tickets[0]!;
    if (ticket.length > 0 && ticket.length <= MAX_PDF_PASSWORD_TICKET_LENGTH && /^[A-Za-z0-9_.-]+$/.test(ticket)) request.pdfPasswordTicket = ticket;
    else request.notes.push(`${HEADER_PDF_PASSWORD}: not a ticket (${ticket.length} characters), ignored (the tenant's way to send the password serves)`);
  }

  for (const options of allValues(header, HEADER_OPTIONS)) {
    for (const raw of options.split(',')) {
      const token = raw.trim().toLowerCase();
      if (!token) continue;
      if ((SEND_OPTIONS as readonly string[]).includes(token)) {
        if (!request.options.includes(token as SendOption)) request.options.push(token as SendOption);
      } else {
        request.notes.push(`${HEADER_OPTIONS}: unknown option "${truncate(token)}" ignored`);
      }
    }
  }
  return request;
}

export interface SealpostHeaderValues {
  mode?: ProtectionMode;
  expiresAt?: Date;
  options?: readonly SendOption[];
  /** Mobile numbers (E.164) by recipient address, for the password PDF's password by SMS. */
  smsNumbers?: Readonly<Record<string, string>>;
  /** The sealed ticket of a password the sender tells the recipients. */
  pdfPasswordTicket?: string;
}

/**
 * A mobile number in E.164 form (`+` and 7 to 15 digits, the first not 0), with the spaces, dashes,
 * slashes and brackets people type removed; undefined when it is not one. Inputs are capped at 64 characters.
 */
export function e164Number(text: string): string | undefined {
  if (text.length > 64) return undefined;
  const number = text.replace(/[\s()/-]/g, '');
  return /^\+[1-9]\d{6,14}$/.test(number) ? number : undefined;
}

/** The headers the add-in sets for a choice; a header absent from the result is to be removed. */
export function formatSealpostHeaders(values: SealpostHeaderValues): Record<string, string> {
  const headers: Record<string, string> = {};
  if (values.mode) headers[HEADER_ENCRYPT] = values.mode;
  if (values.expiresAt) headers[HEADER_EXPIRES] = formatExpiry(values.expiresAt);
  const options = (values.options ?? []).filter((o) => (SEND_OPTIONS as readonly string[]).includes(o));
  if (options.length > 0) headers[HEADER_OPTIONS] = [...new Set(options)].join(',');
  const numbers = Object.entries(values.smsNumbers ?? {}).flatMap(([address, text]) => {
    const number = e164Number(text);
    return number && address.includes('@') && !/[,=]/.test(address) ? [`${address.trim().toLowerCase()}=${number}`] : [];
  });
  if (numbers.length > 0) headers[HEADER_SMS] = numbers.join(', ');
  if (values.pdfPasswordTicket) headers[HEADER_PDF_PASSWORD] = values.pdfPasswordTicket;
  return headers;
}

/** A value quoted in a note: short, and without control characters (the trace is stored as JSON text). */
function truncate(value: string, max = 60): string {
  const clean = value.slice(0, max + 1).replace(/[\u0000-\u001f\u007f]/g, ' ');
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}
