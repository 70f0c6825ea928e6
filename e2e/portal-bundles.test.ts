/**
 * What the browser downloads per portal page, in real Chromium against the real gateway: the open page
 * needs only its own scripts (no inbox, thread, sent or set-up code) and fetches the thread page's script
 * ahead while idle; pressing *Open message* shows the message without asking for the session a second
 * time, and the scripts are served compressed, cacheable for good, under the portal's script policy.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { request, type IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { brotliDecompressSync, gunzipSync, gzipSync } from 'node:zlib';
import type { Gateway } from '../backend/src/gateway.ts';
import { distFolder } from '../backend/src/http/static-pages.ts';
import { createTestDatabase, type TestDatabase } from '../backend/test/support/database.ts';
import { MailPeer } from '../backend/test/support/mail-peer.ts';
import { tokenOf, waitFor } from '../backend/test/support/portal-mail.ts';
import { SmtpConversation } from '../backend/test/support/smtp-conversation.ts';
import { acmeTenant, startBrowserGateway } from '../backend/test/support/test-gateway.ts';
import { requireBuiltPortal } from './support/built-portal.ts';
import { launchChromium, type LaunchedChromium } from './support/chromium.ts';

const RECIPIENT = 'client@example.net';
const MARKER = 'Clause 12: the delivery date is binding.';
/** The open page's scripts, gzipped, stay well below the single bundle every page used to load (157 KiB). */
const OPEN_PAGE_BUDGET_BYTES = 140 * 1024;
const portalDist = join(distFolder, 'portal');

/** The portal's script file names a page requested, in order. */
function scriptsOf(urls: string[]): string[] {
  return urls.map((url) => new URL(url).pathname).filter((path) => path.startsWith('/portal/') && path.endsWith('.js')).map((path) => path.slice('/portal/'.length));
}

const pageScript = (name: string) => new RegExp(`^${name}\\.[0-9a-f]+\\.js$`);

