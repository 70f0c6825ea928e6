/**
 * Links rewritten for the click check: a policy with `rewrite` sends every outside link of the delivered
 * message (HTML <a> and <area>, Outlook's conditional comments, bare addresses in text) through a signed
 * click link and leaves everything else as it came, in the part's own charset; `removeTracking` takes the
 * tracking parameters out and keeps the rest of each link byte for byte; a token that was changed, cut
 * short or signed with another key is refused.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import iconv from 'iconv-lite';
import { simpleParser } from 'mailparser';
import { ClickLinkRefused, ClickLinks } from '../src/guard/click-links.ts';
import { createLinkProtectionCheck, withoutTracking } from '../src/guard/checks/link-protection.ts';
import type { GuardTenant } from '../src/guard/contract.ts';
import { attributeValueSpan, rewriteHtmlLinks, rewriteTextLinks } from '../src/guard/links.ts';
import { resolveGuardPolicy } from '../src/guard/policy.ts';
import { createGuardRunner } from '../src/guard/runner.ts';
import type { PolicySettings } from '../src/guard-policy-settings.ts';
import { readerLanguage } from '../src/http/click-routes.ts';
import { crlf, guardInput } from './support/crafted-mail.ts';

const tenant: GuardTenant = { id: '7d5c3f0e-3a43-4c1e-9d1b-2f1f6f0b9a11', name: 'Acme', domains: ['acme.test'], members: [{ email: 'anna@acme.test' }] };
const clickLinks = new ClickLinks(randomBytes(32), 'https://gateway.acme.test');

async function disarmed(raw: string | Buffer, links: PolicySettings['modules'] extends infer M ? (M extends { links?: infer L } ? L : never) : never) {
  const policy = resolveGuardPolicy({ modules: { links } });
  const check = createLinkProtectionCheck({ clickLinks });
  return createGuardRunner({ checks: [check], policyFor: () => policy })(guardInput(raw, { tenant, tenantId: tenant.id }));
}

/** The click links of a text, read back to what they carry. */
async function clickTargets(text: string): Promise<string[]> {
  const tokens = [...text.matchAll(/https:\/\/gateway\.acme\.test\/l\/([\w-]+\.[\w-]+\.[\w-]+)/g)].map((m) => m[1]!);
  return Promise.all(tokens.map(async (token) => (await clickLinks.read(token)).url));
}

const HTML = [
  '<html><head><meta charset="iso-8859-1"></head><body>',
  '<p>Grüße aus München</p>',
  '<a class="btn" HREF = \'https://shop.example/deal?utm_source=news&amp;id=7&amp;fbclid=abc\' title="Deal">Zum Angebot</a>',
  '<map name="m"><area shape="rect" coords="0,0,1,1" href=https://map.example/area alt=x></map>',
  '<!--[if mso]><a href="https://outlook-only.example/x">Outlook</a><![endif]-->',
  '<a href="mailto:sales@shop.example">Mail</a> <a href="https://www.acme.test/intranet">Intranet</a>',
  '<img src="cid:logo@shop" alt="logo"> <a href="#top">top</a>',
  '</body></html>',
].join('\n');
const TEXT = 'Grüße! Angebot: https://shop.example/deal?utm_source=news&id=7&fbclid=abc\nOder www.other.example/a.\n';

