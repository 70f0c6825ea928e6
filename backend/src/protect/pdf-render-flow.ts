/**
 * Text flow for the password PDF: words laid out in lines on A4 pages, wrapped at the right margin and
 * continued on a new page, with styles that change inside a line, hanging markers (list bullets, header
 * labels), vertical gaps between blocks, rules and images.
 *
 * A word is only ever broken inside when it is wider than the whole line (a long URL, a base64 blob);
 * otherwise lines break at white space. Words are measured with a per-font cache of character widths,
 * so a long body costs one map lookup a character.
 */
import { PageSizes, rgb, type PDFDocument, type PDFFont, type PDFImage, type PDFPage, type RGB } from '@cantoo/pdf-lib';
import type { FontText } from './pdf-render-text.ts';

export type TextColor = 'text' | 'link' | 'muted';

export interface TextStyle {
  bold: boolean;
  italic: boolean;
  mono: boolean;
  size: number;
  color: TextColor;
}

export interface FlowFonts {
  regular: PDFFont;
  bold: PDFFont;
  italic: PDFFont;
  boldItalic: PDFFont;
  mono: PDFFont;
  monoBold: PDFFont;
}

export const BODY_STYLE: TextStyle = { bold: false, italic: false, mono: false, size: 10.5, color: 'text' };

const COLORS: Record<TextColor, RGB> = {
  text: rgb(0.1, 0.1, 0.1),
  link: rgb(0.05, 0.3, 0.65),
  muted: rgb(0.4, 0.4, 0.4),
};

const [PAGE_WIDTH, PAGE_HEIGHT] = PageSizes.A4;
const MARGIN_X = 56;
const MARGIN_TOP = 56;
/** Room below the last line for the page number. */
const MARGIN_BOTTOM = 64;
const CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN_X;
const CONTENT_HEIGHT = PAGE_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM;
const LINE_SPACING = 1.3;
/** Indentation never eats more than this share of the line, so deeply nested lists stay readable. */
const MAX_INDENT = CONTENT_WIDTH * 0.4;

/** The white space of HTML (and of a plain-text line, where tabs are already spaces). No-break space is not white: it binds. */
function isWhite(code: number): boolean {
  return code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0d || code === 0x0c;
}

interface Segment {
  text: string;
  font: PDFFont;
  size: number;
  color: TextColor;
  width: number;
}

interface Marker {
  segments: Segment[];
  /** Offset of the marker's start from the left margin. */
  x: number;
}

export class PdfFlow {
  /** Pages added so far. */
  pageCount = 0;
  /** Set once the page limit stopped the text: later text is dropped until the limit is lifted. */
  truncated = false;
  /** Pieces of text and images drawn so far: tells whether a body showed anything at all. */
  drawn = 0;
  private page: PDFPage | undefined;
  private y = 0;
  private atPageTop = true;
  private line: Segment[] = [];
  private lineWidth = 0;
  private word: Segment[] = [];
  private wordWidth = 0;
  /** White space waiting between the line and the next word; kept at a line start only when `keepAtStart`. */
  private space: { segment: Segment; keepAtStart: boolean } | undefined;
  private gapBefore = 0;
  private marker: Marker | undefined;
  private indentation = 0;
  private maxPages = Number.POSITIVE_INFINITY;
  private readonly widths = new Map<PDFFont, Map<string, number>>();

  constructor(
    private readonly doc: PDFDocument,
    private readonly fonts: FlowFonts,
    private readonly text: FontText,
  ) {}

  get available(): number {
    return CONTENT_WIDTH - this.indentation;
  }

  /** Applies to the lines after the current one; the current line is ended first. */
  setIndent(points: number): void {
    this.endLine();
    this.indentation = Math.max(0, Math.min(points, MAX_INDENT));
  }

  /** Text stops (and `truncated` is set) when a new page beyond this many would be needed. */
  limitPages(pages: number): void {
    this.maxPages = pages;
  }

  /**
   * Ends the body: lifts the page limit (the attachment list and notes always follow) and its indentation.
   * After a cut body they start on a fresh page.
   */
  liftPageLimit(): void {
    this.endLine();
    this.maxPages = Number.POSITIVE_INFINITY;
    this.indentation = 0;
    if (this.truncated) {
      this.word = [];
      this.line = [];
      this.space = undefined;
      this.marker = undefined;
      this.truncated = false;
      this.newPage();
    }
  }

  fontOf(style: TextStyle): PDFFont {
    if (style.mono) return style.bold ? this.fonts.monoBold : this.fonts.mono;
    if (style.bold) return style.italic ? this.fonts.boldItalic : this.fonts.bold;
    return style.italic ? this.fonts.italic : this.fonts.regular;
  }

  /** Width of text that is already reduced to the font's characters. */
  measure(text: string, font: PDFFont, size: number): number {
    let cache = this.widths.get(font);
    if (!cache) {
      cache = new Map();
      this.widths.set(font, cache);
    }
    let width = 0;
    for (const char of text) {
      let w = cache.get(char);
      if (w === undefined) {
        w = font.widthOfTextAtSize(char, 1);
        cache.set(char, w);
      }
      width += w;
    }
    return width * size;
  }

