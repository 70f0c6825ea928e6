/**
 * Parsing a decrypted EML for the reader, with limits: a message with too many parts or too deep a
 * structure is shown as a notice instead of being parsed.
 */
import libmime from 'libmime';
import { simpleParser, type AddressObject, type ParsedMail } from 'mailparser';
import addressparser from 'nodemailer/lib/addressparser';
import { extractMessageText } from '../guard/message-text.ts';
import { splitMessage } from '../mail/header-block.ts';
import { unfoldedValue } from '../mail/mime-structure.ts';
import type { AttachmentInfo } from '../../../common/src/portal-api.ts';
import { normaliseContentId } from './html-sanitizer.ts';
import { STORED_MESSAGE_LIMITS } from '../mail/header-section.ts';
import { storableText } from '../db/storable-text.ts';

export const MAX_MIME_PARTS = 500;
export const MAX_MULTIPART_CONTAINERS = 100;

export interface ParsedAttachment extends AttachmentInfo {
  content: Buffer;
  inline: boolean;
}

export interface ParsedPortalMessage {
  from?: { address: string; name?: string };
  to: string[];
  cc: string[];
  subject: string;
  date?: Date;
  messageId?: string;
  references: string[];
  text: string;
  html?: string;
  attachments: ParsedAttachment[];
  tooComplex: boolean;
}

function addresses(value: AddressObject | AddressObject[] | undefined): string[] {
  const list = Array.isArray(value) ? value : value ? [value] : [];
  return list.flatMap((a) => a.value.map((v) => v.address ?? '').filter(Boolean));
}

