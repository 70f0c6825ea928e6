/**
 * The add-in's function commands and launch event (commands.html in the browser runtime, commands.js alone
 * in classic Outlook on Windows, so no DOM here). OnMessageSend runs the send-time check; sendSecurely is
 * the "Send securely" action of the Smart Alerts dialog and of the ribbon.
 */
import { checkDraftBeforeSend, markForSecureSending, type ComposeItem, type SendCheckEnvironment } from './before-send.ts';
import { languageOf, type SendCheckCompletion } from './send-check.ts';
import { signIn, type AccessTokens } from '../shared/auth.ts';
import { ADDIN_ORIGIN_GLOBAL } from '../../../common/src/addin-api.ts';

/** As much of Office.js as this file touches; the page loads office.js before this bundle. */
interface OfficeGlobal {
  onReady(): Promise<unknown>;
  actions: { associate(name: string, handler: (event: CompletableEvent) => void): void };
  context: {
    displayLanguage?: string;
    mailbox: { item: ComposeItem };
    requirements: { isSetSupported(name: string, minVersion?: string): boolean };
  };
}
interface CompletableEvent {
  completed(options?: SendCheckCompletion): void;
}
declare const Office: OfficeGlobal;

/** Where the send-time check gets the signed-in sender's access token. */
export type TokenProvider = () => Promise<string | undefined>;

/** The sender is signed in as in the task pane; any failure means "not signed in", and the send goes ahead. */
let signedIn: Promise<AccessTokens> | undefined;
let tokenProvider: TokenProvider = async () => {
  const origin = environment().apiOrigin;
  if (!origin) return undefined;
  try {
    signedIn ??= signIn(origin);
    return await (await signedIn).token();
  } catch {
    signedIn = undefined;
    return undefined;
  }
};
export function provideSendCheckToken(provider: TokenProvider): void {
  tokenProvider = provider;
}

/** The gateway to ask: the page's origin, or, in classic Outlook's page-less runtime, the one it served. */
function apiOrigin(): string | undefined {
  const pageOrigin = (globalThis as { location?: { origin?: string } }).location?.origin;
  if (pageOrigin && /^https?:/.test(pageOrigin)) return pageOrigin;
  const served = (globalThis as Record<string, unknown>)[ADDIN_ORIGIN_GLOBAL];
  return typeof served === 'string' && /^https?:\/\/[^/]+$/.test(served) ? served : undefined;
}

function environment(): SendCheckEnvironment {
  return {
    apiOrigin: apiOrigin(),
    language: languageOf(Office.context.displayLanguage),
    isSetSupported: (minVersion) => Office.context.requirements.isSetSupported('Mailbox', minVersion),
  };
}

/** The send-time check for a compose item, with the environment of the running Outlook. */
export function checkBeforeSend(item: ComposeItem, getToken: TokenProvider): Promise<SendCheckCompletion> {
  return checkDraftBeforeSend(item, getToken, environment());
}

async function onMessageSendHandler(event: CompletableEvent): Promise<void> {
  let completion: SendCheckCompletion = { allowEvent: true };
  try {
    completion = await checkBeforeSend(Office.context.mailbox.item, tokenProvider);
  } finally {
    // Whatever happened, Outlook hears back: an unanswered check would hold the message.
    event.completed(completion);
  }
}

async function sendSecurely(event: CompletableEvent): Promise<void> {
  try {
    await markForSecureSending(Office.context.mailbox.item, languageOf(Office.context.displayLanguage));
  } finally {
    event.completed();
  }
}

if (typeof Office !== 'undefined') {
  // Classic Outlook on Windows finds handlers only through associate, and may run them before onReady.
  Office.actions.associate('onMessageSendHandler', (event) => void onMessageSendHandler(event));
  Office.actions.associate('sendSecurely', (event) => void sendSecurely(event));
  void Office.onReady();
}