function newsletter(): Buffer {
  const qp = (s: string) => iconv.encode(s, 'iso-8859-1').toString('latin1').replace(/[\u0080-\u00ff=]/g, (c) => `=${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
  const head = crlf(
    'From: Shop <news@shop.example>\nTo: anna@acme.test\nSubject: Angebot\nMIME-Version: 1.0\nMessage-ID: <n1@shop.example>\n' +
      'Content-Type: multipart/alternative; boundary="b1"\n\n--b1\nContent-Type: text/plain; charset=iso-8859-1; format=flowed\nContent-Transfer-Encoding: quoted-printable\n\n',
  );
  const html = crlf('\n--b1\nContent-Type: text/html; charset="iso-8859-1"\nContent-Transfer-Encoding: base64\nContent-ID: <body@shop>\n\n');
  return Buffer.concat([
    Buffer.from(head, 'latin1'),
    Buffer.from(crlf(qp(TEXT)), 'latin1'),
    Buffer.from(html, 'latin1'),
    Buffer.from(`${iconv.encode(HTML, 'iso-8859-1').toString('base64').replace(/.{76}/g, '$&\r\n')}\r\n--b1--\r\n`, 'latin1'),
  ]);
}

describe('links are rewritten for the click check', () => {
  test('every outside link goes through a signed click link; the tenant’s own, mail and anchor links and the rest of the message stay', async () => {
    const verdict = await disarmed(newsletter(), { rewrite: true });
    assert.equal(verdict.action, 'deliver');
    assert.ok(verdict.disarmed, 'the message was changed');
    const parsed = await simpleParser(verdict.disarmed.raw);
    const html = String(parsed.html);
    assert.deepEqual(await clickTargets(html), [
      'https://shop.example/deal?utm_source=news&id=7&fbclid=abc',
      'https://map.example/area',
      'https://outlook-only.example/x',
    ]);
    assert.match(html, /<a class="btn" HREF = "https:\/\/gateway\.acme\.test\/l\/[^"]+" title="Deal">Zum Angebot<\/a>/);
    assert.match(html, /<area shape="rect" coords="0,0,1,1" href="https:\/\/gateway\.acme\.test\/l\/[^"]+" alt=x>/);
    assert.match(html, /<a href="mailto:sales@shop\.example">Mail<\/a> <a href="https:\/\/www\.acme\.test\/intranet">Intranet<\/a>/);
    assert.match(html, /<img src="cid:logo@shop" alt="logo"> <a href="#top">top<\/a>/);
    assert.match(html, /Grüße aus München/);
    assert.deepEqual(await clickTargets(parsed.text ?? ''), ['https://shop.example/deal?utm_source=news&id=7&fbclid=abc', 'http://www.other.example/a']);
    assert.match(parsed.text ?? '', /^Grüße! Angebot: https:\/\/gateway\.acme\.test\/l\/\S+\nOder https:\/\/gateway\.acme\.test\/l\/\S+\.\n?$/);

    // Each part keeps its charset, its other parameters and its other fields; the message header is untouched.
    const raw = verdict.disarmed.raw.toString('latin1');
    assert.match(raw, /Content-Type: text\/plain; charset=iso-8859-1; format=flowed\r\nContent-Transfer-Encoding: base64/);
    assert.match(raw, /Content-ID: <body@shop>\r\nContent-Type: text\/html; charset=iso-8859-1\r\nContent-Transfer-Encoding: base64/);
    assert.ok(raw.startsWith('From: Shop <news@shop.example>\r\nTo: anna@acme.test\r\nSubject: Angebot\r\n'));
    assert.deepEqual(
      verdict.disarmed.changes.map((c) => `${c.symbol}: ${c.reason}`),
      ['LINK_REWRITTEN: 4 links now go through the click check, which checks them again when clicked'],
    );

    // The claims name the tenant, the message and the policy.
    const token = /\/l\/([^"]+)"/.exec(html)![1]!;
    const claims = await clickLinks.read(token);
    assert.equal(claims.tenantId, tenant.id);
    assert.equal(claims.policy, 'Default');
  });

  test('tracking parameters are removed, and every other byte of the link stays', async () => {
    const verdict = await disarmed(newsletter(), { removeTracking: true });
    const parsed = await simpleParser(verdict.disarmed!.raw);
    assert.match(String(parsed.html), /HREF = "https:\/\/shop\.example\/deal\?id=7" title="Deal"/);
    assert.match(parsed.text ?? '', /Angebot: https:\/\/shop\.example\/deal\?id=7\n/);
    assert.deepEqual(
      verdict.disarmed!.changes.map((c) => `${c.symbol}: ${c.reason}`),
      ['LINK_TRACKING_REMOVED: tracking parameters (utm_source, fbclid) were removed from 1 link'],
    );

    const isTracking = (name: string) => name.startsWith('utm_') || name === 'gclid';
    assert.deepEqual(withoutTracking('https://a.example/p?q=a%20b+c&utm_medium=x&gclid=1#part', isTracking), { url: 'https://a.example/p?q=a%20b+c#part', removed: ['utm_medium', 'gclid'] });
    assert.deepEqual(withoutTracking('https://a.example/?utm_source=x', isTracking), { url: 'https://a.example/', removed: ['utm_source'] });
    assert.deepEqual(withoutTracking('https://a.example/?%75tm_x=1&b=%zz', isTracking), { url: 'https://a.example/?b=%zz', removed: ['utm_x'] });
  });

  test('links are left alone when the policy asks for neither, and a single-part message is rewritten in place', async () => {
    assert.equal((await disarmed(newsletter(), {})).disarmed, undefined);
    const single = crlf('From: a@shop.example\nTo: anna@acme.test\nSubject: x\nContent-Type: text/plain\nContent-Disposition: inline\n\nSee https://shop.example/x today.\n');
    const verdict = await disarmed(single, { rewrite: true });
    const raw = verdict.disarmed!.raw.toString();
    assert.match(raw, /^From: a@shop\.example\r\nTo: anna@acme\.test\r\nSubject: x\r\nMIME-Version: 1\.0\r\nContent-Disposition: inline\r\nContent-Type: text\/plain; charset=us-ascii\r\nContent-Transfer-Encoding: base64\r\n\r\n/);
    const parsed = await simpleParser(verdict.disarmed!.raw);
    assert.deepEqual(await clickTargets(parsed.text ?? ''), ['https://shop.example/x']);
  });

  test('HTML rewriting changes only the link targets, also in odd markup', () => {
    const html = `<a\thref=http://a.example/1>1</a><A data-x='href=no' Href="http://b.example/2" href="http://c.example/dup">2</a><a href>3</a><area/href='http://d.example/4'>`;
    const out = rewriteHtmlLinks(html, (url) => `X${url.length}`);
    assert.equal(out.html, `<a\thref="X18">1</a><A data-x='href=no' Href="X18" href="http://c.example/dup">2</a><a href>3</a><area/href="X18">`);
    assert.equal(out.changed, 3);
    assert.deepEqual(attributeValueSpan('<a title="a>b" href=x>', 'href'), [20, 21]);
    assert.equal(rewriteHtmlLinks('<a href="x">', () => 'a"b<c&d').html, '<a href="a&quot;b&lt;c&amp;d">');
    assert.equal(rewriteTextLinks('(see http://a.example/x).', () => 'Y').text, '(see Y).');
  });

  test('a message with thousands of different links is rewritten within its budget, and those past the limit are a finding', async () => {
    const body = Array.from({ length: 2500 }, (_, i) => `<a href="https://l${i}.example/">${i}</a>`).join('');
    const raw = crlf(`From: a@shop.example\nTo: anna@acme.test\nSubject: x\nContent-Type: text/html\n\n${body}\n`);
    const started = performance.now();
    const verdict = await disarmed(raw, { rewrite: true });
    assert.ok(performance.now() - started < 3000, `took ${Math.round(performance.now() - started)} ms`);
    const skipped = verdict.findings.find((f) => f.symbol === 'LINK_NOT_REWRITTEN');
    assert.equal(skipped?.reason, '500 links past the first 2000 different ones were not rewritten for the click check');
    assert.equal((verdict.disarmed!.raw.toString().length > raw.length), true);
  });
});

