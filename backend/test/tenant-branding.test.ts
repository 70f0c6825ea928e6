/**
 * A tenant's branding: what the tenant file may say (a readable colour, a small PNG/JPEG/SVG logo, no
 * unknown keys), how the portal learns it without telling anyone which tenants exist, and how the
 * notification mails show it, escaped.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { simpleParser } from 'mailparser';
import { brandRamp, contrastWithWhite, parseHexColour } from '../../common/src/brand-colour.ts';
import { dateFormatters, dateLocale } from '../../common/src/dates.ts';
import { loadConfig } from '../src/config.ts';
import type { Gateway } from '../src/gateway.ts';
import { buildNotificationMail, buildSignInMail } from '../src/portal/notification-mail.ts';
import { MAX_LOGO_BYTES, brandingKey, decodeLogo } from '../src/tenants/branding.ts';
import { createTestDatabase, type TestDatabase } from './support/database.ts';
import { MailPeer } from './support/mail-peer.ts';
import { PortalBrowser as Browser } from './support/portal-browser.ts';
import { magicLinkOf } from './support/portal-mail.ts';
import { SmtpConversation } from './support/smtp-conversation.ts';
import { acmeTenant, startTestGateway } from './support/test-gateway.ts';

const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');
const SVG = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><script>alert(1)</script><rect width="10" height="10" fill="#7a1f5c"/></svg>';

function withTenantFile(branding: string, files: Record<string, string | Buffer> = {}): { folder: string; file: string } {
  const folder = mkdtempSync(join(tmpdir(), 'sealpost-branding-'));
  for (const [name, content] of Object.entries(files)) writeFileSync(join(folder, name), content);
  const file = join(folder, 'tenants.yaml');
  writeFileSync(file, `tenants:\n  - name: Acme\n    domains: [acme.test]\n    branding:\n${branding}`);
  return { folder, file };
}

function configError(branding: string, files: Record<string, string | Buffer> = {}): string {
  const { folder, file } = withTenantFile(branding, files);
  try {
    loadConfig({ SEALPOST_CONFIG: file });
  } catch (error) {
    return (error as Error).message;
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
  assert.fail('the tenant file was accepted');
}

function brandingOf(branding: string, files: Record<string, string | Buffer> = {}) {
  const { folder, file } = withTenantFile(branding, files);
  try {
    return loadConfig({ SEALPOST_CONFIG: file }).tenants![0]!.branding!;
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

describe('branding in the tenant file', () => {
  test('a brand colour white text is unreadable on is refused, naming a darker shade that works', () => {
    const message = configError('      colour: "#ffd700"\n');
    assert.match(message, /tenants\.0\.branding\.colour: #ffd700 is too light for white button text \(contrast 1\.\d:1, at least 4\.5:1 is needed\); a darker shade of it such as (#[0-9a-f]{6}) works/);
    const suggested = /such as (#[0-9a-f]{6})/.exec(message)![1]!;
    assert.ok(contrastWithWhite(parseHexColour(suggested)!) >= 4.5, `the suggested ${suggested} is readable`);
    assert.equal(brandingOf(`      colour: "${suggested}"\n`).colour, suggested, 'and the suggestion is accepted');
  });

  test('a colour that is no hex colour is refused; a readable one is kept in lower-case #rrggbb', () => {
    assert.match(configError('      colour: purple\n'), /branding\.colour: "purple" is not a hex colour such as #0f6cbd/);
    assert.equal(brandingOf('      colour: "#7A1F5C"\n').colour, '#7a1f5c');
    assert.equal(brandingOf('      colour: "#036"\n').colour, '#003366');
  });

  test('an unknown branding key is an error with the key it was probably meant to be', () => {
    assert.match(configError('      color: "#7a1f5c"\n'), /tenants\.0\.branding\.color: unknown key \(did you mean "colour"\?\)/);
    assert.match(configError('      logoo: logo.png\n'), /tenants\.0\.branding\.logoo: unknown key \(did you mean "logo"\?\)/);
  });

  test('a logo file next to the tenant file is read, checked and kept as a data: URL', () => {
    const branding = brandingOf('      name: Acme Legal\n      logo: logo.png\n', { 'logo.png': PNG });
    assert.equal(branding.name, 'Acme Legal');
    assert.equal(branding.logo, `data:image/png;base64,${PNG.toString('base64')}`);
    const svg = brandingOf('      logo: logo.svg\n', { 'logo.svg': SVG });
    assert.equal(decodeLogo(svg.logo!)?.contentType, 'image/svg+xml');
  });

  test('an oversized logo, a missing file, a file that is no image and a data: URL that lies are refused', () => {
    const big = Buffer.concat([PNG, Buffer.alloc(MAX_LOGO_BYTES)]);
    assert.match(configError('      logo: big.png\n', { 'big.png': big }), /branding\.logo: .*big\.png is 65 KiB; a logo may have at most 64 KiB/);
    assert.match(configError('      logo: missing.png\n'), /branding\.logo: cannot read .*missing\.png/);
    assert.match(configError('      logo: logo.gif\n', { 'logo.gif': 'GIF89a....' }), /branding\.logo: .*logo\.gif is not a PNG, JPEG or SVG image/);
    assert.match(configError(`      logo: "data:image/svg+xml;base64,${PNG.toString('base64')}"\n`), /the data: URL says image\/svg\+xml but holds image\/png/);
    assert.match(configError(`      logo: "data:image/png;base64,${'A'.repeat(100_000)}"\n`), /the data: URL holds more than 64 KiB/);
    assert.match(configError('      logo: "data:text/html,<script>alert(1)</script>"\n'), /a data: URL logo must be base64-encoded image\/png, image\/jpeg or image\/svg\+xml/);
  });
});

describe('the brand ramp and dates', () => {
  test("the ramp's shade 80 is the brand colour, darker below and lighter above", () => {
    const ramp = brandRamp(parseHexColour('#7a1f5c')!);
    assert.equal(ramp[80], '#7a1f5c');
    const light = (hex: string) => parseHexColour(hex)!.reduce((a, b) => a + b, 0);
    assert.ok(light(ramp[10]) < light(ramp[70]) && light(ramp[70]) < light(ramp[80]));
    assert.ok(light(ramp[90]) > light(ramp[80]) && light(ramp[160]) > light(ramp[150]));
  });

  test('dates are written 02.12.2026, 14:05 in German and in the reader’s English locale in English', () => {
    const when = new Date('2026-12-02T14:05:00Z');
    assert.equal(dateFormatters(dateLocale('de', ['en-US']), 'UTC').dateTime(when), '02.12.2026, 14:05');
    assert.equal(dateFormatters(dateLocale('en', ['de-DE', 'en-GB']), 'UTC').dateTime(when), '02/12/2026, 14:05');
    assert.match(dateFormatters(dateLocale('en', ['en-US']), 'UTC').dateTime(when), /^12\/02\/2026, 0?2:05\sPM$/);
    assert.equal(dateLocale('en', []), 'en-GB');
  });
});

describe('branding in the notification mails', () => {
  const base = {
    sender: { name: 'Alice Lawyer', address: 'alice@acme.test' },
    recipient: 'client@example.net',
    subject: 'Contract',
    link: 'https://portal.test/portal/open?token=abc&brand=xyz',
    expiresAt: new Date('2026-12-02T14:05:00Z'),
    hostname: 'gateway.test',
  };

  test("a notification shows the tenant's logo, name and colour, and its plain part names the tenant", async () => {
    const raw = (
      await buildNotificationMail({ ...base, language: 'de', branding: { name: 'Acme Legal', colour: '#7a1f5c', logo: { contentType: 'image/png', bytes: PNG } } })
    ).raw;
    const mail = await simpleParser(raw);
    const html = String(mail.html);
    const source = raw.toString('utf8').replace(/=\r\n/g, '').replace(/=3D/g, '=');
    assert.match(source, /<img src="cid:brand-logo@sealpost"/, 'the HTML part names the inline logo');
    assert.match(html, /<img src="data:image\/png;base64,/, 'which a mail program finds among the parts');
    assert.match(html, />Acme Legal<\/td>/);
    assert.match(html, /<a href="https:\/\/portal\.test\/portal\/open\?token=abc&amp;brand=xyz" style="display:inline-block;[^"]*background-color:#7a1f5c;color:#ffffff/);
    assert.match(html, /bis 02\.12\.2026, 14:05 UTC/, 'the date is written as in the portal');
    const logo = mail.attachments.find((a) => a.cid === 'brand-logo@sealpost');
    assert.ok(logo, 'the logo travels inline with the mail');
    assert.deepEqual(logo.content, PNG);
    assert.match(mail.text ?? '', /Sicher versendet von Acme Legal mit Sealpost\./);
  });

  test('a tenant name with markup is escaped in the HTML part and cannot inject anything', async () => {
    const branding = { name: 'Acme <script>alert(1)</script> "Legal"', colour: '#7a1f5c' };
    const mail = await simpleParser((await buildSignInMail({ language: 'en', to: 'alice@acme.test', link: base.link, expiresAt: base.expiresAt, hostname: 'gateway.test', from: 'no-reply@acme.test', branding })).raw);
    const html = String(mail.html);
    assert.doesNotMatch(html, /<script/i);
    assert.match(html, /Acme &lt;script&gt;alert\(1\)&lt;\/script&gt; &quot;Legal&quot;/);
    assert.match(mail.text ?? '', /Sent securely by Acme <script>alert\(1\)<\/script> "Legal" with Sealpost\./, 'plain text needs no escaping');
  });

  test("without branding the mail keeps Sealpost's look and carries no logo", async () => {
    const mail = await simpleParser((await buildNotificationMail({ ...base, language: 'en' })).raw);
    assert.match(String(mail.html), />Sealpost<\/td>/);
    assert.match(String(mail.html), /background-color:#0f6cbd/);
    assert.equal(mail.attachments.length, 0);
    assert.match(mail.text ?? '', /until 02\/12\/2026, 14:05 UTC/);
  });
});

describe('branding through the gateway', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let tenantMailServer: MailPeer;
  let relay: MailPeer;
  let folder: string;

  before(async () => {
    database = await createTestDatabase();
    tenantMailServer = await MailPeer.start();
    relay = await MailPeer.start();
    folder = mkdtempSync(join(tmpdir(), 'sealpost-branding-'));
    const logo = `data:image/svg+xml;base64,${Buffer.from(SVG).toString('base64')}`;
    gateway = await startTestGateway(database, [acmeTenant(tenantMailServer.port, { branding: { name: 'Acme Legal', colour: '#7a1f5c', logo } })], {
      SEALPOST_RELAY: `smtp://127.0.0.1:${relay.port}`,
    });
  });

  after(async () => {
    await gateway?.stop();
    await tenantMailServer?.close();
    await relay?.close();
    await database?.cleanup();
    rmSync(folder, { recursive: true, force: true });
  });

  test('an anonymous visitor asking for the session gets 200 signed-out, and the guarded routes still answer 401', async () => {
    const browser = new Browser(gateway.httpPort);
    const state = await browser.request('GET', '/api/portal/session/state');
    assert.equal(state.status, 200);
    assert.deepEqual(state.json(), { signedIn: false });
    assert.equal((await browser.request('GET', '/api/portal/session')).status, 401);
    assert.equal((await browser.request('GET', '/api/portal/threads')).status, 401);
  });

  test("the notification's link carries an opaque branding key; its page learns the look, an unknown key learns nothing", async () => {
    const smtp = await SmtpConversation.open(gateway.smtpPort, { localAddress: '127.0.0.1' });
    await smtp.command('EHLO exchange.acme.test');
    const raw = Buffer.from('From: alice@acme.test\r\nTo: client@example.net\r\nSubject: Contract\r\nX-Sealpost-Encrypt: portal\r\n\r\nPlease sign.\r\n');
    const result = await smtp.sendMessage('alice@acme.test', ['client@example.net'], raw);
    await smtp.quit();
    assert.equal(result.final?.code, 250);
    const [notification] = await relay.waitForMessages(1);
    const link = new URL(magicLinkOf(notification!));
    const key = link.searchParams.get('brand');
    const tenantId = gateway.directory.allTenants()[0]!.id;
    assert.equal(key, brandingKey(tenantId));
    assert.ok(!link.href.includes(tenantId), 'the link does not carry the tenant id');

    const browser = new Browser(gateway.httpPort);
    const branding = await browser.request('GET', `/api/portal/branding/${key}`);
    assert.equal(branding.status, 200);
    assert.deepEqual(branding.json(), { name: 'Acme Legal', colour: '#7a1f5c', logoUrl: `/api/portal/branding/${key}/logo` });
    const unknown = await browser.request('GET', '/api/portal/branding/AAAAAAAAAAAAAAAAAAAAAA');
    assert.equal(unknown.status, 200);
    assert.deepEqual(unknown.json(), {}, 'an unknown key answers like a tenant without branding');

    const parsed = await simpleParser(notification!.raw);
    assert.match(String(parsed.html), />Acme Legal<\/td>/);
    assert.ok(parsed.attachments.some((a) => a.cid === 'brand-logo@sealpost' && a.contentType === 'image/svg+xml'));
  });

  test('an SVG logo is served under a policy that lets it run no script', async () => {
    const key = brandingKey(gateway.directory.allTenants()[0]!.id);
    const logo = await new Browser(gateway.httpPort).request('GET', `/api/portal/branding/${key}/logo`);
    assert.equal(logo.status, 200);
    assert.equal(logo.headers['content-type'], 'image/svg+xml');
    assert.match(String(logo.headers['content-security-policy']), /default-src 'none';.*sandbox/);
    assert.equal(logo.headers['x-content-type-options'], 'nosniff');
    assert.equal(logo.body.toString('utf8'), SVG);
    assert.equal((await new Browser(gateway.httpPort).request('GET', '/api/portal/branding/nope/logo')).status, 404);
  });
});