  /** HTML-style text: runs of white space become one space, lines break where they must. */
  write(text: string, style: TextStyle): void {
    this.addTokens(text, style, false);
  }

  /** Text whose line breaks and spaces count (plain-text bodies, <pre>). Tabs become four spaces. */
  writePreformatted(text: string, style: TextStyle): void {
    const lines = text.split('\n');
    lines.forEach((line, index) => {
      if (index > 0) this.lineBreak(style);
      const cleanLine = line.endsWith('\r') ? line.slice(0, -1) : line;
      this.addTokens(cleanLine.replaceAll('\t', '    '), style, true);
    });
  }

  /** Ends the current line; a break on an empty line leaves an empty line. */
  lineBreak(style: TextStyle = BODY_STYLE): void {
    if (this.truncated) return;
    this.commitWord();
    this.space = undefined;
    if (this.line.length > 0 || this.marker) this.flushLine();
    else this.advance(style.size * LINE_SPACING);
  }

  /** Ends the current line if it has text, leaving no empty line. */
  endLine(): void {
    if (this.truncated) return;
    this.commitWord();
    this.space = undefined;
    if (this.line.length > 0) this.flushLine();
  }

  /** Space before the next line; gaps that meet do not add up, and none is left at the top of a page. */
  gap(points: number): void {
    this.endLine();
    this.gapBefore = Math.max(this.gapBefore, points);
  }

  /** Text drawn with the next line, hanging in front of it (a bullet, a number, a label). */
  setMarker(text: string, style: TextStyle, align: 'left' | 'right-of-indent'): void {
    if (this.truncated) return;
    this.endLine();
    const font = this.fontOf(style);
    const clean = this.text.clean(text);
    const width = this.measure(clean, font, style.size);
    const x = align === 'left' ? 0 : Math.max(0, this.indentation - width - 5);
    this.marker = { segments: [{ text: clean, font, size: style.size, color: style.color, width }], x };
  }

  rule(): void {
    this.endLine();
    if (this.truncated || !this.ensureRoom(12)) return;
    this.y -= 5;
    this.page!.drawLine({
      start: { x: MARGIN_X, y: this.y },
      end: { x: MARGIN_X + CONTENT_WIDTH, y: this.y },
      thickness: 0.5,
      color: COLORS.muted,
    });
    this.y -= 7;
    this.atPageTop = false;
    this.gapBefore = 0;
  }

  /** An image on its own line, scaled down (never up) to the line width and the page height. */
  image(image: PDFImage, width: number, height: number): void {
    this.endLine();
    if (this.truncated || width <= 0 || height <= 0) return;
    const scale = Math.min(1, this.available / width, CONTENT_HEIGHT / height);
    const w = width * scale;
    const h = height * scale;
    if (!this.ensureRoom(h + this.pendingGap())) return;
    this.y -= this.pendingGap();
    this.drawn += 1;
    this.page!.drawImage(image, { x: MARGIN_X + this.indentation, y: this.y - h, width: w, height: h });
    this.y -= h + 3;
    this.atPageTop = false;
    this.gapBefore = 3;
  }

  /** Draws "Page n of m" under every page, once all pages exist. */
  numberPages(label: (page: number, pages: number) => string): void {
    const pages = this.doc.getPages();
    const font = this.fonts.regular;
    pages.forEach((page, index) => {
      const text = this.text.clean(label(index + 1, pages.length));
      const width = this.measure(text, font, 8);
      page.drawText(text, { x: (PAGE_WIDTH - width) / 2, y: MARGIN_BOTTOM / 2 - 4, size: 8, font, color: COLORS.muted });
    });
  }

  private addTokens(text: string, style: TextStyle, preformatted: boolean): void {
    if (this.truncated) return;
    let start = 0;
    let i = 0;
    while (i <= text.length) {
      if (i < text.length && !isWhite(text.charCodeAt(i))) {
        i += 1;
        continue;
      }
      if (i > start) this.addWordPart(text.slice(start, i), style);
      if (i === text.length) break;
      let end = i + 1;
      while (end < text.length && isWhite(text.charCodeAt(end))) end += 1;
      this.addSpace(preformatted ? text.slice(i, end) : ' ', style, preformatted);
      i = end;
      start = end;
    }
  }

  private addWordPart(raw: string, style: TextStyle): void {
    const text = this.text.clean(raw);
    if (!text) return;
    const font = this.fontOf(style);
    const width = this.measure(text, font, style.size);
    const last = this.word.at(-1);
    if (last && last.font === font && last.size === style.size && last.color === style.color) {
      last.text += text;
      last.width += width;
    } else {
      this.word.push({ text, font, size: style.size, color: style.color, width });
    }
    this.wordWidth += width;
  }

