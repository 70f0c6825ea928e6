/**
 * What an attached file is and what it carries, for the attachment filter: the type from the content
 * (magic bytes, file-type), never from the name alone; macros in Office files (OLE storages with cfb, the
 * VBA project in OOXML packages); active content in PDFs (also inside compressed object streams and
 * behind #xx name escapes); and the files inside ZIP archives, unpacked with limits on depth, entries,
 * bytes and compression ratio so that a bomb or a quine ends within the budget. RAR and 7z are recognised
 * but cannot be unpacked here (no maintained pure-JavaScript reader): they are reported as uninspected.
 */
import { inflateSync } from 'node:zlib';
import CFB from 'cfb';
import { fileTypeFromBuffer } from 'file-type';
import yauzl from 'yauzl';

export const ATTACHMENT_CATEGORIES = ['office', 'archives', 'scripts', 'executables', 'html', 'pdf'] as const;
export type AttachmentCategory = (typeof ATTACHMENT_CATEGORIES)[number];

export interface ArchiveLimits {
  /** Archives inside archives: the attachment itself is depth 1. */
  maxDepth: number;
  maxEntries: number;
  /** Bytes unpacked from one attachment, all levels together. */
  maxUnpackedBytes: number;
  /** Uncompressed size over compressed size of one entry. */
  maxRatio: number;
}

/** Something found in a file; `kind` picks the policy's rule, `category` the category rule it falls under. */
export interface FileFinding {
  kind: 'category' | 'macro' | 'pdf-active' | 'mismatch' | 'encrypted' | 'depth' | 'bomb' | 'unreadable' | 'uninspected';
  category?: AttachmentCategory;
  /** The file it is in, as a path through archives (invoice.zip › docs/a.exe). */
  path: string;
  reason: string;
}

export interface FileReport {
  name: string;
  /** The type the content shows, as file-type names it (exe, pdf, zip, cfb…), if any. */
  detected?: string;
  category?: AttachmentCategory;
  findings: FileFinding[];
}

const EXTENSIONS: Record<AttachmentCategory, readonly string[]> = {
  office: ['doc', 'dot', 'docx', 'docm', 'dotm', 'xls', 'xlt', 'xlsx', 'xlsm', 'xltm', 'xlsb', 'xlam', 'ppt', 'pps', 'pptx', 'pptm', 'ppsm', 'potm', 'rtf', 'odt', 'ods', 'odp'],
  archives: ['zip', 'rar', '7z', 'gz', 'tgz', 'bz2', 'xz', 'tar', 'cab', 'arj', 'lzh', 'ace', 'iso', 'img'],
  scripts: ['js', 'jse', 'vbs', 'vbe', 'wsf', 'wsh', 'wsc', 'bat', 'cmd', 'ps1', 'psm1', 'psd1', 'hta', 'sh', 'py', 'pl', 'scf', 'lnk', 'reg', 'inf', 'sct'],
  executables: ['exe', 'dll', 'msi', 'msp', 'scr', 'com', 'cpl', 'pif', 'sys', 'drv', 'ocx', 'jar', 'apk', 'app', 'dmg', 'elf', 'appx', 'msix'],
  html: ['html', 'htm', 'xhtml', 'shtml', 'mht', 'mhtml', 'svg'],
  pdf: ['pdf'],
};
const CATEGORY_OF_EXTENSION = new Map<string, AttachmentCategory>(
  Object.entries(EXTENSIONS).flatMap(([category, list]) => list.map((ext) => [ext, category as AttachmentCategory] as const)),
);
/** file-type's names for content whose category the name cannot override. */
const CATEGORY_OF_CONTENT: Record<string, AttachmentCategory> = {
  exe: 'executables',
  elf: 'executables',
  macho: 'executables',
  'mach-o': 'executables',
  dmg: 'executables',
  apk: 'executables',
  jar: 'executables',
  msi: 'executables',
  zip: 'archives',
  rar: 'archives',
  '7z': 'archives',
  gz: 'archives',
  bz2: 'archives',
  xz: 'archives',
  tar: 'archives',
  cab: 'archives',
  iso: 'archives',
  pdf: 'pdf',
  docx: 'office',
  docm: 'office',
  dotm: 'office',
  xlsx: 'office',
  xlsm: 'office',
  xltm: 'office',
  pptx: 'office',
  pptm: 'office',
  potm: 'office',
  ppsm: 'office',
  rtf: 'office',
  odt: 'office',
  ods: 'office',
  odp: 'office',
};
/** Content types that are the same thing under another name (a .docx is a ZIP; an .xls an OLE file). */
const SAME_KIND: Record<string, readonly string[]> = {
  cfb: ['doc', 'dot', 'xls', 'xlt', 'ppt', 'pps', 'msi', 'msp', 'msg'],
  zip: ['docx', 'docm', 'dotm', 'xlsx', 'xlsm', 'xltm', 'xlsb', 'xlam', 'pptx', 'pptm', 'ppsm', 'potm', 'jar', 'apk', 'odt', 'ods', 'odp', 'appx', 'msix', 'epub'],
  exe: ['exe', 'dll', 'scr', 'com', 'cpl', 'pif', 'sys', 'drv', 'ocx'],
  gz: ['gz', 'tgz'],
  xml: ['xml', 'svg', 'xhtml'],
  tar: ['tar'],
};

