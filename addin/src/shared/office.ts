/**
 * The few parts of office.js the add-in uses, typed here and wrapped in promises. office.js itself is
 * loaded by the HTML page from Microsoft's CDN; nothing here bundles it. Every wrapper turns a failed
 * async result into an OfficeCallError carrying Office's own message.
 */

export interface OfficeAsyncResult<T> {
  status: 'succeeded' | 'failed';
  value: T;
  error?: { name?: string; message?: string; code?: number };
}
type Callback<T> = (result: OfficeAsyncResult<T>) => void;

export interface OfficeEmailAddressDetails {
  emailAddress: string;
  displayName?: string;
}

interface OfficeRecipients {
  getAsync(callback: Callback<OfficeEmailAddressDetails[]>): void;
}

export interface OfficeComposeItem {
  to?: OfficeRecipients;
  cc?: OfficeRecipients;
  bcc?: OfficeRecipients;
  subject?: {
    getAsync(callback: Callback<string>): void;
    setAsync(subject: string, callback: Callback<void>): void;
  };
  internetHeaders?: {
    getAsync(names: string[], callback: Callback<Record<string, string>>): void;
    setAsync(headers: Record<string, string>, callback: Callback<void>): void;
    removeAsync(names: string[], callback: Callback<void>): void;
  };
  addHandlerAsync?(eventType: string, handler: (event: unknown) => void, callback?: Callback<void>): void;
  removeHandlerAsync?(eventType: string, callback?: Callback<void>): void;
}

export interface OfficeGlobal {
  onReady(callback?: (info: { host: string | null; platform: string | null }) => void): Promise<{ host: string | null; platform: string | null }>;
  context: {
    displayLanguage?: string;
    requirements?: { isSetSupported(name: string, version?: string): boolean };
    mailbox?: {
      item?: OfficeComposeItem | null;
      userProfile?: { emailAddress?: string; displayName?: string };
    };
  };
  auth?: {
    getAccessToken(options: { allowSignInPrompt: boolean; allowConsentPrompt: boolean; forMSGraphAccess: boolean }): Promise<string>;
  };
  EventType?: Record<string, string>;
  AsyncResultStatus?: { Succeeded: string; Failed: string };
  HostType?: Record<string, string>;
}

export class OfficeCallError extends Error {
  constructor(
    readonly operation: string,
    readonly officeMessage: string,
    readonly code?: number,
  ) {
    super(`${operation}: ${officeMessage}`);
    this.name = 'OfficeCallError';
  }
}

/** office.js when the page loaded it, else undefined (opened in a plain browser, or the CDN was unreachable). */
export function office(): OfficeGlobal | undefined {
  return (globalThis as { Office?: OfficeGlobal }).Office;
}

/** Waits for office.js; resolves with the host's name, or null outside an Office host. */
export async function officeReady(timeoutMs = 10_000): Promise<string | null> {
  const o = office();
  if (!o || typeof o.onReady !== 'function') return null;
  const ready = o.onReady().then((info) => info?.host ?? null);
  const timeout = new Promise<null>((resolve) => setTimeout(() => resolve(null), timeoutMs));
  return Promise.race([ready, timeout]);
}

export function isOutlookHost(host: string | null): boolean {
  return host !== null && host.toLowerCase() === (office()?.HostType?.Outlook ?? 'Outlook').toLowerCase();
}

export function isSetSupported(name: string, version: string): boolean {
  try {
    return office()?.context.requirements?.isSetSupported(name, version) === true;
  } catch {
    return false;
  }
}

export function displayLanguage(): string {
  return office()?.context.displayLanguage ?? (typeof navigator !== 'undefined' ? navigator.language : 'en-US');
}

export function senderAddress(): string | undefined {
  return office()?.context.mailbox?.userProfile?.emailAddress || undefined;
}

export function composeItem(): OfficeComposeItem | undefined {
  return office()?.context.mailbox?.item ?? undefined;
}

function call<T>(operation: string, start: (callback: Callback<T>) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    try {
      start((result) => {
        if (result && String(result.status).toLowerCase() === 'succeeded') resolve(result.value);
        else reject(new OfficeCallError(operation, result?.error?.message ?? 'Outlook reported a failure', result?.error?.code));
      });
    } catch (error) {
      reject(new OfficeCallError(operation, error instanceof Error ? error.message : String(error)));
    }
  });
}

function requireItem(): OfficeComposeItem {
  const item = composeItem();
  if (!item) throw new OfficeCallError('mailbox.item', 'no message is being composed');
  return item;
}

export async function getInternetHeaders(names: readonly string[]): Promise<Record<string, string>> {
  const headers = requireItem().internetHeaders;
  if (!headers) throw new OfficeCallError('internetHeaders.getAsync', 'internet headers are not available');
  return (await call<Record<string, string> | undefined>('internetHeaders.getAsync', (cb) => headers.getAsync([...names], cb))) ?? {};
}

export async function setInternetHeaders(values: Record<string, string>): Promise<void> {
  const headers = requireItem().internetHeaders;
  if (!headers) throw new OfficeCallError('internetHeaders.setAsync', 'internet headers are not available');
  await call<void>('internetHeaders.setAsync', (cb) => headers.setAsync(values, cb));
}

export async function removeInternetHeaders(names: readonly string[]): Promise<void> {
  const headers = requireItem().internetHeaders;
  if (!headers) throw new OfficeCallError('internetHeaders.removeAsync', 'internet headers are not available');
  await call<void>('internetHeaders.removeAsync', (cb) => headers.removeAsync([...names], cb));
}

export async function getSubject(): Promise<string> {
  const subject = requireItem().subject;
  if (!subject) throw new OfficeCallError('subject.getAsync', 'the subject is not available');
  return (await call<string>('subject.getAsync', (cb) => subject.getAsync(cb))) ?? '';
}

export async function setSubject(value: string): Promise<void> {
  const subject = requireItem().subject;
  if (!subject) throw new OfficeCallError('subject.setAsync', 'the subject is not available');
  await call<void>('subject.setAsync', (cb) => subject.setAsync(value, cb));
}

/** To, Cc and Bcc together, lower-cased and without duplicates, in that order. */
export async function getAllRecipients(): Promise<string[]> {
  const item = requireItem();
  const fields = [item.to, item.cc, item.bcc].filter((f): f is OfficeRecipients => f !== undefined);
  const lists = await Promise.all(fields.map((field) => call<OfficeEmailAddressDetails[]>('recipients.getAsync', (cb) => field.getAsync(cb))));
  const seen = new Set<string>();
  for (const list of lists) {
    for (const recipient of list ?? []) {
      const address = recipient.emailAddress?.trim().toLowerCase();
      if (address) seen.add(address);
    }
  }
  return [...seen];
}

const RECIPIENTS_CHANGED = 'olkRecipientsChanged';

/** Calls `handler` whenever To, Cc or Bcc change (requirement set Mailbox 1.7); resolves with a remover. */
export async function onRecipientsChanged(handler: () => void): Promise<() => void> {
  const item = requireItem();
  const eventType = office()?.EventType?.RecipientsChanged ?? RECIPIENTS_CHANGED;
  if (!item.addHandlerAsync) throw new OfficeCallError('addHandlerAsync', 'events are not available');
  await call<void>('addHandlerAsync', (cb) => item.addHandlerAsync!(eventType, () => handler(), cb));
  return () => item.removeHandlerAsync?.(eventType, () => undefined);
}
