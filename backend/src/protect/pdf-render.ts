/**
 * The "password PDF" protection mode's document: one e-mail message (raw RFC 5322 bytes) as one PDF,
 * encrypted with AES-256 (revision 6) under a password the recipient gets another way.
 *
 * Page 1 starts with the header block (From, To, Cc, Date, Subject), then the body: the HTML part when
 * there is one, read without scripts, forms or remote content, else the text part with its line breaks.
 * The attachments are embedded as files of the PDF (and listed after the body), inline PNG and JPEG
 * images are drawn where the text has them. Whatever was left out or replaced is listed under "Notes"
 * at the end and returned in `notes`, in the PDF's language.
 *
 * Parts: pdf-render-text.ts (labels, dates, the font's characters), pdf-render-flow.ts (lines and
 * pages), pdf-render-html.ts (the HTML walk), pdf-render-images.ts (inline images),
 * pdf-render-files.ts (embedded files), pdf-render-encrypt.ts (the encryption).
 */
import { PDFDocument, StandardFonts } from '@cantoo/pdf-lib';
import { simpleParser, type AddressObject, type ParsedMail } from 'mailparser';
import { STORED_MESSAGE_LIMITS } from '../mail/header-section.ts';
import { encryptPdf } from './pdf-render-encrypt.ts';
import { embedFiles, fileNames, type EmbeddedFile } from './pdf-render-files.ts';
import { BODY_STYLE, PdfFlow, type FlowFonts, type TextStyle } from './pdf-render-flow.ts';
import { renderHtml } from './pdf-render-html.ts';
import { InlineImages } from './pdf-render-images.ts';
import { FontText, formatDate, formatSize, wordsFor, type PdfLanguage, type PdfWords } from './pdf-render-text.ts';

export class PdfBuildError extends Error {
  constructor(
    message: string,
    readonly code: 'too-large' | 'unreadable' | 'failed',
  ) {
    super(message);
    this.name = 'PdfBuildError';
  }
}

export interface PdfRenderOptions {
  /** The user password; the owner password is random per PDF and never equal to it. */
  password: string;
  /** Labels and notes in the PDF (and the returned notes) in English or German. */
  language: 'en' | 'de';
  /** Default 50 MiB: a larger message is refused before it is parsed. */
  maxMessageBytes?: number;
  /** For the date shown; default Europe/Berlin. */
  timeZone?: string;
}

export interface PdfRenderResult {
  pdf: Buffer;
  attachments: Array<{ filename: string; contentType: string; size: number }>;
  /** What was left out or replaced, e.g. "image logo.gif could not be read and was left out". */
  notes: string[];
}

export const DEFAULT_MAX_MESSAGE_BYTES = 50 * 1024 * 1024;
/** The body stops after this many pages (with a note); the attachment list and notes still follow. */
const MAX_BODY_PAGES = 200;
/** More MIME parts than this are refused by the parser (mailparser's maxChildNodes). */
const MAX_MIME_PARTS = 1000;
/** mailparser works on the message as a stream and ends; this bounds the wait for a pathological one. */
const PARSE_TIMEOUT_MS = 60_000;

const HEADER_STYLE: TextStyle = { ...BODY_STYLE, size: 10 };
const LABEL_STYLE: TextStyle = { ...HEADER_STYLE, bold: true };
const SECTION_STYLE: TextStyle = { ...BODY_STYLE, bold: true, size: 13 };

export async function renderMessagePdf(raw: Buffer, options: PdfRenderOptions): Promise<PdfRenderResult> {
  const limit = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  if (raw.length > limit) {
    throw new PdfBuildError(`the message is ${raw.length} bytes, more than the ${limit} bytes a password PDF may hold`, 'too-large');
  }
  // An empty password would give a PDF that anyone can open: refuse rather than send it unprotected.
  if (typeof options.password !== 'string' || options.password.length === 0) {
    throw new PdfBuildError('no password was given for the PDF', 'failed');
  }
  const parsed = await parseMessage(raw);
  try {
    return await buildPdf(parsed, options);
  } catch (error) {
    if (error instanceof PdfBuildError) throw error;
    throw new PdfBuildError(`the PDF could not be built: ${error instanceof Error ? error.message : String(error)}`, 'failed');
  }
}

