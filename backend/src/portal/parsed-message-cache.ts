/**
 * What the portal keeps of an opened message between requests: its readable structure (text, HTML,
 * attachment names, types and sizes) and only the small attachments' bytes, never the whole EML.
 * Bounded by bytes (least recently used entries go first) and by age, so decrypted content does not
 * stay in memory longer than `ttlMs` after it was last opened.
 */
import type { AttachmentInfo } from '../../../common/src/portal-api.ts';

export interface CachedAttachment extends AttachmentInfo {
  inline: boolean;
  /** Present for parts up to the cache's small-part size; larger parts are decoded again when downloaded. */
  content?: Buffer;
}

export interface ParsedStructure {
  text: string;
  html?: string;
  attachments: CachedAttachment[];
  tooComplex: boolean;
}

interface Entry {
  structure: ParsedStructure;
  bytes: number;
  expiresAt: number;
}

export interface ParsedMessageCacheLimits {
  maxBytes: number;
  ttlMs: number;
  /** Attachments up to this size are kept with the structure (inline images, small files). */
  smallPartBytes: number;
}

/** What an entry costs: strings count at two bytes a character (V8 may store them as UTF-16). */
export function structureBytes(structure: ParsedStructure): number {
  let bytes = 1024 + 2 * (structure.text.length + (structure.html?.length ?? 0));
  for (const attachment of structure.attachments) {
    bytes += 256 + 2 * attachment.filename.length + (attachment.content?.length ?? 0);
  }
  return bytes;
}

export class ParsedMessageCache {
  // A Map iterates in insertion order: re-inserting on use makes the first key the least recently used.
  private readonly entries = new Map<string, Entry>();
  private totalBytes = 0;

  constructor(
    readonly limits: ParsedMessageCacheLimits,
    private readonly now: () => number = Date.now,
  ) {}

  get bytes(): number {
    return this.totalBytes;
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: string): ParsedStructure | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    if (entry.expiresAt <= this.now()) {
      this.totalBytes -= entry.bytes;
      return undefined;
    }
    this.entries.set(key, entry);
    return entry.structure;
  }

  /** Keeps the structure unless it alone would take more than a quarter of the cache. */
  set(key: string, structure: ParsedStructure): void {
    const bytes = structureBytes(structure);
    if (bytes > this.limits.maxBytes / 4) return;
    this.delete(key);
    this.entries.set(key, { structure, bytes, expiresAt: this.now() + this.limits.ttlMs });
    this.totalBytes += bytes;
    const now = this.now();
    for (const [oldestKey, oldest] of this.entries) {
      if (this.totalBytes <= this.limits.maxBytes && oldest.expiresAt > now) break;
      this.delete(oldestKey);
    }
  }

  /** Forgets every structure (as after a restart). */
  clear(): void {
    this.entries.clear();
    this.totalBytes = 0;
  }

  delete(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.totalBytes -= entry.bytes;
  }
}