  private addSpace(text: string, style: TextStyle, keepAtStart: boolean): void {
    this.commitWord();
    if (this.space && !keepAtStart) return;
    const font = this.fontOf(style);
    const segment = { text, font, size: style.size, color: style.color, width: this.measure(text, font, style.size) };
    if (this.space && keepAtStart) {
      this.space.segment.text += text;
      this.space.segment.width += segment.width;
    } else {
      this.space = { segment, keepAtStart };
    }
  }

  /** Puts the word collected so far on the line, starting a new line first when it does not fit. */
  private commitWord(): void {
    if (this.word.length === 0 || this.truncated) return;
    const space = this.space;
    this.space = undefined;
    if (this.line.length > 0 && space) {
      if (this.lineWidth + space.segment.width + this.wordWidth > this.available) this.flushLine();
      else this.pushSegment(space.segment);
    } else if (this.line.length > 0 && this.lineWidth + this.wordWidth > this.available) {
      this.flushLine();
    } else if (this.line.length === 0 && space?.keepAtStart && space.segment.width + this.wordWidth <= this.available) {
      this.pushSegment(space.segment);
    }
    const word = this.word;
    const wordWidth = this.wordWidth;
    this.word = [];
    this.wordWidth = 0;
    if (wordWidth <= this.available - this.lineWidth) {
      for (const segment of word) this.pushSegment(segment);
      return;
    }
    for (const segment of word) this.pushBroken(segment);
  }

  /** A word wider than the line: as many characters as fit on each line. */
  private pushBroken(segment: Segment): void {
    let chunk = '';
    let chunkWidth = 0;
    for (const char of segment.text) {
      const w = this.measure(char, segment.font, segment.size);
      if (chunk && this.lineWidth + chunkWidth + w > this.available) {
        this.pushSegment({ ...segment, text: chunk, width: chunkWidth });
        this.flushLine();
        if (this.truncated) return;
        chunk = '';
        chunkWidth = 0;
      } else if (!chunk && this.line.length > 0 && this.lineWidth + w > this.available) {
        this.flushLine();
        if (this.truncated) return;
      }
      chunk += char;
      chunkWidth += w;
    }
    if (chunk) this.pushSegment({ ...segment, text: chunk, width: chunkWidth });
  }

  private pushSegment(segment: Segment): void {
    const last = this.line.at(-1);
    if (last && last.font === segment.font && last.size === segment.size && last.color === segment.color) {
      last.text += segment.text;
      last.width += segment.width;
    } else {
      this.line.push({ ...segment });
    }
    this.lineWidth += segment.width;
  }

  private pendingGap(): number {
    return this.atPageTop ? 0 : this.gapBefore;
  }

  /** Draws the current line (and a waiting marker) and moves down. */
  private flushLine(): void {
    const sizes = [...this.line, ...(this.marker?.segments ?? [])].map((s) => s.size);
    const size = sizes.length > 0 ? Math.max(...sizes) : BODY_STYLE.size;
    const height = size * LINE_SPACING;
    const line = this.line;
    const marker = this.marker;
    this.line = [];
    this.lineWidth = 0;
    this.marker = undefined;
    if (!this.ensureRoom(height + this.pendingGap())) return;
    this.y -= this.pendingGap();
    const baseline = this.y - size;
    let x = MARGIN_X + this.indentation;
    for (const segment of line) {
      this.drawSegment(segment, x, baseline);
      x += segment.width;
    }
    if (marker) {
      let mx = MARGIN_X + marker.x;
      for (const segment of marker.segments) {
        this.drawSegment(segment, mx, baseline);
        mx += segment.width;
      }
    }
    this.y -= height;
    this.atPageTop = false;
    this.gapBefore = 0;
  }

  private drawSegment(segment: Segment, x: number, baseline: number): void {
    if (segment.text.trim() === '') return;
    this.drawn += 1;
    this.page!.drawText(segment.text, { x, y: baseline, size: segment.size, font: segment.font, color: COLORS[segment.color] });
  }

  /** An empty line's height (two breaks in a row); dropped at the top of a page. */
  private advance(height: number): void {
    if (this.atPageTop && this.page) return;
    if (!this.ensureRoom(height)) return;
    this.y -= height;
    this.atPageTop = false;
  }

  /** Makes sure `height` fits below the cursor, on a new page if need be; false once the page limit is hit. */
  private ensureRoom(height: number): boolean {
    if (this.page && this.y - height >= MARGIN_BOTTOM) return true;
    return this.newPage();
  }

  private newPage(): boolean {
    if (this.pageCount >= this.maxPages) {
      this.truncated = true;
      this.line = [];
      this.lineWidth = 0;
      this.word = [];
      this.wordWidth = 0;
      return false;
    }
    this.page = this.doc.addPage([PAGE_WIDTH, PAGE_HEIGHT]);
    this.pageCount += 1;
    this.y = PAGE_HEIGHT - MARGIN_TOP;
    this.atPageTop = true;
    return true;
  }
}
