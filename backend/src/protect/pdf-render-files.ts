/**
 * The message's attachments as embedded files of the password PDF (the catalog's EmbeddedFiles name
 * tree), which PDF readers list in their attachments panel.
 *
 * Written here rather than with the PDF library's attach(): that compresses every file with a deflate
 * written in JavaScript (about 300 ms for 4.5 MB), where Node's zlib takes a third of that and a sample
 * tells beforehand whether compressing is worth it at all (a ZIP, a JPEG or an office file is already
 * compressed and is stored as it is).
 */
import { promisify } from 'node:util';
import { deflate, deflateRawSync } from 'node:zlib';
import { PDFArray, PDFHexString, PDFName, type PDFDocument, type PDFRef } from '@cantoo/pdf-lib';

const deflateAsync = promisify(deflate);

export interface EmbeddedFile {
  name: string;
  contentType: string;
  content: Buffer;
}

/** A sample this big is compressed first; files that shrink by less than a tenth are stored as they are. */
const SAMPLE_BYTES = 64 * 1024;
const WORTHWHILE_RATIO = 0.9;

const EXTENSIONS = new Map(Object.entries({
  'application/pdf': 'pdf',
  'text/plain': 'txt',
  'text/html': 'html',
  'text/calendar': 'ics',
  'text/csv': 'csv',
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/gif': 'gif',
  'application/zip': 'zip',
  'message/rfc822': 'eml',
}));

/** Characters that a reader saving the file could not use in a file name on common systems. */
function isUnsafeNameChar(code: number): boolean {
  return code < 0x20 || code === 0x7f || '/\\:*?"<>|'.includes(String.fromCharCode(code));
}

/**
 * File names that readers can save as given: no paths, no control characters, not empty, and unique
 * (a reader that saves all attachments would overwrite one with the other). Case is ignored for
 * uniqueness because common file systems do.
 */
export function fileNames(files: ReadonlyArray<{ filename?: string; contentType: string }>): string[] {
  const taken = new Set<string>();
  return files.map((file, index) => {
    let name = [...(file.filename ?? '')].map((c) => (isUnsafeNameChar(c.codePointAt(0) ?? 0) ? '_' : c)).join('').trim();
    while (name.startsWith('.')) name = name.slice(1);
    if ([...name].length > 150) name = [...name].slice(-150).join('');
    if (!name) name = `attachment-${index + 1}.${EXTENSIONS.get(file.contentType.toLowerCase()) ?? 'bin'}`;
    const dot = name.lastIndexOf('.');
    const stem = dot > 0 ? name.slice(0, dot) : name;
    const extension = dot > 0 ? name.slice(dot) : '';
    let unique = name;
    for (let n = 2; taken.has(unique.toLowerCase()); n += 1) unique = `${stem} (${n})${extension}`;
    taken.add(unique.toLowerCase());
    return unique;
  });
}

async function packed(content: Buffer): Promise<{ bytes: Buffer; deflated: boolean }> {
  if (content.length === 0) return { bytes: content, deflated: false };
  const sample = content.subarray(0, SAMPLE_BYTES);
  if (deflateRawSync(sample, { level: 1 }).length > sample.length * WORTHWHILE_RATIO) return { bytes: content, deflated: false };
  return { bytes: await deflateAsync(content), deflated: true };
}

/** A PDF text string: UTF-16BE with its byte-order mark, written as hex so that no escaping is needed. */
function textString(text: string): PDFHexString {
  return PDFHexString.fromText(text);
}

/** The 7-bit name for readers that only look at /F (the file specification string of older versions). */
function asciiString(text: string): PDFHexString {
  const ascii = [...text].map((c) => ((c.codePointAt(0) ?? 0) < 0x7f ? c : '_')).join('');
  return PDFHexString.of(Buffer.from(ascii, 'latin1').toString('hex'));
}

async function embedOne(doc: PDFDocument, file: EmbeddedFile): Promise<PDFRef> {
  const context = doc.context;
  const { bytes, deflated } = await packed(file.content);
  const stream = context.stream(bytes, {
    Type: 'EmbeddedFile',
    Subtype: file.contentType.toLowerCase(),
    ...(deflated ? { Filter: 'FlateDecode' } : {}),
    Params: { Size: file.content.length },
  });
  const streamRef = context.register(stream);
  const spec = context.obj({
    Type: 'Filespec',
    F: asciiString(file.name),
    UF: textString(file.name),
    EF: { F: streamRef, UF: streamRef },
    Desc: textString(file.contentType),
    AFRelationship: 'Unspecified',
  });
  return context.register(spec);
}

/**
 * Embeds the files and lists them in the catalog. The name tree's keys are the files' positions
 * ("0001", …), which are unique and sort in order, whatever the file names are.
 */
export async function embedFiles(doc: PDFDocument, files: readonly EmbeddedFile[]): Promise<void> {
  if (files.length === 0) return;
  const names = PDFArray.withContext(doc.context);
  for (const [index, file] of files.entries()) {
    const ref = await embedOne(doc, file);
    names.push(asciiString(String(index + 1).padStart(4, '0')));
    names.push(ref);
  }
  doc.catalog.set(PDFName.of('Names'), doc.context.obj({ EmbeddedFiles: { Names: names } }));
  // Readers that honour it open their attachments panel with the document.
  doc.catalog.set(PDFName.of('PageMode'), PDFName.of('UseAttachments'));
}
