/** What tests read from portal mail (notifications, sign-in links, digests), and waiting for it to come. */
import assert from 'node:assert/strict';
import type { ReceivedMail } from './mail-peer.ts';

/** The message's text with quoted-printable soft breaks and `=3D` undone, so links read whole. */
function decodedText(mail: ReceivedMail): string {
  return mail.raw.toString('utf8').replace(/=\r\n/g, '').replace(/=3D/g, '=');
}

const OPEN_PATH = '/portal/open?token=';
/** What a magic link's query holds: the token and its brand and purpose parameters (&, or &amp; in HTML). */
const LINK_QUERY_CHARACTERS = new Set('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-&;=');

/** The full magic link (…/portal/open?token=…, with its brand and purpose parameters) a mail carries. */
export function magicLinkOf(mail: ReceivedMail): string {
  // Found by plain scanning: the mail is outside input to this helper's tests too.
  const startOf = (w: string) => w.lastIndexOf('http', w.indexOf(OPEN_PATH));
  const word = decodedText(mail)
    .split(/[\s"<>]/)
    .find((w) => w.includes(OPEN_PATH) && /^https?:\/\//.test(w.slice(Math.max(0, startOf(w)))));
  assert.ok(word, 'the mail carries a magic link');
  let end = word.indexOf(OPEN_PATH) + OPEN_PATH.length;
  while (end < word.length && LINK_QUERY_CHARACTERS.has(word[end]!)) end += 1;
  return word.slice(startOf(word), end);
}

/** The token of the magic link a mail carries. */
export function tokenOf(mail: ReceivedMail): string {
  const match = /\/portal\/open\?token=([A-Za-z0-9_-]+)/.exec(decodedText(mail));
  assert.ok(match, 'the mail carries a magic link');
  return match[1]!;
}

/** Polls `probe` every 100 ms until it answers something other than undefined. */
export async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
