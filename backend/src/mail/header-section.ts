/**
 * Limits on the header section of a message, checked in one pass over its bytes: while the DATA stream
 * arrives (message-intake.ts) and again whenever a stored message is split (header-block.ts).
 *
 * Why refuse instead of truncating: a parser that gives up after N bytes treats the rest as body, but the
 * tenant's mail server does not, so control headers hidden after a large filler would slip past the
 * removal of X-Sealpost-* headers. A header section is either read whole or the message is refused.
 *
 * NUL in the header section is refused too (RFC 5322 2.2 forbids it; PostgreSQL text cannot hold it, and
 * header values such as Message-ID are stored). NUL elsewhere in a message is left as it is and every
 * stored text derived from it goes through storableText().
 */

export interface HeaderLimits {
  /** Bytes of all header fields, without the blank line that ends them. */
  maxHeaderBytes: number;
  /** Bytes of one physical line, without its CRLF. */
  maxLineBytes: number;
  /** Header fields (a folded field counts once). */
  maxFields: number;
}

/** RFC 5322 allows 998 bytes a line; real mail breaks that (unfolded address lists), so the cap is generous. */
export const MAX_HEADER_LINE_BYTES = 100_000;
/** Real messages carry tens of fields, long relay chains a few hundred. */
export const MAX_HEADER_FIELDS = 2_000;
export const DEFAULT_MAX_HEADER_BYTES = 256 * 1024;
/** The highest SEALPOST_MAX_HEADER_BYTES may be set. */
export const MAX_CONFIGURABLE_HEADER_BYTES = 1024 * 1024;

/** Limits at SMTP time for a configured header size. */
export function intakeHeaderLimits(maxHeaderBytes: number): HeaderLimits {
  return { maxHeaderBytes, maxLineBytes: MAX_HEADER_LINE_BYTES, maxFields: MAX_HEADER_FIELDS };
}

/**
 * Limits for a message already spooled. They sit above the highest intake limit with room for the fields
 * the gateway adds (Received, loop headers, notification headers), so a message accepted at SMTP time
 * is always readable later, even after SEALPOST_MAX_HEADER_BYTES was lowered.
 */
export const STORED_MESSAGE_LIMITS: HeaderLimits = {
  maxHeaderBytes: MAX_CONFIGURABLE_HEADER_BYTES + 64 * 1024,
  maxLineBytes: MAX_HEADER_LINE_BYTES,
  maxFields: MAX_HEADER_FIELDS + 100,
};

export type HeaderRefusal =
  | { outcome: 'header_too_large'; bytes: number; limit: number; complete: boolean }
  | { outcome: 'header_line_too_long'; line: number; limit: number }
  | { outcome: 'too_many_header_fields'; limit: number }
  | { outcome: 'nul_in_header'; offset: number };

export type HeaderScan =
  /** headerEnd: the offset just after the last field's CRLF (where the blank line starts). */
  | { outcome: 'complete'; headerEnd: number; fields: number }
  | HeaderRefusal;

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;
const BLANK_LINE = Buffer.from('\r\n\r\n');

/**
 * Feed chunks in order with push(), then call finish() once the data has ended. Work stops at the end of
 * the header section or at the first refusal; after a size refusal only the blank line is looked for, so
 * the reply can say how large the header section really was.
 */
export class HeaderSectionScanner {
  private offset = 0;
  private lineStart = 0;
  private lines = 0;
  private fields = 0;
  private previous = -1;
  private result: HeaderScan | undefined;
  /** After a size refusal: the last bytes seen, to find a blank line split across chunks. */
  private tail: Buffer | undefined;

  constructor(private readonly limits: HeaderLimits) {}

  /** True once nothing more needs scanning (header section complete, or refused). */
  get settled(): boolean {
    return this.result !== undefined && !this.tail;
  }

  /** True once a limit was broken. */
  get refused(): boolean {
    return this.result !== undefined && this.result.outcome !== 'complete';
  }

