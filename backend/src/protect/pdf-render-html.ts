/**
 * The HTML body of a message drawn into the PDF text flow. htmlparser2 reads the HTML as a stream of
 * tags and text (no DOM is built); the walker keeps a stack of open elements for the style, the lists
 * and the tables, and records steps for the flow. Images need an asynchronous embed, so the HTML is read
 * in slices and the steps of each slice are drawn before the next is read: memory stays bounded, and
 * once the flow's page limit is reached the rest of the HTML is not even parsed.
 *
 * htmlparser2 keeps its open elements in an array it shifts at the front, so each tag costs time in
 * proportion to the nesting depth: 400,000 nested elements took minutes. Past MAX_PARSER_DEPTH open
 * elements the parser is set aside and a fresh one reads on from the next tag; the walker keeps the
 * elements opened so far, and their end tags, unknown to the fresh parser, are ignored.
 *
 * What is left out: scripts, styles, forms and their fields, frames, objects, media, and elements
 * hidden with `display:none` or `hidden` (preview texts meant not to be seen). Remote images are
 * never fetched: each is counted and replaced by a short placeholder.
 */
import { Parser } from 'htmlparser2';
import { BODY_STYLE, type PdfFlow, type TextStyle } from './pdf-render-flow.ts';
import type { ImageSource, InlineImages } from './pdf-render-images.ts';
import type { PdfWords } from './pdf-render-text.ts';

type FlowStep =
  | { step: 'text'; text: string; style: TextStyle }
  | { step: 'pre'; text: string; style: TextStyle }
  | { step: 'break' }
  | { step: 'gap'; points: number }
  | { step: 'indent'; points: number }
  | { step: 'marker'; text: string; style: TextStyle }
  | { step: 'rule' }
  | { step: 'image'; source: ImageSource; alt: string; width?: number; height?: number };

export interface HtmlSummary {
  remoteImages: number;
  /** Scripts, forms, frames or objects were found and left out. */
  activeContent: boolean;
}

const SLICE_CHARS = 64 * 1024;
const MAX_PARSER_DEPTH = 2000;
/** Elements whose content htmlparser2 reads as raw text: a fresh parser must not start inside one. */
const RAW_TEXT = new Set(['script', 'style', 'textarea', 'title', 'xmp', 'iframe', 'noembed', 'noframes', 'noscript', 'plaintext']);

/** Elements whose content is never shown. */
const SKIPPED = new Set([
  'head', 'title', 'style', 'script', 'template', 'noscript', 'iframe', 'frame', 'frameset', 'object',
  'embed', 'applet', 'form', 'input', 'button', 'select', 'textarea', 'option', 'optgroup', 'datalist',
  'svg', 'math', 'canvas', 'audio', 'video', 'map', 'dialog', 'meta', 'link', 'base',
]);
/** Of those, the ones worth a note: active content the sender may expect to work. */
const ACTIVE = new Set(['script', 'iframe', 'frame', 'frameset', 'object', 'embed', 'applet', 'form', 'input', 'button', 'select', 'textarea']);

/**
 * Block elements and the space around them (points). Maps, not object literals: a tag name comes from the
 * message, and <constructor> must not find Object's.
 */
const BLOCK_GAPS = new Map(Object.entries({
  p: 6, h1: 10, h2: 9, h3: 8, h4: 6, h5: 6, h6: 6, blockquote: 6, pre: 6, table: 6, ul: 4, ol: 4, dl: 4,
  figure: 6, hr: 0, div: 0, section: 0, article: 0, header: 0, footer: 0, main: 0, nav: 0, aside: 0,
  address: 0, center: 0, li: 0, dt: 2, dd: 0, tr: 0, caption: 2, figcaption: 2, details: 4, summary: 0,
  fieldset: 4, legend: 0, hgroup: 0, tbody: 0, thead: 0, tfoot: 0,
}));
const HEADING_SIZES = new Map(Object.entries({ h1: 18, h2: 15, h3: 13, h4: 12, h5: 11, h6: 11 }));
const LIST_INDENT = 18;
const QUOTE_INDENT = 14;
const BULLETS = ['\u2022', '\u2013', '\u00b7'];

interface Frame {
  tag: string;
  style: TextStyle;
  skip?: boolean;
  pre?: boolean;
  /** Indentation to go back to when the element closes. */
  restoreIndent?: number;
  list?: { ordered: boolean; next: number; level: number };
  /** Cells with text so far, and cells opened since the last one with text (the current one included). */
  row?: { cellsWithText: number; cellsSinceText: number };
  cell?: { hasText: boolean };
  link?: { href: string; text: string };
}

