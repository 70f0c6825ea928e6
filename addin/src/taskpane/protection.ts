/**
 * The sender's choice in the task pane and the X-Sealpost-* headers that carry it, both ways. The header
 * text always comes from common/src/headers.ts, the same code the gateway parses it with.
 */
import type { AddinSettings, PdfPasswordWay } from '../../../common/src/addin-api.ts';
import {
  formatSealpostHeaders,
  HEADER_ENCRYPT,
  HEADER_EXPIRES,
  HEADER_OPTIONS,
  HEADER_PDF_PASSWORD,
  HEADER_SMS,
  parseExpiry,
  parseSealpostHeaders,
  type SendOption,
} from '../../../common/src/headers.ts';
import { removeInternetHeaders, setInternetHeaders } from '../shared/office.ts';

export type SecuredMode = AddinSettings['allowedModes'][number];

/** The headers the pane writes and removes; it never touches any other header of the draft. */
export const PANE_HEADERS = [HEADER_ENCRYPT, HEADER_EXPIRES, HEADER_OPTIONS, HEADER_SMS, HEADER_PDF_PASSWORD] as const;

export interface ProtectionChoice {
  secure: boolean;
  mode: SecuredMode;
  /**
   * The last day the message can be read, YYYY-MM-DD (a UTC day, as the header grammar reads it); empty:
   * none chosen, so the message follows the tenant's rule (by default it does not expire).
   */
  expiryDay: string;
  options: SendOption[];
  /** How the password of a password PDF reaches the recipients. */
  pdfPassword: PdfPasswordWay;
  /** Mobile numbers (E.164, already checked) by recipient address, for the password by SMS. */
  smsNumbers: Record<string, string>;
  /** The sealed ticket of the password the sender tells; the password itself is never on the draft. */
  pdfPasswordTicket?: string;
}

const DAY_MS = 86_400_000;

export function utcDay(date: Date): string {
  return date.toISOString().slice(0, 10);
}

export function addDays(day: string, days: number): string {
  return utcDay(new Date(Date.parse(`${day}T00:00:00Z`) + days * DAY_MS));
}

/** The days a sender may pick; no `max` when the tenant sets no limit, an empty `defaultDay` when it sets no default. */
export function expiryBounds(settings: AddinSettings, now = new Date()): { min: string; max?: string; defaultDay: string } {
  const today = utcDay(now);
  const max = settings.maxExpiryDays !== undefined ? addDays(today, settings.maxExpiryDays) : undefined;
  const wanted = settings.defaultExpiryDays !== undefined ? addDays(today, settings.defaultExpiryDays) : '';
  return { min: addDays(today, 1), ...(max ? { max } : {}), defaultDay: max && wanted > max ? max : wanted };
}

export type ExpiryProblem = 'missing' | 'past' | 'too-late';

/** An empty day is no problem: the message then has no date of its own. */
export function validateExpiryDay(day: string, settings: AddinSettings, now = new Date()): ExpiryProblem | undefined {
  if (!day) return undefined;
  if (!parseExpiry(day)) return 'missing';
  const { min, max } = expiryBounds(settings, now);
  if (day < min) return 'past';
  if (max && day > max) return 'too-late';
  return undefined;
}

export function defaultChoice(settings: AddinSettings, now = new Date()): ProtectionChoice {
  const mode: SecuredMode = settings.allowedModes.includes('auto') ? 'auto' : (settings.allowedModes[0] ?? 'auto');
  return { secure: false, mode, expiryDay: expiryBounds(settings, now).defaultDay, options: [], pdfPassword: settings.pdfPassword?.default ?? 'portal', smsNumbers: {} };
}

/** Whether the choice may end in a password PDF, so that how its password travels matters. */
export function pdfMayServe(choice: Pick<ProtectionChoice, 'secure' | 'mode'>, settings: AddinSettings): boolean {
  return choice.secure && settings.pdfPassword !== undefined && (choice.mode === 'pdf' || (choice.mode === 'auto' && settings.allowedModes.includes('pdf')));
}

/** The headers for a choice: none when protection is off; the password's way only where a PDF may serve. */
export function headersFor(choice: ProtectionChoice, settings: AddinSettings): Record<string, string> {
  if (!choice.secure) return {};
  const pdf = pdfMayServe(choice, settings);
  return formatSealpostHeaders({
    mode: choice.mode,
    expiresAt: choice.expiryDay ? parseExpiry(choice.expiryDay) : undefined,
    options: choice.options,
    ...(pdf && choice.pdfPassword === 'sms' ? { smsNumbers: choice.smsNumbers } : {}),
    ...(pdf && choice.pdfPassword === 'sender' && choice.pdfPasswordTicket ? { pdfPasswordTicket: choice.pdfPasswordTicket } : {}),
  });
}

/** What the pane shows for the headers already on the draft (the pane reopened). */
export function choiceFromHeaders(headers: Record<string, string>, settings: AddinSettings, now = new Date()): ProtectionChoice {
  const byName = new Map(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
  const request = parseSealpostHeaders((name) => byName.get(name.toLowerCase()), undefined);
  const choice = defaultChoice(settings, now);
  if (request.mode && request.mode !== 'none') {
    choice.secure = true;
    if (settings.allowedModes.includes(request.mode)) choice.mode = request.mode;
  }
  if (request.expiresAt) choice.expiryDay = utcDay(request.expiresAt);
  choice.options = request.options;
  const ways = settings.pdfPassword?.ways ?? [];
  if (request.pdfPasswordTicket && ways.includes('sender')) {
    choice.pdfPassword = 'sender';
    choice.pdfPasswordTicket = request.pdfPasswordTicket;
  } else if (request.smsNumbers && ways.includes('sms')) {
    choice.pdfPassword = 'sms';
    choice.smsNumbers = request.smsNumbers;
  }
  return choice;
}

/** Puts the choice on the draft: sets the headers it has and removes the pane's headers it does not. */
export async function writeChoice(choice: ProtectionChoice, settings: AddinSettings): Promise<void> {
  const headers = headersFor(choice, settings);
  const absent = PANE_HEADERS.filter((name) => !(name in headers));
  if (Object.keys(headers).length > 0) await setInternetHeaders(headers);
  if (absent.length > 0) await removeInternetHeaders(absent);
}
