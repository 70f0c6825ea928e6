/**
 * The words of a message as a person reads them: the Subject (RFC 2047 decoded), the text/plain parts
 * and the text/html parts turned into text, each decoded from its transfer encoding and charset. The
 * content filter matches its rules on this; the link filter reads the same text.
 *
 * The parts are found by the bounded MIME scan the structure check uses (mail/mime-structure.ts), not
 * by mailparser, which buffers and decodes attachments too. Only inline text parts are decoded, and
 * everything is capped: parts and nesting by the policy's limits, decoded text by MAX_TEXT_CHARS in
 * total. What was left out is said in `cut`, so a caller can tell "clean" from "not fully read".
 * Nothing here throws on bad input: an unknown charset is read as UTF-8 (or Latin-1 when the bytes
 * are not UTF-8), broken base64 decodes what it can, an unclosed multipart ends at the body's end.
 */
import iconv from 'iconv-lite';
import { Parser } from 'htmlparser2';
import libmime from 'libmime';
import type { HeaderField, SplitMessage } from '../mail/header-block.ts';
import { scanMimeStructure, unfoldedValue, type MimePartSummary } from '../mail/mime-structure.ts';

export interface MessageText {
  subject: string;
  /** The text/plain parts, decoded, separated by blank lines. */
  text: string;
  /** The text/html parts as text: no tags, scripts or styles; entities decoded. */
  html: string;
  /** What was not read: parts past a limit, text past MAX_TEXT_CHARS, a subject cut short. Empty when nothing was. */
  cut: string[];
  /** The text/html parts as decoded HTML, when asked for (keepHtml): the link filter reads their markup. */
  htmlSource?: string[];
}

export interface MessageTextLimits {
  maxParts: number;
  maxDepth: number;
  /** Characters of decoded text (text and html together) at most. */
  maxTextChars?: number;
  /** Keep each HTML part's decoded markup too (htmlSource). */
  keepHtml?: boolean;
  /** Leave `html` empty: the caller reads the markup (keepHtml) and not its text. */
  skipHtmlText?: boolean;
}

/** A megabyte of text is far more than any person reads in one message; past it, nothing new is learned. */
export const MAX_TEXT_CHARS = 1024 * 1024;
/** A subject longer than this is no subject a person reads; the rest is not decoded. */
const MAX_SUBJECT_CHARS = 4096;
const MAX_PARAMETER_CHARS = 2000;

/**
 * Elements whose end separates words ("<p>a</p><p>b</p>" reads "a b"); inline ones do not
 * ("Über<b>weisung</b>" stays one word).
 */
const BLOCK_ELEMENTS = new Set([
  'address', 'article', 'aside', 'blockquote', 'br', 'dd', 'div', 'dl', 'dt', 'footer', 'form', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6',
  'header', 'hr', 'li', 'main', 'nav', 'ol', 'p', 'pre', 'section', 'table', 'td', 'th', 'tr', 'ul', 'img', 'option', 'title', 'body',
]);
/** Elements whose text nobody sees. */
const HIDDEN_ELEMENTS = new Set(['script', 'style', 'head', 'template', 'noscript']);

