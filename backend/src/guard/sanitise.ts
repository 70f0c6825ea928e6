/**
 * Cleaning attachments instead of removing them: an Office document loses its VBA project and stays a
 * document Office opens; a PDF loses its scripts, actions, embedded files and forms and stays a PDF.
 * Each cleaner checks its own result with the same detection the filter uses; a file it cannot clean is
 * reported, and the policy's action on sanitisation failure applies.
 */
import { PDFArray, PDFDict, PDFDocument, PDFName, PDFRef } from '@cantoo/pdf-lib';
import CFB from 'cfb';
import yauzl from 'yauzl';
import yazl from 'yazl';
import { oleMacros, pdfActiveContent } from './attachments.ts';

export class SanitiseError extends Error {}

export interface Sanitised {
  content: Buffer;
  /** The file's name after cleaning (a .docm becomes a .docx). */
  fileName: string;
  contentType: string;
  /** What was taken out, in words a recipient can read. */
  removed: string;
}

/** Macro-enabled OOXML types and the plain types their documents become. */
const MAIN_TYPES: Record<string, string> = {
  'application/vnd.ms-word.document.macroEnabled.main+xml': 'application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml',
  'application/vnd.ms-word.template.macroEnabledTemplate.main+xml': 'application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml',
  'application/vnd.ms-excel.sheet.macroEnabled.main+xml': 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml',
  'application/vnd.ms-excel.template.macroEnabled.main+xml': 'application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml',
  'application/vnd.ms-powerpoint.presentation.macroEnabled.main+xml': 'application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml',
  'application/vnd.ms-powerpoint.slideshow.macroEnabled.main+xml': 'application/vnd.openxmlformats-officedocument.presentationml.slideshow.main+xml',
  'application/vnd.ms-powerpoint.template.macroEnabled.main+xml': 'application/vnd.openxmlformats-officedocument.presentationml.template.main+xml',
};
const PLAIN_EXTENSION: Record<string, [string, string]> = {
  docm: ['docx', 'application/vnd.openxmlformats-officedocument.wordprocessingml.document'],
  dotm: ['dotx', 'application/vnd.openxmlformats-officedocument.wordprocessingml.template'],
  xlsm: ['xlsx', 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'],
  xltm: ['xltx', 'application/vnd.openxmlformats-officedocument.spreadsheetml.template'],
  pptm: ['pptx', 'application/vnd.openxmlformats-officedocument.presentationml.presentation'],
  ppsm: ['ppsx', 'application/vnd.openxmlformats-officedocument.presentationml.slideshow'],
  potm: ['potx', 'application/vnd.openxmlformats-officedocument.presentationml.template'],
};
/** The package parts that hold or point at a VBA project (ECMA-376 and MS-OFFMACRO2). */
const MACRO_PART = /(^|\/)(vbaproject\.bin|vbadata\.xml)(\.rels)?$/i;
const MAX_PACKAGE_BYTES = 256 * 1024 * 1024;
const OLE_SIGNATURE = Buffer.from('d0cf11e0a1b11ae1', 'hex');
const ZIP_SIGNATURE = Buffer.from('504b0304', 'hex');

function renamed(fileName: string, fallbackType: string): { fileName: string; contentType: string } {
  const dot = fileName.lastIndexOf('.');
  const ext = dot < 0 ? '' : fileName.slice(dot + 1).toLowerCase();
  const plain = PLAIN_EXTENSION[ext];
  return plain ? { fileName: `${fileName.slice(0, dot)}.${plain[0]}`, contentType: plain[1] } : { fileName, contentType: fallbackType };
}

interface ZipEntry {
  name: string;
  data: Buffer;
  modified?: Date;
}

/** Every entry of a ZIP file, unpacked, refusing encrypted entries and more than maxBytes in all. */
async function readZip(content: Buffer, maxBytes: number, what: string): Promise<ZipEntry[]> {
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.fromBuffer(content, { lazyEntries: true, validateEntrySizes: true }, (error, file) => (error ? reject(error) : resolve(file))),
  );
  const entries: ZipEntry[] = [];
  let total = 0;
  await new Promise<void>((resolve, reject) => {
    zip.on('entry', (entry: yauzl.Entry) => {
      total += entry.uncompressedSize;
      if (total > maxBytes) return reject(new SanitiseError(`${what} unpacks to too many bytes`));
      if (entry.isEncrypted()) return reject(new SanitiseError(`${what} is encrypted`));
      zip.openReadStream(entry, (error, stream) => {
        if (error || !stream) return reject(error ?? new Error('no stream'));
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => {
          entries.push({ name: entry.fileName, data: Buffer.concat(chunks), modified: entry.getLastModDate() });
          zip.readEntry();
        });
        stream.on('error', reject);
      });
    });
    zip.on('end', () => resolve());
    zip.on('error', reject);
    zip.readEntry();
  });
  return entries;
}

