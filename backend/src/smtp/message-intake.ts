/**
 * Reads the DATA stream of one message with a byte limit. Line endings are checked on the way: a bare LF
 * or a bare CR is how SMTP smuggling hides a second message inside the first, so such data is refused.
 * Past the limit the data is counted and dropped, so memory stays flat while the client keeps sending.
 */
import type { Readable } from 'node:stream';

export type IntakeResult =
  | { outcome: 'complete'; data: Buffer }
  | { outcome: 'too_large'; bytes: number }
  | { outcome: 'bare_line_ending'; kind: 'LF' | 'CR'; offset: number };

const CR = 0x0d;
const LF = 0x0a;

export function readMessageData(stream: Readable & { sizeExceeded?: boolean }, maxBytes: number): Promise<IntakeResult> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    let previous = -1;
    let bare: { kind: 'LF' | 'CR'; offset: number } | undefined;

    stream.on('data', (chunk: Buffer) => {
      if (!bare) {
        for (let i = 0; i < chunk.length; i++) {
          const byte = chunk[i]!;
          if (byte === LF && previous !== CR) {
            bare = { kind: 'LF', offset: bytes + i };
            break;
          }
          if (previous === CR && byte !== LF) {
            bare = { kind: 'CR', offset: bytes + i - 1 };
            break;
          }
          previous = byte;
        }
      }
      bytes += chunk.length;
      if (bytes <= maxBytes && !bare) chunks.push(chunk);
    });
    stream.once('error', reject);
    stream.once('end', () => {
      if (!bare && previous === CR) bare = { kind: 'CR', offset: bytes - 1 };
      if (bytes > maxBytes || stream.sizeExceeded) resolve({ outcome: 'too_large', bytes });
      else if (bare) resolve({ outcome: 'bare_line_ending', ...bare });
      else resolve({ outcome: 'complete', data: Buffer.concat(chunks, bytes) });
    });
  });
}
