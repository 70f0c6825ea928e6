/**
 * Reading and rewriting the header section of a raw RFC 5322 message without parsing the body.
 * The raw bytes of untouched header fields and of the body are kept exactly as received.
 */
import libmime from 'libmime';

const CRLF = Buffer.from('\r\n');
const BLANK_LINE = Buffer.from('\r\n\r\n');

export interface HeaderField {
  /** The field name as written (case preserved). */
  name: string;
  /** The whole field including folded continuation lines and its final CRLF. */
  raw: Buffer;
}

export interface SplitMessage {
  fields: HeaderField[];
  /** Everything after the header section, starting with the blank line's second CRLF. */
  body: Buffer;
  /** True when the header section was cut at maxHeaderBytes without finding its end. */
  headerTruncated: boolean;
}

export function splitMessage(raw: Buffer, maxHeaderBytes = 1024 * 1024): SplitMessage {
  let headerEnd: number;
  let bodyStart: number;
  let headerTruncated = false;
  if (raw.subarray(0, 2).equals(CRLF)) {
    headerEnd = 0;
    bodyStart = 0;
  } else {
    const blank = raw.indexOf(BLANK_LINE);
    if (blank >= 0 && blank + 2 <= maxHeaderBytes) {
      headerEnd = blank + 2;
      bodyStart = blank + 2;
    } else if (blank < 0 && raw.length <= maxHeaderBytes) {
      headerEnd = raw.length;
      bodyStart = raw.length;
    } else {
      // An endless header section: treat what fits as headers, the rest as body, and say so.
      const lastLine = raw.lastIndexOf(CRLF, maxHeaderBytes);
      headerEnd = lastLine > 0 ? lastLine + 2 : 0;
      bodyStart = headerEnd;
      headerTruncated = true;
    }
  }
  return { fields: parseFields(raw.subarray(0, headerEnd)), body: raw.subarray(bodyStart), headerTruncated };
}

function parseFields(section: Buffer): HeaderField[] {
  const fields: HeaderField[] = [];
  let start = 0;
  while (start < section.length) {
    let end = section.indexOf(CRLF, start);
    end = end < 0 ? section.length : end + 2;
    const first = section[start];
    const isContinuation = first === 0x20 || first === 0x09;
    const last = fields[fields.length - 1];
    if (isContinuation && last) {
      last.raw = Buffer.concat([last.raw, section.subarray(start, end)]);
    } else {
      const line = section.subarray(start, end);
      const colon = line.indexOf(0x3a);
      const name = colon > 0 ? line.subarray(0, colon).toString('latin1').trim() : '';
      fields.push({ name, raw: line });
    }
    start = end;
  }
  return fields;
}

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
  const safe = value.replace(/[\r\n]+/g, ' ');
  // eslint-disable-next-line no-control-regex
  const encoded = /[^\x00-\x7f]/.test(safe) ? libmime.encodeWords(safe, 'Q', 52) : safe;
  return Buffer.from(`${libmime.foldLines(`${name}: ${encoded}`, 76, true).replace(/\r?\n/g, '\r\n')}\r\n`);
}

export interface HeaderRewrite {
  /** Fields whose name makes this return true are dropped. */
  remove?: (name: string) => boolean;
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
    if (rewrite.remove?.(field.name)) continue;
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
