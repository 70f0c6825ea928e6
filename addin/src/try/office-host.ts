/**
 * The try page's Outlook: the part of office.js the task pane uses (addin/src/shared/office.ts), served in
 * place of Microsoft's office.js in the pane's frame. Every call reads or writes the draft of the compose
 * window around the frame (draft.ts); sign-in is the demo's evaluation sign-in. Outside that window (the
 * frame opened on its own) there is no mailbox, and the pane says to open it in Outlook.
 */
import { TRY_DRAFT_GLOBAL, type RecipientField, type TryDraftHost } from './draft.ts';

type Callback = (result: { status: 'succeeded' | 'failed'; value: unknown; error?: { name: string; message: string; code: number } }) => void;

const RECIPIENTS_CHANGED = 'olkRecipientsChanged';
/** The requirement sets of a current Outlook on the web; no NestedAppAuth: the evaluation sign-in stands in. */
const REQUIREMENT_SETS: Record<string, string> = { mailbox: '1.13', identityapi: '1.3' };

function draftHost(): TryDraftHost | undefined {
  try {
    const parent = window.parent as unknown as Record<string, TryDraftHost | undefined>;
    return parent !== (window as unknown) ? parent[TRY_DRAFT_GLOBAL] : undefined;
  } catch {
    return undefined; // a parent of another origin: not the try page
  }
}

/** Office's calling convention: the callback comes last and is called asynchronously. */
function answer(args: IArguments | unknown[], work: () => unknown): void {
  const list = Array.from(args);
  const callback = [...list].reverse().find((a): a is Callback => typeof a === 'function');
  let result: Parameters<Callback>[0];
  try {
    result = { status: 'succeeded', value: work() };
  } catch (error) {
    result = { status: 'failed', value: undefined, error: { name: 'GenericResponseError', message: error instanceof Error ? error.message : String(error), code: 9020 } };
  }
  if (callback) setTimeout(() => callback(result), 0);
}

function compareVersions(a: string, b: string): number {
  const x = a.split('.');
  const y = b.split('.');
  for (let i = 0; i < Math.max(x.length, y.length); i += 1) {
    const d = (Number(x[i]) || 0) - (Number(y[i]) || 0);
    if (d !== 0) return d;
  }
  return 0;
}

function isSetSupported(name: string, version?: string): boolean {
  const supported = REQUIREMENT_SETS[name.toLowerCase()];
  return supported !== undefined && (version === undefined || compareVersions(supported, version) >= 0);
}

function recipientsField(draft: TryDraftHost, field: RecipientField) {
  return {
    getAsync(...args: unknown[]) {
      answer(args, () => draft.recipients(field).map((address) => ({ emailAddress: address, displayName: address, recipientType: 'other' })));
    },
  };
}

function composeItem(draft: TryDraftHost) {
  const removers = new Map<string, () => void>();
  return {
    itemType: 'message',
    to: recipientsField(draft, 'to'),
    cc: recipientsField(draft, 'cc'),
    bcc: recipientsField(draft, 'bcc'),
    subject: {
      getAsync: (...args: unknown[]) => answer(args, () => draft.subject()),
      setAsync: (subject: string, ...args: unknown[]) => answer(args, () => draft.setSubject(String(subject))),
    },
    internetHeaders: {
      getAsync: (names: string[], ...args: unknown[]) =>
        answer(args, () => {
          const headers = draft.headers();
          const byLowerName = new Map(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
          const found: Record<string, string> = {};
          for (const name of names) {
            const value = byLowerName.get(name.toLowerCase());
            if (value !== undefined) found[name] = value;
          }
          return found;
        }),
      setAsync: (headers: Record<string, string>, ...args: unknown[]) => answer(args, () => draft.setHeaders(headers)),
      removeAsync: (names: string[], ...args: unknown[]) => answer(args, () => draft.removeHeaders(names)),
    },
    addHandlerAsync(eventType: string, handler: (event: unknown) => void, ...args: unknown[]) {
      answer(args, () => {
        if (eventType !== RECIPIENTS_CHANGED) throw new Error(`The try page does not raise ${eventType}.`);
        removers.get(eventType)?.();
        removers.set(eventType, draft.onRecipientsChanged(() => handler({ type: eventType, changedRecipientFields: { to: true, cc: true, bcc: false } })));
      });
    },
    removeHandlerAsync(eventType: string, ...args: unknown[]) {
      answer(args, () => {
        removers.get(eventType)?.();
        removers.delete(eventType);
      });
    },
  };
}

function install(): void {
  const draft = draftHost();
  const host = draft ? 'Outlook' : null;
  const ready = new Promise<{ host: string | null; platform: string | null }>((resolve) =>
    // Like office.js, ready comes after the page's own scripts had a chance to register.
    setTimeout(() => resolve({ host, platform: draft ? 'OfficeOnline' : null }), 0),
  );
  const Office = {
    AsyncResultStatus: { Succeeded: 'succeeded', Failed: 'failed' },
    EventType: { RecipientsChanged: RECIPIENTS_CHANGED },
    HostType: { Outlook: 'Outlook' },
    onReady(callback?: (info: { host: string | null; platform: string | null }) => void) {
      return ready.then((info) => {
        callback?.(info);
        return info;
      });
    },
    context: {
      displayLanguage: draft?.displayLanguage ?? navigator.language,
      requirements: { isSetSupported },
      mailbox: draft ? { item: composeItem(draft), userProfile: draft.userProfile } : undefined,
    },
    auth: {
      async getAccessToken() {
        if (!draft) throw { code: 13001, name: 'SSO', message: 'Open the try page to sign in.' };
        try {
          return await draft.accessToken(true);
        } catch (error) {
          throw { code: 13006, name: 'SSO', message: error instanceof Error ? error.message : String(error) };
        }
      },
    },
  };
  (globalThis as unknown as { Office: typeof Office }).Office = Office;
}

install();
