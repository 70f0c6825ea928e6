/**
 * Sanitising of CSS in mail HTML (style attributes and <style> elements) for the portal and for portal replies.
 *
 * The CSS is parsed (postcss for rules and declarations, postcss-value-parser for values) and written out
 * again from what was understood, never passed through as text: regular expressions over CSS text missed
 * entity-quoted and unclosed `url(`, and one of them froze the process on 4,000 spaces after `url(`.
 *
 * What comes out:
 * - only rules, @media, @supports, @font-face and @keyframes; @import is removed and reported as blocked
 *   remote content; every other at-rule, comment, nested rule and custom property is dropped;
 * - only functions on an allow-list (colours, gradients, calc, transforms, filters, …); anything else, such
 *   as `expression()`, drops its declaration, and so do `behavior`, `-moz-binding` and any backslash (escapes
 *   could spell `u\72l(`);
 * - every place that loads something — `url()`, `src()`, strings in `image-set()` / `image()` /
 *   `cross-fade()`, any string that looks like a URL — keeps only `cid:` (pointed at the portal's inline
 *   URL) and `data:image/…;base64`; a remote address is kept only when the reader allowed remote content,
 *   otherwise it becomes `none` and is reported; every other address becomes `none`;
 * - never a `<`, so nothing can end a <style> element.
 * CSS that does not parse, nests too deeply or is longer than the limit is dropped as a whole.
 */
import postcss, { type AtRule, type ChildNode, type Container, type Declaration, type Rule } from 'postcss';
import valueParser from 'postcss-value-parser';

export interface CssSanitizeOptions {
  /** Maps a Content-ID (without angle brackets, lower case) to the URL that serves that part inline. */
  inlineUrlFor: (contentId: string) => string | undefined;
  allowRemote: boolean;
}

/** Set to true when something remote was removed, so the reader can be offered to load it. */
export interface BlockedContent {
  remote: boolean;
}

/** A style attribute longer than this is dropped: inline styles in real mail are a few hundred characters. */
export const MAX_STYLE_ATTRIBUTE_CHARS = 16 * 1024;
/** A <style> element longer than this is dropped; newsletters carry a few tens of kilobytes. */
export const MAX_STYLESHEET_CHARS = 256 * 1024;
/** Rules inside @media/@supports inside …: deeper nesting is not real mail CSS. */
const MAX_BLOCK_DEPTH = 6;
/** Brackets inside one value, e.g. calc(min(…)). */
const MAX_BRACKET_DEPTH = 16;

const SAFE_DATA_IMAGE = /^data:image\/(?:png|gif|jpe?g|webp|bmp);base64,[a-z0-9+/=\s]*$/i;

const ALLOWED_FUNCTIONS = new Set([
  'rgb', 'rgba', 'hsl', 'hsla', 'hwb', 'lab', 'lch', 'oklab', 'oklch', 'color', 'color-mix',
  'calc', 'min', 'max', 'clamp', 'minmax', 'repeat', 'fit-content',
  'linear-gradient', 'radial-gradient', 'conic-gradient', 'repeating-linear-gradient',
  'repeating-radial-gradient', 'repeating-conic-gradient', '-webkit-linear-gradient', '-webkit-radial-gradient',
  '-moz-linear-gradient', '-moz-radial-gradient', '-o-linear-gradient', '-webkit-gradient', 'color-stop', 'from', 'to',
  'local', 'format', 'tech',
  'matrix', 'matrix3d', 'translate', 'translatex', 'translatey', 'translatez', 'translate3d', 'scale', 'scalex',
  'scaley', 'scale3d', 'rotate', 'rotatex', 'rotatey', 'rotatez', 'rotate3d', 'skew', 'skewx', 'skewy', 'perspective',
  'cubic-bezier', 'steps',
  'blur', 'brightness', 'contrast', 'drop-shadow', 'grayscale', 'hue-rotate', 'invert', 'opacity', 'saturate', 'sepia',
  'rect', 'inset', 'circle', 'ellipse', 'polygon', 'counter', 'counters',
]);
/** Functions whose argument is one address. */
const URL_FUNCTIONS = new Set(['url', 'src']);
/** Functions whose string arguments are addresses. */
const IMAGE_FUNCTIONS = new Set(['image-set', '-webkit-image-set', 'image', '-webkit-image', 'cross-fade', '-webkit-cross-fade']);
const FORBIDDEN_PROPERTIES = new Set(['behavior', '-ms-behavior', '-moz-binding', 'binding']);

class Unsafe extends Error {}

