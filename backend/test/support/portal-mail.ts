/** What tests read from portal mail (notifications, sign-in links, digests), and waiting for it to come. */
import assert from 'node:assert/strict';
import type { ReceivedMail } from './mail-peer.ts';

/** The message's text with quoted-printable soft breaks and `=3D` undone, so links read whole. */
function decodedText(mail: ReceivedMail): string {
  return mail.raw.toString('utf8').replace(/=\r\n/g, '').replace(/=3D/g, '=');
}

/** The full magic link (…/portal/open?token=…, with its brand and purpose parameters) a mail carries. */
export function magicLinkOf(mail: ReceivedMail): string {
  const match = /https?:\/\/[^\s"<>]+\/portal\/open\?token=[A-Za-z0-9_-]+(?:&(?:amp;)?[a-z]+=[A-Za-z0-9_-]*)*/.exec(decodedText(mail));
  assert.ok(match, 'the mail carries a magic link');
  return match[0];
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
