/**
 * Every link of a message, for the link filter: web addresses in the text parts, and in the HTML parts the
 * targets of links and image-map areas, form actions, the candidates of `srcset`, and `url()` in style
 * attributes and style elements, with the text a reader sees for a link. HTML is read with htmlparser2;
 * the text and CSS scans are written here as single passes with indexOf (no regular expression sees the
 * message), because a URL finder with a pattern is where backtracking hides.
 */
import { Parser } from 'htmlparser2';

export type LinkSource = 'text' | 'href' | 'area' | 'form' | 'srcset' | 'css' | 'qr';

export interface FoundLink {
  url: string;
  source: LinkSource;
  /** For HTML links: the text between <a> and </a>, as the reader sees it (trimmed, at most 200 characters). */
  text?: string;
  /** For links in plain text: where the address stands in the text (start, end). */
  span?: readonly [number, number];
}

/** Links read per message; a message with more is not one a person reads link by link. */
export const MAX_LINKS = 500;
const MAX_URL_CHARS = 2048;
const MAX_LINK_TEXT = 200;

/** Characters that end a bare URL in text (RFC 3986 has no place for them unescaped). */
function endsBareUrl(code: number): boolean {
  return code <= 0x20 || code === 0x22 || code === 0x27 || code === 0x3c || code === 0x3e || code === 0x60 || code === 0x7f || code === 0x7b || code === 0x7d || code === 0x7c || code === 0x5c;
}
const TRAILING_PUNCTUATION = new Set(['.', ',', ';', ':', '!', '?', ')', ']']);

/** Bare web addresses in plain text: http://, https:// and www. */
export function linksInText(text: string, out: FoundLink[] = [], maxLinks = MAX_LINKS): FoundLink[] {
  const lower = text.toLowerCase();
  let at = 0;
  // The next place of each start, searched again only once passed: each search runs over the text once.
  const starts = ['http://', 'https://', 'www.'];
  const next = starts.map((s) => lower.indexOf(s));
  while (out.length < maxLinks) {
    for (let i = 0; i < starts.length; i++) if (next[i]! >= 0 && next[i]! < at) next[i] = lower.indexOf(starts[i]!, at);
    const candidates = next.filter((i) => i >= 0);
    if (candidates.length === 0) break;
    const start = Math.min(...candidates);
    // "www." inside a URL already taken, or glued to a word, is not a start of its own.
    if (lower.startsWith('www.', start) && start > 0 && !endsBareUrl(lower.charCodeAt(start - 1)) && lower[start - 1] !== '(') {
      at = start + 4;
      continue;
    }
    let end = start;
    while (end < text.length && end - start < MAX_URL_CHARS && !endsBareUrl(text.charCodeAt(end))) end += 1;
    while (end > start && TRAILING_PUNCTUATION.has(text[end - 1]!)) end -= 1;
    const url = text.slice(start, end);
    if (url.length > 8) out.push({ url: url.startsWith('www.') || url.startsWith('WWW.') ? `http://${url}` : url, source: 'text', span: [start, end] });
    at = Math.max(end, start + 4);
  }
  return out;
}

/** url(...) values in CSS text. */
export function linksInCss(css: string, out: FoundLink[] = []): FoundLink[] {
  const lower = css.toLowerCase();
  let at = 0;
  while (out.length < MAX_LINKS) {
    const start = lower.indexOf('url(', at);
    if (start < 0) break;
    let i = start + 4;
    while (i < css.length && (css[i] === ' ' || css[i] === '\t' || css[i] === '\n' || css[i] === '\r')) i += 1;
    const quote = css[i] === '"' || css[i] === "'" ? css[i] : undefined;
    if (quote) i += 1;
    const close = quote ? css.indexOf(quote, i) : css.indexOf(')', i);
    const end = close < 0 ? Math.min(css.length, i + MAX_URL_CHARS) : Math.min(close, i + MAX_URL_CHARS);
    const url = css.slice(i, end).trim();
    if (url && !url.toLowerCase().startsWith('data:')) out.push({ url, source: 'css' });
    at = Math.max(end + 1, start + 4);
  }
  return out;
}

/** The links of an HTML document, with the text of each <a>. */
export function linksInHtml(html: string, out: FoundLink[] = []): FoundLink[] {
  let open: FoundLink | undefined;
  let openText = '';
  let inStyle = false;
  let styleText = '';
  const add = (url: string | undefined, source: LinkSource) => {
    if (!url || out.length >= MAX_LINKS) return undefined;
    const link: FoundLink = { url: url.trim().slice(0, MAX_URL_CHARS), source };
    if (!link.url || link.url.startsWith('#')) return undefined;
    out.push(link);
    return link;
  };
  const parser = new Parser(
    {
      onopentag(name, attributes) {
        if (name === 'a') {
          open = add(attributes.href, 'href');
          openText = '';
        } else if (name === 'area') add(attributes.href, 'area');
        else if (name === 'form') add(attributes.action, 'form');
        else if ((name === 'button' || name === 'input') && attributes.formaction) add(attributes.formaction, 'form');
        if (attributes.srcset) {
          for (const candidate of attributes.srcset.split(',').slice(0, 20)) add(candidate.trim().split(/\s/)[0], 'srcset');
        }
        if (attributes.style) linksInCss(attributes.style.slice(0, 20_000), out);
        if (name === 'style') {
          inStyle = true;
          styleText = '';
        }
      },
      ontext(text) {
        if (open && openText.length < MAX_LINK_TEXT * 2) openText += text;
        if (inStyle && styleText.length < 200_000) styleText += text;
      },
      onclosetag(name) {
        if (name === 'a' && open) {
          const shown = openText.replace(/\s+/g, ' ').trim().slice(0, MAX_LINK_TEXT);
          if (shown) open.text = shown;
          open = undefined;
        }
        if (name === 'style' && inStyle) {
          linksInCss(styleText, out);
          inStyle = false;
        }
      },
      oncomment(data) {
        // Outlook shows what stands in <!--[if mso]> … <![endif]-->: its links are links like any other.
        if (isConditionalComment(data)) linksInHtml(data, out);
      },
    },
    { decodeEntities: true, lowerCaseTags: true, lowerCaseAttributeNames: true },
  );
  parser.write(html);
  parser.end();
  return out;
}

