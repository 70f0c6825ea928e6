/**
 * The draft of the try page's compose window, shared with the task pane in its frame. The page owns the
 * draft; the pane's Outlook host (office-host.ts, in the frame, same origin) reads and writes it through
 * `window.parent[TRY_DRAFT_GLOBAL]`, as Outlook's item API reads and writes a real draft.
 */
import {
  ADDIN_TRY_SIGN_IN_PATH,
  type AddinTrySignInResponse,
} from '../../../common/src/addin-api.ts';

export const TRY_DRAFT_GLOBAL = '__sealpostTryDraft';

export type RecipientField = 'to' | 'cc' | 'bcc';

/** What the try page's Outlook host needs from the compose window. */
export interface TryDraftHost {
  userProfile: { emailAddress: string; displayName: string };
  displayLanguage: string;
  recipients(field: RecipientField): string[];
  subject(): string;
  setSubject(value: string): void;
  headers(): Record<string, string>;
  setHeaders(values: Record<string, string>): void;
  removeHeaders(names: string[]): void;
  /** Calls the listener whenever To, Cc or Bcc change; returns the remover. */
  onRecipientsChanged(listener: () => void): () => void;
  /** A token from the evaluation sign-in for the draft's sender. */
  accessToken(fresh?: boolean): Promise<string>;
}

export interface DraftFields {
  to: string;
  cc: string;
  subject: string;
  body: string;
}

/** Addresses typed in a To or Cc field: separated by commas, semicolons or spaces, as Outlook accepts them. */
export function addressesIn(field: string): string[] {
  return field
    .split(/[,;\s]/)
    .map((part) => part.trim())
    .filter((part) => part.length > 0);
}

/** Seconds before its expiry a sign-in is renewed. */
const RENEW_MARGIN_MS = 120_000;

export class TryDraft implements TryDraftHost {
  fields: DraftFields;
  private internetHeaders: Record<string, string> = {};
  private readonly recipientListeners = new Set<() => void>();
  private readonly changeListeners = new Set<() => void>();
  private signIn: { token: string; expiresAt: number } | undefined;
  private version = 0;

  constructor(
    readonly userProfile: { emailAddress: string; displayName: string },
    readonly displayLanguage: string,
    initial: DraftFields,
  ) {
    this.fields = { ...initial };
  }

  // --- for the compose window (React: useSyncExternalStore) ---
  subscribe = (listener: () => void) => {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  };

  snapshot = () => this.version;

  update(changes: Partial<DraftFields>): void {
    const recipientsChanged = (changes.to !== undefined && changes.to !== this.fields.to) || (changes.cc !== undefined && changes.cc !== this.fields.cc);
    this.fields = { ...this.fields, ...changes };
    this.changed();
    if (recipientsChanged) for (const listener of this.recipientListeners) setTimeout(listener, 0);
  }

  /** After Send, the window starts a new draft, as Outlook opens a new one. */
  reset(initial: DraftFields): void {
    this.fields = { ...initial };
    this.internetHeaders = {};
    this.recipientListeners.clear();
    this.changed();
  }

  private changed(): void {
    this.version += 1;
    for (const listener of this.changeListeners) listener();
  }

  // --- for the task pane's Outlook host ---
  recipients(field: RecipientField): string[] {
    return field === 'bcc' ? [] : addressesIn(this.fields[field]);
  }

  subject(): string {
    return this.fields.subject;
  }

  setSubject(value: string): void {
    this.update({ subject: value });
  }

  headers(): Record<string, string> {
    return { ...this.internetHeaders };
  }

  setHeaders(values: Record<string, string>): void {
    for (const [name, value] of Object.entries(values)) {
      this.removeHeaders([name]);
      this.internetHeaders[name] = String(value);
    }
    this.changed();
  }

  removeHeaders(names: string[]): void {
    const wanted = new Set(names.map((n) => n.toLowerCase()));
    for (const existing of Object.keys(this.internetHeaders)) if (wanted.has(existing.toLowerCase())) delete this.internetHeaders[existing];
    this.changed();
  }

  onRecipientsChanged(listener: () => void): () => void {
    this.recipientListeners.add(listener);
    return () => this.recipientListeners.delete(listener);
  }

  async accessToken(fresh = false): Promise<string> {
    if (!fresh && this.signIn && this.signIn.expiresAt - RENEW_MARGIN_MS > Date.now()) return this.signIn.token;
    const response = await fetch(ADDIN_TRY_SIGN_IN_PATH, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ address: this.userProfile.emailAddress }),
    });
    if (!response.ok) {
      const problem = (await response.json().catch(() => ({}))) as { title?: string; detail?: string };
      throw new Error(problem.detail ?? problem.title ?? `HTTP ${response.status}`);
    }
    const answer = (await response.json()) as AddinTrySignInResponse;
    this.signIn = { token: answer.accessToken, expiresAt: Date.parse(answer.expiresAt) };
    return answer.accessToken;
  }
}