describe('the portal loads only what each page needs', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let tenantMailServer: MailPeer;
  let relay: MailPeer;
  let chromium: LaunchedChromium;
  let origin: string;
  let token: string;

  before(async () => {
    requireBuiltPortal();
    database = await createTestDatabase();
    tenantMailServer = await MailPeer.start();
    relay = await MailPeer.start();
    ({ gateway, origin } = await startBrowserGateway(database, [acmeTenant(tenantMailServer.port)], {
      SEALPOST_RELAY: `smtp://127.0.0.1:${relay.port}`,
    }));
    chromium = await launchChromium();
    const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress: '127.0.0.1' });
    await smtp.command('EHLO exchange.acme.test');
    const raw = [
      'From: Alice <alice@acme.test>',
      `To: ${RECIPIENT}`,
      'Subject: Delivery terms',
      'MIME-Version: 1.0',
      'X-Sealpost-Encrypt: portal',
      'Content-Type: text/html; charset=utf-8',
      '',
      `<p>${MARKER}</p>`,
      '',
    ].join('\r\n');
    const result = await smtp.sendMessage('alice@acme.test', [RECIPIENT], raw);
    await smtp.quit();
    assert.equal(result.final?.code, 250, `the gateway accepted the message: ${result.final?.text}`);
    const [notification] = await relay.waitForMessages(1);
    token = tokenOf(notification!);
  });

  after(async () => {
    await chromium?.close();
    await gateway?.stop();
    await tenantMailServer?.close();
    await relay?.close();
    await database?.cleanup();
  });

  test('the open page needs only its own scripts, and opening shows the message with the thread page fetched ahead', async () => {
    const context = await chromium.browser.newContext({ locale: 'en-GB' });
    try {
      const page = await context.newPage();
      page.setDefaultTimeout(15_000);
      const requested: string[] = [];
      const policyViolations: string[] = [];
      page.on('request', (request) => requested.push(request.url()));
      page.on('console', (message) => {
        if (/content security policy/i.test(message.text())) policyViolations.push(message.text());
      });

      await page.goto(`${origin}/portal/open?token=${token}`);
      const button = page.getByRole('button', { name: 'Open message' });
      await button.waitFor();
      // What the open page needs to show itself: the scripts its index page names, as served (the page's DOM
      // also holds the tags of scripts fetched ahead while the browser is idle, which the page does not need).
      const indexScripts = await page.evaluate(async () => {
        const served = new DOMParser().parseFromString(await (await fetch(window.location.href)).text(), 'text/html');
        return [...served.querySelectorAll('script[src]')].map((script) => new URL(script.getAttribute('src')!, window.location.href).href);
      });
      const openPageScripts = scriptsOf(indexScripts);
      const allScripts = readdirSync(portalDist).filter((file) => file.endsWith('.js'));
      assert.ok(openPageScripts.length > 0, 'the open page loads scripts');
      for (const name of ['inbox', 'thread', 'sent', 'setup', 'start']) {
        assert.ok(allScripts.some((file) => pageScript(name).test(file)), `the build has a script of its own for the ${name} page`);
        assert.ok(!openPageScripts.some((file) => pageScript(name).test(file)), `the open page does not need the ${name} page (${openPageScripts.join(', ')})`);
      }
      const gzipped = openPageScripts.reduce((sum, file) => sum + gzipSync(readFileSync(join(portalDist, file)), { level: 9 }).length, 0);
      const gzippedAll = allScripts.reduce((sum, file) => sum + gzipSync(readFileSync(join(portalDist, file)), { level: 9 }).length, 0);
      assert.ok(gzipped <= OPEN_PAGE_BUDGET_BYTES, `the open page's scripts are ${(gzipped / 1024).toFixed(1)} KiB gzipped`);
      assert.ok(gzipped < gzippedAll * 0.8, `the open page loads ${(gzipped / 1024).toFixed(1)} of ${(gzippedAll / 1024).toFixed(1)} KiB`);
      // While the reader looks at the button, the browser fetches the message page when it is idle.
      await waitFor('the thread page to be fetched ahead', () => (scriptsOf(requested).some((file) => pageScript('thread').test(file)) ? true : undefined));

      const beforeClick = requested.length;
      await button.click();
      await page.frameLocator('iframe[title="Message content"]').getByText(MARKER).waitFor();
      await page.getByRole('heading', { level: 1, name: 'Delivery terms' }).waitFor();
      // The reply form comes once the message is on screen.
      await page.getByLabel('Your reply').waitFor();
      const afterClick = requested.slice(beforeClick).map((url) => new URL(url).pathname);
      for (const name of ['inbox', 'sent', 'setup', 'start']) {
        assert.ok(!scriptsOf(requested).some((file) => pageScript(name).test(file)), `reading the message does not load the ${name} page`);
      }
      assert.ok(!afterClick.includes('/api/portal/session'), `the session comes with the opened link (${afterClick.join(', ')})`);
      // The thread and the message come with the opened link's answer: showing them takes no other request.
      assert.equal(afterClick.filter((path) => path === '/api/portal/links/open').length, 1, `the link is opened once (${afterClick.join(', ')})`);
      assert.equal(afterClick.filter((path) => /^\/api\/portal\/messages\/[^/]+$/.test(path)).length, 0, `the message is not asked for again (${afterClick.join(', ')})`);
      assert.equal(afterClick.filter((path) => /^\/api\/portal\/threads\/[^/]+$/.test(path)).length, 0, `the thread is not asked for again (${afterClick.join(', ')})`);
      assert.deepEqual(policyViolations, [], 'every script the page loads is allowed by the portal policy');
    } finally {
      await context.close();
    }
  });

  test('scripts are served precompressed and cacheable for good; the index page is asked for every time', async () => {
    const index = await fetch(`${origin}/portal/open?token=unused`);
    assert.equal(index.headers.get('cache-control'), 'no-cache');
    assert.match(index.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    const html = await index.text();
    assert.doesNotMatch(html, /<script(?![^>]*\ssrc=)[^>]*>/, 'the index page has no inline script');
    const [entry] = scriptsOf([...html.matchAll(/src="?([^"\s>]+\.js)/g)].map((m) => new URL(m[1]!, origin).toString()));
    assert.ok(entry, 'the index page names its scripts');
    const original = readFileSync(join(portalDist, entry));

    const decoders: Record<string, (bytes: Buffer) => Buffer> = { br: brotliDecompressSync, gzip: gunzipSync };
    for (const [encoding, decode] of Object.entries(decoders)) {
      const response = await rawGet(`${origin}/portal/${entry}`, encoding);
      assert.equal(response.status, 200);
      assert.equal(response.headers['content-encoding'], encoding);
      assert.match(response.headers['content-type'] ?? '', /javascript/);
      assert.equal(response.headers['cache-control'], 'public, max-age=31536000, immutable');
      assert.equal(response.headers.vary, 'accept-encoding');
      assert.ok(response.body.length < original.length / 2, `${encoding} is smaller than the script`);
      assert.deepEqual(decode(response.body), original, `the ${encoding} copy is the script`);
    }
    const plain = await rawGet(`${origin}/portal/${entry}`, 'identity');
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.deepEqual(plain.body, original, 'a client that accepts no compression gets the script as it is');
  });
});

/** GET with one accepted encoding; the body's bytes as sent (fetch() would decode them). */
function rawGet(url: string, encoding: string): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { 'accept-encoding': encoding } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }));
      response.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}