interface Context {
  options: CssSanitizeOptions;
  blocked: BlockedContent;
}

/** Sanitises the value of a style attribute (a list of declarations). */
export function sanitizeStyleAttribute(css: string, options: CssSanitizeOptions, blocked: BlockedContent): string {
  if (css.length > MAX_STYLE_ATTRIBUTE_CHARS) return '';
  // A brace in a declaration list can only be an attempt to close the wrapper rule below and start another.
  if (css.includes('{') || css.includes('}') || !nestingWithinLimits(css)) return '';
  const context = { options, blocked };
  const whole = declarationBlock(css);
  if (whole) return finish(declarationsOf(whole, context).join(';'));
  // One broken declaration ("color:red;;font-weight") should cost only itself, as it does in a browser.
  const pieces = splitDeclarations(css);
  if (!pieces) return '';
  const kept: string[] = [];
  for (const piece of pieces) {
    const block = declarationBlock(piece);
    if (block) kept.push(...declarationsOf(block, context));
  }
  return finish(kept.join(';'));
}

/** Parses a declaration list inside a wrapper rule; undefined when it does not parse as exactly that. */
function declarationBlock(css: string): Rule | undefined {
  const root = parse(`a{${css}}`);
  const rule = root?.nodes[0];
  return root && root.nodes.length === 1 && rule?.type === 'rule' ? rule : undefined;
}

/** At most this many declarations are tried one by one when a style attribute does not parse as a whole. */
const MAX_DECLARATIONS_ONE_BY_ONE = 100;

/** Splits at `;` outside quotes and brackets; undefined when there are too many pieces to try one by one. */
function splitDeclarations(css: string): string[] | undefined {
  const pieces: string[] = [];
  let start = 0;
  let quote = 0;
  let brackets = 0;
  const push = (end: number): boolean => {
    const piece = css.slice(start, end);
    if (piece.trim() !== '') pieces.push(piece);
    start = end + 1;
    return pieces.length <= MAX_DECLARATIONS_ONE_BY_ONE;
  };
  for (let i = 0; i < css.length; i += 1) {
    const code = css.charCodeAt(i);
    if (quote) {
      if (code === quote || code === 0x0a) quote = 0;
    } else if (code === 0x22 || code === 0x27) {
      quote = code;
    } else if (code === 0x28) {
      brackets += 1;
    } else if (code === 0x29 && brackets > 0) {
      brackets -= 1;
    } else if (code === 0x3b && brackets === 0) {
      if (!push(i)) return undefined;
    }
  }
  // The last piece, even inside an unclosed string or bracket: it fails to parse on its own and is dropped.
  return push(css.length) ? pieces : undefined;
}

/** Sanitises the text of a <style> element (a style sheet). */
export function sanitizeStyleSheet(text: string, options: CssSanitizeOptions, blocked: BlockedContent): string {
  if (text.length > MAX_STYLESHEET_CHARS) return '';
  // Old mail wraps its styles in <!-- -->, which CSS ignores at the top level; postcss does not know them.
  const css = text.split('<!--').join(' ').split('-->').join(' ');
  if (!nestingWithinLimits(css)) return '';
  const root = parse(css);
  if (!root) return '';
  return finish(blockContents(root, { options, blocked }, 0));
}

function parse(css: string): ReturnType<typeof postcss.parse> | undefined {
  try {
    return postcss.parse(css);
  } catch {
    return undefined;
  }
}

/** The output never holds `<`: nothing built above should produce one, and if it did, nothing is kept. */
function finish(css: string): string {
  return css.includes('<') ? '' : css;
}

function blockContents(container: Container, context: Context, depth: number): string {
  let out = '';
  for (const node of container.nodes ?? []) out += childNode(node, context, depth);
  return out;
}

function childNode(node: ChildNode, context: Context, depth: number): string {
  if (node.type === 'rule') return rule(node, context);
  if (node.type === 'atrule') return atRule(node, context, depth);
  return ''; // comments, and declarations outside a rule
}

function rule(node: Rule, context: Context): string {
  if (!isWellFormedSelector(node.selector)) return '';
  const declarations = declarationsOf(node, context);
  return declarations.length ? `${oneLine(node.selector)}{${declarations.join(';')}}` : '';
}

