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

const CONSOLE_NAME = /^(Administration|Verwaltung)$/;

/** The admin console's own navigation (console-nav.tsx), once a console page is shown. */
export const consoleNavigation = (page: Page) => page.getByRole('navigation', { name: CONSOLE_NAME });

/**
 * Opens a console page the way an admin does: *Administration* in the header (unless a console page is
 * already shown), then the page in the console's navigation, opening its menu first on a narrow screen.
 */
export async function openConsolePage(page: Page, name: string): Promise<void> {
  const nav = consoleNavigation(page);
  if ((await nav.count()) === 0) {
    await page.getByRole('banner').getByRole('link', { name: CONSOLE_NAME }).click();
    await nav.waitFor();
  }
  const toggle = nav.getByRole('button');
  if ((await toggle.isVisible()) && (await toggle.getAttribute('aria-expanded')) !== 'true') await toggle.click();
  await nav.getByRole('link', { name, exact: true }).click();
}

/** The names of the console pages this page's reader is offered (none for a reader without a console role). */
export async function consolePageNames(page: Page): Promise<string[]> {
  const entry = page.getByRole('banner').getByRole('link', { name: CONSOLE_NAME });
  if ((await entry.count()) === 0) return [];
  if ((await consoleNavigation(page).count()) === 0) {
    await entry.click();
    await consoleNavigation(page).waitFor();
  }
  return consoleNavigation(page).getByRole('link').allTextContents();
}
