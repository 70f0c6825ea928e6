/**
 * Hostile content in the portal, in real Chromium against the real gateway: HTML bodies, subjects, sender
 * names and file names built to run script or reach the network must show as harmless text, remote
 * content loads nothing until the reader allows it, and one reader's browser cannot reach what belongs to
 * another recipient, another tenant or an administrator.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import type { Gateway } from '../backend/src/gateway.ts';
import { createTestDatabase, type TestDatabase } from '../backend/test/support/database.ts';
import { MailPeer } from '../backend/test/support/mail-peer.ts';
import { SmtpConversation } from '../backend/test/support/smtp-conversation.ts';
import { acmeTenant, globexTenant, startBrowserGateway } from '../backend/test/support/test-gateway.ts';
import { launchChromium, type LaunchedChromium } from './support/chromium.ts';
import {
  HOSTILE_FILE_ENCODED,
  HOSTILE_FILE_RAW,
  HOSTILE_FILE_RFC2231,
  HOSTILE_FROM_NAME_ENCODED,
  HOSTILE_FROM_NAME_RAW,
  HOSTILE_SUBJECT_ENCODED,
  HOSTILE_SUBJECT_RAW,
  SCRIPT_LINK_TEXTS,
  encodedWord,
  navigationPayloads,
  rfc2231,
  scriptPayloads,
} from './support/hostile-corpus.ts';
import { tokenOf } from '../backend/test/support/portal-mail.ts';
import { requireBuiltPortal } from './support/built-portal.ts';

const READER = 'client@example.net';
const OTHER_READER = 'other@example.net';
/** A 1×1 PNG, served by the beacon so that an allowed remote image really loads. */
const PIXEL = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');

/** A web server on loopback that records every request: the place hostile content would phone home to. */
interface Beacon {
  origin: string;
  hits: string[];
  close(): Promise<void>;
}

