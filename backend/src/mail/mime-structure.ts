/**
 * A bounded scan of a message's MIME structure: how many parts, how deeply nested, each part's content
 * type and size, and the longest header line and largest header field in any header section. It stops
 * at the first limit and says which one, rather than reading on.
 *
 * Why not mailparser: simpleParser buffers and decodes every part (base64, charsets). Measured here on
 * Node 20: 11 CPU-ms for a 411 KiB message with three 100 KiB attachments and 1.1 ms for a 4 KiB HTML
 * alternative, against 0.13 and 0.04 ms for this scan; the whole guard stage may spend 0.3 ms. The scan
 * only looks for boundary lines: one native Buffer.indexOf for "\r\n--" over the body, one map lookup
 * of each such line (if it is short enough to be a delimiter) among the open boundaries, and header
 * sections read with the same limits as everywhere else (header-section.ts, header-block.ts). Work is
 * linear in the bytes scanned, whatever the nesting; no regular expression sees the body. A part header
 * that cannot be read ends the scan, so no stretch of the body is read as a header twice.
 */
import libmime from 'libmime';
import { splitMessage, type HeaderField, type SplitMessage } from './header-block.ts';
import { MAX_HEADER_FIELDS, MAX_HEADER_LINE_BYTES, type HeaderLimits } from './header-section.ts';

export interface MimeScanLimits {
  /** Parts counted, the message itself included; one more stops the scan with limitReached 'parts'. */
  maxParts: number;
  /** Nesting below the message itself (a part of a multipart at the top is depth 1); deeper stops with 'depth'. */
  maxDepth: number;
  /** Body bytes read at most; a longer body stops with 'bytes'. */
  maxBodyBytes: number;
}

export interface MimePartSummary {
  depth: number;
  /** Lower-case type/subtype; text/plain when the part names none. */
  contentType: string;
  /** Bytes of the part's content after its header section; undefined when the scan stopped inside it. */
  bodyBytes?: number;
  /** The part's header fields (the message's own for the first part), for readers that decode the content. */
  fields: HeaderField[];
  /** Where the part's content starts in the message body (after the blank line). */
  contentOffset: number;
  /** The index in partList of the multipart or message part this part is in; undefined for the message itself. */
  parent?: number;
  /**
   * Where the CRLF before the delimiter line that opens this part starts in the message body; undefined
   * for the message itself and for a message embedded in a message/rfc822 part. Removing the bytes from
   * here to the end of the part's content removes the part and leaves its multipart well formed.
   */
  delimiterOffset?: number;
}

export interface HeaderExtreme {
  bytes: number;
  /** The field it belongs to, as named in the message. */
  field: string;
  /** 0 for the message's own header section, else the part number (1-based, in order of appearance). */
  part: number;
}

export interface MimeStructure {
  parts: number;
  /** The deepest nesting seen (0: the message is a single part). */
  depth: number;
  /** Parts in order of appearance, the message itself first. */
  partList: MimePartSummary[];
  /** The longest physical header line (bytes without CRLF) of any header section read. */
  longestHeaderLine: HeaderExtreme;
  /** The largest header field, folded lines included. */
  largestHeaderField: HeaderExtreme;
  bodyBytes: number;
  scannedBodyBytes: number;
  /** Set when the scan stopped before the structure ended; the counts above are then lower bounds. */
  limitReached?: 'parts' | 'depth' | 'bytes';
  /** Structural faults found on the way (a multipart without boundary, an unreadable part header…), at most 10. */
  problems: string[];
}

/** A part's header section is small; one that does not end within this is unreadable and ends the scan. */
const PART_HEADER_LIMITS: HeaderLimits = { maxHeaderBytes: 64 * 1024, maxLineBytes: MAX_HEADER_LINE_BYTES, maxFields: MAX_HEADER_FIELDS };
const MAX_PROBLEMS = 10;
const BOUNDARY_START = Buffer.from('\r\n--');
const CRLF = Buffer.from('\r\n');

interface OpenMultipart {
  /** The boundary parameter, as latin1 text (one character a byte). */
  boundary: string;
  /** Depth of the multipart itself; its children are one deeper. */
  depth: number;
  /** Its index in partList. */
  part: number;
}

/**
 * The open multiparts, innermost last, with a map from boundary to its innermost level so that a line
 * is matched with one lookup however deep the nesting (a reused boundary belongs to the innermost).
 */
class OpenMultiparts {
  readonly stack: OpenMultipart[] = [];
  private byBoundary = new Map<string, number>();
  private longest = 0;

  get size(): number {
    return this.stack.length;
  }

  push(entry: OpenMultipart): void {
    this.stack.push(entry);
    this.byBoundary.set(entry.boundary, this.stack.length - 1);
    this.longest = Math.max(this.longest, entry.boundary.length);
  }

  /** Keeps the first `size` levels. */
  truncate(size: number): void {
    if (size >= this.stack.length) return;
    this.stack.length = size;
    this.byBoundary = new Map(this.stack.map((entry, index) => [entry.boundary, index]));
  }

