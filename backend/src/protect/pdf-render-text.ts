/**
 * Words and text for the password PDF: the labels and notes in English and German, how dates and sizes
 * are written, and the reduction of any text to what the PDF's standard fonts can show (WinAnsi).
 *
 * Why the standard fonts and not an embedded Unicode font: WinAnsi keeps every Latin-1 character (German
 * umlauts, ß) and €, which is what the recipients of this mode read; a font file would add megabytes to
 * the installation and to every PDF's build time for scripts that a Latin font would not cover either.
 * Characters outside WinAnsi are first brought to a close Latin form (é from e + accent, "fi" from the
 * ligature) and only then replaced by '?', counted for one note.
 */

export type PdfLanguage = 'en' | 'de';

export interface PdfWords {
  from: string;
  to: string;
  cc: string;
  date: string;
  subject: string;
  noSubject: string;
  noText: string;
  attachments: string;
  attachmentsHint: string;
  notes: string;
  page: (page: number, pages: number) => string;
  remoteImages: (count: number) => string;
  remoteImagePlaceholder: (alt: string) => string;
  unreadableImage: (name: string) => string;
  unsupportedImage: (name: string, type: string) => string;
  tooLargeImage: (name: string) => string;
  missingImage: (name: string) => string;
  embeddedImage: (number: number) => string;
  activeContent: string;
  replacedCharacters: (count: number) => string;
  textCut: (pages: number) => string;
}

const ENGLISH: PdfWords = {
  from: 'From',
  to: 'To',
  cc: 'Cc',
  date: 'Date',
  subject: 'Subject',
  noSubject: '(no subject)',
  noText: '(The message has no text.)',
  attachments: 'Attachments',
  attachmentsHint: 'Attachments are embedded in this PDF: open the attachments panel of your PDF reader.',
  notes: 'Notes',
  page: (page, pages) => `Page ${page} of ${pages}`,
  remoteImages: (count) => (count === 1 ? '1 remote image was not loaded' : `${count} remote images were not loaded`),
  remoteImagePlaceholder: (alt) => (alt ? `[image not loaded: ${alt}]` : '[image not loaded]'),
  unreadableImage: (name) => `image ${name} could not be read and was left out`,
  unsupportedImage: (name, type) => `image ${name} (${type}) cannot be shown in a PDF and was left out`,
  tooLargeImage: (name) => `image ${name} is too large to be shown and was left out`,
  missingImage: (name) => `image ${name} is not part of the message and was left out`,
  embeddedImage: (number) => `no. ${number} in the text`,
  activeContent: 'scripts, forms and embedded frames were left out',
  replacedCharacters: (count) =>
    count === 1
      ? "1 character could not be shown in the PDF's font and was replaced by '?'"
      : `${count} characters could not be shown in the PDF's font and were replaced by '?'`,
  textCut: (pages) => `the message text was cut after ${pages} pages`,
};

const GERMAN: PdfWords = {
  from: 'Von',
  to: 'An',
  cc: 'Cc',
  date: 'Datum',
  subject: 'Betreff',
  noSubject: '(kein Betreff)',
  noText: '(Die Nachricht enthält keinen Text.)',
  attachments: 'Anhänge',
  attachmentsHint: 'Die Anhänge sind in diese PDF-Datei eingebettet: Öffnen Sie die Anhangsleiste Ihres PDF-Readers.',
  notes: 'Hinweise',
  page: (page, pages) => `Seite ${page} von ${pages}`,
  remoteImages: (count) => (count === 1 ? '1 externes Bild wurde nicht geladen' : `${count} externe Bilder wurden nicht geladen`),
  remoteImagePlaceholder: (alt) => (alt ? `[Bild nicht geladen: ${alt}]` : '[Bild nicht geladen]'),
  unreadableImage: (name) => `Bild ${name} konnte nicht gelesen werden und wurde weggelassen`,
  unsupportedImage: (name, type) => `Bild ${name} (${type}) kann in einer PDF-Datei nicht angezeigt werden und wurde weggelassen`,
  tooLargeImage: (name) => `Bild ${name} ist zu groß für die Anzeige und wurde weggelassen`,
  missingImage: (name) => `Bild ${name} ist nicht Teil der Nachricht und wurde weggelassen`,
  embeddedImage: (number) => `Nr. ${number} im Text`,
  activeContent: 'Skripte, Formulare und eingebettete Frames wurden weggelassen',
  replacedCharacters: (count) =>
    count === 1
      ? "1 Zeichen kann die Schrift der PDF-Datei nicht darstellen; es wurde durch '?' ersetzt"
      : `${count} Zeichen kann die Schrift der PDF-Datei nicht darstellen; sie wurden durch '?' ersetzt`,
  textCut: (pages) => `der Text der Nachricht wurde nach ${pages} Seiten abgeschnitten`,
};

