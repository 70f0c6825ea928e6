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
import type { HeaderField, SplitMessage } from './header-block.ts';
import { contentTypeOf, type MimeStructure } from './mime-structure.ts';

export class MimeEditError extends Error {}

const CRLF = '\r\n';
const REPLACED_IN_PLACE = new Set(['content-type', 'content-transfer-encoding']);
const CONTENT_FIELDS = new Set(['content-type', 'content-transfer-encoding', 'content-disposition', 'content-description', 'content-id']);

/** The notice as a MIME part: UTF-8 text in base64 lines, so it passes any transport whatever it says. */
function noticePart(notice: string): string {
  const lines = base64Lines(Buffer.from(notice.replace(/\r?\n/g, CRLF), 'utf8'));
  return `Content-Type: text/plain; charset=utf-8${CRLF}Content-Transfer-Encoding: base64${CRLF}Content-Disposition: inline${CRLF}${CRLF}${lines}`;
}

/**
 * A part's new content: a file written anew (a document without its macros), sent in base64 as an
 * attachment; or, `inPlace`, the same part with new content (a text whose links were rewritten), which
 * keeps its other header fields and gets `contentType` as its Content-Type.
 */
export type PartReplacement =
  | { part: number; contentType: string; fileName: string; content: Buffer; inPlace?: false }
  | { part: number; contentType: string; content: Buffer; inPlace: true };

function base64Lines(content: Buffer): string {
  const encoded = content.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < encoded.length; i += 76) lines.push(encoded.slice(i, i + 76));
  return lines.join(CRLF);
}

/** A file name as a header parameter: quoted, or RFC 2231-encoded when it is not plain ASCII. */
function fileNameParameter(key: 'name' | 'filename', fileName: string): string {
  const printable = [...fileName].filter((c) => c.charCodeAt(0) > 0x1f && c !== '"' && c !== '\\').join('');
  if (/^[\x20-\x7e]*$/.test(printable)) return `${key}="${printable}"`;
  return `${key}*=UTF-8''${encodeURIComponent(printable)}`;
}

function replacementHeader(replacement: PartReplacement, fields: readonly HeaderField[]): string {
  if (replacement.inPlace) {
    const kept = fields.filter((f) => !REPLACED_IN_PLACE.has(f.name.toLowerCase())).map((f) => f.raw.toString('latin1'));
    return `${kept.join('')}Content-Type: ${replacement.contentType}${CRLF}Content-Transfer-Encoding: base64${CRLF}`;
  }
  return (
    `Content-Type: ${replacement.contentType}; ${fileNameParameter('name', replacement.fileName)}${CRLF}` +
    `Content-Transfer-Encoding: base64${CRLF}` +
    `Content-Disposition: attachment; ${fileNameParameter('filename', replacement.fileName)}${CRLF}`
  );
}

/**
 * The message without the given parts (indexes into structure.partList), with others replaced by new
 * content, and with the notice, when there is one, as its first part. A removed part of a message embedded in another
 * (message/rfc822) goes with the embedded message; when the message itself is what is removed, its
 * content is replaced by the notice. Only parts with a delimiter of their own, or the message itself, can
 * be replaced.
 */