  /**
   * Which open multipart this line is a delimiter of. RFC 2046 5.1.1: "--" and the boundary, "--" more for
   * the closing delimiter, then optional white space ("transport padding") up to the line end.
   */
  match(window: Buffer, lineStart: number, lineEnd: number): { index: number; closes: boolean } | undefined {
    const length = lineEnd - lineStart;
    // Padding is short in practice; a much longer line is no delimiter and is not even copied.
    if (length < 3 || length > this.longest + 4 + MAX_TRANSPORT_PADDING) return undefined;
    let end = lineEnd;
    while (end > lineStart + 2 && (window[end - 1] === 0x20 || window[end - 1] === 0x09)) end -= 1;
    const text = window.toString('latin1', lineStart + 2, end);
    const exact = this.byBoundary.get(text);
    if (exact !== undefined) return { index: exact, closes: false };
    if (text.endsWith('--')) {
      const closing = this.byBoundary.get(text.slice(0, -2));
      if (closing !== undefined) return { index: closing, closes: true };
    }
    return undefined;
  }
}

const MAX_TRANSPORT_PADDING = 200;

export function scanMimeStructure(message: SplitMessage, limits: MimeScanLimits): MimeStructure {
  const body = message.body;
  const window = body.length > limits.maxBodyBytes ? body.subarray(0, limits.maxBodyBytes) : body;
  const result: MimeStructure = {
    parts: 0,
    depth: 0,
    partList: [],
    longestHeaderLine: { bytes: 0, field: '', part: 0 },
    largestHeaderField: { bytes: 0, field: '', part: 0 },
    bodyBytes: body.length,
    scannedBodyBytes: window.length,
    problems: [],
  };
  const problem = (text: string) => {
    if (result.problems.length < MAX_PROBLEMS) result.problems.push(text);
  };
  const open = new OpenMultiparts();
  let current: OpenLeaf;

  /**
   * Counts a part whose header fields are known and opens it when it is a multipart. A message/rfc822
   * part's content begins with the embedded message's header section, which is read as a part one level
   * deeper, so nesting through forwarded messages counts like nesting through multiparts.
   * `contentStart` points at the CRLF of the blank line that ends the header section. Returns ok false
   * when a limit stopped the scan, and where the search for the next delimiter goes on.
   */
  const enterPart = (
    fields: HeaderField[],
    depth: number,
    contentStart: number,
    parent?: number,
    delimiterOffset?: number,
  ): { ok: boolean; next: number } => {
    let headerFields = fields;
    let partDepth = depth;
    let start = contentStart;
    let parentIndex = parent;
    let delimiter = delimiterOffset;
    for (;;) {
      if (partDepth > limits.maxDepth) {
        result.limitReached = 'depth';
        result.depth = Math.max(result.depth, partDepth);
        return { ok: false, next: start };
      }
      if (result.parts + 1 > limits.maxParts) {
        result.parts += 1;
        result.limitReached = 'parts';
        return { ok: false, next: start };
      }
      result.parts += 1;
      result.depth = Math.max(result.depth, partDepth);
      measureHeader(headerFields, result.parts - 1, result);
      const type = contentTypeOf(headerFields);
      const summary: MimePartSummary = {
        depth: partDepth,
        contentType: type.value,
        fields: headerFields,
        contentOffset: start + 2,
        ...(parentIndex !== undefined ? { parent: parentIndex } : {}),
        ...(delimiter !== undefined ? { delimiterOffset: delimiter } : {}),
      };
      result.partList.push(summary);
      current = undefined;
      if (type.value.startsWith('multipart/')) {
        const boundary = type.params.boundary;
        if (boundary) open.push({ boundary, depth: partDepth, part: result.partList.length - 1 });
        else problem(`part ${result.parts} is ${type.value} without a boundary`);
        return { ok: true, next: start };
      }
      if ((type.value === 'message/rfc822' || type.value === 'message/global') && isIdentityEncoding(headerFields)) {
        const embedded = readHeaderSection(window, start + 2);
        if (embedded) {
          headerFields = embedded.fields;
          start = embedded.contentStart;
          partDepth += 1;
          parentIndex = result.partList.length - 1;
          delimiter = undefined;
          continue;
        }
        problem(`the message embedded in part ${result.parts} has an unreadable header section`);
      }
      current = { summary, contentStart: start };
      return { ok: true, next: start };
    }
  };

  const first = enterPart(message.fields, 0, 0);
  if (!first.ok) return finish(result, current, window.length);

  let at = 0;
  while (open.size > 0) {
    const hit = window.indexOf(BOUNDARY_START, at);
    if (hit < 0) break;
    const lineStart = hit + 2;
    const crlf = window.indexOf(CRLF, lineStart);
    const lineEnd = crlf < 0 ? window.length : crlf;
    at = lineEnd;
    const level = open.match(window, lineStart, lineEnd);
    if (level === undefined) continue;
    // A boundary of an outer multipart ends every multipart opened inside it.
    if (open.size - 1 > level.index) problem(`a multipart inside part ${result.parts} was not closed before its parent's boundary`);
    const parent = open.stack[level.index]!;
    open.truncate(level.index + (level.closes ? 0 : 1));
    closeLeaf(current, hit);
    current = undefined;
    if (level.closes) continue;
    if (crlf < 0) break;
    const part = readHeaderSection(window, crlf + 2);
    if (!part) {
      // Reading on would cost another header-section limit of bytes at every later delimiter line.
      problem(`part ${result.parts + 1} has an unreadable header section; the rest was not read`);
      return finish(result, undefined, window.length);
    }
    const entered = enterPart(part.fields, parent.depth + 1, part.contentStart, parent.part, hit);
    if (!entered.ok) return finish(result, current, window.length);
    at = entered.next;
  }
  // Only a scan that still had multiparts open when the window ended left structure unread.
  if (open.size > 0 && window.length < body.length) result.limitReached = 'bytes';
  else if (open.size > 0) problem(`${open.size} multipart${open.size === 1 ? ' was' : 's were'} not closed by the end of the message`);
  return finish(result, current, window.length);
}