export function wordsFor(language: PdfLanguage): PdfWords {
  return language === 'de' ? GERMAN : ENGLISH;
}

const localeOf = (language: PdfLanguage) => (language === 'de' ? 'de-DE' : 'en-GB');

/** A zone Intl does not know would throw on every date; the product's default zone is used instead. */
function usableTimeZone(timeZone: string | undefined): string {
  const zone = timeZone ?? 'Europe/Berlin';
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return zone;
  } catch {
    return 'Europe/Berlin';
  }
}

/** Weekday, date and time with the zone's short name, so a reader in another zone is not misled. */
export function formatDate(date: Date, language: PdfLanguage, timeZone?: string): string {
  return new Intl.DateTimeFormat(localeOf(language), {
    weekday: 'long',
    year: 'numeric',
    month: 'long',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    timeZoneName: 'short',
    timeZone: usableTimeZone(timeZone),
  }).format(date);
}

export function formatSize(bytes: number, language: PdfLanguage): string {
  const number = new Intl.NumberFormat(localeOf(language), { maximumFractionDigits: 1 });
  if (bytes < 1024) return `${bytes} ${language === 'de' ? 'Byte' : bytes === 1 ? 'byte' : 'bytes'}`;
  if (bytes < 1024 * 1024) return `${number.format(bytes / 1024)} KB`;
  return `${number.format(bytes / (1024 * 1024))} MB`;
}

/** Invisible characters that carry no text: dropped without a note (zero-width spaces and joiners, soft hyphen, variation selectors, BOM). */
function isInvisible(code: number): boolean {
  return (
    code === 0xad ||
    (code >= 0x200b && code <= 0x200f) ||
    (code >= 0x2060 && code <= 0x2064) ||
    code === 0xfeff ||
    (code >= 0xfe00 && code <= 0xfe0f) ||
    (code >= 0x1f3fb && code <= 0x1f3ff) // skin-tone modifiers: the emoji before them is already counted
  );
}

function isControl(code: number): boolean {
  return code < 0x20 || (code >= 0x7f && code < 0xa0);
}

/** Characters outside WinAnsi with an obvious stand-in that NFKD does not find. */
const STAND_INS = new Map<number, string>([
  [0x2010, '-'],
  [0x2011, '-'],
  [0x2012, '-'],
  [0x2015, '\u2014'],
  [0x2212, '-'],
  [0x2043, '-'],
  [0x2219, '\u2022'],
  [0x25cf, '\u2022'],
  [0x25e6, '\u2022'],
  [0x2003, ' '],
  [0x2002, ' '],
  [0x2007, ' '],
  [0x2009, ' '],
  [0x200a, ' '],
  [0x202f, ' '],
  [0x2028, ' '],
  [0x2029, ' '],
  [0x201b, '\u2019'],
  [0x201f, '\u201d'],
  [0x2032, "'"],
  [0x2033, '"'],
]);

const COMBINING_MARK = /\p{M}/gu;

/**
 * Reduces text to the characters a font can encode. One instance per PDF: it counts what it replaced
 * for the note.
 */
export class FontText {
  replaced = 0;
  private readonly fallbacks = new Map<number, string>();

  constructor(private readonly charset: ReadonlySet<number>) {}

  clean(text: string): string {
    if (this.isPlain(text)) return text;
    let out = '';
    for (const char of text) out += this.cleanChar(char);
    return out;
  }

  /** The common case, printable ASCII only, without building a new string. */
  private isPlain(text: string): boolean {
    for (let i = 0; i < text.length; i += 1) {
      const code = text.charCodeAt(i);
      if (code < 0x20 || code > 0x7e) return false;
    }
    return true;
  }

  private cleanChar(char: string): string {
    const code = char.codePointAt(0) ?? 0;
    if (this.charset.has(code)) return char;
    if (isControl(code) || isInvisible(code)) return '';
    const fallback = this.fallbackFor(char, code);
    if (fallback === '?') this.replaced += 1;
    return fallback;
  }

  private fallbackFor(char: string, code: number): string {
    const known = this.fallbacks.get(code);
    if (known !== undefined) return known;
    let fallback = STAND_INS.get(code) ?? char.normalize('NFKD').replace(COMBINING_MARK, '');
    if (fallback === '' || [...fallback].some((c) => !this.charset.has(c.codePointAt(0) ?? 0))) fallback = '?';
    this.fallbacks.set(code, fallback);
    return fallback;
  }
}