export function editParts(
  message: SplitMessage,
  structure: MimeStructure,
  edits: { remove?: readonly number[]; replace?: readonly PartReplacement[] },
  notice?: string,
): Buffer {
  if (structure.limitReached) throw new MimeEditError(`the message's structure was not read to its end (${structure.limitReached} limit)`);
  const parts = structure.partList;
  const body = message.body;
  const ranges: Array<{ start: number; end: number; insert?: Buffer }> = [];
  let removeRoot = false;
  let replaceRoot: PartReplacement | undefined;
  for (const index of new Set(edits.remove ?? [])) {
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
    ranges.push({ start: part.delimiterOffset!, end: part.contentOffset + part.bodyBytes });
  }
  for (const replacement of edits.replace ?? []) {
    const part = parts[replacement.part];
    if (!part || part.bodyBytes === undefined) throw new MimeEditError(`the message has no complete part ${replacement.part}`);
    if (replacement.part === 0) {
      replaceRoot = replacement;
      continue;
    }
    if (part.delimiterOffset === undefined) throw new MimeEditError(`part ${replacement.part} is inside an embedded message and cannot be replaced`);
    const headerStart = body.indexOf(CRLF, part.delimiterOffset + 2) + 2;
    ranges.push({
      start: headerStart,
      end: part.contentOffset + part.bodyBytes,
      insert: Buffer.from(`${replacementHeader(replacement, part.fields)}${CRLF}${base64Lines(replacement.content)}`, 'latin1'),
    });
  }
  const keptFields = (keep: (name: string) => boolean) => message.fields.filter((f) => keep(f.name.toLowerCase())).map((f) => f.raw);
  const hasMimeVersion = message.fields.some((f) => f.name.toLowerCase() === 'mime-version');
  const mimeVersion = hasMimeVersion ? [] : [Buffer.from(`MIME-Version: 1.0${CRLF}`)];

  if (removeRoot) {
    if (notice === undefined) throw new MimeEditError('removing the whole message needs a notice to deliver in its place');
    return Buffer.concat([...keptFields((name) => !CONTENT_FIELDS.has(name)), ...mimeVersion, Buffer.from(`${noticePart(notice)}${CRLF}`)]);
  }
  if (replaceRoot?.inPlace) {
    // The message is the text: its content fields change, the rest of its header stays.
    const content = Buffer.from(`${replacementHeader(replaceRoot, parts[0]!.fields.filter((f) => CONTENT_FIELDS.has(f.name.toLowerCase())))}${CRLF}${base64Lines(replaceRoot.content)}${CRLF}`, 'latin1');
    if (notice === undefined) return Buffer.concat([...keptFields((name) => !CONTENT_FIELDS.has(name)), ...mimeVersion, content]);
    const boundary = `sealpost-${randomUUID()}`;
    return Buffer.concat([
      ...keptFields((name) => !CONTENT_FIELDS.has(name)),
      ...mimeVersion,
      Buffer.from(`Content-Type: multipart/mixed; boundary="${boundary}"${CRLF}${CRLF}--${boundary}${CRLF}${noticePart(notice)}${CRLF}--${boundary}${CRLF}`),
      content,
      Buffer.from(`--${boundary}--${CRLF}`),
    ]);
  }
  if (replaceRoot) {
    // The message is the file: it becomes a multipart/mixed with the notice and the new file.
    if (notice === undefined) throw new MimeEditError('replacing the whole message with a file needs a notice');
    const boundary = `sealpost-${randomUUID()}`;
    return Buffer.concat([
      ...keptFields((name) => !CONTENT_FIELDS.has(name)),
      ...mimeVersion,
      Buffer.from(
        `Content-Type: multipart/mixed; boundary="${boundary}"${CRLF}${CRLF}--${boundary}${CRLF}${noticePart(notice)}${CRLF}` +
          `--${boundary}${CRLF}${replacementHeader(replaceRoot, [])}${CRLF}${base64Lines(replaceRoot.content)}${CRLF}--${boundary}--${CRLF}`,
      ),
    ]);
  }

  // Ranges are disjoint or nested (a removed multipart holds removed parts): keep the outermost.
  ranges.sort((a, b) => a.start - b.start || b.end - a.end);
  const kept: Buffer[] = [];
  let cursor = 0;
  const root = contentTypeOf(parts[0]!.fields);
  const firstChild = parts.find((p) => p.parent === 0 && p.delimiterOffset !== undefined);
  const insertAt =
    notice !== undefined && root.value === 'multipart/mixed' && root.params.boundary && firstChild ? firstChild.delimiterOffset! : undefined;
  const emit = (end: number) => {
    if (insertAt !== undefined && cursor <= insertAt && insertAt <= end) {
      kept.push(body.subarray(cursor, insertAt), Buffer.from(`${CRLF}--${root.params.boundary}${CRLF}${noticePart(notice!)}`));
      cursor = insertAt;
    }
    if (end > cursor) kept.push(body.subarray(cursor, end));
  };
  for (const range of ranges) {
    if (range.start < cursor) continue;
    emit(range.start);
    if (range.insert) kept.push(range.insert);
    cursor = range.end;
  }
  emit(body.length);
  const newBody = Buffer.concat(kept);
  if (insertAt !== undefined || notice === undefined) return Buffer.concat([...keptFields(() => true), newBody]);

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