async function writeZip(entries: readonly ZipEntry[]): Promise<Buffer> {
  const out = new yazl.ZipFile();
  for (const entry of entries) {
    const options = entry.modified ? { mtime: entry.modified } : {};
    if (entry.name.endsWith('/')) out.addEmptyDirectory(entry.name, options);
    else out.addBuffer(entry.data, entry.name, options);
  }
  out.end();
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    out.outputStream.on('data', (chunk: Buffer) => chunks.push(chunk));
    out.outputStream.on('end', () => resolve(Buffer.concat(chunks)));
    out.outputStream.on('error', reject);
  });
}

/** An OOXML package without its VBA project: the part, its relationships and its content types go. */
export async function withoutOoxmlMacros(content: Buffer, fileName: string): Promise<Sanitised> {
  const entries = await readZip(content, MAX_PACKAGE_BYTES, 'the document');
  const kept: ZipEntry[] = [];
  for (const entry of entries) {
    if (MACRO_PART.test(entry.name)) continue;
    let data = entry.data;
    if (entry.name === '[Content_Types].xml') data = Buffer.from(cleanContentTypes(data.toString('utf8')));
    else if (entry.name.endsWith('.rels')) data = Buffer.from(withoutMacroRelationships(data.toString('utf8')));
    kept.push({ name: entry.name, data });
  }
  if (kept.length === entries.length) throw new SanitiseError('the document names no VBA project part to remove');
  return { content: await writeZip(kept), ...renamed(fileName, 'application/octet-stream'), removed: 'its VBA macros were removed' };
}

/** One file cleaned by what its content is: an OLE document, an OOXML package or a PDF. */
export async function sanitisedByContent(content: Buffer, fileName: string): Promise<Sanitised> {
  if (content.subarray(0, 8).equals(OLE_SIGNATURE)) return withoutOleMacros(content, fileName);
  if (content.subarray(0, 1024).includes('%PDF-')) return sanitisedPdf(content, fileName);
  if (content.subarray(0, 4).equals(ZIP_SIGNATURE)) {
    try {
      return await withoutOoxmlMacros(content, fileName);
    } catch (error) {
      throw error instanceof SanitiseError ? error : new SanitiseError(`the document cannot be read: ${(error as Error).message}`);
    }
  }
  throw new SanitiseError('there is no cleaner for this kind of file');
}

/**
 * A ZIP archive whose documents are cleaned inside it, each as if it were attached (Office macros, PDF
 * active content), renamed where cleaning changes its type (order.docm becomes order.docx); every other
 * entry is copied as it was. `names` are the entries to clean; only entries directly in the archive can
 * be, and one that is not there (or sits in an archive inside the archive) is a failure.
 */
export async function sanitisedArchive(content: Buffer, fileName: string, names: ReadonlySet<string>, maxBytes: number): Promise<Sanitised> {
  let entries: ZipEntry[];
  try {
    entries = await readZip(content, maxBytes, 'the archive');
  } catch (error) {
    throw error instanceof SanitiseError ? error : new SanitiseError(`the archive cannot be read: ${(error as Error).message}`);
  }
  for (const name of names) {
    if (!entries.some((entry) => entry.name === name)) throw new SanitiseError(`${name} is not directly in the archive`);
  }
  const done: string[] = [];
  const out: ZipEntry[] = [];
  for (const entry of entries) {
    if (!names.has(entry.name)) {
      out.push(entry);
      continue;
    }
    const slash = entry.name.lastIndexOf('/');
    const folder = entry.name.slice(0, slash + 1);
    const base = entry.name.slice(slash + 1);
    const cleaned = await sanitisedByContent(entry.data, base);
    out.push({ name: `${folder}${cleaned.fileName}`, data: cleaned.content, ...(entry.modified ? { modified: entry.modified } : {}) });
    done.push(`${entry.name}: ${cleaned.removed}${cleaned.fileName !== base ? `, it is now ${folder}${cleaned.fileName}` : ''}`);
  }
  return { content: await writeZip(out), fileName, contentType: 'application/zip', removed: `the files inside were cleaned (${done.join('; ')})` };
}

/** [Content_Types].xml without the VBA project's types, the main part typed as a plain document. */
function cleanContentTypes(xml: string): string {
  let cleaned = xml.replace(/<(Default|Override)\b[^>]*>/g, (element) => (/vbaProject|vbaData/i.test(element) ? '' : element));
  for (const [macro, plain] of Object.entries(MAIN_TYPES)) cleaned = cleaned.split(macro).join(plain);
  return cleaned;
}

/** A relationships part without the relationships to the VBA project. */
function withoutMacroRelationships(xml: string): string {
  return xml.replace(/<Relationship\b[^>]*>/g, (element) => (/vbaProject|vbaData|wordVbaData/i.test(element) ? '' : element));
}

