/**
 * Accessibility checks for the browser tests: axe with WCAG 2 A and AA rules on what the page shows.
 *
 * - Pages with a Content-Security-Policy refuse inline scripts, so axe is evaluated through the browser's
 *   debugging protocol, which the policy does not govern, rather than added as a script tag.
 * - Fluent's focus sentinels (Tabster's aria-hidden, focusable `data-tabster-dummy` elements that only pass
 *   focus on) are a known false positive of aria-hidden-focus and are left out.
 * - Frames are not checked: the portal's message frame holds the sender's HTML, not the product's.
 * - Fluent fades elements in and out; a check in the middle of a fade measures a colour that is never at
 *   rest on screen, so the check waits until no finite animation or transition is running.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import axe from 'axe-core';
import type { Page } from 'playwright-core';

export async function axeViolations(page: Page): Promise<string[]> {
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(`${axe.source}\n;undefined`);
  // Endless animations (a spinner) never settle and are not fades: only finite ones are waited for.
  await page.waitForFunction(
    () => document.getAnimations().every((a) => a.playState !== 'running' || a.effect?.getTiming().iterations === Infinity),
    undefined,
    { timeout: 10_000 },
  );
  return page.evaluate(async () => {
    const result = await (window as unknown as { axe: typeof axe }).axe.run(
      { exclude: [['[data-tabster-dummy]']] } as never,
      { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa'] }, iframes: false },
    );
    return result.violations.map((v) => `${v.id}: ${v.help} at ${v.nodes.map((n) => JSON.stringify(n.target)).join(', ')}`);
  });
}

export async function assertAccessible(page: Page, where: string): Promise<void> {
  assert.deepEqual(await axeViolations(page), [], `axe finds no violations on ${where}`);
}

/** Where the browser tests put their screenshots. */
export const SCREENSHOTS = join(import.meta.dirname, '..', '..', 'test-output', 'screenshots');

/** At 360 and 1280 px: nothing wider than the screen, axe clean, a screenshot named after the page. */
export async function checkWidths(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  for (const width of [360, 1280]) {
    await page.setViewportSize({ width, height: 780 });
    await page.waitForFunction(() => !document.querySelector('[role="progressbar"]'));
    const size = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
    assert.ok(size.scroll <= size.client, `${name} at ${width} px is ${size.scroll} px wide, wider than its ${size.client} px`);
    // The header stays one row on a wide screen and at most a few on a phone, whatever the role's pages.
    const header = await page.evaluate(() => document.querySelector('header')?.getBoundingClientRect().height ?? 0);
    assert.ok(header <= (width === 360 ? 150 : 64), `${name} at ${width} px: the header is ${header} px high`);
    const consoleNav = page.getByRole('navigation', { name: /^(Administration|Verwaltung)$/ });
    if ((await consoleNav.count()) > 0) {
      // On a phone the console's pages sit behind one button, beside the page on a wide screen.
      const toggle = consoleNav.getByRole('button');
      assert.equal(await toggle.isVisible(), width === 360, `${name} at ${width} px: the console menu button`);
      if (width === 360) assert.equal(await consoleNav.getByRole('link').first().isVisible(), (await toggle.getAttribute('aria-expanded')) === 'true');
      else assert.ok(await consoleNav.getByRole('link').first().isVisible(), `${name} at ${width} px: the console's pages are listed`);
    }
    await assertAccessible(page, `${name} at ${width} px`);
    await page.screenshot({ path: join(SCREENSHOTS, `${name}-${width}.png`), fullPage: true });
  }
}