async function parseMessage(raw: Buffer): Promise<ParsedMail> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new PdfBuildError(`reading the message took longer than ${PARSE_TIMEOUT_MS / 1000} s`, 'unreadable')), PARSE_TIMEOUT_MS);
  });
  try {
    const parsing = simpleParser(raw, {
      // The body is read from the HTML here: mailparser's own conversions and cid: inlining are not needed.
      skipHtmlToText: true,
      skipTextToHtml: true,
      skipImageLinks: true,
      keepCidLinks: true,
      checksumAlgo: false,
      maxHeadSize: STORED_MESSAGE_LIMITS.maxHeaderBytes,
      maxChildNodes: MAX_MIME_PARTS,
    });
    return await Promise.race([parsing, timeout]);
  } catch (error) {
    if (error instanceof PdfBuildError) throw error;
    throw new PdfBuildError(`the message could not be read: ${error instanceof Error ? error.message : String(error)}`, 'unreadable');
  } finally {
    clearTimeout(timer);
  }
}

/** Notes in order of appearance, each once. */
class Notes {
  private readonly list: string[] = [];
  add = (text: string): void => {
    if (!this.list.includes(text)) this.list.push(text);
  };
  get all(): string[] {
    return [...this.list];
  }
}

async function buildPdf(parsed: ParsedMail, options: PdfRenderOptions): Promise<PdfRenderResult> {
  const language: PdfLanguage = options.language === 'de' ? 'de' : 'en';
  const words = wordsFor(language);
  const notes = new Notes();
  const doc = await PDFDocument.create({ updateMetadata: false });
  const fonts = await embedFonts(doc);
  const text = new FontText(new Set(fonts.regular.getCharacterSet()));
  const flow = new PdfFlow(doc, fonts, text);

  writeHeader(flow, parsed, words, language, options.timeZone);
  flow.rule();
  const images = new InlineImages(doc, words, notes.add, parsed.attachments);
  await writeBody(flow, parsed, words, images, notes);

  const attachments = parsed.attachments.filter((a) => !images.referencedParts.has(a));
  const names = fileNames(attachments);
  const files: EmbeddedFile[] = attachments.map((a, i) => ({ name: names[i]!, contentType: a.contentType || 'application/octet-stream', content: a.content }));
  writeAttachmentList(flow, files, words, language);
  if (text.replaced > 0) notes.add(words.replacedCharacters(text.replaced));
  writeNotes(flow, notes.all, words);
  flow.numberPages(words.page);

  setMetadata(doc, parsed, words, language);
  await embedFiles(doc, files);
  await encryptPdf(doc, options.password.normalize('NFKC'));
  const bytes = await doc.save({ useObjectStreams: false, addDefaultPage: false, updateFieldAppearances: false });
  return {
    pdf: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    attachments: files.map((f) => ({ filename: f.name, contentType: f.contentType, size: f.content.length })),
    notes: notes.all,
  };
}

/** The standard fonts (WinAnsi, nothing embedded but their names): see pdf-render-text.ts for why. */
async function embedFonts(doc: PDFDocument): Promise<FlowFonts> {
  const [regular, bold, italic, boldItalic, mono, monoBold] = await Promise.all(
    [
      StandardFonts.Helvetica,
      StandardFonts.HelveticaBold,
      StandardFonts.HelveticaOblique,
      StandardFonts.HelveticaBoldOblique,
      StandardFonts.Courier,
      StandardFonts.CourierBold,
    ].map((name) => doc.embedFont(name)),
  );
  return { regular: regular!, bold: bold!, italic: italic!, boldItalic: boldItalic!, mono: mono!, monoBold: monoBold! };
}

function addressList(value: AddressObject | AddressObject[] | undefined): string {
  const objects = Array.isArray(value) ? value : value ? [value] : [];
  const one = (entry: { name?: string; address?: string }) =>
    entry.name && entry.address ? `${entry.name} <${entry.address}>` : entry.name || entry.address || '';
  return objects
    .flatMap((object) => object.value)
    .flatMap((entry) => (entry.group ? [`${entry.name ? `${entry.name}: ` : ''}${entry.group.map(one).join(', ')}`] : [one(entry)]))
    .filter(Boolean)
    .join(', ');
}

/**
 * The Date header as a local date. mailparser gives the current time for a Date header it cannot read,
 * which would be shown as if it were the sending time: such a header is shown as written instead.
 */