export function extensionOf(name: string): string {
  const base = name.slice(Math.max(name.lastIndexOf('/'), name.lastIndexOf('\\')) + 1);
  const dot = base.lastIndexOf('.');
  return dot <= 0 ? '' : base.slice(dot + 1).toLowerCase().trim();
}

/** Whether the name's extension can be that content (docx for zip, doc for cfb, the same name). */
function nameFits(ext: string, detected: string): boolean {
  if (ext === '' || ext === detected) return true;
  if (SAME_KIND[detected]?.includes(ext)) return true;
  // file-type names an OOXML document by its own kind; a .zip of such a document is still a ZIP.
  if (CATEGORY_OF_CONTENT[detected] === 'office' && (ext === 'zip' || CATEGORY_OF_EXTENSION.get(ext) === 'office')) return true;
  return false;
}

/** A pattern of an admin's custom rule: * for any run of characters, ? for one, case-insensitive. */
export function globMatches(pattern: string, name: string): boolean {
  // Iterative matching with one backtrack point (the last *): linear in practice and never exponential,
  // which a translation into a regular expression would not guarantee.
  const p = pattern.toLowerCase();
  const s = name.toLowerCase();
  let pi = 0;
  let si = 0;
  let star = -1;
  let mark = 0;
  while (si < s.length) {
    if (pi < p.length && (p[pi] === '?' || p[pi] === s[si])) {
      pi += 1;
      si += 1;
    } else if (pi < p.length && p[pi] === '*') {
      star = pi;
      mark = si;
      pi += 1;
    } else if (star >= 0) {
      pi = star + 1;
      mark += 1;
      si = mark;
    } else {
      return false;
    }
  }
  while (pi < p.length && p[pi] === '*') pi += 1;
  return pi === p.length;
}

interface InspectState {
  limits: ArchiveLimits;
  inspectArchives: boolean;
  macros: boolean;
  pdfActive: boolean;
  unpacked: number;
  signal?: AbortSignal;
}

export interface InspectOptions {
  limits: ArchiveLimits;
  inspectArchives: boolean;
  /** Look for VBA macros in Office files. */
  macros: boolean;
  /** Look for active content in PDFs. */
  pdfActive: boolean;
  signal?: AbortSignal;
}

/** The content types whose whole content is read: the ones that can hide something inside. */
const READ_WHOLE = new Set(['zip', 'cfb', 'pdf', 'jar', 'apk', ...Object.keys(CATEGORY_OF_CONTENT).filter((k) => CATEGORY_OF_CONTENT[k] === 'office')]);

/**
 * What one attached file is and carries, with the files inside it when it is an archive. `content` is the
 * file, or its first bytes and a way to read the rest: most attachments (images, media) are identified from
 * their start, and only the types that can hide something inside are decoded whole.
 */
