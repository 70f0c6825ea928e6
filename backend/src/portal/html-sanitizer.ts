/**
 * Server-side sanitising of HTML mail for the portal. The result is shown in a sandboxed frame without
 * scripts, but it must be harmless on its own too: no scripts, event handlers, forms, frames, SVG or
 * MathML, no `javascript:` or non-image `data:` URLs, and nothing that loads from the network unless the
 * reader asked for remote content. `cid:` images point at the portal's inline URL.
 */
import sanitizeHtml from 'sanitize-html';

export interface SanitizeOptions {
  /** Maps a Content-ID (without angle brackets, lower case) to the URL that serves that part inline. */
  inlineUrlFor: (contentId: string) => string | undefined;
  allowRemote: boolean;
}

export interface SanitizedHtml {
  html: string;
  hasBlockedRemoteContent: boolean;
}

const ALLOWED_TAGS = [
  'a', 'abbr', 'address', 'b', 'bdi', 'bdo', 'blockquote', 'br', 'caption', 'center', 'cite', 'code', 'col',
  'colgroup', 'dd', 'del', 'dfn', 'div', 'dl', 'dt', 'em', 'font', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'hr', 'i',
  'img', 'ins', 'kbd', 'li', 'mark', 'ol', 'p', 'pre', 'q', 's', 'samp', 'small', 'span', 'strike', 'strong',
  'style', 'sub', 'sup', 'table', 'tbody', 'td', 'tfoot', 'th', 'thead', 'tr', 'tt', 'u', 'ul', 'wbr',
];

const COMMON_ATTRIBUTES = [
  'style', 'class', 'align', 'valign', 'width', 'height', 'bgcolor', 'color', 'border', 'cellpadding',
  'cellspacing', 'dir', 'lang', 'title', 'colspan', 'rowspan', 'face', 'size', 'span', 'start', 'type',
];

const SAFE_DATA_IMAGE = /^data:image\/(png|gif|jpe?g|webp|bmp);base64,[a-z0-9+/=\s]*$/i;
const MAX_HTML_CHARS = 2 * 1024 * 1024;

/**
 * Neutralises CSS: no escapes (they hide `url(`), no `<` (it could end the style element), no imports,
 * no expressions or bindings, and remote `url()` only when allowed.
 */
export function sanitizeCss(css: string, options: SanitizeOptions, blocked: { remote: boolean }): string {
  let out = css.replace(/\\/g, '').replace(/</g, '').replace(/\/\*[\s\S]*?\*\//g, '');
  out = out.replace(/@import[^;]*;?/gi, () => {
    blocked.remote = true;
    return '';
  });
  out = out.replace(/(expression|behavior|-moz-binding|javascript|vbscript)\s*[:(]/gi, 'blocked-');
  out = out.replace(/(-webkit-)?image-set\s*\(/gi, 'blocked(');
  out = out.replace(/url\s*\(\s*(['"]?)([^'")]*)\1\s*\)/gi, (_m, _q: string, target: string) => {
    const url = target.trim();
    if (/^cid:/i.test(url)) {
      const inline = options.inlineUrlFor(normaliseContentId(url.slice(4)));
      return inline ? `url("${inline}")` : 'none';
    }
    if (SAFE_DATA_IMAGE.test(url)) return `url("${url.replace(/\s+/g, '')}")`;
    if (/^https?:\/\//i.test(url) && options.allowRemote) return `url("${url.replace(/["\s]/g, '')}")`;
    if (/^https?:\/\//i.test(url) || url.startsWith('//')) blocked.remote = true;
    return 'none';
  });
  // Anything still shaped like a URL function after the rewrite is malformed: drop it.
  return out.replace(/url\s*\((?!"(\/api\/portal\/|data:image\/|https?:\/\/))/gi, 'blocked(');
}

export function normaliseContentId(value: string): string {
  let id = value.trim();
  try {
    id = decodeURIComponent(id);
  } catch {
    // keep it as written
  }
  return id.replace(/^<|>$/g, '').toLowerCase();
}

export function sanitizeMailHtml(input: string, options: SanitizeOptions): SanitizedHtml {
  const blocked = { remote: false };
  const html = input.length > MAX_HTML_CHARS ? input.slice(0, MAX_HTML_CHARS) : input;
  const cleaned = sanitizeHtml(html, {
    allowedTags: ALLOWED_TAGS,
    allowVulnerableTags: true,
    disallowedTagsMode: 'discard',
    nonTextTags: ['script', 'textarea', 'option', 'noscript', 'title', 'head', 'svg', 'math', 'template', 'iframe', 'object', 'embed', 'xmp', 'noembed', 'noframes', 'select', 'button', 'form'],
    allowedAttributes: {
      '*': COMMON_ATTRIBUTES,
      a: [...COMMON_ATTRIBUTES, 'href', 'name', 'target', 'rel'],
      img: [...COMMON_ATTRIBUTES, 'src', 'alt'],
      style: [],
    },
    allowedSchemes: ['http', 'https', 'mailto', 'tel'],
    allowedSchemesByTag: { img: ['http', 'https', 'data'] },
    allowedSchemesAppliedToAttributes: ['href', 'src', 'cite'],
    allowProtocolRelative: false,
    parseStyleAttributes: false,
    transformTags: {
      '*': (tagName, attribs) => {
        if (attribs.style !== undefined) attribs.style = sanitizeCss(attribs.style, options, blocked);
        return { tagName, attribs };
      },
      a: (tagName, attribs) => {
        if (attribs.style !== undefined) attribs.style = sanitizeCss(attribs.style, options, blocked);
        return { tagName, attribs: { ...attribs, target: '_blank', rel: 'noopener noreferrer' } };
      },
      img: (tagName, attribs) => {
        const next = { ...attribs };
        if (next.style !== undefined) next.style = sanitizeCss(next.style, options, blocked);
        const src = (next.src ?? '').trim();
        delete next.src;
        if (/^cid:/i.test(src)) {
          const inline = options.inlineUrlFor(normaliseContentId(src.slice(4)));
          if (inline) next.src = inline;
        } else if (SAFE_DATA_IMAGE.test(src)) {
          next.src = src.replace(/\s+/g, '');
        } else if (/^https?:\/\//i.test(src) || src.startsWith('//')) {
          if (options.allowRemote && !src.startsWith('//')) next.src = src;
          else blocked.remote = true;
        }
        return { tagName, attribs: next };
      },
    },
  });
  // The text of <style> elements is passed through by the sanitiser as written: filter it here.
  const result = cleaned.replace(/<style>([\s\S]*?)<\/style>/gi, (_m, css: string) => `<style>${sanitizeCss(css, options, blocked)}</style>`);
  return { html: result, hasBlockedRemoteContent: blocked.remote };
}