/** A comment whose content Outlook renders (<!--[if mso]> … <![endif]-->); such comments do not nest. */
function isConditionalComment(data: string): boolean {
  return data.trimStart().slice(0, 4).toLowerCase() === '[if ';
}

/** A link's new address, or undefined to leave it as it is. */
export type LinkRewrite = (url: string) => string | undefined;

/** Plain text with its bare web addresses replaced; every other character stays. */
export function rewriteTextLinks(text: string, rewrite: LinkRewrite): { text: string; changed: number } {
  const pieces: string[] = [];
  let cursor = 0;
  let changed = 0;
  for (const link of linksInText(text, [], Number.POSITIVE_INFINITY)) {
    const next = rewrite(link.url);
    if (next === undefined || !link.span) continue;
    pieces.push(text.slice(cursor, link.span[0]), next);
    cursor = link.span[1];
    changed += 1;
  }
  pieces.push(text.slice(cursor));
  return { text: pieces.join(''), changed };
}

function isSpace(char: string | undefined): boolean {
  return char === ' ' || char === '\t' || char === '\n' || char === '\r' || char === '\f';
}

/**
 * Where the value of an attribute stands in one start tag's source (quotes included), read the way the
 * HTML tokenizer reads attributes: names end at white space, "=", "/" or ">", values are quoted or end at
 * white space or ">". The first attribute of the name counts, as in browsers. One pass over the tag.
 */
export function attributeValueSpan(tag: string, name: string): [number, number] | undefined {
  let i = 1;
  while (i < tag.length && !isSpace(tag[i]) && tag[i] !== '>' && tag[i] !== '/') i += 1;
  while (i < tag.length) {
    while (i < tag.length && (isSpace(tag[i]) || tag[i] === '/')) i += 1;
    if (i >= tag.length || tag[i] === '>') return undefined;
    const nameStart = i;
    while (i < tag.length && !isSpace(tag[i]) && tag[i] !== '=' && tag[i] !== '>' && tag[i] !== '/') i += 1;
    const attribute = tag.slice(nameStart, i).toLowerCase();
    while (i < tag.length && isSpace(tag[i])) i += 1;
    if (tag[i] !== '=') continue;
    i += 1;
    while (i < tag.length && isSpace(tag[i])) i += 1;
    const valueStart = i;
    if (tag[i] === '"' || tag[i] === "'") {
      const close = tag.indexOf(tag[i]!, i + 1);
      i = close < 0 ? tag.length : close + 1;
    } else {
      while (i < tag.length && !isSpace(tag[i]) && tag[i] !== '>') i += 1;
    }
    if (attribute === name) return [valueStart, i];
  }
  return undefined;
}

function escapeAttribute(value: string): string {
  return value.replaceAll('&', '&amp;').replaceAll('"', '&quot;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

/**
 * HTML with the targets of its links (<a href>, <area href>, also inside Outlook's conditional comments)
 * replaced; every other character stays as it came, so the message looks exactly as before.
 */
export function rewriteHtmlLinks(html: string, rewrite: LinkRewrite): { html: string; changed: number } {
  const pieces: string[] = [];
  let cursor = 0;
  let changed = 0;
  const parser = new Parser(
    {
      onopentag(name, attributes) {
        if ((name !== 'a' && name !== 'area') || attributes.href === undefined) return;
        const next = rewrite(attributes.href.trim());
        if (next === undefined || parser.startIndex < cursor) return;
        const span = attributeValueSpan(html.slice(parser.startIndex, parser.endIndex + 1), 'href');
        if (!span) return;
        pieces.push(html.slice(cursor, parser.startIndex + span[0]), `"${escapeAttribute(next)}"`);
        cursor = parser.startIndex + span[1];
        changed += 1;
      },
      oncomment(data) {
        const start = parser.startIndex + 4;
        if (!isConditionalComment(data) || start < cursor || html.slice(start, start + data.length) !== data) return;
        const inner = rewriteHtmlLinks(data, rewrite);
        if (inner.changed === 0) return;
        pieces.push(html.slice(cursor, start), inner.html);
        cursor = start + data.length;
        changed += inner.changed;
      },
    },
    { decodeEntities: true, lowerCaseTags: true, lowerCaseAttributeNames: true },
  );
  parser.write(html);
  parser.end();
  pieces.push(html.slice(cursor));
  return { html: pieces.join(''), changed };
}