export function extractMessageText(message: SplitMessage, limits: MessageTextLimits): MessageText {
  const maxChars = limits.maxTextChars ?? MAX_TEXT_CHARS;
  const cut: string[] = [];
  const subject = readSubject(message.fields, cut);
  const structure = scanMimeStructure(message, { maxParts: limits.maxParts, maxDepth: limits.maxDepth, maxBodyBytes: message.body.length });
  if (structure.limitReached === 'parts') cut.push(`parts past the first ${limits.maxParts}`);
  if (structure.limitReached === 'depth') cut.push(`parts nested more than ${limits.maxDepth} deep`);

  const texts: string[] = [];
  const htmls: string[] = [];
  const sources: string[] = [];
  let budget = maxChars;
  for (const part of structure.partList) {
    if (budget <= 0) {
      cut.push(`text past ${maxChars} characters`);
      break;
    }
    const kind = part.contentType === 'text/plain' ? 'text' : part.contentType === 'text/html' ? 'html' : undefined;
    if (!kind || isAttachment(part.fields)) continue;
    const end = part.bodyBytes === undefined ? message.body.length : part.contentOffset + part.bodyBytes;
    const content = message.body.subarray(Math.min(part.contentOffset, message.body.length), end);
    // A character is at least one byte: bytes beyond four per allowed character cannot become read text.
    const bytes = content.length > budget * 4 ? content.subarray(0, budget * 4) : content;
    let decoded = decodeCharset(decodeTransfer(bytes, fieldOf(part.fields, 'content-transfer-encoding')), charsetOf(part.fields));
    if (kind === 'html') {
      if (limits.keepHtml) sources.push(decoded.length > budget * 4 ? decoded.slice(0, budget * 4) : decoded);
      decoded = limits.skipHtmlText ? '' : htmlToText(decoded);
    }
    if (decoded.length > budget) {
      decoded = decoded.slice(0, budget);
      cut.push(`text past ${maxChars} characters`);
    }
    budget -= decoded.length;
    (kind === 'text' ? texts : htmls).push(decoded);
  }
  return { subject, text: texts.join('\n\n'), html: htmls.join('\n\n'), cut: [...new Set(cut)], ...(limits.keepHtml ? { htmlSource: sources } : {}) };
}

/** One text part's content as text, decoded from its transfer encoding and charset, and the charset it named. */
export function decodeTextPart(message: SplitMessage, part: MimePartSummary): { text: string; charset: string } {
  const end = part.bodyBytes === undefined ? message.body.length : part.contentOffset + part.bodyBytes;
  const content = message.body.subarray(Math.min(part.contentOffset, message.body.length), end);
  const charset = charsetOf(part.fields);
  return { text: decodeCharset(decodeTransfer(content, fieldOf(part.fields, 'content-transfer-encoding')), charset), charset };
}

/**
 * Text in the charset its part named, when that charset can write it (the part then reads as before,
 * a <meta charset> in its HTML included); otherwise in UTF-8, and the charset to name says so.
 */
export function encodeTextPart(text: string, charset: string): { bytes: Buffer; charset: string } {
  const ascii = charset === 'us-ascii' || charset === 'ascii';
  if (charset === 'utf-8' || charset === 'utf8' || (ascii && /^[\x00-\x7f]*$/.test(text))) return { bytes: Buffer.from(text, 'utf8'), charset };
  if (!ascii && charset !== 'utf-8') {
    try {
      if (iconv.encodingExists(charset)) {
        const bytes = iconv.encode(text, charset);
        if (iconv.decode(bytes, charset) === text) return { bytes, charset };
      }
    } catch {
      // a charset iconv cannot write: UTF-8 below
    }
  }
  return { bytes: Buffer.from(text, 'utf8'), charset: 'utf-8' };
}

function readSubject(fields: readonly HeaderField[], cut: string[]): string {
  const field = fields.find((f) => f.name.toLowerCase() === 'subject');
  if (!field) return '';
  let raw = unfoldedValue(field, 'utf8');
  if (raw.length > MAX_SUBJECT_CHARS) {
    raw = raw.slice(0, MAX_SUBJECT_CHARS);
    cut.push(`the subject past ${MAX_SUBJECT_CHARS} characters`);
  }
  try {
    return libmime.decodeWords(raw);
  } catch {
    return raw;
  }
}

function fieldOf(fields: readonly HeaderField[], name: string): string {
  const field = fields.find((f) => f.name.toLowerCase() === name);
  return field ? unfoldedValue(field).slice(0, MAX_PARAMETER_CHARS) : '';
}

/** Whether a part says it is an attachment (Content-Disposition: attachment), not text to read. */
export function isAttachment(fields: readonly HeaderField[]): boolean {
  return fieldOf(fields, 'content-disposition').trim().toLowerCase().startsWith('attachment');
}