function atRule(node: AtRule, context: Context, depth: number): string {
  const name = node.name.toLowerCase();
  if (name === 'import') {
    context.blocked.remote = true;
    return '';
  }
  if (depth >= MAX_BLOCK_DEPTH || !node.nodes) return '';
  if (name === 'media' || name === 'supports') {
    if (!isPlainCondition(node.params)) return '';
    const inner = blockContents(node, context, depth + 1);
    return inner ? `@${name} ${node.params.trim()}{${inner}}` : '';
  }
  if (name === 'font-face') {
    const declarations = declarationsOf(node, context);
    return declarations.length ? `@font-face{${declarations.join(';')}}` : '';
  }
  if (name === 'keyframes' || name === '-webkit-keyframes' || name === '-moz-keyframes') {
    const keyframesName = node.params.trim();
    if (!isIdentifier(keyframesName)) return '';
    let frames = '';
    for (const child of node.nodes) if (child.type === 'rule') frames += rule(child, context);
    return `@${name} ${keyframesName}{${frames}}`;
  }
  return '';
}

function declarationsOf(container: Container, context: Context): string[] {
  const out: string[] = [];
  for (const node of container.nodes ?? []) {
    if (node.type !== 'decl') continue;
    const declaration = sanitizeDeclaration(node, context);
    if (declaration) out.push(declaration);
  }
  return out;
}

function sanitizeDeclaration(node: Declaration, context: Context): string | undefined {
  const property = node.prop.toLowerCase();
  if (!isPropertyName(property) || FORBIDDEN_PROPERTIES.has(property)) return undefined;
  const raw = node.raws.value?.raw ?? node.value;
  if (raw.includes('\\') || node.value.includes('\\')) return undefined;
  let value: string;
  try {
    value = serializeValue(valueParser(node.value).nodes, context, false, 0).trim();
  } catch (error) {
    // Remote addresses met before the unsafe part are still reported: the declaration was dropped with them.
    if (error instanceof Unsafe) return undefined;
    throw error;
  }
  if (value === '') return undefined;
  return `${property}:${value}${node.important ? '!important' : ''}`;
}

function serializeValue(nodes: valueParser.Node[], context: Context, addressPosition: boolean, depth: number): string {
  if (depth > MAX_BRACKET_DEPTH) throw new Unsafe();
  let out = '';
  for (const node of nodes) {
    switch (node.type) {
      case 'space':
      case 'comment':
        out += ' ';
        break;
      case 'div':
        out += node.value;
        break;
      case 'word':
        if (!isPlainWord(node.value)) throw new Unsafe();
        out += node.value;
        break;
      case 'unicode-range':
        if (!isUnicodeRange(node.value)) throw new Unsafe();
        out += node.value;
        break;
      case 'string':
        if (node.unclosed || !isPlainString(node.value)) throw new Unsafe();
        if (addressPosition || looksLikeAddress(node.value)) {
          const address = safeAddress(node.value, context);
          out += address === undefined ? 'none' : `"${address}"`;
        } else {
          out += `${node.quote}${node.value}${node.quote}`;
        }
        break;
      case 'function':
        out += serializeFunction(node, context, depth);
        break;
      default:
        throw new Unsafe();
    }
  }
  return out;
}

function serializeFunction(node: valueParser.FunctionNode, context: Context, depth: number): string {
  if (node.unclosed) throw new Unsafe();
  const name = node.value.toLowerCase();
  if (URL_FUNCTIONS.has(name)) {
    const args = node.nodes.filter((n) => n.type !== 'space' && n.type !== 'comment');
    const target = args.length === 1 && (args[0]!.type === 'word' || args[0]!.type === 'string') ? args[0]! : undefined;
    if (!target || (target.type === 'string' && (target.unclosed || !isPlainString(target.value)))) throw new Unsafe();
    const address = safeAddress(target.value, context);
    return address === undefined ? 'none' : `url("${address}")`;
  }
  if (IMAGE_FUNCTIONS.has(name)) return `${name}(${serializeValue(node.nodes, context, true, depth + 1)})`;
  if (ALLOWED_FUNCTIONS.has(name)) return `${name}(${serializeValue(node.nodes, context, false, depth + 1)})`;
  throw new Unsafe();
}

/**
 * The address to write for a reference in CSS, or undefined for `none`. cid: becomes the portal's inline URL,
 * data:image stays, a remote address stays only when allowed (and is reported when not); nothing else loads.
 */
