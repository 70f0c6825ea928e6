/**
 * `npm run bench:addin`: the Outlook task pane's weight and speed.
 *
 * 1. Size. The JavaScript taskpane.html loads (office.js from Microsoft's CDN aside), gzipped, and
 *    separately each chunk loaded only on demand (MSAL, fetched only where Outlook has nested app auth).
 * 2. Time to interactive. Chromium opens the pane on the fake Outlook host against a real gateway; from
 *    navigation start to the Secure switch being enabled with the tenant's settings loaded (the pane's
 *    `sealpost-interactive` mark), p50 and p95 over --loads fresh loads.
 * 3. Preview. The server time (server-timing header) of POST /api/addin/preview for 50 recipients,
 *    p50 and p95 over --previews calls; the goal is under 100 ms.
 *
 * It builds nothing: run `npm run build` first. Options: --loads N (default 20), --previews N (default 100).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { launchChromium } from '../../e2e/support/chromium.ts';
import { ADDIN_DIST, startAddinGateway, useFakeOutlook } from '../../e2e/support/fake-outlook/setup.ts';
import { percentile as percentileOf } from './latency-probe.ts';

const { values } = parseArgs({ options: { loads: { type: 'string', default: '20' }, previews: { type: 'string', default: '100' } } });
const loadCount = Number(values.loads);
const previewCount = Number(values.previews);
for (const [name, value] of Object.entries({ loads: loadCount, previews: previewCount })) {
  if (!Number.isInteger(value) || value <= 0) {
    console.error(`--${name} must be a positive integer`);
    process.exit(2);
  }
}

const PREVIEW_GOAL_MS = 100;
const percentile = (list: number[], p: number) => percentileOf(list, p) ?? Number.NaN;
const round1 = (n: number) => Math.round(n * 10) / 10;
const kib = (bytes: number) => round1(bytes / 1024);

if (!existsSync(join(ADDIN_DIST, 'taskpane.html'))) {
  console.error('dist/addin is missing: run "npm run build" first (this benchmark measures what was built and builds nothing).');
  process.exit(1);
}

// --- 1. Size -----------------------------------------------------------------------------------------
// The built HTML is minified: attribute values may be quoted or not.
const scriptsOf = (html: string) =>
  [...html.matchAll(/<script\b[^>]*?\bsrc=(?:"([^"]+)"|'([^']+)'|([^\s>]+))/g)]
    .map((m) => (m[1] ?? m[2] ?? m[3])!)
    .filter((src) => !/^https?:/.test(src));
const localFile = (src: string) => join(ADDIN_DIST, src.replace(/^\/addin\//, '').replace(/^\.?\//, ''));
const pages = readdirSync(ADDIN_DIST).filter((f) => f.endsWith('.html'));
const referenced = new Set(pages.flatMap((p) => scriptsOf(readFileSync(join(ADDIN_DIST, p), 'utf8')).map(localFile)));
const paneScripts = scriptsOf(readFileSync(join(ADDIN_DIST, 'taskpane.html'), 'utf8')).map(localFile);
const sizeOf = (file: string) => {
  const bytes = readFileSync(file);
  return { file: file.slice(ADDIN_DIST.length + 1), raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
};
const initial = paneScripts.map(sizeOf);
const lazy = readdirSync(ADDIN_DIST)
  .filter((f) => f.endsWith('.js') && !referenced.has(join(ADDIN_DIST, f)))
  .map((f) => sizeOf(join(ADDIN_DIST, f)));
const initialGzip = initial.reduce((sum, s) => sum + s.gzip, 0);
const initialRaw = initial.reduce((sum, s) => sum + s.raw, 0);
console.log('Sealpost task pane benchmark');
console.log(`task pane JavaScript loaded by taskpane.html: ${kib(initialRaw)} KiB, ${kib(initialGzip)} KiB gzipped (${initial.map((s) => s.file).join(', ')})`);
for (const chunk of lazy) console.log(`lazily loaded chunk ${chunk.file}: ${kib(chunk.raw)} KiB, ${kib(chunk.gzip)} KiB gzipped`);

// --- 2. Time to interactive and 3. preview server time ----------------------------------------------
const env = await startAddinGateway();
const chromium = await launchChromium();
let summary: Record<string, unknown> = {};
try {
  const timesMs: number[] = [];
  for (let i = 0; i <= loadCount; i++) {
    // A fresh context each time: nothing cached, as when Outlook opens the pane for the first time.
    const context = await chromium.browser.newContext();
    const page = await context.newPage();
    await useFakeOutlook(page, { accessToken: env.aliceToken(), item: { subject: 'Bench', to: ['bob@acme.test', 'client@example.net'] } });
    await page.goto(env.taskpaneUrl);
    await page.waitForFunction(
      () => {
        const toggle = document.querySelector<HTMLInputElement>('input[role="switch"]');
        return toggle !== null && !toggle.disabled && performance.getEntriesByName('sealpost-interactive').length > 0;
      },
      undefined,
      { timeout: 30_000, polling: 'raf' },
    );
    const ms = await page.evaluate(() => performance.getEntriesByName('sealpost-interactive')[0]!.startTime);
    await context.close();
    if (i > 0) timesMs.push(ms); // the first load warms the gateway and is not counted
  }
  const tti = { p50: round1(percentile(timesMs, 50)), p95: round1(percentile(timesMs, 95)) };
  console.log(`time to interactive (navigation start to Secure switch enabled, settings loaded): p50 ${tti.p50} ms, p95 ${tti.p95} ms over ${timesMs.length} loads`);

  const recipients = Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? `colleague${i}@acme.test` : `client${i}@example${i % 7}.net`));
  const token = env.aliceToken();
  const serverMs: number[] = [];
  for (let i = 0; i < previewCount + 5; i++) {
    const response = await fetch(`${env.base}/api/addin/preview`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ mode: 'auto', recipients }),
    });
    const timing = /app;dur=([\d.]+)/.exec(response.headers.get('server-timing') ?? '');
    await response.arrayBuffer();
    if (response.status !== 200 || !timing) throw new Error(`preview answered ${response.status} without server timing`);
    if (i >= 5) serverMs.push(Number(timing[1]));
  }
  const preview = { p50: round1(percentile(serverMs, 50)), p95: round1(percentile(serverMs, 95)) };
  const met = preview.p95 < PREVIEW_GOAL_MS;
  console.log(
    `preview of 50 recipients, server time: p50 ${preview.p50} ms, p95 ${preview.p95} ms over ${serverMs.length} calls (goal < ${PREVIEW_GOAL_MS} ms: ${met ? 'met' : 'NOT met'})`,
  );

  summary = {
    taskpaneJs: { files: initial, rawKiB: kib(initialRaw), gzipKiB: kib(initialGzip) },
    lazyChunks: lazy.map((c) => ({ file: c.file, rawKiB: kib(c.raw), gzipKiB: kib(c.gzip) })),
    timeToInteractiveMs: { ...tti, loads: timesMs.length },
    previewServerMs: { ...preview, calls: serverMs.length, recipients: 50, goalMs: PREVIEW_GOAL_MS, met },
  };
} finally {
  await chromium.close();
  await env.stop();
}
console.log(JSON.stringify(summary));
