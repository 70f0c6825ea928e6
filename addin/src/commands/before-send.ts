/**
 * The send-time check against the compose item: reads the draft through Office.js, asks the backend for
 * the tenant's rule and turns the decision into the options of event.completed. A message is never lost:
 * without a token or an answer from the backend it is allowed, and a notification on the item says so.
 * The item is described structurally, so tests can hand in a stand-in.
 */
import type { AddinSettings } from '../../../common/src/addin-api.ts';
import { HEADER_ENCRYPT, HEADER_EXPIRES, HEADER_OPTIONS, formatSealpostHeaders } from '../../../common/src/headers.ts';
import {
  alertActionFor,
  completionFor,
  decideBeforeSend,
  failOpenNotice,
  isAlreadySecured,
  ruleIsActive,
  securedNotice,
  type FailOpenReason,
  type Language,
  type SendCheckCompletion,
} from './send-check.ts';

/** Office.AsyncResult, as much of it as the check reads. */
export interface AsyncResult<T> {
  status: 'succeeded' | 'failed' | string;
  value: T;
  error?: { message: string };
}
type Callback<T> = (result: AsyncResult<T>) => void;

interface RecipientField {
  getAsync(callback: Callback<Array<{ emailAddress: string }>>): void;
}

/** The parts of Office.MessageCompose the check uses (Mailbox 1.8 and later). */
export interface ComposeItem {
  to: RecipientField;
  cc: RecipientField;
  bcc: RecipientField;
  subject: { getAsync(callback: Callback<string>): void };
  body: { getAsync(coercionType: 'text', callback: Callback<string>): void };
  getAttachmentsAsync(callback: Callback<Array<{ name: string; isInline: boolean }>>): void;
  internetHeaders: {
    getAsync(names: string[], callback: Callback<Record<string, string>>): void;
    setAsync(headers: Record<string, string>, callback: Callback<void>): void;
  };
  notificationMessages: {
    replaceAsync(key: string, message: { type: string; message: string; icon?: string; persistent?: boolean }, callback?: Callback<void>): void;
  };
}

export interface SendCheckEnvironment {
  /** The origin of the Sealpost gateway, such as https://sealpost.example.com. */
  apiOrigin: string | undefined;
  language: Language;
  /** Office.context.requirements.isSetSupported('Mailbox', version). */
  isSetSupported: (minVersion: string) => boolean;
  fetch?: typeof fetch;
  /** How long to wait for the tenant's rule before letting the message go. */
  timeoutMs?: number;
}

export const SEND_CHECK_NOTIFICATION_KEY = 'sealpostSendCheck';
const SETTINGS_PATH = '/api/addin/settings';
const DEFAULT_TIMEOUT_MS = 8000;

function call<T>(start: (callback: Callback<T>) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    start((result) => {
      if (result.status === 'succeeded') resolve(result.value);
      else reject(new Error(result.error?.message ?? 'Office.js call failed'));
    });
  });
}

async function settingsFor(token: string, environment: SendCheckEnvironment): Promise<AddinSettings> {
  if (!environment.apiOrigin) throw new Error('the Sealpost address is not known here');
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), environment.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  try {
    const response = await (environment.fetch ?? fetch)(`${environment.apiOrigin}${SETTINGS_PATH}`, {
      headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
      signal: controller.signal,
    });
    if (!response.ok) throw new Error(`the settings answered ${response.status}`);
    return (await response.json()) as AddinSettings;
  } finally {
    clearTimeout(timer);
  }
}

async function notify(item: ComposeItem, message: string): Promise<void> {
  try {
    await call<void>((done) =>
      item.notificationMessages.replaceAsync(
        SEND_CHECK_NOTIFICATION_KEY,
        { type: 'informationalMessage', message, icon: 'Icon.16x16', persistent: false },
        done,
      ),
    );
  } catch {
    // A notification that cannot be shown must not hold the message.
  }
}

async function failOpen(item: ComposeItem, reason: FailOpenReason, environment: SendCheckEnvironment): Promise<SendCheckCompletion> {
  await notify(item, failOpenNotice(reason, environment.language));
  return { allowEvent: true };
}

/**
 * Decides whether the draft may be sent as it is. Returns the options for event.completed; it never throws,
 * and every failure lets the message go.
 */
export async function checkDraftBeforeSend(
  item: ComposeItem,
  getToken: () => Promise<string | undefined>,
  environment: SendCheckEnvironment,
): Promise<SendCheckCompletion> {
  try {
    const [headers, subject] = await Promise.all([
      call<Record<string, string>>((done) => item.internetHeaders.getAsync([HEADER_ENCRYPT, HEADER_EXPIRES, HEADER_OPTIONS], done)),
      call<string>((done) => item.subject.getAsync(done)),
    ]);
    // Already secured needs no network: the default subject triggers are known here.
    if (isAlreadySecured({ headers, subject })) return { allowEvent: true };

    let token: string | undefined;
    try {
      token = await getToken();
    } catch {
      token = undefined;
    }
    if (!token) return await failOpen(item, 'no-token', environment);

    let settings: AddinSettings;
    try {
      settings = await settingsFor(token, environment);
    } catch {
      return await failOpen(item, 'settings-unavailable', environment);
    }
    if (!ruleIsActive(settings)) return { allowEvent: true };

    const [to, cc, bcc, attachments, bodyText] = await Promise.all([
      call<Array<{ emailAddress: string }>>((done) => item.to.getAsync(done)),
      call<Array<{ emailAddress: string }>>((done) => item.cc.getAsync(done)),
      call<Array<{ emailAddress: string }>>((done) => item.bcc.getAsync(done)),
      call<Array<{ name: string; isInline: boolean }>>((done) => item.getAttachmentsAsync(done)),
      call<string>((done) => item.body.getAsync('text', done)),
    ]);
    const decision = decideBeforeSend(
      { recipients: [...to, ...cc, ...bcc].map((r) => r.emailAddress), attachments, subject, bodyText, headers },
      settings,
    );
    return completionFor(decision, environment.language, alertActionFor(environment.isSetSupported));
  } catch {
    // Reading the draft failed: Outlook's own error must not turn into a message that cannot be sent.
    return { allowEvent: true };
  }
}

/**
 * The "Send securely" action (the dialog's button and the ribbon's): marks the draft for the tenant's
 * automatic protection. Outlook has cancelled the send by then; the next Send passes the check.
 */
export async function markForSecureSending(item: ComposeItem, language: Language): Promise<void> {
  await call<void>((done) => item.internetHeaders.setAsync(formatSealpostHeaders({ mode: 'auto' }), done));
  await notify(item, securedNotice(language));
}