function safeAddress(reference: string, context: Context): string | undefined {
  // The URL parser drops tabs and line breaks, so "ht\ttp:" is classified as the "http:" it becomes.
  const url = withoutTabsAndLineBreaks(reference).trim();
  const lower = url.toLowerCase();
  if (lower.startsWith('cid:')) {
    const inline = context.options.inlineUrlFor(normaliseContentId(url.slice(4)));
    return inline === undefined ? undefined : quotedAddress(inline);
  }
  if (url.length <= MAX_STYLESHEET_CHARS && SAFE_DATA_IMAGE.test(url)) return quotedAddress(url.replace(/\s+/g, ''));
  if (isRemoteAddress(lower)) {
    if (context.options.allowRemote && (lower.startsWith('https://') || lower.startsWith('http://'))) return quotedAddress(url);
    context.blocked.remote = true;
  }
  return undefined;
}

/** http:, https:, protocol-relative, or any other scheme that names a host (ftp://, …). */
function isRemoteAddress(lower: string): boolean {
  if (lower.startsWith('//') || lower.startsWith('/\\')) return true;
  const colon = lower.indexOf(':');
  if (colon <= 0) return false;
  const scheme = lower.slice(0, colon);
  for (let i = 0; i < scheme.length; i += 1) {
    const code = scheme.charCodeAt(i);
    const letter = code >= 0x61 && code <= 0x7a;
    if (!letter && (i === 0 || !((code >= 0x30 && code <= 0x39) || code === 0x2b || code === 0x2d || code === 0x2e))) return false;
  }
  return !['data', 'cid', 'javascript', 'vbscript', 'about', 'blob'].includes(scheme);
}

/** Strings that name something to load even where CSS does not expect an address. */
function looksLikeAddress(value: string): boolean {
  const lower = withoutTabsAndLineBreaks(value).trim().toLowerCase();
  return lower.includes('://') || lower.startsWith('//') || lower.startsWith('cid:') || lower.startsWith('data:') || isRemoteAddress(lower);
}

function quotedAddress(url: string): string {
  let out = '';
  for (const char of url) {
    if (char === '"') out += '%22';
    else if (char === '<') out += '%3C';
    else if (char === '>') out += '%3E';
    else if (char === '\\') out += '%5C';
    else if (char.charCodeAt(0) > 0x20) out += char;
  }
  return out;
}

function withoutTabsAndLineBreaks(value: string): string {
  let out = '';
  for (const char of value) if (char !== '\t' && char !== '\n' && char !== '\r') out += char;
  return out;
}

export function normaliseContentId(value: string): string {
  let id = value.trim();
  try {
    id = decodeURIComponent(id);
  } catch {
    // keep it as written
  }
  if (id.startsWith('<')) id = id.slice(1);
  if (id.endsWith('>')) id = id.slice(0, -1);
  return id.toLowerCase();
}

// --- character classes, as loops: each looks at every character once -----------------------------------------

/** Lower-case letters, digits (panose-1) and hyphens, not starting with a digit; no custom properties. */
function isPropertyName(value: string): boolean {
  if (value === '' || value.startsWith('--')) return false;
  for (let i = 0; i < value.length; i += 1) {
    const code = value.charCodeAt(i);
    const digit = code >= 0x30 && code <= 0x39;
    if (!((code >= 0x61 && code <= 0x7a) || code === 0x2d || (digit && i > 0))) return false;
  }
  return true;
}

function isIdentifier(value: string): boolean {
  if (value === '') return false;
  for (let i = 0; i < value.length; i += 1) {
    const code = value.charCodeAt(i);
    if (!(isAsciiAlphanumeric(code) || code === 0x2d || code === 0x5f || code >= 0x80)) return false;
  }
  return true;
}

/** Numbers, units, keywords, colours, font names; no `:`, `/`, `\`, `(` or quotes. */
function isPlainWord(value: string): boolean {
  for (let i = 0; i < value.length; i += 1) {
    const code = value.charCodeAt(i);
    // - _ . # % + * !
    const punctuation = code === 0x2d || code === 0x5f || code === 0x2e || code === 0x23 || code === 0x25 || code === 0x2b || code === 0x2a;
    if (!(isAsciiAlphanumeric(code) || punctuation || code >= 0xa0)) return false;
  }
  return true;
}

function isUnicodeRange(value: string): boolean {
  for (let i = 0; i < value.length; i += 1) {
    const code = value.charCodeAt(i) | 0x20;
    if (!(isAsciiAlphanumeric(code) || code === 0x2b || code === 0x2d || code === 0x3f)) return false;
  }
  return true;
}

/** Text inside quotes: no line breaks (they end a string early in a browser), no `<`, no escapes. */
function isPlainString(value: string): boolean {
  for (let i = 0; i < value.length; i += 1) {
    const code = value.charCodeAt(i);
    if (code === 0x0a || code === 0x0d || code === 0x0c || code === 0x3c || code === 0x5c || code === 0) return false;
  }
  return true;
}

