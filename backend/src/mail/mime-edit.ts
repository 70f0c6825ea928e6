/**
 * Removes parts from a message and tells the reader so, in a text part of its own, leaving the rest of the
 * message byte for byte as it came: the disarm steps of the inbound checks deliver what they let through
 * with a dangerous attachment taken out. Works on the offsets of a complete scanMimeStructure() scan; a scan
 * that stopped early cannot be edited (the parts after the stop are unknown) and is refused.
 *
 * Why not a MIME builder (nodemailer's MailComposer): it composes new messages from decoded content, so
 * editing would decode and re-encode every part and lose the original's exact bytes and structure.
 */
import { randomUUID } from 'node:crypto';
import type { SplitMessage } from './header-block.ts';
import { contentTypeOf, type MimeStructure } from './mime-structure.ts';

export class MimeEditError extends Error {}

const CRLF = '\r\n';
const CONTENT_FIELDS = new Set(['content-type', 'content-transfer-encoding', 'content-disposition', 'content-description', 'content-id']);

/** The notice as a MIME part: UTF-8 text in base64 lines, so it passes any transport whatever it says. */
function noticePart(notice: string): string {
  const encoded = Buffer.from(notice.replace(/\r?\n/g, CRLF), 'utf8').toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < encoded.length; i += 76) lines.push(encoded.slice(i, i + 76));
  return `Content-Type: text/plain; charset=utf-8${CRLF}Content-Transfer-Encoding: base64${CRLF}Content-Disposition: inline${CRLF}${CRLF}${lines.join(CRLF)}`;
}

/**
 * The message without the given parts (indexes into structure.partList) and with the notice as its first
 * part. A part of a message embedded in another (message/rfc822) goes with the embedded message; when the
 * message itself is what is removed, its content is replaced by the notice.
 */
export function removeParts(message: SplitMessage, structure: MimeStructure, indexes: readonly number[], notice: string): Buffer {
  if (structure.limitReached) throw new MimeEditError(`the message's structure was not read to its end (${structure.limitReached} limit)`);
  const parts = structure.partList;
  const body = message.body;
  const ranges: Array<[number, number]> = [];
  let removeRoot = false;
  for (const index of new Set(indexes)) {
    let at = index;
    // A part without a delimiter of its own is the root of an embedded message: remove the part that holds it.
    while (at > 0 && parts[at]?.delimiterOffset === undefined) {
      const parent = parts[at]?.parent;
      if (parent === undefined) throw new MimeEditError(`part ${index} has no enclosing part to remove`);
      at = parent;
    }
    const part = parts[at];
    if (!part) throw new MimeEditError(`the message has no part ${index}`);
    if (at === 0) {
      removeRoot = true;
      continue;
    }
    if (part.bodyBytes === undefined) throw new MimeEditError(`part ${index} does not end within the message`);
    ranges.push([part.delimiterOffset!, part.contentOffset + part.bodyBytes]);
  }
  const keptFields = (keep: (name: string) => boolean) => message.fields.filter((f) => keep(f.name.toLowerCase())).map((f) => f.raw);
  const hasMimeVersion = message.fields.some((f) => f.name.toLowerCase() === 'mime-version');
  const mimeVersion = hasMimeVersion ? [] : [Buffer.from(`MIME-Version: 1.0${CRLF}`)];

  if (removeRoot) {
    return Buffer.concat([...keptFields((name) => !CONTENT_FIELDS.has(name)), ...mimeVersion, Buffer.from(`${noticePart(notice)}${CRLF}`)]);
  }

  // Ranges are disjoint or nested (a removed multipart holds removed parts): keep the outermost.
  ranges.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
  const kept: Buffer[] = [];
  let cursor = 0;
  const root = contentTypeOf(parts[0]!.fields);
  const firstChild = parts.find((p) => p.parent === 0 && p.delimiterOffset !== undefined);
  const insertAt = root.value === 'multipart/mixed' && root.params.boundary && firstChild ? firstChild.delimiterOffset! : undefined;
  const emit = (end: number) => {
    if (insertAt !== undefined && cursor <= insertAt && insertAt <= end) {
      kept.push(body.subarray(cursor, insertAt), Buffer.from(`${CRLF}--${root.params.boundary}${CRLF}${noticePart(notice)}`));
      cursor = insertAt;
    }
    if (end > cursor) kept.push(body.subarray(cursor, end));
  };
  for (const [start, end] of ranges) {
    if (start < cursor) continue;
    emit(start);
    cursor = end;
  }
  emit(body.length);
  const newBody = Buffer.concat(kept);
  if (insertAt !== undefined) return Buffer.concat([...keptFields(() => true), newBody]);

  // Any other structure is wrapped: a multipart/mixed with the notice first and the message's content second.
  const boundary = `sealpost-${randomUUID()}`;
  return Buffer.concat([
    ...keptFields((name) => !CONTENT_FIELDS.has(name)),
    ...mimeVersion,
    Buffer.from(`Content-Type: multipart/mixed; boundary="${boundary}"${CRLF}${CRLF}--${boundary}${CRLF}${noticePart(notice)}${CRLF}--${boundary}${CRLF}`),
    ...message.fields.filter((f) => CONTENT_FIELDS.has(f.name.toLowerCase())).map((f) => f.raw),
    newBody,
    Buffer.from(`${CRLF}--${boundary}--${CRLF}`),
  ]);
}