export async function inspectFile(
  name: string,
  content: Buffer | { head: Buffer; whole: () => Buffer },
  options: InspectOptions,
): Promise<FileReport> {
  const state: InspectState = { ...options, unpacked: 0 };
  const findings: FileFinding[] = [];
  const top = await inspectOne(name, name, content, 1, state, findings);
  return { name, ...top, findings };
}

async function inspectOne(
  name: string,
  path: string,
  given: Buffer | { head: Buffer; whole: () => Buffer },
  depth: number,
  state: InspectState,
  findings: FileFinding[],
): Promise<{ detected?: string; category?: AttachmentCategory }> {
  state.signal?.throwIfAborted();
  const ext = extensionOf(name);
  const type = await fileTypeFromBuffer(Buffer.isBuffer(given) ? given : given.head).catch(() => undefined);
  let detected = type?.ext as string | undefined;
  const content = Buffer.isBuffer(given) ? given : detected && READ_WHOLE.has(detected) ? given.whole() : given.head;
  if (detected === 'cfb' && (ext === 'msi' || ext === 'msp')) detected = 'msi';
  const byContent = detected ? CATEGORY_OF_CONTENT[detected] : undefined;
  const byName = CATEGORY_OF_EXTENSION.get(ext);
  let category = byContent ?? byName;
  if (detected === 'cfb') category = byName ?? 'office';
  if (detected && ext && !nameFits(ext, detected)) {
    findings.push({ kind: 'mismatch', path, category, reason: `${path} is named .${ext} but its content is ${describe(detected)}` });
  }
  if (category) findings.push({ kind: 'category', category, path, reason: `${path} is ${describe(detected ?? ext)}` });

  if (detected === 'cfb' && state.macros) {
    const macro = oleMacros(content);
    if (macro) findings.push({ kind: 'macro', category: 'office', path, reason: `${path} holds VBA macros (${macro})` });
  }
  if (detected === 'zip' || (byContent === 'office' && detected !== 'rtf') || detected === 'jar' || detected === 'apk') {
    await inspectZip(path, content, depth, byContent ?? 'archives', state, findings);
  }
  if ((detected === 'rar' || detected === '7z' || detected === 'gz' || detected === 'bz2' || detected === 'xz' || detected === 'cab' || detected === 'iso') && state.inspectArchives) {
    findings.push({ kind: 'uninspected', category: 'archives', path, reason: `${path} is a ${detected} archive, which cannot be unpacked and checked here` });
  }
  if (detected === 'pdf' && state.pdfActive) {
    const active = pdfActiveContent(content);
    if (active.length > 0) findings.push({ kind: 'pdf-active', category: 'pdf', path, reason: `${path} has active content: ${active.join(', ')}` });
  }
  return { ...(detected ? { detected } : {}), ...(category ? { category } : {}) };
}

function describe(kind: string): string {
  const names: Record<string, string> = {
    exe: 'a Windows program',
    elf: 'a Linux program',
    macho: 'a macOS program',
    msi: 'a Windows installer',
    cfb: 'an Office document (OLE)',
    zip: 'a ZIP archive',
    rar: 'a RAR archive',
    '7z': 'a 7z archive',
    pdf: 'a PDF document',
    html: 'an HTML file',
    htm: 'an HTML file',
  };
  return names[kind] ?? `a .${kind} file`;
}

