/**
 * Link protection on real messages: links found in text, in <a>, <area>, forms, srcset and CSS url(); each
 * kind of risky link a symbol with a reason (script schemes, user information hiding the host, IP
 * addresses, shorteners, look-alikes of the tenant's and partners' domains, mixed scripts, link text
 * showing another domain, tracking parameters); ordinary links and the tenant's own pass; hostile input
 * answers at once.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { simpleParser } from 'mailparser';
import { createLinkProtectionCheck, linkProtectionCheck } from '../src/guard/checks/link-protection.ts';
import { createLinkFollower, isPublicAddress } from '../src/guard/link-follower.ts';
import type { GuardFinding, GuardTenant } from '../src/guard/contract.ts';
import { linksInCss, linksInHtml, linksInText } from '../src/guard/links.ts';
import { resolveGuardPolicy } from '../src/guard/policy.ts';
import { createGuardRunner } from '../src/guard/runner.ts';
import type { PolicySettings } from '../src/guard-policy-settings.ts';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import QRCode from 'qrcode';
import { imageSize, MAX_PIXELS, qrCodeIn } from '../src/guard/qr-codes.ts';
import { crlf, guardInput, headers } from './support/crafted-mail.ts';
import { messageWith } from './support/attachment-files.ts';

const tenant: GuardTenant = { id: 't1', name: 'Acme', domains: ['acme.test'], members: [{ email: 'anna@acme.test', name: 'Anna' }] };

function html(body: string): string {
  return crlf(`${headers({ From: 'News <news@sender.example>', To: 'anna@acme.test', Subject: 'Links', 'MIME-Version': '1.0', 'Content-Type': 'text/html; charset=utf-8' })}\n<html><body>${body}</body></html>\n`);
}
function text(body: string): string {
  return crlf(`${headers({ From: 'News <news@sender.example>', To: 'anna@acme.test', Subject: 'Links', 'Content-Type': 'text/plain; charset=utf-8' })}\n${body}\n`);
}
async function findings(raw: string, settings: PolicySettings = {}): Promise<GuardFinding[]> {
  const policy = resolveGuardPolicy(settings);
  const verdict = await createGuardRunner({ checks: [linkProtectionCheck], policyFor: () => policy })(guardInput(raw, { tenant }));
  return verdict.findings;
}
const bySymbol = (list: GuardFinding[]) => new Map(list.map((f) => [f.symbol, f]));

describe('links are found', () => {
  test('in text, <a>, <area>, forms, srcset and CSS, with the text of each link', () => {
    assert.deepEqual(
      linksInText('See https://a.example/x, (www.b.example/y) and "http://c.example/z".').map((l) => l.url),
      ['https://a.example/x', 'http://www.b.example/y', 'http://c.example/z'],
    );
    const found = linksInHtml(
      '<a href="https://d.example/1">Your <b>account</b></a><map><area href="https://e.example/2"></map>' +
        '<form action="https://f.example/login"><button formaction="https://g.example/x">Go</button></form>' +
        '<img srcset="https://h.example/a.png 1x, https://i.example/b.png 2x"><div style="background:url(\'https://j.example/bg.png\')"></div>' +
        '<style>p { background: url(https://k.example/s.png) }</style><a href="#top">top</a>',
    );
    assert.deepEqual(
      found.map((l) => [l.source, new URL(l.url).hostname]),
      [
        ['href', 'd.example'], ['area', 'e.example'], ['form', 'f.example'], ['form', 'g.example'], ['srcset', 'h.example'], ['srcset', 'i.example'], ['css', 'j.example'], ['css', 'k.example'],
      ],
    );
    assert.equal(found[0]!.text, 'Your account');
  });

  test('hostile input is answered at once: huge runs, unclosed url( and thousands of links', () => {
    const started = performance.now();
    linksInText(`https://${'a'.repeat(1_000_000)}`);
    linksInText('www.'.repeat(200_000));
    linksInCss(`url(${'('.repeat(500_000)}`);
    assert.equal(linksInHtml('<a href="https://x.example/">x</a>'.repeat(20_000)).length, 500);
    assert.ok(performance.now() - started < 2000, `took ${Math.round(performance.now() - started)} ms`);
  });
});

describe('risky links are named', () => {
  test('a script scheme, a host behind user information, an IP address, a shortener', async () => {
    const found = bySymbol(
      await findings(
        html(
          '<a href="javascript:alert(1)">Open</a> <a href="https://www.mybank.example@evil.example/login">Bank</a> ' +
            '<a href="http://203.0.113.7/pay">Pay</a> <a href="https://bit.ly/3xYz">Invoice</a> <a href="https://bit.ly/other">2</a>',
        ),
      ),
    );
    assert.match(found.get('LINK_SCRIPT_SCHEME')!.reason, /runs a javascript address/);
    assert.match(found.get('LINK_USERINFO')!.reason, /shows www\.mybank\.example before an @, but goes to evil\.example/);
    assert.match(found.get('LINK_IP_LITERAL')!.reason, /goes to the address 203\.0\.113\.7/);
    assert.match(found.get('LINK_SHORTENER')!.reason, /bit\.ly\/3xYz goes through the URL shortener bit\.ly.*\(and 1 more such link\)/);
  });

  test("look-alikes of the tenant's and partners' domains, mixed scripts, and text showing another domain", async () => {
    const found = bySymbol(
      await findings(
        html(
          '<a href="https://login.acrne.test/">Sign in</a> <a href="https://xn--pypal-4ve.example/">PayPal</a> ' +
            '<a href="https://evil.example/track">www.partner.example/invoices</a> <a href="https://portal.partnre.example/">Portal</a>',
        ),
        { modules: { headers: { partnerDomains: ['partner.example'] } } },
      ),
    );
    assert.match(found.get('LINK_LOOKALIKE')!.reason, /login\.acrne\.test, which looks like acme\.test, one of the tenant's domains \(confusable letters\) \(and 1 more such link\)/);
    assert.match(found.get('LINK_MIXED_SCRIPT')!.reason, /mixes (Latin and Cyrillic|Cyrillic and Latin) letters/);
    assert.match(found.get('LINK_TEXT_MISMATCH')!.reason, /a link shows www\.partner\.example\/invoices but goes to evil\.example/);
  });

  test("tracking parameters are counted without score; the tenant's own links, ordinary links and matching link text pass", async () => {
    const list = await findings(
      text('Our offer: https://shop.example/p?utm_source=mail&utm_medium=x and https://news.example/a?fbclid=1 and https://www.acme.test/ and https://docs.example/guide'),
    );
    assert.deepEqual(list.map((f) => [f.symbol, f.score, f.reason]), [['LINK_TRACKING', 0, '2 links carry tracking parameters (utm_source, utm_medium, fbclid)']]);
    assert.deepEqual(await findings(html('<a href="https://www.docs.example/x">www.docs.example</a> <a href="https://acme.test/">Our site</a> <a href="mailto:a@b.example">mail</a>')), []);
    const custom = await findings(text('https://shop.example/p?ref_id=7'), { modules: { links: { trackingParameters: ['ref_*'] } } });
    assert.deepEqual(custom.map((f) => f.symbol), ['LINK_TRACKING']);
  });

  test('a policy can switch the module off or raise its scores', async () => {
    assert.deepEqual(await findings(html('<a href="http://203.0.113.7/">x</a>'), { modules: { links: { enabled: false } } }), []);
    const raised = await findings(html('<a href="http://203.0.113.7/">x</a>'), { modules: { links: { scoreDelta: 9 } } });
    assert.equal(raised[0]!.score, 9);
  });
});

describe('QR codes in images', () => {
  const qrPng = (text: string) => QRCode.toBuffer(text, { type: 'png', margin: 4, scale: 6 });
  async function qrJpeg(text: string): Promise<Buffer> {
    const png = PNG.sync.read(await qrPng(text));
    return Buffer.from(jpeg.encode({ data: png.data, width: png.width, height: png.height }, 90).data);
  }

  test('a QR code in a PNG attachment and in a JPEG is read, and its link is judged like any other', async () => {
    const raw = messageWith(
      [
        { name: 'scan-me.png', content: await qrPng('http://203.0.113.9/verify?utm_source=qr'), type: 'image/png' },
        { name: 'photo.jpg', content: await qrJpeg('https://bit.ly/pay-now'), type: 'image/jpeg' },
      ],
      'Verify your account',
    );
    const found = bySymbol(await findings(raw));
    assert.match(found.get('LINK_QR_CODE')!.reason, /the image scan-me\.png holds a QR code that leads to http:\/\/203\.0\.113\.9\/verify\?utm_source=qr \(and 1 more such link\)/);
    assert.match(found.get('LINK_IP_LITERAL')!.reason, /203\.0\.113\.9/);
    assert.match(found.get('LINK_SHORTENER')!.reason, /bit\.ly\/pay-now/);
    assert.ok(found.has('LINK_TRACKING'));
  });

  test('the delivered message warns of the QR code and names where it leads, written so it cannot be clicked; a policy may turn the warning off', async () => {
    const image = await qrPng('https://login.evil.example/acme?id=7');
    const raw = messageWith([{ name: 'invoice.png', content: image, type: 'image/png' }], 'Invoice');
    const policy = resolveGuardPolicy({});
    const verdict = await createGuardRunner({ checks: [linkProtectionCheck], policyFor: () => policy })(guardInput(raw, { tenant }));
    assert.deepEqual(verdict.disarmed?.changes.map((c) => [c.symbol, c.reason]), [
      ['LINK_QR_WARNING', 'a warning names where the QR code leads: hxxps://login[.]evil[.]example/acme?id=7'],
    ]);
    const parsed = await simpleParser(verdict.disarmed!.raw);
    assert.match(parsed.text ?? '', /Caution: an image in this message holds a QR code\..*\n- invoice\.png: hxxps:\/\/login\[\.\]evil\[\.\]example\/acme\?id=7/s);
    assert.deepEqual(parsed.attachments.map((a) => a.filename), ['invoice.png']);
    assert.ok(parsed.attachments[0]!.content.equals(image), 'the image itself is unchanged');

    const off = resolveGuardPolicy({ modules: { links: { qrWarning: false } } });
    const quiet = await createGuardRunner({ checks: [linkProtectionCheck], policyFor: () => off })(guardInput(raw, { tenant }));
    assert.equal(quiet.disarmed, undefined);
    assert.ok(quiet.findings.some((f) => f.symbol === 'LINK_QR_CODE'));
  });

  test('an image too large to read is not decoded, and a broken one is no crash', async () => {
    const big = Buffer.alloc(64);
    Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex').copy(big);
    big.writeUInt32BE(20_000, 16);
    big.writeUInt32BE(20_000, 20);
    assert.deepEqual(imageSize(big), { kind: 'png', width: 20_000, height: 20_000 });
    assert.ok(20_000 * 20_000 > MAX_PIXELS);
    const started = performance.now();
    assert.equal(qrCodeIn(big), undefined);
    const png = await qrPng('https://example.org/');
    assert.equal(qrCodeIn(png.subarray(0, 200)), undefined, 'a truncated PNG');
    assert.equal(qrCodeIn(Buffer.from([0xff, 0xd8, 0xff, 0xc0, 0, 17, 8, 0xff, 0xff, 0xff, 0xff])), undefined, 'a JPEG claiming 65535 × 65535');
    assert.ok(performance.now() - started < 500);
    assert.equal(qrCodeIn(png), 'https://example.org/');
  });
});

describe('following links', () => {
  let server: Server;
  let base: string;
  before(async () => {
    server = createServer((request, response) => {
      const path = request.url ?? '/';
      if (path === '/short') return void response.writeHead(302, { location: '/hop2' }).end();
      if (path === '/hop2') return void response.writeHead(301, { location: `${base}/landing` }).end();
      if (path === '/landing') {
        return void response.writeHead(200, { 'content-type': 'text/html' }).end('<html><head><meta http-equiv="refresh" content="0; url=/login"></head></html>');
      }
      if (path === '/login') {
        return void response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<form action="/steal" method="post"><input name="user"><input type="PASSWORD" name="pw"></form>');
      }
      if (path === '/metadata') return void response.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
      if (path === '/loop') return void response.writeHead(302, { location: '/loop' }).end();
      if (path === '/slow') return void setTimeout(() => response.writeHead(200).end('late'), 5000).unref();
      response.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://localhost:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });
  const follower = () => createLinkFollower({ timeoutMs: 1500, maxHops: 5, allow: ['127.0.0.0/8', '::1'] });

  test('only public addresses are public', () => {
    for (const address of ['8.8.8.8', '2001:4860:4860::8888', '1.1.1.1']) assert.ok(isPublicAddress(address), address);
    for (const address of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', '::', 'fe80::1', 'fc00::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1', '224.0.0.1', '198.51.100.1', 'not-an-ip']) {
      assert.ok(!isPublicAddress(address), address);
    }
  });

  test('redirects and a meta refresh are followed to a login page', async () => {
    const result = await follower()(`${base}/short`);
    assert.deepEqual(result.hops.map((h) => new URL(h).pathname), ['/short', '/hop2', '/landing', '/login']);
    assert.equal(result.loginForm, true);
    assert.equal(result.stopped, undefined);
  });

  test('loopback without the test allowance, the metadata address, a loop and a slow server stop in time and say why', async () => {
    const strict = createLinkFollower({ timeoutMs: 1500, maxHops: 5 });
    assert.match((await strict(`${base}/short`)).stopped!, /resolves to (127\.0\.0\.1|::1), which is not a public address/);
    assert.match((await follower()(`${base}/metadata`)).stopped!, /169\.254\.169\.254 is not a public address/);
    assert.match((await follower()(`${base}/loop`)).stopped!, /redirects more than 5 times/);
    const started = performance.now();
    assert.match((await follower()(`${base}/slow`)).stopped!, /no answer within 1500 ms/);
    assert.ok(performance.now() - started < 2500);
  });

  test('a policy that follows links names the redirects and the login form', async () => {
    const check = createLinkProtectionCheck({ follower: follower(), followTimeoutMs: 1500 });
    const policy = resolveGuardPolicy({ modules: { links: { follow: true } } });
    const verdict = await createGuardRunner({ checks: [check], policyFor: () => policy })(guardInput(html(`<a href="${base}/short">Your invoice</a>`), { tenant }));
    const found = bySymbol(verdict.findings);
    assert.match(found.get('LINK_REDIRECTS')!.reason, /\/short leads through 3 redirects to http:\/\/localhost:\d+\/login/);
    assert.match(found.get('LINK_LOGIN_FORM')!.reason, /the page .*\/short leads to asks for a password/);
    const off = await createGuardRunner({ checks: [check], policyFor: () => resolveGuardPolicy({}) })(guardInput(html(`<a href="${base}/short">x</a>`), { tenant }));
    assert.ok(!off.findings.some((f) => f.symbol === 'LINK_REDIRECTS'), 'not followed unless the policy says so');
  });
});