async function startBeacon(): Promise<Beacon> {
  const hits: string[] = [];
  const server: Server = createServer((request, response) => {
    hits.push(`${request.method} ${request.url}`);
    if (request.url?.endsWith('.png')) response.writeHead(200, { 'content-type': 'image/png', 'access-control-allow-origin': '*' }).end(PIXEL);
    else if (request.url?.endsWith('.css')) response.writeHead(200, { 'content-type': 'text/css' }).end('body{background:red}');
    else response.writeHead(200, { 'content-type': 'text/html', 'access-control-allow-origin': '*' }).end('<p>beacon</p>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Everything a reader's browser did that script or a leak would show: dialogs, errors, requests elsewhere, popups. */
interface BrowserWatch {
  dialogs: string[];
  pageErrors: string[];
  consoleErrors: string[];
  /** Requests the browser started for another server, including those its policies then refused. */
  foreignRequests: string[];
  /** Requests to another server that got an answer: what really left the browser. */
  foreignResponses: string[];
  popups: Page[];
}

function watchContext(context: BrowserContext, origin: string): BrowserWatch {
  const watch: BrowserWatch = { dialogs: [], pageErrors: [], consoleErrors: [], foreignRequests: [], foreignResponses: [], popups: [] };
  const watchPage = (page: Page) => {
    page.on('dialog', (dialog) => {
      watch.dialogs.push(`${dialog.type()}: ${dialog.message()}`);
      void dialog.dismiss().catch(() => undefined);
    });
    page.on('pageerror', (error) => watch.pageErrors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') watch.consoleErrors.push(message.text());
    });
  };
  context.on('page', (page) => {
    if (context.pages().length > 1) watch.popups.push(page);
    watchPage(page);
  });
  context.on('request', (request) => {
    const url = request.url();
    if (!url.startsWith(`${origin}/`) && !/^(data|about|blob):/.test(url)) watch.foreignRequests.push(url);
  });
  context.on('response', (response) => {
    const url = response.url();
    if (!url.startsWith(`${origin}/`) && !/^(data|about|blob):/.test(url)) watch.foreignResponses.push(url);
  });
  return watch;
}

/** Console errors in which the browser reports that it blocked something: proof of a defence, not of a payload. */
function isRefusal(text: string): boolean {
  return /violates the following Content Security Policy directive.*(has been blocked|The action has been blocked)|^Blocked (script execution|form submission|opening|autofocusing)|sandboxed/is.test(text);
}

interface RawMessage {
  from: string;
  to: string;
  subject: string;
  html: string;
  attachments?: Array<{ contentType: string; disposition: string; content: Buffer }>;
}

/** Builds the MIME text by hand, so that headers can be raw UTF-8 or encoded exactly as a hostile sender wants. */
function mimeMessage(message: RawMessage): Buffer {
  const lines = [
    `From: ${message.from}`,
    `To: ${message.to}`,
    `Subject: ${message.subject}`,
    `Date: ${new Date().toUTCString()}`,
    `Message-ID: <${Math.random().toString(36).slice(2)}@acme.test>`,
    'MIME-Version: 1.0',
    'X-Sealpost-Encrypt: portal',
    'Content-Type: multipart/mixed; boundary="outer-boundary"',
    '',
    '--outer-boundary',
    'Content-Type: multipart/alternative; boundary="inner-boundary"',
    '',
    '--inner-boundary',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'Please read the HTML version.',
    '--inner-boundary',
    'Content-Type: text/html; charset=utf-8',
    'Content-Transfer-Encoding: base64',
    '',
    ...(Buffer.from(message.html, 'utf8').toString('base64').match(/.{1,76}/g) ?? []),
    '--inner-boundary--',
  ];
  for (const attachment of message.attachments ?? []) {
    lines.push(
      '--outer-boundary',
      `Content-Type: ${attachment.contentType}`,
      `Content-Disposition: ${attachment.disposition}`,
      'Content-Transfer-Encoding: base64',
      '',
      attachment.content.toString('base64'),
    );
  }
  lines.push('--outer-boundary--', '');
  return Buffer.from(lines.join('\r\n'), 'utf8');
}

/** The message's frame document as the reader's browser has it: every element or attribute that could act. */
async function activeContentInFrame(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const frame = document.querySelector('iframe[title="Message content"]') as HTMLIFrameElement | null;
    const doc = frame?.contentDocument;
    if (!doc) return ['no message frame document'];
    const found: string[] = [];
    const activeTags = ['script', 'svg', 'math', 'iframe', 'frame', 'object', 'embed', 'form', 'link', 'video', 'audio', 'source', 'input', 'textarea', 'select', 'button', 'template', 'portal'];
    const urlAttributes = ['href', 'src', 'action', 'formaction', 'data', 'poster', 'background', 'srcset', 'xlink:href', 'ping'];
    for (const element of Array.from(doc.querySelectorAll('*'))) {
      const tag = element.tagName.toLowerCase();
      if (activeTags.includes(tag)) found.push(`<${tag}>`);
      const equiv = element.getAttribute('http-equiv');
      if (tag === 'meta' && equiv && equiv.toLowerCase() !== 'content-security-policy') found.push(`<meta http-equiv="${equiv}">`);
      if (tag === 'base' && element.hasAttribute('href')) found.push(`<base href="${element.getAttribute('href')}">`);
      for (const attribute of Array.from(element.attributes)) {
        if (/^on/i.test(attribute.name)) found.push(`<${tag} ${attribute.name}>`);
        if (!urlAttributes.includes(attribute.name.toLowerCase())) continue;
        // Browsers drop tabs, newlines and leading blanks from URLs, so look at what they would follow.
        const url = attribute.value.replace(/[\x00-\x20]/g, '');
        const harmless = /^(https?:|mailto:|tel:|\/api\/portal\/messages\/|data:image\/(png|gif|jpe?g|webp|bmp);base64,)/i.test(url) || !/^[a-z][a-z0-9+.-]*:/i.test(url);
        if (!harmless) found.push(`<${tag} ${attribute.name}="${attribute.value}">`);
      }
    }
    for (const element of Array.from(doc.querySelectorAll('style, [style]'))) {
      const css = element.tagName === 'STYLE' ? (element.textContent ?? '') : (element.getAttribute('style') ?? '');
      if (/expression\s*\(|javascript:|vbscript:|@import|behavior\s*:|-moz-binding|url\(\s*['"]?(?!\/api\/portal\/|data:image\/)/i.test(css)) found.push(`css: ${css}`);
    }
    return found;
  });
}

/** `__pwned` as seen in the page, in every frame Playwright knows and through each iframe's window. */
async function pwnedMarkers(page: Page): Promise<string[]> {
  const markers: string[] = [];
  for (const frame of page.frames()) {
    const value = await frame.evaluate(() => (window as unknown as { __pwned?: unknown }).__pwned);
    if (value !== undefined) markers.push(`${frame.url()}: ${String(value)}`);
  }
  const throughParent = await page.evaluate(() =>
    Array.from(document.querySelectorAll('iframe')).map((iframe) => (iframe.contentWindow as unknown as { __pwned?: unknown } | null)?.__pwned),
  );
  for (const value of throughParent) if (value !== undefined) markers.push(`iframe window: ${String(value)}`);
  return markers;
}

describe('hostile content in the portal', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let tenantMailServer: MailPeer;
  let globexMailServer: MailPeer;
  let relay: MailPeer;
  let beacon: Beacon;
  let chromium: LaunchedChromium;
  let origin: string;
  let reader: BrowserContext;
  let watch: BrowserWatch;
  let page: Page;

  /** Sends over SMTP from a tenant's connector address and returns the notification's link token. */
  async function sendPortalMessage(raw: Buffer, envelope: { from: string; to: string; localAddress?: string }): Promise<string> {
    const start = relay.received.length;
    const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress: envelope.localAddress ?? '127.0.0.1' });
    await smtp.command(`EHLO ${envelope.localAddress === '127.0.0.9' ? 'exchange.globex.test' : 'exchange.acme.test'}`);
    const result = await smtp.sendMessage(envelope.from, [envelope.to], raw);
    await smtp.quit();
    assert.equal(result.final?.code, 250, `the gateway accepted the message: ${result.final?.text}`);
    const [notification] = (await relay.waitForMessages(start + 1)).slice(start);
    assert.deepEqual(notification!.recipients, [envelope.to]);
    return tokenOf(notification!);
  }

  /** Opens a magic link in the given page and returns the thread and message ids it lands on. */
  async function openLink(target: Page, token: string): Promise<{ threadId: string; messageId: string }> {
    await target.goto(`${origin}/portal/open?token=${token}`);
    await target.getByRole('button', { name: 'Open message' }).click();
    await target.waitForURL(/\/portal\/threads\/[^/?]+\?message=/);
    const url = new URL(target.url());
    return { threadId: decodeURIComponent(url.pathname.split('/').at(-1)!), messageId: url.searchParams.get('message')! };
  }

  /** Waits until the page is quiet, then a second more for timers, refreshes and late loads. */
  async function settle(target: Page): Promise<void> {
    await target.waitForLoadState('networkidle');
    await target.waitForTimeout(1_000);
  }

  /**
   * Sanitised content must not even make the browser try another server; for content that only the
   * frame's policies hold back (`refusedAttemptsAllowed`), tries the browser refuses are allowed.
   */
  async function assertNothingRan(where: string, { refusedAttemptsAllowed = false } = {}): Promise<void> {
    assert.deepEqual(watch.dialogs, [], `no dialog opened ${where}`);
    assert.deepEqual(await pwnedMarkers(page), [], `no __pwned marker is set ${where}`);
    for (const popup of watch.popups) {
      assert.equal(await popup.evaluate(() => (window as unknown as { __pwned?: unknown }).__pwned).catch(() => undefined), undefined, `no marker in popup ${popup.url()}`);
    }
    assert.deepEqual(beacon.hits, [], `the beacon saw no request ${where}`);
    assert.deepEqual(watch.foreignResponses, [], `no other server answered the browser ${where}`);
    if (!refusedAttemptsAllowed) assert.deepEqual(watch.foreignRequests, [], `the browser did not even try another server ${where}`);
    assert.deepEqual(watch.pageErrors, [], `no script threw ${where}`);
    assert.deepEqual(
      watch.consoleErrors.filter((text) => /pwned|xss|remote\//i.test(text) && !isRefusal(text)),
      [],
      `no console error comes from a payload ${where}`,
    );
    assert.equal(await page.locator('[onerror], [onload], [onclick], [onfocus], [onmouseover]').count(), 0, `the portal page itself has no event handler attributes ${where}`);
  }

  before(async () => {
    requireBuiltPortal();
    database = await createTestDatabase();
    tenantMailServer = await MailPeer.start();
    globexMailServer = await MailPeer.start();
    relay = await MailPeer.start();
    beacon = await startBeacon();
    ({ gateway, origin } = await startBrowserGateway(database, [acmeTenant(tenantMailServer.port), globexTenant(globexMailServer.port)], {
      SEALPOST_RELAY: `smtp://127.0.0.1:${relay.port}`,
    }));
    chromium = await launchChromium();
    reader = await chromium.browser.newContext({ locale: 'en-GB' });
    watch = watchContext(reader, origin);
    page = await reader.newPage();
    page.setDefaultTimeout(10_000);
  });

  after(async () => {
    await chromium?.close();
    await gateway?.stop();
    await tenantMailServer?.close();
    await globexMailServer?.close();
    await relay?.close();
    await beacon?.close();
    await database?.cleanup();
  });

  test('script, event handler, SVG, MathML and mXSS payloads run nothing and reach nothing, and an encoded subject, sender name and file names show as text', async () => {
    const payloads = scriptPayloads(beacon.origin);
    const token = await sendPortalMessage(
      mimeMessage({
        from: `${encodedWord(HOSTILE_FROM_NAME_ENCODED)} <alice@acme.test>`,
        to: READER,
        subject: encodedWord(HOSTILE_SUBJECT_ENCODED),
        html: `<p>Quarterly figures attached.</p>${payloads.map((p) => `<div>${p.html}</div>`).join('\n')}<p>End of the figures.</p>`,
        attachments: [
          {
            contentType: `text/plain; name="${encodedWord(HOSTILE_FILE_ENCODED)}"`,
            disposition: `attachment; filename="${encodedWord(HOSTILE_FILE_ENCODED)}"`,
            content: Buffer.from('figures'),
          },
          {
            contentType: 'application/pdf',
            disposition: `attachment; filename*=UTF-8''${rfc2231(HOSTILE_FILE_RFC2231)}`,
            content: Buffer.from('%PDF-1.4 offer'),
          },
        ],
      }),
      { from: 'alice@acme.test', to: READER },
    );
    await openLink(page, token);
    const frame = page.frameLocator('iframe[title="Message content"]');
    await frame.getByText('End of the figures.').waitFor();
    await settle(page);

    // The subject is the conversation's title, shown once (the message under it is named by its sender).
    assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), HOSTILE_SUBJECT_ENCODED, 'the subject shows literally');
    assert.equal(await page.locator('dd').first().innerText(), `${HOSTILE_FROM_NAME_ENCODED} <alice@acme.test>`, 'the sender name shows literally');
    await page.getByRole('link', { name: HOSTILE_FILE_ENCODED, exact: true }).waitFor();
    await page.getByRole('link', { name: HOSTILE_FILE_RFC2231, exact: true }).waitFor();
    assert.equal(await page.locator('iframe').count(), 1, 'only the message frame is on the page');
    assert.deepEqual(await activeContentInFrame(page), [], 'nothing that could act reached the message frame');

    await frame.getByRole('link', { name: 'Harmless looking link' }).hover();
    await page.waitForTimeout(300);
    await assertNothingRan('after reading the message');
  });

  test('style, frame, plugin, javascript:, data:, form, refresh and base payloads run nothing and reach nothing, also when clicked, and raw UTF-8 headers show as text', async () => {
    const payloads = navigationPayloads(beacon.origin);
    const token = await sendPortalMessage(
      mimeMessage({
        from: `"${HOSTILE_FROM_NAME_RAW}" <alice@acme.test>`,
        to: READER,
        subject: HOSTILE_SUBJECT_RAW,
        html: `<p>The report follows.</p>${payloads.map((p) => `<div>${p.html}</div>`).join('\n')}<p>End of the report.</p>`,
        attachments: [
          {
            contentType: 'text/plain; charset=utf-8',
            disposition: `attachment; filename="${HOSTILE_FILE_RAW}"`,
            content: Buffer.from('report'),
          },
        ],
      }),
      { from: 'alice@acme.test', to: READER },
    );
    await openLink(page, token);
    const frame = page.frameLocator('iframe[title="Message content"]');
    await frame.getByText('End of the report.').waitFor();
    await settle(page);

    // The subject is the conversation's title, shown once (the message under it is named by its sender).
    assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), HOSTILE_SUBJECT_RAW, 'the subject shows literally');
    assert.equal(await page.locator('dd').first().innerText(), `${HOSTILE_FROM_NAME_RAW} <alice@acme.test>`, 'the sender name shows literally');
    await page.getByRole('link', { name: HOSTILE_FILE_RAW, exact: true }).waitFor();
    assert.equal(await page.locator('iframe').count(), 1, 'only the message frame is on the page');
    assert.deepEqual(await activeContentInFrame(page), [], 'nothing that could act reached the message frame');
    await assertNothingRan('after reading the message');

    let clicked = 0;
    for (const text of SCRIPT_LINK_TEXTS) {
      const link = frame.getByText(text, { exact: true });
      if ((await link.count()) === 0) continue;
      await link.click();
      clicked += 1;
    }
    assert.ok(clicked >= 5, `the script links' texts are shown and were clicked (${clicked})`);
    await settle(page);
    assert.match(page.url(), /\/portal\/threads\//, 'the portal page did not navigate away');
    await assertNothingRan('after clicking the script links');
  });

  test('remote images, styles, srcset, posters and imports load nothing until the reader allows remote images, and then the image loads', async () => {
    beacon.hits.length = 0;
    const remote = beacon.origin;
    const token = await sendPortalMessage(
      mimeMessage({
        from: 'Newsletter <alice@acme.test>',
        to: READER,
        subject: 'Monthly newsletter',
        html: [
          '<p>Our newsletter.</p>',
          `<img src="${remote}/remote/img.png" alt="Tracking pixel" width="1" height="1">`,
          `<div style="background:url(${remote}/remote/inline-bg.png)">inline background</div>`,
          `<link rel="stylesheet" href="${remote}/remote/link.css">`,
          `<img srcset="${remote}/remote/srcset.png 1x, ${remote}/remote/srcset2.png 2x" alt="srcset image">`,
          `<video poster="${remote}/remote/poster.png"></video>`,
          `<img src=" HTTP://${remote.slice('http://'.length)}/remote/upper.png" alt="Upper-case scheme">`,
          `<div style="background:url(${remote}/remote/unclosed.png">unclosed url</div>`,
          `<p><a href="${remote}/remote/link-target" ping="${remote}/remote/ping">A link, not followed</a></p>`,
          `<table background="${remote}/remote/table.png"><tr><td>cell</td></tr></table>`,
          `<style>@import url("${remote}/remote/import.css");.news{background:url('${remote}/remote/style-bg.png')}</style>`,
          '<p class="news">End of the newsletter.</p>',
        ].join('\n'),
      }),
      { from: 'alice@acme.test', to: READER },
    );
    await openLink(page, token);
    await page.frameLocator('iframe[title="Message content"]').getByText('End of the newsletter.').waitFor();
    await settle(page);
    assert.deepEqual([...beacon.hits], [], 'no remote request before the reader allowed it');
    assert.deepEqual([...watch.foreignRequests], []);
    await page.getByText('Remote images were blocked to protect your privacy.').waitFor();

    await page.getByRole('button', { name: 'Show remote images' }).click();
    await page.waitForURL(/remote=allow/);
    const image = page.frameLocator('iframe[title="Message content"]').getByRole('img', { name: 'Tracking pixel' });
    await image.waitFor();
    await settle(page);
    assert.ok(beacon.hits.includes('GET /remote/img.png'), `the allowed image was requested (beacon saw: ${beacon.hits.join(', ')})`);
    assert.equal(await image.evaluate((img: HTMLImageElement) => img.naturalWidth), 1, 'the allowed image loaded');
    const neverAllowed = beacon.hits.filter((hit) => /link\.css|import\.css|srcset|poster|ping|link-target/.test(hit));
    assert.deepEqual(neverAllowed, [], 'style sheets, srcset and posters stay blocked even with remote images allowed');
    beacon.hits.length = 0;
    watch.foreignRequests.length = 0;
    watch.foreignResponses.length = 0;
  });

  test('if the sanitiser ever let a payload through, the message frame still runs no script and loads nothing, even when its links are clicked', async (t) => {
    const raw = [...scriptPayloads(beacon.origin), ...navigationPayloads(beacon.origin)];
    const token = await sendPortalMessage(
      mimeMessage({ from: 'Alice <alice@acme.test>', to: READER, subject: 'Frame defence check', html: '<p>Placeholder.</p>' }),
      { from: 'alice@acme.test', to: READER },
    );
    // The portal's answer is replaced by the unsanitised corpus: only the frame's own defences remain. The
    // message comes with the opened link's answer, and from its own address when the page asks again.
    const corpus = `<p>Unsanitised corpus.</p>${raw.map((p) => `<div>${p.html}</div>`).join('\n')}<p>End of the corpus.</p>`;
    const messageApi = /\/api\/portal\/(messages\/[^/?]+(\?.*)?|links\/open)$/;
    await page.route(messageApi, async (route) => {
      const response = await route.fetch();
      const answer = (await response.json()) as { html?: string; message?: { html?: string } };
      if (route.request().url().endsWith('/links/open')) {
        if (answer.message) answer.message.html = corpus;
      } else answer.html = corpus;
      await route.fulfill({ response, json: answer });
    });
    try {
      await openLink(page, token);
      const frame = page.frameLocator('iframe[title="Message content"]');
      await frame.getByText('End of the corpus.').waitFor();
      await settle(page);
      assert.match((await frame.getByText('Script link plain').getAttribute('href')) ?? '', /^javascript:/, 'the unsanitised script link really points at script');
      assert.doesNotMatch((await page.locator('iframe[title="Message content"]').getAttribute('sandbox')) ?? '', /allow-scripts/);
      await assertNothingRan('with the unsanitised corpus in the frame', { refusedAttemptsAllowed: true });
      t.diagnostic(`requests the frame's policy refused: ${watch.foreignRequests.length}`);

      let clicked = 0;
      for (const text of SCRIPT_LINK_TEXTS) {
        const link = frame.getByText(text, { exact: true });
        if ((await link.count()) === 0) continue;
        await link.click();
        clicked += 1;
      }
      assert.equal(clicked, SCRIPT_LINK_TEXTS.length, 'every unsanitised script link was shown and clicked');
      await settle(page);
      await assertNothingRan('after clicking the unsanitised script links', { refusedAttemptsAllowed: true });
      t.diagnostic(`popups opened by the clicks: ${watch.popups.map((popup) => popup.url()).join(', ') || 'none'}`);
      t.diagnostic(`console errors (the browser refusing): ${watch.consoleErrors.length}`);
    } finally {
      await page.unroute(messageApi);
      watch.foreignRequests.length = 0;
      watch.consoleErrors.length = 0;
      for (const popup of watch.popups.splice(0)) await popup.close().catch(() => undefined);
    }
  });

  test("a reader's browser cannot reach another recipient's message, another tenant's message or an admin route", async () => {
    const otherToken = await sendPortalMessage(
      mimeMessage({ from: 'Alice <alice@acme.test>', to: OTHER_READER, subject: 'For the other reader only', html: '<p>Other reader secret 4711.</p>' }),
      { from: 'alice@acme.test', to: OTHER_READER },
    );
    const globexToken = await sendPortalMessage(
      mimeMessage({ from: 'Gina <gina@globex.test>', to: READER, subject: 'Globex merger plans', html: '<p>Globex secret 0815.</p>' }),
      { from: 'gina@globex.test', to: READER, localAddress: '127.0.0.9' },
    );
    const otherContext = await chromium.browser.newContext({ locale: 'en-GB' });
    const globexContext = await chromium.browser.newContext({ locale: 'en-GB' });
    try {
      const otherPage = await otherContext.newPage();
      otherPage.setDefaultTimeout(10_000);
      const other = await openLink(otherPage, otherToken);
      await otherPage.frameLocator('iframe[title="Message content"]').getByText('Other reader secret 4711.').waitFor();
      const globexPage = await globexContext.newPage();
      globexPage.setDefaultTimeout(10_000);
      const globex = await openLink(globexPage, globexToken);
      await globexPage.frameLocator('iframe[title="Message content"]').getByText('Globex secret 0815.').waitFor();

      for (const [who, target] of [
        ['another recipient', other],
        ['another tenant', globex],
      ] as const) {
        await page.goto(`${origin}/portal/threads/${encodeURIComponent(target.threadId)}?message=${encodeURIComponent(target.messageId)}`);
        await page.getByText('There is nothing here for you, or it was deleted.').waitFor();
        assert.equal(await page.locator('iframe').count(), 0, `no message frame for ${who}'s thread`);
        assert.equal(await page.getByText(/For the other reader only|Globex merger plans|4711|0815/).count(), 0, `nothing of ${who}'s message shows`);

        const answers = await page.evaluate(
          async (paths) =>
            Promise.all(
              paths.map(async (path) => {
                const response = await fetch(path);
                return { path, status: response.status, body: await response.text() };
              }),
            ),
          [
            `/api/portal/messages/${encodeURIComponent(target.messageId)}`,
            `/api/portal/messages/${encodeURIComponent(target.messageId)}?remote=allow`,
            `/api/portal/threads/${encodeURIComponent(target.threadId)}`,
            `/api/portal/messages/${encodeURIComponent(target.messageId)}/attachments/0`,
          ],
        );
        for (const answer of answers) {
          assert.ok([403, 404].includes(answer.status), `${answer.path} for ${who} answers ${answer.status}`);
          assert.doesNotMatch(answer.body, /For the other reader only|Globex merger plans|4711|0815/, `${answer.path} leaks nothing of ${who}'s message`);
        }
      }

      const inbox = await page.evaluate(async () => (await fetch('/api/portal/threads')).json());
      assert.doesNotMatch(JSON.stringify(inbox), /For the other reader only|Globex merger plans/, "the reader's inbox lists neither message");
      assert.match(JSON.stringify(inbox), /Monthly newsletter/, "the reader's inbox does list the reader's own messages");

      const admin = await page.evaluate(async () => {
        const response = await fetch('/api/portal/admin/audit');
        return { status: response.status, body: await response.text() };
      });
      assert.equal(admin.status, 403, 'a reader gets no audit log');
      assert.match(admin.body, /urn:sealpost:problem:forbidden/);
      assert.doesNotMatch(admin.body, /entries/);
    } finally {
      await otherContext.close();
      await globexContext.close();
    }
  });

  test('the same payloads, loaded unsanitised into a plain page of this browser, do run: the checks above can fail', async (t) => {
    const context = await chromium.browser.newContext({ locale: 'en-GB' });
    const control = watchContext(context, origin);
    try {
      const plain = await context.newPage();
      plain.setDefaultTimeout(10_000);
      beacon.hits.length = 0;
      const payloads = [...scriptPayloads(beacon.origin), ...navigationPayloads(beacon.origin)];
      await plain.setContent(`<!doctype html><html><body>${payloads.map((p) => `<div>${p.html}</div>`).join('\n')}</body></html>`);
      await plain.waitForTimeout(1_500);
      const fired = new Set([
        ...beacon.hits.map((hit) => /\/xss\/([\w-]+)/.exec(hit)?.[1]),
        ...control.dialogs.map((dialog) => /^alert: ([\w-]+)$/.exec(dialog)?.[1]),
      ]);
      fired.delete(undefined);
      for (const name of ['script', 'img-onerror', 'svg-onload', 'svg-script', 'details-ontoggle', 'iframe-srcdoc']) {
        assert.ok(fired.has(name), `the ${name} payload runs when nothing stops it (fired: ${[...fired].join(', ')})`);
      }
      t.diagnostic(`payloads that ran in the plain page: ${[...fired].sort().join(', ')}`);
      assert.ok(beacon.hits.some((hit) => hit.includes('/xss/link.css') || hit.includes('/xss/import.css')), 'unsanitised style sheets reach the beacon');
    } finally {
      await context.close();
      beacon.hits.length = 0;
    }
  });
});