function isHidden(attribs: Record<string, string>): boolean {
  if (Object.hasOwn(attribs, 'hidden')) return true;
  const style = (attribs.style ?? '').toLowerCase().replace(/\s/g, '');
  return style.includes('display:none');
}

/** A length attribute in CSS pixels ("120", "120px"); percentages and nonsense give undefined. */
function pixels(value: string | undefined): number | undefined {
  if (!value || value.includes('%')) return undefined;
  const n = Number.parseFloat(value);
  return Number.isFinite(n) && n > 0 && n < 100_000 ? n : undefined;
}

/** The address a link shows after its text, or undefined when it shows none (anchors, scripts, cid). */
function shownUrl(href: string): string | undefined {
  const lower = href.toLowerCase();
  if (lower.startsWith('http://') || lower.startsWith('https://')) return href;
  if (lower.startsWith('mailto:')) return href.slice(7);
  if (lower.startsWith('tel:')) return href.slice(4);
  return undefined;
}

function sameAddress(text: string, url: string): boolean {
  const strip = (s: string) => s.trim().toLowerCase().replace(/^[a-z]+:(?:\/\/)?/, '').replace(/\/$/, '');
  return strip(text) === strip(url);
}

/**
 * Open lists, rows, cells and links are kept on stacks of their own besides the element stack, so that
 * each tag and text costs the same however deep the nesting (a message may nest thousands of elements).
 */
class Walker {
  readonly summary: HtmlSummary = { remoteImages: 0, activeContent: false };
  steps: FlowStep[] = [];
  private readonly stack: Frame[] = [{ tag: '#root', style: BODY_STYLE }];
  /** Frames below this index were opened under a parser that was set aside; end tags never close them. */
  private floor = 1;
  private readonly lists: NonNullable<Frame['list']>[] = [];
  private readonly rows: NonNullable<Frame['row']>[] = [];
  private readonly cells: { cell: NonNullable<Frame['cell']>; row: NonNullable<Frame['row']> | undefined }[] = [];
  private readonly links: NonNullable<Frame['link']>[] = [];
  private skipDepth = 0;
  private indent = 0;

  constructor(private readonly words: PdfWords) {}

  private get top(): Frame {
    return this.stack[this.stack.length - 1]!;
  }

  private emit(step: FlowStep): void {
    this.steps.push(step);
  }

  /** Elements open under the current parser. */
  get parserDepth(): number {
    return this.stack.length - this.floor;
  }

  /** A fresh parser reads on: the elements open now stay open until the end. */
  newParser(): void {
    this.floor = this.stack.length;
  }

  open(tag: string, attribs: Record<string, string>): void {
    const frame: Frame = { tag, style: this.top.style, pre: this.top.pre };
    this.stack.push(frame);
    if (this.skipDepth > 0 || SKIPPED.has(tag) || isHidden(attribs)) {
      frame.skip = true;
      this.skipDepth += 1;
      if (ACTIVE.has(tag)) this.summary.activeContent = true;
      return;
    }
    const gap = BLOCK_GAPS.get(tag);
    if (gap !== undefined) this.emit({ step: 'gap', points: gap });
    this.applyStyle(frame, tag);
    this.openStructure(frame, tag, attribs);
  }

  private applyStyle(frame: Frame, tag: string): void {
    const style = frame.style;
    const heading = HEADING_SIZES.get(tag);
    if (heading) frame.style = { ...style, bold: true, size: heading };
    else if (tag === 'b' || tag === 'strong' || tag === 'th' || tag === 'dt') frame.style = { ...style, bold: true };
    else if (tag === 'i' || tag === 'em' || tag === 'cite' || tag === 'var' || tag === 'dfn') frame.style = { ...style, italic: true };
    else if (tag === 'code' || tag === 'tt' || tag === 'kbd' || tag === 'samp') frame.style = { ...style, mono: true };
    else if (tag === 'pre') {
      frame.style = { ...style, mono: true, size: Math.min(style.size, 9.5) };
      frame.pre = true;
    } else if (tag === 'small') frame.style = { ...style, size: Math.max(7, style.size * 0.85) };
    else if (tag === 'big') frame.style = { ...style, size: Math.min(24, style.size * 1.15) };
    else if (tag === 'a') frame.style = { ...style, color: 'link' };
    else if (tag === 'blockquote') frame.style = { ...style, color: 'muted' };
  }