/** An OLE (Office 97–2003) document without its VBA storages. */
export function withoutOleMacros(content: Buffer, fileName: string): Sanitised {
  let container: CFB.CFB$Container;
  try {
    container = CFB.read(content, { type: 'buffer' });
  } catch (error) {
    throw new SanitiseError(`the document cannot be read: ${(error as Error).message}`);
  }
  const macroPaths = container.FullPaths.filter((path) => /^Root Entry\/(Macros|_VBA_PROJECT_CUR|VBA)(\/|$)/i.test(path));
  // Deepest first, so a storage is empty when it goes.
  for (const path of macroPaths.sort((a, b) => b.length - a.length)) CFB.utils.cfb_del(container, path);
  CFB.utils.cfb_gc(container);
  const cleaned = Buffer.from(CFB.write(container, { type: 'buffer' }) as Buffer);
  if (oleMacros(cleaned)) throw new SanitiseError('the VBA storages could not be removed');
  return { content: cleaned, fileName, contentType: 'application/msword', removed: 'its VBA macros were removed' };
}

const RISKY_ANNOTATIONS = new Set(['FileAttachment', 'Widget', 'Screen', 'RichMedia', 'Movie', 'Sound', '3D']);
const SAFE_LINK_ACTIONS = new Set(['URI', 'GoTo']);

/**
 * A PDF without what runs or carries something: document and page actions, the JavaScript and embedded
 * file name trees, forms, file attachment and media annotations, and links that do more than go to a
 * page or a web address. Objects nothing refers to any more are dropped, and the file is written without
 * object streams, so nothing hidden stays behind.
 */
export async function sanitisedPdf(content: Buffer, fileName: string): Promise<Sanitised> {
  let document: PDFDocument;
  try {
    document = await PDFDocument.load(content, { updateMetadata: false, throwOnInvalidObject: false });
  } catch (error) {
    throw new SanitiseError(`the PDF cannot be read: ${(error as Error).message.slice(0, 120)}`);
  }
  const catalog = document.catalog;
  for (const key of ['OpenAction', 'AA', 'AcroForm']) catalog.delete(PDFName.of(key));
  const names = catalog.lookupMaybe(PDFName.of('Names'), PDFDict);
  if (names) for (const key of ['JavaScript', 'EmbeddedFiles']) names.delete(PDFName.of(key));
  for (const page of document.getPages()) {
    const node = page.node;
    node.delete(PDFName.of('AA'));
    const annotations = node.lookupMaybe(PDFName.of('Annots'), PDFArray);
    if (!annotations) continue;
    for (let index = annotations.size() - 1; index >= 0; index--) {
      const annotation = annotations.lookupMaybe(index, PDFDict);
      if (!annotation) continue;
      const subtype = annotation.lookupMaybe(PDFName.of('Subtype'), PDFName)?.decodeText();
      const action = annotation.lookupMaybe(PDFName.of('A'), PDFDict);
      const actionType = action?.lookupMaybe(PDFName.of('S'), PDFName)?.decodeText();
      annotation.delete(PDFName.of('AA'));
      if ((subtype && RISKY_ANNOTATIONS.has(subtype)) || (actionType && !SAFE_LINK_ACTIONS.has(actionType))) annotations.remove(index);
    }
  }
  dropUnreachable(document);
  const cleaned = Buffer.from(await document.save({ useObjectStreams: false, updateFieldAppearances: false }));
  const left = pdfActiveContent(cleaned);
  if (left.length > 0) throw new SanitiseError(`the PDF still has ${left.join(', ')}`);
  return { content: cleaned, fileName, contentType: 'application/pdf', removed: 'its scripts, actions, embedded files and forms were removed' };
}

/** Deletes the objects that nothing reachable from the trailer refers to. */
function dropUnreachable(document: PDFDocument): void {
  const context = document.context;
  const reachable = new Set<string>();
  const pending: unknown[] = [context.trailerInfo.Root, context.trailerInfo.Info];
  while (pending.length > 0) {
    const value = pending.pop();
    if (value instanceof PDFRef) {
      if (reachable.has(value.tag)) continue;
      reachable.add(value.tag);
      pending.push(context.lookup(value));
    } else if (value instanceof PDFDict) {
      for (const [, entry] of value.entries()) pending.push(entry);
    } else if (value instanceof PDFArray) {
      for (let i = 0; i < value.size(); i++) pending.push(value.get(i));
    } else if (value && typeof value === 'object' && 'dict' in value) {
      // A stream: its dictionary refers onwards.
      pending.push((value as { dict: PDFDict }).dict);
    }
  }
  let largest = 0;
  for (const [ref] of context.enumerateIndirectObjects()) {
    if (!reachable.has(ref.tag)) context.delete(ref);
    else largest = Math.max(largest, ref.objectNumber);
  }
  // The trailer's /Size is one more than the largest object number left (ISO 32000-1 §7.5.5).
  context.largestObjectNumber = largest;
}