  push(chunk: Buffer): void {
    if (this.tail) return this.countOversized(chunk);
    if (this.result) {
      this.offset += chunk.length;
      return;
    }
    const base = this.offset;
    let at = 0;
    while (at < chunk.length && !this.result) {
      const absolute = base + at;
      if (absolute === this.lineStart) {
        const first = chunk[at]!;
        // A line that starts with CR or LF is the blank line (or a bare line ending the intake refuses).
        if (first !== CR && first !== LF && first !== SP && first !== HTAB) {
          this.fields += 1;
          if (this.fields > this.limits.maxFields) {
            this.result = { outcome: 'too_many_header_fields', limit: this.limits.maxFields };
            break;
          }
        }
      }
      const lf = chunk.indexOf(LF, at);
      const segmentEnd = lf < 0 ? chunk.length : lf;
      const nul = chunk.subarray(at, segmentEnd).indexOf(0);
      if (nul >= 0) {
        this.result = { outcome: 'nul_in_header', offset: absolute + nul };
        break;
      }
      if (lf < 0) {
        // The line goes on in the next chunk.
        this.previous = chunk[chunk.length - 1] ?? this.previous;
        const lineBytes = base + chunk.length - this.lineStart;
        if (lineBytes > this.limits.maxLineBytes + 1) {
          this.result = { outcome: 'header_line_too_long', line: this.lines + 1, limit: this.limits.maxLineBytes };
        } else if (base + chunk.length > this.limits.maxHeaderBytes + 1) {
          this.refuseSize(base + chunk.length, chunk.subarray(Math.max(0, chunk.length - 3)));
        }
        at = chunk.length;
        break;
      }
      const beforeLf = lf > 0 ? chunk[lf - 1]! : this.previous;
      const contentBytes = base + lf - this.lineStart - (beforeLf === CR ? 1 : 0);
      this.lines += 1;
      if (contentBytes === 0) {
        this.result = { outcome: 'complete', headerEnd: this.lineStart, fields: this.fields };
        break;
      }
      if (contentBytes > this.limits.maxLineBytes) {
        this.result = { outcome: 'header_line_too_long', line: this.lines, limit: this.limits.maxLineBytes };
        break;
      }
      const lineEnd = base + lf + 1;
      if (lineEnd > this.limits.maxHeaderBytes) {
        this.refuseSize(lineEnd, chunk.subarray(Math.max(0, lf - 2), lf + 1));
        this.countOversized(chunk.subarray(lf + 1));
        return;
      }
      this.lineStart = lineEnd;
      this.previous = LF;
      at = lf + 1;
    }
    this.offset = base + chunk.length;
  }

  /** The outcome once all data has been pushed. */
  finish(): HeaderScan {
    if (this.tail && this.result?.outcome === 'header_too_large') {
      // The data ended before any blank line: all of it was header section, so the count is exact.
      this.result.complete = true;
      this.tail = undefined;
    }
    if (this.result) return this.result;
    // No blank line: the whole message is its header section (RFC 5322 allows a message without body).
    if (this.offset > this.limits.maxHeaderBytes) {
      return { outcome: 'header_too_large', bytes: this.offset, limit: this.limits.maxHeaderBytes, complete: true };
    }
    return { outcome: 'complete', headerEnd: this.offset, fields: this.fields };
  }

  private refuseSize(seen: number, tail: Buffer): void {
    this.result = { outcome: 'header_too_large', bytes: seen, limit: this.limits.maxHeaderBytes, complete: false };
    this.offset = seen;
    this.tail = Buffer.from(tail);
  }

  /** Counts on to the blank line, so the refusal names the real size; stops there. */
  private countOversized(chunk: Buffer): void {
    if (!this.tail || this.result?.outcome !== 'header_too_large') return;
    const joined = Buffer.concat([this.tail, chunk]);
    const blank = joined.indexOf(BLANK_LINE);
    if (blank >= 0) {
      this.result.bytes = this.offset - this.tail.length + blank + 2;
      this.result.complete = true;
      this.tail = undefined;
      return;
    }
    this.offset += chunk.length;
    this.result.bytes = this.offset;
    this.tail = joined.subarray(Math.max(0, joined.length - 3));
  }
}

/** Scans a whole message held in memory. */
export function scanHeaderSection(raw: Buffer, limits: HeaderLimits): HeaderScan {
  const scanner = new HeaderSectionScanner(limits);
  scanner.push(raw);
  return scanner.finish();
}

/**
 * Thrown where a stored message's header section cannot be read whole and the caller can only fail:
 * retrying gives the same answer, so it is never retried.
 */
export class UnreadableHeaderError extends Error {
  override name = 'UnreadableHeaderError';
  constructor(readonly refusal: HeaderRefusal) {
    super(describeHeaderRefusal(refusal));
  }
}

/** The reason for a refusal, in words for an SMTP reply, a trace or a bounce. */
export function describeHeaderRefusal(refusal: HeaderRefusal): string {
  switch (refusal.outcome) {
    case 'header_too_large':
      return `Message header section too large: ${refusal.complete ? '' : 'more than '}${refusal.bytes} bytes, the limit is ${refusal.limit}`;
    case 'header_line_too_long':
      return `Message header line ${refusal.line} too long: the limit is ${refusal.limit} bytes a line`;
    case 'too_many_header_fields':
      return `Message header section has too many fields: the limit is ${refusal.limit}`;
    case 'nul_in_header':
      return `Message header section contains a NUL byte at byte ${refusal.offset}; RFC 5322 does not allow it`;
  }
}

/** The SMTP reply for a refusal: size limits are 552 5.3.4, bad content is 550 5.6.0. */
export function smtpReplyForHeaderRefusal(refusal: HeaderRefusal): { code: number; enhanced: string; text: string } {
  const text = describeHeaderRefusal(refusal);
  return refusal.outcome === 'nul_in_header' ? { code: 550, enhanced: '5.6.0', text } : { code: 552, enhanced: '5.3.4', text };
}
