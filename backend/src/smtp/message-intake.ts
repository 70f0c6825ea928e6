/**
 * Reads the DATA stream of one message with a byte limit. Line endings are checked on the way: a bare LF
 * or a bare CR is how SMTP smuggling hides a second message inside the first, so such data is refused.
 * Past the limit the data is counted and dropped, so memory stays flat while the client keeps sending.
 * The header section is checked on the way too (header-section.ts): once it breaks a limit the rest is
 * counted and dropped the same way, so the message is refused before anything is spooled.
 */
import type { Readable } from 'node:stream';
import {
  DEFAULT_MAX_HEADER_BYTES,
  HeaderSectionScanner,
  intakeHeaderLimits,
  type HeaderLimits,
  type HeaderRefusal,
} from '../mail/header-section.ts';

export type IntakeResult =
  | { outcome: 'complete'; data: Buffer }
  | { outcome: 'too_large'; bytes: number }
  | { outcome: 'bare_line_ending'; kind: 'LF' | 'CR'; offset: number }
  | { outcome: 'header_refused'; refusal: HeaderRefusal };

const CR = 0x0d;
const LF = 0x0a;

export function readMessageData(
  stream: Readable & { sizeExceeded?: boolean },
  maxBytes: number,
  headerLimits: HeaderLimits = intakeHeaderLimits(DEFAULT_MAX_HEADER_BYTES),
): Promise<IntakeResult> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    let previous = -1;
    let bare: { kind: 'LF' | 'CR'; offset: number } | undefined;
    const header = new HeaderSectionScanner(headerLimits);

    stream.on('data', (chunk: Buffer) => {
      const withinLimit = bytes + chunk.length <= maxBytes;
      if (withinLimit && !header.settled) header.push(chunk);
      // Past a limit the message is refused anyway: count the bytes, keep nothing, check nothing.
      if (!bare && !header.refused && withinLimit) {
        bare = findBareLineEnding(chunk, previous, bytes);
        previous = chunk[chunk.length - 1] ?? previous;
        chunks.push(chunk);
      }
      bytes += chunk.length;
    });
    stream.once('error', reject);
    stream.once('end', () => {
      if (!bare && !header.refused && previous === CR && bytes <= maxBytes) bare = { kind: 'CR', offset: bytes - 1 };
      if (bytes > maxBytes || stream.sizeExceeded) return resolve({ outcome: 'too_large', bytes });
      if (bare) return resolve({ outcome: 'bare_line_ending', ...bare });
      const scan = header.finish();
      if (scan.outcome !== 'complete') resolve({ outcome: 'header_refused', refusal: scan });
      else resolve({ outcome: 'complete', data: Buffer.concat(chunks, bytes) });
    });
  });
}

/** The first LF without a CR before it, or CR without an LF after it; `previous` is the byte before the chunk. */
function findBareLineEnding(chunk: Buffer, previous: number, offset: number): { kind: 'LF' | 'CR'; offset: number } | undefined {
  if (previous === CR && chunk.length > 0 && chunk[0] !== LF) return { kind: 'CR', offset: offset - 1 };
  for (let at = chunk.indexOf(LF); at >= 0; at = chunk.indexOf(LF, at + 1)) {
    const before = at === 0 ? previous : chunk[at - 1];
    if (before !== CR) return { kind: 'LF', offset: offset + at };
  }
  for (let at = chunk.indexOf(CR); at >= 0 && at < chunk.length - 1; at = chunk.indexOf(CR, at + 1)) {
    if (chunk[at + 1] !== LF) return { kind: 'CR', offset: offset + at };
  }
  return undefined;
}
