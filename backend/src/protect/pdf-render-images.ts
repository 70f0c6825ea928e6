/**
 * Images inside the message text for the password PDF: `cid:` references to parts of the message and
 * `data:` URIs. Only PNG and JPEG can be drawn (the formats a PDF takes without converting pixels);
 * the type is read from the bytes, not from the declared content type. Anything else, and anything that
 * does not decode, is left out with a note: an image never stops the PDF.
 *
 * Nothing is ever fetched: a remote image is only counted by the HTML walker.
 */
import type { PDFDocument, PDFImage } from '@cantoo/pdf-lib';
import type { Attachment } from 'mailparser';
import type { PdfWords } from './pdf-render-text.ts';

export type ImageSource = { kind: 'cid'; id: string } | { kind: 'data'; uri: string };

export interface DrawableImage {
  image: PDFImage;
  /** Natural size in points (CSS pixels at 96 dpi). */
  width: number;
  height: number;
}

/**
 * A PNG is decoded to RGBA in memory before it is embedded: past this many pixels (about 64 MB decoded)
 * it is left out rather than risking the process on a small file that claims a huge picture.
 */
const MAX_PNG_PIXELS = 16_000_000;
const PX_TO_PT = 0.75;

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

type Sniffed = 'png' | 'jpeg' | 'gif' | 'webp' | 'bmp' | 'svg' | 'unknown';

function sniff(bytes: Buffer): Sniffed {
  if (bytes.subarray(0, 8).equals(PNG_SIGNATURE)) return 'png';
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  const head = bytes.subarray(0, 16).toString('latin1');
  if (head.startsWith('GIF87a') || head.startsWith('GIF89a')) return 'gif';
  if (head.startsWith('RIFF') && head.slice(8, 12) === 'WEBP') return 'webp';
  if (head.startsWith('BM')) return 'bmp';
  if (head.trimStart().startsWith('<')) return 'svg';
  return 'unknown';
}

/** The content id as the HTML and the part header both may write it: no brackets, no case. */
export function normaliseCid(value: string): string {
  let id = value.trim();
  try {
    id = decodeURIComponent(id);
  } catch {
    // A stray % is part of the id as written.
  }
  if (id.startsWith('<') && id.endsWith('>')) id = id.slice(1, -1);
  return id.trim().toLowerCase();
}

/** `data:[type][;base64],payload`; undefined when it is not one. */
function decodeDataUri(uri: string): { type: string; bytes: Buffer } | undefined {
  const comma = uri.indexOf(',');
  if (comma < 0) return undefined;
  const meta = uri.slice(5, comma).toLowerCase();
  const payload = uri.slice(comma + 1);
  const parts = meta.split(';').map((p) => p.trim());
  const type = parts[0] || 'text/plain';
  if (parts.includes('base64')) return { type, bytes: Buffer.from(payload, 'base64') };
  try {
    return { type, bytes: Buffer.from(decodeURIComponent(payload), 'latin1') };
  } catch {
    return undefined;
  }
}

/** Resolves, decodes and embeds inline images once each, and writes the notes for those left out. */
export class InlineImages {
  /** The parts drawn (or tried) as inline images: they are not embedded again as attachments. */
  readonly referencedParts = new Set<Attachment>();
  private readonly byCid = new Map<string, Attachment>();
  private readonly cache = new Map<string, Promise<DrawableImage | undefined>>();
  private dataImages = 0;

  constructor(
    private readonly doc: PDFDocument,
    private readonly words: PdfWords,
    private readonly note: (text: string) => void,
    attachments: readonly Attachment[],
  ) {
    for (const attachment of attachments) {
      if (!attachment.contentId) continue;
      const id = normaliseCid(attachment.contentId);
      if (id && !this.byCid.has(id)) this.byCid.set(id, attachment);
    }
  }

  /** The image for an <img>, or undefined when it was left out (the note is written here). */
  resolve(source: ImageSource, alt: string): Promise<DrawableImage | undefined> {
    const key = source.kind === 'cid' ? `cid:${normaliseCid(source.id)}` : source.uri;
    let found = this.cache.get(key);
    if (!found) {
      found = this.load(source, alt.trim().slice(0, 80));
      this.cache.set(key, found);
    }
    return found;
  }

  private async load(source: ImageSource, alt: string): Promise<DrawableImage | undefined> {
    if (source.kind === 'cid') {
      const part = this.byCid.get(normaliseCid(source.id));
      if (!part) {
        this.note(this.words.missingImage(`cid:${source.id}`));
        return undefined;
      }
      this.referencedParts.add(part);
      return this.embed(part.content, part.filename || (alt ? `"${alt}"` : `cid:${source.id}`), part.contentType);
    }
    this.dataImages += 1;
    const name = alt ? `"${alt}"` : this.words.embeddedImage(this.dataImages);
    const decoded = decodeDataUri(source.uri);
    if (!decoded) {
      this.note(this.words.unreadableImage(name));
      return undefined;
    }
    return this.embed(decoded.bytes, name, decoded.type);
  }

  private async embed(bytes: Buffer, name: string, declaredType: string): Promise<DrawableImage | undefined> {
    const kind = sniff(bytes);
    if (kind === 'png') return this.embedPng(bytes, name);
    if (kind === 'jpeg') return this.embedJpeg(bytes, name);
    const declared = declaredType.toLowerCase();
    if (kind === 'unknown' && (declared === 'image/png' || declared === 'image/jpeg' || declared === 'image/jpg')) {
      this.note(this.words.unreadableImage(name));
    } else {
      this.note(this.words.unsupportedImage(name, kind === 'unknown' ? declared || 'unknown' : `image/${kind === 'svg' ? 'svg+xml' : kind}`));
    }
    return undefined;
  }

  private async embedPng(bytes: Buffer, name: string): Promise<DrawableImage | undefined> {
    // IHDR is the first chunk: width and height at bytes 16 and 20.
    const width = bytes.length >= 24 ? bytes.readUInt32BE(16) : 0;
    const height = bytes.length >= 24 ? bytes.readUInt32BE(20) : 0;
    if (width === 0 || height === 0) {
      this.note(this.words.unreadableImage(name));
      return undefined;
    }
    if (width * height > MAX_PNG_PIXELS) {
      this.note(this.words.tooLargeImage(name));
      return undefined;
    }
    return this.tryEmbed(() => this.doc.embedPng(bytes), name);
  }

  private embedJpeg(bytes: Buffer, name: string): Promise<DrawableImage | undefined> {
    return this.tryEmbed(() => this.doc.embedJpg(bytes), name);
  }

  private async tryEmbed(embed: () => Promise<PDFImage>, name: string): Promise<DrawableImage | undefined> {
    try {
      const image = await embed();
      if (!(image.width > 0 && image.height > 0)) throw new Error('no size');
      return { image, width: image.width * PX_TO_PT, height: image.height * PX_TO_PT };
    } catch {
      this.note(this.words.unreadableImage(name));
      return undefined;
    }
  }
}