export function withinStructureLimits(eml: Buffer): boolean {
  const head = eml.toString('latin1');
  const parts = head.match(/^content-type\s*:/gim)?.length ?? 0;
  const multiparts = head.match(/^content-type\s*:\s*multipart\//gim)?.length ?? 0;
  return parts <= MAX_MIME_PARTS && multiparts <= MAX_MULTIPART_CONTAINERS;
}

const notice = (text: string): ParsedPortalMessage => ({ to: [], cc: [], subject: '', references: [], text, attachments: [], tooComplex: true });

export async function parsePortalMessage(eml: Buffer): Promise<ParsedPortalMessage> {
  if (!withinStructureLimits(eml)) {
    return notice('This message has too many parts to be shown in the portal. Please ask the sender to send it in a simpler form.');
  }
  let parsed: ParsedMail;
  try {
    // The same header limit as for the message itself (header-section.ts), for every MIME part's header:
    // past it the parser refuses, and the reader gets a notice instead of an error page.
    parsed = await simpleParser(eml, {
      keepCidLinks: true,
      skipImageLinks: true,
      // The reader sees the HTML; its text version (several milliseconds for a long message) is not shown.
      skipHtmlToText: true,
      maxHtmlLengthToParse: 4 * 1024 * 1024,
      maxHeadSize: STORED_MESSAGE_LIMITS.maxHeaderBytes,
    });
  } catch {
    return notice('This message could not be read for the portal (its structure or headers are malformed or too large). Please ask the sender to send it again.');
  }
  const html = typeof parsed.html === 'string' ? parsed.html : undefined;
  const referencedCids = new Set(
    [...(html ?? '').matchAll(/cid:([^"'\s)>]+)/gi)].map((m) => normaliseContentId(m[1] ?? '')),
  );
  const attachments = parsed.attachments.map((attachment, index): ParsedAttachment => {
    const contentId = attachment.contentId ? normaliseContentId(attachment.contentId) : undefined;
    const referenced = contentId !== undefined && referencedCids.has(contentId);
    return {
      id: String(index),
      filename: attachment.filename ?? `attachment-${index + 1}`,
      contentType: (attachment.contentType || 'application/octet-stream').toLowerCase(),
      size: attachment.size ?? attachment.content.length,
      contentId: referenced ? contentId : undefined,
      content: attachment.content,
      inline: referenced,
    };
  });
  const references = Array.isArray(parsed.references) ? parsed.references : parsed.references ? [parsed.references] : [];
  const from = parsed.from?.value[0];
  return {
    from: from?.address ? { address: from.address.toLowerCase(), name: from.name || undefined } : undefined,
    to: addresses(parsed.to),
    cc: addresses(parsed.cc),
    subject: parsed.subject ?? '',
    date: parsed.date,
    messageId: parsed.messageId,
    references,
    text: parsed.text ?? '',
    html,
    attachments,
    tooComplex: false,
  };
}

/** RFC 6266 / RFC 5987: an ASCII fallback and the exact UTF-8 name. */
/** What a portal copy stores about its message besides the message itself: the header fields a list shows, and a preview. */
export interface PortalMessageHeaders {
  from?: { address: string; name?: string };
  to: string[];
  cc: string[];
  subject: string;
  references: string[];
  /** The start of the text a reader sees (the text part, else the HTML as text), at most PREVIEW_SOURCE_CHARS. */
  previewText: string;
}

/** Characters of text read for a preview; the preview itself is shorter (previewOf). */
const PREVIEW_SOURCE_CHARS = 2000;
const MAX_FIELD_CHARS = 10_000;

/**
 * The header fields and preview a portal copy stores, read without parsing the whole message: mailparser
 * would decode every part and turn all of its HTML into text (a millisecond of the one thread per copy)
 * for what is a subject, a few addresses and 200 characters. The text comes from the same bounded reader
 * the inbound checks use.
 */
export function readPortalHeaders(eml: Buffer): PortalMessageHeaders {
  const split = splitMessage(eml);
  if (split.outcome !== 'split') return { to: [], cc: [], subject: '', references: [], previewText: '' };
  const field = (name: string) => {
    const found = split.fields.find((f) => f.name.toLowerCase() === name);
    return found ? unfoldedValue(found, 'utf8').slice(0, MAX_FIELD_CHARS).trim() : undefined;
  };
  const decoded = (value: string) => {
    try {
      return libmime.decodeWords(value);
    } catch {
      return value;
    }
  };
  const list = (name: string) =>
    addressparser(field(name) ?? '', { flatten: true })
      .map((a) => a.address?.trim() ?? '')
      .filter(Boolean);
  const [first] = addressparser(field('from') ?? '', { flatten: true });
  const fromName = first?.name ? decoded(first.name).trim() : '';
  const references = [...(field('references') ?? '').matchAll(/<[^<>\s]{1,998}>/g)].map((m) => m[0]);
  const text = extractMessageText(split, { maxParts: MAX_MIME_PARTS, maxDepth: MAX_MULTIPART_CONTAINERS, maxTextChars: PREVIEW_SOURCE_CHARS });
  return {
    ...(first?.address ? { from: { address: first.address.trim().toLowerCase(), ...(fromName ? { name: fromName } : {}) } } : {}),
    to: list('to'),
    cc: list('cc'),
    subject: decoded(field('subject') ?? ''),
    references,
    previewText: text.text.trim() ? text.text : text.html,
  };
}

export function contentDisposition(kind: 'attachment' | 'inline', filename: string): string {
  // storableText first: a lone surrogate (from a UTF-16 encoded word) makes encodeURIComponent throw,
  // and a name of thousands of characters makes a header no browser keeps.
  const clean = storableText(filename, 255).replace(/[\x00-\x1f\x7f/\\]/g, '_').trim() || 'attachment';
  const fallback = clean.normalize('NFKD').replace(/[^\x20-\x7e]/g, '_').replace(/["%;]/g, '_');
  const encoded = encodeURIComponent(clean).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `${kind}; filename="${fallback}"; filename*=UTF-8''${encoded}`;
}

const ACTIVE_TYPES = /^(text\/html|application\/xhtml|image\/svg|text\/xml|application\/xml|text\/javascript|application\/javascript|application\/ecmascript|text\/ecmascript|multipart\/)/i;

/** Types a browser could run as a document are downloaded as plain bytes. */
export function downloadContentType(contentType: string): string {
  if (ACTIVE_TYPES.test(contentType) || !/^[\w.+-]+\/[\w.+-]+$/.test(contentType)) return 'application/octet-stream';
  return contentType;
}

export const INLINE_IMAGE_TYPES = /^image\/(png|gif|jpeg|jpg|webp|bmp)$/i;