describe('click tokens', () => {
  test('a token that was changed, cut short or signed with another key is refused', async () => {
    const link = await clickLinks.link({ url: 'https://shop.example/x', tenantId: tenant.id, messageId: 'm1' });
    const token = link.slice(clickLinks.prefix.length);
    assert.deepEqual(await clickLinks.read(token), { url: 'https://shop.example/x', tenantId: tenant.id, messageId: 'm1' });
    const [header, payload, signature] = token.split('.');
    const forged = Buffer.from(JSON.stringify({ u: 'https://evil.example/', t: tenant.id, m: 'm1', iss: 'sealpost-click', iat: 1 })).toString('base64url');
    const refusal = async (candidate: string) => {
      try {
        await clickLinks.read(candidate);
        return 'accepted';
      } catch (error) {
        assert.ok(error instanceof ClickLinkRefused);
        return error.why;
      }
    };
    assert.equal(await refusal(`${header}.${forged}.${signature}`), 'tampered');
    assert.equal(await refusal(`${header}.${payload}.${signature!.slice(0, -2)}AA`), 'tampered');
    assert.equal(await refusal(token.slice(0, 40)), 'malformed');
    assert.equal(await refusal('not-a-token'), 'malformed');
    const other = new ClickLinks(randomBytes(32), 'https://gateway.acme.test');
    assert.equal(await refusal((await other.link({ url: 'https://shop.example/x', tenantId: tenant.id, messageId: 'm1' })).slice(other.prefix.length)), 'tampered');
  });

  test('the reader’s language comes from Accept-Language', () => {
    assert.equal(readerLanguage('de-DE,de;q=0.9,en;q=0.8'), 'de');
    assert.equal(readerLanguage('fr-FR, en-GB;q=0.8, de;q=0.7'), 'en');
    assert.equal(readerLanguage('en;q=0.5, de;q=0.9'), 'de');
    assert.equal(readerLanguage(undefined), 'en');
    assert.equal(readerLanguage('de;q=0'), 'en');
  });
});