function charsetOf(fields: readonly HeaderField[]): string {
  const value = fieldOf(fields, 'content-type');
  if (!value) return 'us-ascii';
  try {
    return (libmime.parseHeaderValue(value).params.charset ?? 'us-ascii').trim().toLowerCase();
  } catch {
    return 'us-ascii';
  }
}

function decodeTransfer(bytes: Buffer, encoding: string): Buffer {
  const name = encoding.trim().toLowerCase();
  // Node's base64 decoder skips what is no base64 (line breaks, garbage) and never throws.
  if (name === 'base64') return Buffer.from(bytes.toString('latin1'), 'base64');
  if (name === 'quoted-printable') return decodeQuotedPrintable(bytes);
  return bytes;
}

/**
 * RFC 2045 6.7 quoted-printable, byte by byte in one pass. Written here because the decoder libmime
 * uses (libqp) is not a dependency of ours, and a decoder over a Buffer is a dozen lines. A "=" not
 * followed by two hex digits or a line break is kept as it is, as RFC 2045 advises readers to do.
 */
export function decodeQuotedPrintable(bytes: Buffer): Buffer {
  const out = Buffer.allocUnsafe(bytes.length);
  let length = 0;
  for (let i = 0; i < bytes.length; i += 1) {
    const byte = bytes[i]!;
    if (byte !== 0x3d) {
      out[length++] = byte;
      continue;
    }
    const high = hexValue(bytes[i + 1]);
    const low = hexValue(bytes[i + 2]);
    if (high >= 0 && low >= 0) {
      out[length++] = high * 16 + low;
      i += 2;
      continue;
    }
    // A soft line break: "=" then optional white space then CRLF (or a bare LF).
    let j = i + 1;
    while (j < bytes.length && (bytes[j] === 0x20 || bytes[j] === 0x09)) j += 1;
    if (bytes[j] === 0x0d && bytes[j + 1] === 0x0a) i = j + 1;
    else if (bytes[j] === 0x0a) i = j;
    else out[length++] = byte;
  }
  return out.subarray(0, length);
}

function hexValue(byte: number | undefined): number {
  if (byte === undefined) return -1;
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  if (byte >= 0x41 && byte <= 0x46) return byte - 0x37;
  if (byte >= 0x61 && byte <= 0x66) return byte - 0x57;
  return -1;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Bytes in the named charset as text. UTF-8 and US-ASCII go through TextDecoder (invalid sequences
 * become U+FFFD); other charsets through iconv-lite; a charset neither knows is read as UTF-8 when the
 * bytes are valid UTF-8 and as Latin-1 otherwise, so that a made-up charset hides no words.
 */
function decodeCharset(bytes: Buffer, charset: string): string {
  if (charset === 'utf-8' || charset === 'utf8' || charset === 'us-ascii' || charset === 'ascii') return bytes.toString('utf8');
  try {
    if (iconv.encodingExists(charset)) return iconv.decode(bytes, charset);
  } catch {
    // an unreadable charset name: fall through to the guess below
  }
  try {
    return utf8.decode(bytes);
  } catch {
    return bytes.toString('latin1');
  }
}

/**
 * HTML as the words a reader sees, with htmlparser2's streaming tokenizer (linear, no DOM built):
 * text nodes with entities decoded, nothing from script/style/head, a space where a block ends.
 */
export function htmlToText(html: string): string {
  const pieces: string[] = [];
  let hidden = 0;
  const parser = new Parser(
    {
      onopentagname(name) {
        if (HIDDEN_ELEMENTS.has(name)) hidden += 1;
        else if (BLOCK_ELEMENTS.has(name)) pieces.push(' ');
      },
      onclosetag(name) {
        if (HIDDEN_ELEMENTS.has(name)) hidden = Math.max(0, hidden - 1);
        else if (BLOCK_ELEMENTS.has(name)) pieces.push(' ');
      },
      ontext(text) {
        if (hidden === 0) pieces.push(text);
      },
    },
    { decodeEntities: true, lowerCaseTags: true },
  );
  parser.write(html);
  parser.end();
  return pieces.join('');
}