/** "h1,\n  h2" → "h1, h2": selectors may span lines (outside quotes, which isWellFormedSelector checked). */
function oneLine(selector: string): string {
  let out = '';
  for (const char of selector.trim()) out += char === '\n' || char === '\r' || char === '\f' || char === '\t' ? ' ' : char;
  return out;
}

/**
 * A selector is written out as parsed, so it must not be able to end the rule or open another: no braces,
 * semicolons, `<`, `@`, backslashes or comments; brackets balanced; quoted parts closed on their line.
 */
function isWellFormedSelector(selector: string): boolean {
  if (selector.trim() === '') return false;
  let quote = 0;
  let brackets = 0;
  for (let i = 0; i < selector.length; i += 1) {
    const code = selector.charCodeAt(i);
    if (code === 0x5c || code === 0x3c || code === 0) return false;
    if (quote) {
      // A line break ends a string early in a browser, so the rest would be read differently.
      if (code === 0x0a || code === 0x0d || code === 0x0c) return false;
      if (code === quote) quote = 0;
      continue;
    }
    if (code === 0x22 || code === 0x27) quote = code;
    else if (code === 0x7b || code === 0x7d || code === 0x3b || code === 0x40) return false;
    else if (code === 0x2f && selector.charCodeAt(i + 1) === 0x2a) return false;
    else if (code === 0x28 || code === 0x5b) brackets += 1;
    else if (code === 0x29 || code === 0x5d) {
      brackets -= 1;
      if (brackets < 0) return false;
    }
  }
  return quote === 0 && brackets === 0;
}

/** @media / @supports conditions: words, numbers, brackets, colons and commas; no strings, no functions that load. */
function isPlainCondition(params: string): boolean {
  let brackets = 0;
  for (let i = 0; i < params.length; i += 1) {
    const code = params.charCodeAt(i);
    const plain =
      isAsciiAlphanumeric(code) ||
      code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0d ||
      // - _ . : , % / = >  and brackets
      code === 0x2d || code === 0x5f || code === 0x2e || code === 0x3a || code === 0x2c || code === 0x25 || code === 0x2f ||
      code === 0x3d || code === 0x3e || code === 0x28 || code === 0x29;
    if (!plain) return false;
    if (code === 0x2f && params.charCodeAt(i + 1) === 0x2a) return false;
    if (code === 0x28) brackets += 1;
    if (code === 0x29 && --brackets < 0) return false;
  }
  const lower = params.toLowerCase();
  return brackets === 0 && !lower.includes('url') && !lower.includes('image') && !lower.includes('src');
}

function isAsciiAlphanumeric(code: number): boolean {
  return (code >= 0x61 && code <= 0x7a) || (code >= 0x41 && code <= 0x5a) || (code >= 0x30 && code <= 0x39);
}

/**
 * A linear pre-check before parsing: blocks ({) and brackets (( [) nest at most a few levels. postcss and
 * postcss-value-parser build one node per level, so 50,000 × "a{" would otherwise cost half a second.
 * Strings and comments are skipped so that a "(" in text is not counted.
 */
function nestingWithinLimits(css: string): boolean {
  let blocks = 0;
  let brackets = 0;
  for (let i = 0; i < css.length; i += 1) {
    const code = css.charCodeAt(i);
    if (code === 0x22 || code === 0x27) {
      // Skip to the closing quote (or the line end, where a browser ends an unclosed string).
      let j = i + 1;
      while (j < css.length && css.charCodeAt(j) !== code && css.charCodeAt(j) !== 0x0a) j += css.charCodeAt(j) === 0x5c ? 2 : 1;
      i = j;
    } else if (code === 0x2f && css.charCodeAt(i + 1) === 0x2a) {
      const end = css.indexOf('*/', i + 2);
      if (end < 0) return true; // an unclosed comment runs to the end: nothing more nests
      i = end + 1;
    } else if (code === 0x5c) {
      i += 1;
    } else if (code === 0x7b) {
      if (++blocks > MAX_BLOCK_DEPTH + 1) return false;
    } else if (code === 0x7d) {
      if (blocks > 0) blocks -= 1;
    } else if (code === 0x28 || code === 0x5b) {
      if (++brackets > MAX_BRACKET_DEPTH) return false;
    } else if (code === 0x29 || code === 0x5d) {
      if (brackets > 0) brackets -= 1;
    }
  }
  return true;
}