/** Which VBA storage an OLE file holds (Word: Macros/VBA, Excel: _VBA_PROJECT_CUR), or undefined. */
export function oleMacros(content: Buffer): string | undefined {
  let container: CFB.CFB$Container;
  try {
    container = CFB.read(content, { type: 'buffer' });
  } catch {
    return undefined;
  }
  for (const path of container.FullPaths) {
    const parts = path.split('/').map((p) => p.toLowerCase());
    if (parts.includes('vba') || parts.some((p) => p === '_vba_project_cur' || p === '_vba_project')) return path.replace(/^Root Entry\//, '');
  }
  return undefined;
}

/** The storages an OLE file keeps its macros in, for removal. */
export const OLE_MACRO_STORAGES = ['Macros', '_VBA_PROJECT_CUR'];

/** Reads a ZIP (an archive or an OOXML package) within the limits, and inspects each file inside. */
async function inspectZip(
  path: string,
  content: Buffer,
  depth: number,
  category: AttachmentCategory,
  state: InspectState,
  findings: FileFinding[],
): Promise<void> {
  const isArchive = category === 'archives';
  if (isArchive && !state.inspectArchives) return;
  if (isArchive && depth > state.limits.maxDepth) {
    findings.push({ kind: 'depth', category: 'archives', path, reason: `${path} is nested ${depth} archives deep; the policy unpacks ${state.limits.maxDepth}` });
    return;
  }
  let zip: yauzl.ZipFile;
  try {
    zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
      yauzl.fromBuffer(content, { lazyEntries: true, validateEntrySizes: true, strictFileNames: false }, (error, file) => (error ? reject(error) : resolve(file))),
    );
  } catch (error) {
    findings.push({ kind: 'unreadable', category, path, reason: `${path} cannot be read as a ZIP: ${String((error as Error).message ?? error).slice(0, 120)}` });
    return;
  }
  const entries: yauzl.Entry[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      zip.on('entry', (entry: yauzl.Entry) => {
        entries.push(entry);
        if (entries.length > state.limits.maxEntries) {
          zip.close();
          resolve();
          return;
        }
        zip.readEntry();
      });
      zip.on('end', () => resolve());
      zip.on('error', reject);
      zip.readEntry();
    });
  } catch (error) {
    findings.push({ kind: 'unreadable', category, path, reason: `${path} is a damaged ZIP: ${String((error as Error).message ?? error).slice(0, 120)}` });
    return;
  }
  if (entries.length > state.limits.maxEntries) {
    findings.push({ kind: 'bomb', category: 'archives', path, reason: `${path} has more than ${state.limits.maxEntries} entries` });
    return;
  }
  const isPackage = !isArchive;
  for (const entry of entries) {
    const entryName = entry.fileName;
    if (entryName.endsWith('/')) continue;
    const inner = `${path} › ${entryName.slice(0, 200)}`;
    if (isPackage) {
      // An Office package: only its macro project matters here.
      if (state.macros && /(^|\/)vbaproject\.bin$/i.test(entryName)) {
        findings.push({ kind: 'macro', category: 'office', path, reason: `${path} holds VBA macros (${entryName.slice(0, 100)})` });
      }
      continue;
    }
    if (entry.isEncrypted()) {
      findings.push({ kind: 'encrypted', category: 'archives', path, reason: `${path} is encrypted (${entryName.slice(0, 100)} cannot be checked)` });
      continue;
    }
    const ratio = entry.compressedSize > 0 ? entry.uncompressedSize / entry.compressedSize : entry.uncompressedSize > 0 ? Infinity : 1;
    if (ratio > state.limits.maxRatio && entry.uncompressedSize > 1024 * 1024) {
      findings.push({ kind: 'bomb', category: 'archives', path, reason: `${inner} unpacks ${Math.round(ratio)} times its size (a decompression bomb)` });
      return;
    }
    if (state.unpacked + entry.uncompressedSize > state.limits.maxUnpackedBytes) {
      findings.push({ kind: 'bomb', category: 'archives', path, reason: `${path} unpacks to more than ${Math.round(state.limits.maxUnpackedBytes / 1024 / 1024)} MB` });
      return;
    }
    state.unpacked += entry.uncompressedSize;
    let data: Buffer;
    try {
      data = await readEntry(zip, entry);
    } catch (error) {
      findings.push({ kind: 'unreadable', category: 'archives', path, reason: `${inner} cannot be unpacked: ${String((error as Error).message ?? error).slice(0, 120)}` });
      continue;
    }
    await inspectOne(entryName, inner, data, depth + 1, state, findings);
  }
}

function readEntry(zip: yauzl.ZipFile, entry: yauzl.Entry): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    zip.openReadStream(entry, (error, stream) => {
      if (error || !stream) return reject(error ?? new Error('no stream'));
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => resolve(Buffer.concat(chunks)));
      stream.on('error', reject);
    });
  });
}

