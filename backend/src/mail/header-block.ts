/**
 * Reading and rewriting the header section of a raw RFC 5322 message without parsing the body.
 * The raw bytes of untouched header fields and of the body are kept exactly as received.
 */
import libmime from 'libmime';
import { scanHeaderSection, STORED_MESSAGE_LIMITS, type HeaderLimits, type HeaderRefusal } from './header-section.ts';

const CRLF = Buffer.from('\r\n');

export interface HeaderField {
  /**
   * The field name as written (case preserved), taken from the unfolded field and trimmed: a name with
   * a space before its colon or folded onto a second line is still the name other parsers see.
   */
  name: string;
  /** The whole field including folded continuation lines and its final CRLF. */
  raw: Buffer;
}

export interface SplitMessage {
  fields: HeaderField[];
  /** Everything after the header section, starting with the blank line's second CRLF. */
  body: Buffer;
}

/**
 * The header section and the body, or why the header section cannot be read whole. There is no
 * truncated result: a caller gets every field or a refusal it must handle.
 */
export type MessageSplit = ({ outcome: 'split' } & SplitMessage) | HeaderRefusal;

export function splitMessage(raw: Buffer, limits: HeaderLimits = STORED_MESSAGE_LIMITS): MessageSplit {
  const scan = scanHeaderSection(raw, limits);
  if (scan.outcome !== 'complete') return scan;
  return { outcome: 'split', fields: parseFields(raw.subarray(0, scan.headerEnd)), body: raw.subarray(scan.headerEnd) };
}

function parseFields(section: Buffer): HeaderField[] {
  // Offsets first, buffers last: joining continuation lines one by one would copy a long folded field
  // once per line.
  const spans: Array<{ start: number; end: number }> = [];
  let start = 0;
  while (start < section.length) {
    let end = section.indexOf(CRLF, start);
    end = end < 0 ? section.length : end + 2;
    const first = section[start];
    const isContinuation = first === 0x20 || first === 0x09;
    const last = spans[spans.length - 1];
    if (isContinuation && last) last.end = end;
    else spans.push({ start, end });
    start = end;
  }
  return spans.map(({ start, end }) => {
    const raw = section.subarray(start, end);
    return { name: fieldName(raw), raw };
  });
}

/**
 * The text before the first colon of the unfolded field, trimmed. `X-Sealpost-Encrypt : none` and
 * `X-Sealpost-Encrypt\r\n : none` are both named X-Sealpost-Encrypt, as lenient readers downstream see them.
 * A line without any colon is no field at all; it is named by its first word, so that a reader that
 * guesses (`X-Sealpost-Encrypt none`) never gets a control header the removal did not see.
 */
function fieldName(raw: Buffer): string {
  const colon = raw.indexOf(0x3a);
  if (colon === 0) return '';
  const before = colon > 0 ? raw.subarray(0, colon) : raw.subarray(0, Math.min(raw.length, MAX_GUESSED_NAME_BYTES));
  const unfolded = before.toString('latin1').replace(/\r\n/g, '').trim();
  return colon > 0 ? unfolded : (unfolded.split(/[ \t]/, 1)[0] ?? '');
}

/** A header field name is short; a colon-less line is named from its first bytes only. */
const MAX_GUESSED_NAME_BYTES = 200;

/** The unfolded value of a field, with RFC 2047 encoded words decoded. */
export function fieldValue(field: HeaderField): string {
  const text = field.raw.toString('utf8');
  const colon = text.indexOf(':');
  const value = text.slice(colon + 1).replace(/\r\n([ \t])/g, '$1').replace(/\r\n$/, '').trim();
  try {
    return libmime.decodeWords(value);
  } catch {
    return value;
  }
}

/** Case-insensitive lookup of the first field with this name. */
export function headerValue(fields: HeaderField[], name: string): string | undefined {
  const lower = name.toLowerCase();
  const field = fields.find((f) => f.name.toLowerCase() === lower);
  return field ? fieldValue(field) : undefined;
}

/** A header line ready to insert: folded, non-ASCII encoded, CRLF-terminated. */
export function formatField(name: string, value: string): Buffer {
  // Values often come from decoded mail (a subject may decode to NUL or CR): no control character may
  // reach a header the gateway writes, or the next server refuses it (RFC 5322 2.2).
  const safe = value.replace(/[\x00-\x08\x0a-\x1f\x7f]+/g, ' ');
  const encoded = /[^\x00-\x7f]/.test(safe) ? libmime.encodeWords(safe, 'Q', 52) : safe;
  return Buffer.from(`${libmime.foldLines(`${name}: ${encoded}`, 76, false).replace(/\r?\n/g, '\r\n')}\r\n`);
}

export interface HeaderRewrite {
  /** Fields for which this returns true are dropped. */
  remove?: (name: string, field: HeaderField) => boolean;
  /** Values for fields to replace in place (first occurrence), by lower-case name. */
  replace?: Record<string, string>;
  /** Raw header lines (CRLF-terminated) placed before all others, in this order. */
  prepend?: Buffer[];
  /** Raw header lines placed after all others. */
  append?: Buffer[];
}

export function rewriteHeaders(message: SplitMessage, rewrite: HeaderRewrite): Buffer {
  const parts: Buffer[] = [...(rewrite.prepend ?? [])];
  const replaced = new Set<string>();
  for (const field of message.fields) {
    const lower = field.name.toLowerCase();
    if (rewrite.remove?.(field.name, field)) continue;
    const replacement = rewrite.replace?.[lower];
    if (replacement !== undefined && !replaced.has(lower)) {
      replaced.add(lower);
      parts.push(formatField(field.name, replacement));
      continue;
    }
    parts.push(field.raw);
  }
  parts.push(...(rewrite.append ?? []));
  parts.push(message.body);
  return Buffer.concat(parts);
}

/** Every value of a field that may occur more than once, for readers that must see all of them (control headers). */
export function headerValues(fields: HeaderField[], name: string): string[] {
  const lower = name.toLowerCase();
  return fields.filter((f) => f.name.toLowerCase() === lower).map(fieldValue);
}

/** A lookup for the control-header contract: all values of repeated fields, so a conflict cannot hide. */
export function controlHeaderLookup(fields: HeaderField[]): (name: string) => string | string[] | undefined {
  return (name) => {
    const values = headerValues(fields, name);
    return values.length === 0 ? undefined : values.length === 1 ? values[0] : values;
  };
}

/**
 * The headers that carry the inbound checks' verdict (X-Spam-Flag, X-Spam-Status). Only the gateway may
 * write them: they are removed from Internet mail on arrival, so a sender cannot pre-flag (or pre-clear)
 * its own message.
 */
export function isSpamVerdictHeader(name: string): boolean {
  const normalised = name.replace(/\s+/g, '').toLowerCase();
  return normalised === 'x-spam-flag' || normalised === 'x-spam-status';
}