function dateShown(parsed: ParsedMail, language: PdfLanguage, timeZone: string | undefined): string {
  const line = parsed.headerLines.find((header) => header.key === 'date')?.line;
  if (!line) return '';
  const written = line.slice(line.indexOf(':') + 1).replace(/\s+/g, ' ').trim().slice(0, 200);
  if (Number.isNaN(Date.parse(written)) || !parsed.date || Number.isNaN(parsed.date.getTime())) return written;
  return formatDate(parsed.date, language, timeZone);
}

function writeHeader(flow: PdfFlow, parsed: ParsedMail, words: PdfWords, language: PdfLanguage, timeZone: string | undefined): void {
  const date = dateShown(parsed, language, timeZone);
  const rows: Array<[string, string, TextStyle]> = [
    [words.from, addressList(parsed.from), HEADER_STYLE],
    [words.to, addressList(parsed.to), HEADER_STYLE],
    [words.cc, addressList(parsed.cc), HEADER_STYLE],
    [words.date, date, HEADER_STYLE],
    [words.subject, parsed.subject?.trim() || words.noSubject, { ...HEADER_STYLE, bold: true }],
  ];
  const labelWidth = Math.max(...rows.map(([label]) => flow.measure(`${label}:`, flow.fontOf(LABEL_STYLE), LABEL_STYLE.size))) + 12;
  flow.setIndent(labelWidth);
  for (const [label, value, style] of rows) {
    if (!value) continue;
    flow.setMarker(`${label}:`, LABEL_STYLE, 'left');
    flow.write(value, style);
    flow.endLine();
  }
  flow.setIndent(0);
}

async function writeBody(flow: PdfFlow, parsed: ParsedMail, words: PdfWords, images: InlineImages, notes: Notes): Promise<void> {
  flow.limitPages(MAX_BODY_PAGES);
  const drawnBefore = flow.drawn;
  if (typeof parsed.html === 'string' && parsed.html.trim() !== '') {
    const summary = await renderHtml(parsed.html, words, flow, images);
    if (summary.remoteImages > 0) notes.add(words.remoteImages(summary.remoteImages));
    if (summary.activeContent) notes.add(words.activeContent);
  } else if (parsed.text) {
    flow.writePreformatted(parsed.text.trimEnd(), BODY_STYLE);
    flow.endLine();
  }
  if (flow.truncated) notes.add(words.textCut(MAX_BODY_PAGES));
  else if (flow.drawn === drawnBefore) flow.write(words.noText, { ...BODY_STYLE, color: 'muted' });
  flow.liftPageLimit();
}

function writeAttachmentList(flow: PdfFlow, files: readonly EmbeddedFile[], words: PdfWords, language: PdfLanguage): void {
  if (files.length === 0) return;
  flow.gap(14);
  flow.rule();
  flow.write(words.attachments, SECTION_STYLE);
  flow.gap(4);
  flow.write(words.attachmentsHint, BODY_STYLE);
  flow.gap(4);
  flow.setIndent(18);
  for (const file of files) {
    flow.setMarker('\u2022', BODY_STYLE, 'right-of-indent');
    flow.write(file.name, { ...BODY_STYLE, bold: true });
    flow.write(` \u2013 ${file.contentType}, ${formatSize(file.content.length, language)}`, BODY_STYLE);
    flow.endLine();
  }
  flow.setIndent(0);
}

function writeNotes(flow: PdfFlow, notes: readonly string[], words: PdfWords): void {
  if (notes.length === 0) return;
  flow.gap(14);
  flow.write(words.notes, SECTION_STYLE);
  flow.gap(4);
  flow.setIndent(18);
  for (const note of notes) {
    flow.setMarker('\u2022', BODY_STYLE, 'right-of-indent');
    flow.write(note, BODY_STYLE);
    flow.endLine();
  }
  flow.setIndent(0);
}

/** Title, language and producer; encrypted with the rest, so the subject is not readable without the password. */
function setMetadata(doc: PDFDocument, parsed: ParsedMail, words: PdfWords, language: PdfLanguage): void {
  doc.setTitle(parsed.subject?.trim() || words.noSubject, { showInWindowTitleBar: true });
  doc.setLanguage(language === 'de' ? 'de-DE' : 'en-GB');
  doc.setProducer('Sealpost');
  doc.setCreator('Sealpost');
  doc.setCreationDate(new Date());
}
