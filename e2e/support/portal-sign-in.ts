/**
 * A member signed in to the portal in a fresh browser context, the way a member does it: the sign-in page
 * of the page asked for, a sign-in link mailed to the member's own address, the link opened.
 */
import type { Browser, BrowserContext, BrowserContextOptions, Page } from 'playwright-core';
import type { MailPeer } from '../../backend/test/support/mail-peer.ts';
import { tokenOf } from '../../backend/test/support/portal-mail.ts';

export interface PortalSignIn {
  browser: Browser;
  origin: string;
  /** Where the member's mail arrives (the tenant's mail server). */
  mailServer: MailPeer;
  /** Contexts opened here are added, for the test to close. */
  contexts: BrowserContext[];
}

export async function signedInPage(
  { browser, origin, mailServer, contexts }: PortalSignIn,
  address: string,
  path: string,
  options: { context?: BrowserContextOptions; timeoutMs?: number } = {},
): Promise<Page> {
  const context = await browser.newContext({ locale: 'en-GB', ...options.context });
  contexts.push(context);
  const page = await context.newPage();
  page.setDefaultTimeout(options.timeoutMs ?? 15_000);
  await page.goto(`${origin}${path}`);
  await page.getByLabel('Your work e-mail address').fill(address);
  const start = mailServer.received.length;
  await page.getByRole('button', { name: 'E-mail me a sign-in link' }).click();
  const mail = (await mailServer.waitForMessages(start + 1)).slice(start).find((m) => m.recipients.includes(address));
  if (!mail) throw new Error(`no sign-in link reached ${address}`);
  await page.goto(`${origin}/portal/open?token=${tokenOf(mail)}`);
  await page.getByRole('button', { name: 'Open message' }).click();
  await page.getByText(`Signed in as ${address}`).waitFor();
  return page;
}