  private openStructure(frame: Frame, tag: string, attribs: Record<string, string>): void {
    switch (tag) {
      case 'br':
        this.emit({ step: 'break' });
        break;
      case 'hr':
        this.emit({ step: 'rule' });
        break;
      case 'img':
        this.image(attribs);
        break;
      case 'ul':
      case 'ol':
      case 'menu':
        frame.list = { ordered: tag === 'ol', next: Math.max(0, Number.parseInt(attribs.start ?? '1', 10) || 1), level: this.lists.length + 1 };
        this.lists.push(frame.list);
        this.setIndent(frame, this.indent + LIST_INDENT);
        break;
      case 'li':
        this.listItem();
        break;
      case 'blockquote':
      case 'dd':
        this.setIndent(frame, this.indent + QUOTE_INDENT);
        break;
      case 'tr':
        frame.row = { cellsWithText: 0, cellsSinceText: 0 };
        this.rows.push(frame.row);
        break;
      case 'td':
      case 'th':
        frame.cell = { hasText: false };
        this.cells.push({ cell: frame.cell, row: this.rows.at(-1) });
        if (this.rows.at(-1)) this.rows.at(-1)!.cellsSinceText += 1;
        break;
      case 'a':
        if (attribs.href) {
          frame.link = { href: attribs.href.trim(), text: '' };
          this.links.push(frame.link);
        }
        break;
      default:
        break;
    }
  }

  private setIndent(frame: Frame, points: number): void {
    frame.restoreIndent = this.indent;
    this.indent = points;
    this.emit({ step: 'indent', points });
  }

  private listItem(): void {
    const list = this.lists.at(-1);
    const marker = list?.ordered ? `${list.next}.` : BULLETS[((list?.level ?? 1) - 1) % BULLETS.length]!;
    if (list?.ordered) list.next += 1;
    this.emit({ step: 'marker', text: marker, style: this.top.style });
  }

  private image(attribs: Record<string, string>): void {
    const src = (attribs.src ?? '').trim();
    const lower = src.toLowerCase();
    const alt = (attribs.alt ?? '').trim();
    const width = pixels(attribs.width);
    const height = pixels(attribs.height);
    const muted: TextStyle = { ...this.top.style, color: 'muted' };
    if (lower.startsWith('cid:')) {
      this.beforeContent();
      this.emit({ step: 'image', source: { kind: 'cid', id: src.slice(4) }, alt, width, height });
    } else if (lower.startsWith('data:')) {
      this.beforeContent();
      this.emit({ step: 'image', source: { kind: 'data', uri: src }, alt, width, height });
    } else if (lower.startsWith('http:') || lower.startsWith('https:') || lower.startsWith('//')) {
      this.summary.remoteImages += 1;
      this.beforeContent();
      this.emit({ step: 'text', text: ` ${this.words.remoteImagePlaceholder(alt.slice(0, 80))} `, style: muted });
    } else if (alt) {
      this.beforeContent();
      this.emit({ step: 'text', text: ` [${alt.slice(0, 80)}] `, style: muted });
    }
  }

  text(data: string): void {
    if (this.skipDepth > 0 || data === '') return;
    // Only the innermost link's text decides whether its address is shown; links do not nest in HTML.
    const link = this.links.at(-1);
    if (link && link.text.length < 2000) link.text += data;
    if (this.top.pre) {
      this.beforeContent();
      this.emit({ step: 'pre', text: data, style: this.top.style });
      return;
    }
    if (data.trim() !== '') this.beforeContent();
    this.emit({ step: 'text', text: data, style: this.top.style });
  }

  /**
   * Cells of a row are written one after the other with a separator before each, so that columns can be
   * counted; empty cells at the start and end of a row (spacers of layout tables) leave none.
   */
  private beforeContent(): void {
    const open = this.cells.at(-1);
    if (!open || !open.row || open.cell.hasText) return;
    open.cell.hasText = true;
    const row = open.row;
    if (row.cellsWithText > 0) this.emit({ step: 'text', text: `${' |'.repeat(Math.min(row.cellsSinceText, 50))} `, style: { ...BODY_STYLE, color: 'muted' } });
    row.cellsWithText += 1;
    row.cellsSinceText = 0;
  }

  close(tag: string): void {
    // htmlparser2 closes elements in order; a stray end tag that matches nothing open is ignored.
    if (this.top.tag === tag) {
      this.pop();
      return;
    }
    let index = this.stack.length - 1;
    while (index >= this.floor && this.stack[index]!.tag !== tag) index -= 1;
    if (index < this.floor) return;
    while (this.stack.length > index) this.pop();
  }

