/**
 * Server-side sanitising of HTML mail for the portal. The result is shown in a sandboxed frame without
 * scripts, but it must be harmless on its own too: no scripts, event handlers, forms, frames, SVG or
 * MathML, no `javascript:` or non-image `data:` URLs, and nothing that loads from the network unless the
 * reader asked for remote content. `cid:` images point at the portal's inline URL.
 */
import sanitizeHtml from 'sanitize-html';
import { normaliseContentId, sanitizeStyleAttribute, sanitizeStyleSheet } from './css-sanitizer.ts';

export { normaliseContentId };

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

const SAFE_DATA_IMAGE = /^data:image\/(?:png|gif|jpe?g|webp|bmp);base64,[a-z0-9+/=\s]*$/i;
const MAX_HTML_CHARS = 2 * 1024 * 1024;
/**
 * CSS is parsed, which costs about a microsecond a character: past this many characters of CSS in one
 * message (style attributes and elements together) further styles are dropped, so that one message cannot
 * keep the process busy for seconds.
 */
export const MAX_CSS_CHARS_PER_MESSAGE = 512 * 1024;

/** How much CSS of one message has been parsed so far. */
interface CssBudget {
  used: number;
}

function takeFromBudget(budget: CssBudget, chars: number): boolean {
  if (budget.used + chars > MAX_CSS_CHARS_PER_MESSAGE) return false;
  budget.used += chars;
  return true;
}

export function sanitizeMailHtml(input: string, options: SanitizeOptions): SanitizedHtml {
  const blocked = { remote: false };
  const budget: CssBudget = { used: 0 };
  const withSanitizedStyle = (attribs: sanitizeHtml.Attributes): sanitizeHtml.Attributes => {
    if (attribs.style === undefined) return { ...attribs };
    const { style, ...rest } = attribs;
    const css = takeFromBudget(budget, style.length) ? sanitizeStyleAttribute(style, options, blocked) : '';
    return css ? { ...rest, style: css } : rest;
  };
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
      '*': (tagName, attribs) => ({ tagName, attribs: withSanitizedStyle(attribs) }),
      a: (tagName, attribs) => ({ tagName, attribs: { ...withSanitizedStyle(attribs), target: '_blank', rel: 'noopener noreferrer' } }),
      img: (tagName, attribs) => {
        const next = withSanitizedStyle(attribs);
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
  return { html: sanitizeStyleElements(cleaned, options, blocked, budget), hasBlockedRemoteContent: blocked.remote };
}

/**
 * The text of <style> elements is passed through by sanitize-html as written: it is parsed and rewritten here.
 * In sanitize-html's output every `<style>` is one it wrote (text and attributes are escaped) and is followed
 * by the `</style>` it wrote, because the raw text cannot contain `</style`. A scan with indexOf, not a
 * lazy pattern, so many unclosed matches cannot make it quadratic.
 */
function sanitizeStyleElements(html: string, options: SanitizeOptions, blocked: { remote: boolean }, budget: CssBudget): string {
  const open = '<style>';
  const close = '</style>';
  let out = '';
  let position = 0;
  for (;;) {
    const start = html.indexOf(open, position);
    if (start < 0) break;
    const textStart = start + open.length;
    const end = html.indexOf(close, textStart);
    if (end < 0) {
      // Not written by sanitize-html: keep nothing of it.
      out += html.slice(position, start);
      position = html.length;
      break;
    }
    const css = html.slice(textStart, end);
    const sanitized = takeFromBudget(budget, css.length) ? sanitizeStyleSheet(css, options, blocked) : '';
    out += `${html.slice(position, textStart)}${sanitized}${close}`;
    position = end + close.length;
  }
  return out + html.slice(position);
}