/** PDF names that run something, open something or carry something (ISO 32000-1 §12.6, §7.11.4, §12.7). */
const PDF_ACTIVE_NAMES: Record<string, string> = {
  javascript: 'JavaScript',
  js: 'JavaScript',
  openaction: 'an action when opened (OpenAction)',
  aa: 'automatic actions (AA)',
  launch: 'a program launch (Launch)',
  embeddedfile: 'embedded files',
  embeddedfiles: 'embedded files',
  acroform: 'a form (AcroForm)',
  xfa: 'an XFA form',
  submitform: 'form submission (SubmitForm)',
  importdata: 'data import (ImportData)',
  gotor: 'links to other documents (GoToR)',
  gotoe: 'links into embedded documents (GoToE)',
  uri: 'external links (URI)',
  richmedia: 'rich media (RichMedia)',
};
/** The active names that are worth a finding on their own (URI links alone are ordinary). */
const PDF_RISKY = new Set(['javascript', 'js', 'openaction', 'aa', 'launch', 'embeddedfile', 'embeddedfiles', 'acroform', 'xfa', 'submitform', 'importdata', 'gotor', 'gotoe', 'richmedia']);
const MAX_PDF_INFLATED = 32 * 1024 * 1024;

/**
 * The kinds of active content a PDF names, read from its bytes and from the Flate-compressed streams
 * (where object streams hide dictionaries). Names are read as PDF tokens with #xx escapes decoded, so
 * /J#61vaScript is JavaScript. Linear in the bytes read; inflated data is capped.
 */
export function pdfActiveContent(content: Buffer): string[] {
  const found = new Set<string>();
  scanPdfNames(content, found);
  let inflated = 0;
  let at = 0;
  for (;;) {
    const start = content.indexOf('stream', at, 'latin1');
    if (start < 0) break;
    at = start + 6;
    // "endstream" contains "stream": skip it.
    if (start >= 3 && content.toString('latin1', start - 3, start) === 'end') continue;
    let dataStart = at;
    if (content[dataStart] === 0x0d) dataStart += 1;
    if (content[dataStart] === 0x0a) dataStart += 1;
    const end = content.indexOf('endstream', dataStart, 'latin1');
    if (end < 0) break;
    at = end + 9;
    const dictionary = content.toString('latin1', Math.max(0, start - 400), start);
    if (!/\/FlateDecode/.test(dictionary) || inflated >= MAX_PDF_INFLATED) continue;
    try {
      const data = inflateSync(content.subarray(dataStart, end), { maxOutputLength: MAX_PDF_INFLATED - inflated, finishFlush: 2 });
      inflated += data.length;
      scanPdfNames(data, found);
    } catch (error) {
      // A stream that inflates past the cap ends the reading of streams (it is a bomb or a huge image); one
      // that does not inflate is not read, and what it hides cannot run in a reader either.
      if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE' || error instanceof RangeError) inflated = MAX_PDF_INFLATED;
    }
  }
  return [...found].filter((name) => PDF_RISKY.has(name)).map((name) => PDF_ACTIVE_NAMES[name]!).filter((v, i, all) => all.indexOf(v) === i);
}

function scanPdfNames(data: Buffer, found: Set<string>): void {
  let at = data.indexOf(0x2f);
  while (at >= 0) {
    let end = at + 1;
    let name = '';
    while (end < data.length && end - at < 64) {
      const byte = data[end]!;
      // Delimiters and white space end a name (ISO 32000-1 §7.2.2).
      if (byte <= 0x20 || byte === 0x2f || byte === 0x28 || byte === 0x29 || byte === 0x3c || byte === 0x3e || byte === 0x5b || byte === 0x5d || byte === 0x7b || byte === 0x7d || byte === 0x25) break;
      if (byte === 0x23 && end + 2 < data.length) {
        const hex = Number.parseInt(data.toString('latin1', end + 1, end + 3), 16);
        if (!Number.isNaN(hex)) {
          name += String.fromCharCode(hex);
          end += 3;
          continue;
        }
      }
      name += String.fromCharCode(byte);
      end += 1;
    }
    const lower = name.toLowerCase();
    if (lower in PDF_ACTIVE_NAMES) found.add(lower);
    at = data.indexOf(0x2f, end > at + 1 ? end : at + 1);
  }
}