  private pop(): void {
    const frame = this.stack.pop()!;
    if (frame.skip) {
      this.skipDepth -= 1;
      return;
    }
    if (frame.link) {
      this.links.pop();
      this.closeLink(frame.link);
    }
    if (frame.list) this.lists.pop();
    if (frame.row) this.rows.pop();
    if (frame.cell) this.cells.pop();
    const gap = BLOCK_GAPS.get(frame.tag);
    if (gap !== undefined) this.emit({ step: 'gap', points: gap });
    if (frame.restoreIndent !== undefined) {
      this.indent = frame.restoreIndent;
      this.emit({ step: 'indent', points: frame.restoreIndent });
    }
  }

  private closeLink(link: { href: string; text: string }): void {
    const url = shownUrl(link.href);
    if (!url || sameAddress(link.text, url)) return;
    this.emit({ step: 'text', text: ` (${url})`, style: { ...this.top.style, color: 'muted' } });
  }

  takeSteps(): FlowStep[] {
    const steps = this.steps;
    this.steps = [];
    return steps;
  }

  end(): void {
    while (this.stack.length > 1) this.pop();
  }
}

/** Feeds the HTML to htmlparser2, replacing the parser when the nesting gets too deep (see above). */
class HtmlReader {
  private parser: Parser;
  /** Where in the HTML the current parser started, and where it stopped (relative to its start). */
  private parserStart = 0;
  private stoppedAt: number | undefined;

  constructor(private readonly walker: Walker) {
    this.parser = this.createParser();
  }

  private createParser(): Parser {
    const parser: Parser = new Parser(
      {
        onopentag: (name, attribs) => {
          this.walker.open(name, attribs);
          if (this.stoppedAt === undefined && this.walker.parserDepth > MAX_PARSER_DEPTH && !RAW_TEXT.has(name)) {
            this.stoppedAt = parser.endIndex + 1;
            parser.pause();
          }
        },
        onclosetag: (name) => this.walker.close(name),
        ontext: (data) => this.walker.text(data),
      },
      { decodeEntities: true, lowerCaseTags: true, lowerCaseAttributeNames: true },
    );
    return parser;
  }

  /** Reads html[from, to); the parser keeps what it has not finished (a tag cut at `to`) for the next slice. */
  read(html: string, from: number, to: number): void {
    let offset = from;
    while (offset < to) {
      this.parser.write(html.slice(offset, to));
      if (this.stoppedAt === undefined) return;
      offset = this.parserStart + this.stoppedAt;
      this.parserStart = offset;
      this.stoppedAt = undefined;
      this.parser = this.createParser();
      this.walker.newParser();
    }
  }

  end(): void {
    this.parser.end();
  }
}

/** Draws the HTML body into the flow, slice by slice, until it ends or the flow's page limit is reached. */
export async function renderHtml(html: string, words: PdfWords, flow: PdfFlow, images: InlineImages): Promise<HtmlSummary> {
  const walker = new Walker(words);
  const reader = new HtmlReader(walker);
  for (let offset = 0; offset < html.length && !flow.truncated; offset += SLICE_CHARS) {
    reader.read(html, offset, Math.min(html.length, offset + SLICE_CHARS));
    await playSteps(walker.takeSteps(), flow, images);
  }
  if (!flow.truncated) {
    reader.end();
    walker.end();
    await playSteps(walker.takeSteps(), flow, images);
  }
  flow.endLine();
  return walker.summary;
}

async function playSteps(steps: readonly FlowStep[], flow: PdfFlow, images: InlineImages): Promise<void> {
  for (const step of steps) {
    if (flow.truncated) return;
    switch (step.step) {
      case 'text':
        flow.write(step.text, step.style);
        break;
      case 'pre':
        flow.writePreformatted(step.text, step.style);
        break;
      case 'break':
        flow.lineBreak();
        break;
      case 'gap':
        flow.gap(step.points);
        break;
      case 'indent':
        flow.setIndent(step.points);
        break;
      case 'marker':
        flow.setMarker(step.text, step.style, 'right-of-indent');
        break;
      case 'rule':
        flow.rule();
        break;
      case 'image':
        await drawImage(step, flow, images);
        break;
    }
  }
}

async function drawImage(step: Extract<FlowStep, { step: 'image' }>, flow: PdfFlow, images: InlineImages): Promise<void> {
  const drawable = await images.resolve(step.source, step.alt);
  if (!drawable) return;
  // Sizes from the HTML win (in CSS pixels); with only one of them the picture keeps its proportions.
  const ratio = drawable.height / drawable.width;
  let width = drawable.width;
  let height = drawable.height;
  if (step.width && step.height) {
    width = step.width * 0.75;
    height = step.height * 0.75;
  } else if (step.width) {
    width = step.width * 0.75;
    height = width * ratio;
  } else if (step.height) {
    height = step.height * 0.75;
    width = height / ratio;
  }
  flow.image(drawable.image, width, height);
}