type OpenLeaf = { summary: MimePartSummary; contentStart: number } | undefined;

/** A leaf part's content runs from after its blank line to the CRLF before the next delimiter. */
function closeLeaf(leaf: OpenLeaf, end: number): void {
  if (leaf) leaf.summary.bodyBytes = Math.max(0, end - (leaf.contentStart + 2));
}

function finish(result: MimeStructure, leaf: OpenLeaf, end: number): MimeStructure {
  if (!result.limitReached) closeLeaf(leaf, end);
  return result;
}

/** A part's header section starting at `start`; contentStart points at the CRLF of its blank line. */
function readHeaderSection(window: Buffer, start: number): { fields: HeaderField[]; contentStart: number } | undefined {
  const slice = window.subarray(start, start + PART_HEADER_LIMITS.maxHeaderBytes + 4);
  if (slice.length >= 2 && slice[0] === 0x0d && slice[1] === 0x0a) return { fields: [], contentStart: start };
  const split = splitMessage(slice, PART_HEADER_LIMITS);
  if (split.outcome !== 'split') return undefined;
  // A slice cut at the limit with no blank line reads as "all header": that is an unreadable header too.
  if (split.body.length === 0 && slice.length === PART_HEADER_LIMITS.maxHeaderBytes + 4) return undefined;
  return { fields: split.fields, contentStart: start + (slice.length - split.body.length) };
}

function measureHeader(fields: HeaderField[], part: number, result: MimeStructure): void {
  for (const field of fields) {
    if (field.raw.length > result.largestHeaderField.bytes) result.largestHeaderField = { bytes: field.raw.length, field: field.name, part };
    let start = 0;
    while (start < field.raw.length) {
      const crlf = field.raw.indexOf(CRLF, start);
      const end = crlf < 0 ? field.raw.length : crlf;
      if (end - start > result.longestHeaderLine.bytes) result.longestHeaderLine = { bytes: end - start, field: field.name, part };
      start = crlf < 0 ? field.raw.length : crlf + 2;
    }
  }
}

/** Content types are short; a longer value is cut before parsing so no parser sees an unbounded string. */
const MAX_CONTENT_TYPE_CHARS = 2000;

/** A part's content type (lower-case type/subtype, text/plain when absent or unreadable) and its parameters. */
export function contentTypeOf(fields: HeaderField[]): { value: string; params: Record<string, string> } {
  const field = fields.find((f) => f.name.toLowerCase() === 'content-type');
  if (!field) return { value: 'text/plain', params: {} };
  const raw = unfoldedValue(field).slice(0, MAX_CONTENT_TYPE_CHARS);
  try {
    const parsed = libmime.parseHeaderValue(raw);
    const value = parsed.value.trim().toLowerCase();
    return { value: value.includes('/') ? value : 'text/plain', params: parsed.params ?? {} };
  } catch {
    return { value: 'text/plain', params: {} };
  }
}

function isIdentityEncoding(fields: HeaderField[]): boolean {
  const field = fields.find((f) => f.name.toLowerCase() === 'content-transfer-encoding');
  if (!field) return true;
  const value = unfoldedValue(field).trim().toLowerCase();
  return value === '7bit' || value === '8bit' || value === 'binary';
}

/**
 * The value after the colon with folding removed and nothing decoded. latin1 keeps every byte as one
 * character (boundaries are compared byte for byte); utf8 is for text a person wrote, such as addresses.
 */
export function unfoldedValue(field: HeaderField, encoding: 'latin1' | 'utf8' = 'latin1'): string {
  const text = field.raw.toString(encoding);
  const colon = text.indexOf(':');
  return text
    .slice(colon + 1)
    .replace(/\r\n(?=[ \t])/g, '')
    .replace(/\r\n$/, '')
    .trim();
}
