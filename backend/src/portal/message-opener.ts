/**
 * Opening stored portal messages for reading: decrypt, check and parse, a few at a time (503 beyond a
 * bounded queue), shared by concurrent requests for the same message, with the parsed structure kept in
 * a cache. An integrity failure is audited for every reader shown it.
 */
import { createHash } from 'node:crypto';
import { Counter, type Registry } from 'prom-client';
import { appendAudit } from '../audit/audit-log.ts';
import type { Database } from '../db/client.ts';
import { withTenants } from '../db/tenant-scope.ts';
import type { Logger } from '../logger.ts';
import type { KeyVault } from '../vault/key-vault.ts';
import { HeavyWorkLimiter } from './heavy-work-limiter.ts';
import type { Access, Actor } from './message-access.ts';
import { parsePortalMessage, type ParsedPortalMessage } from './message-parsing.ts';
import { ParsedMessageCache, type CachedAttachment, type ParsedStructure } from './parsed-message-cache.ts';
import { accessBinding, loadSealedEml, openEml } from './portal-store.ts';
import type { PortalSessionInfo } from './sessions.ts';

export interface MessageOpenerOptions {
  db: Database;
  vault: KeyVault;
  logger: Logger;
  /** Bounds on opening stored messages (see Config.portalReading); defaults suit tests and small hosts. */
  reading?: { openConcurrency: number; openQueue: number; cacheBytes: number; cacheTtlMs: number };
}

/** Attachments up to this size stay in the structure cache; larger ones are decoded again per download. */
const SMALL_PART_BYTES = 512 * 1024;
/** What a busy portal tells the browser to wait before trying again. */
const BUSY_RETRY_SECONDS = 5;

/** The outcome of one decrypt + parse, shared by every request for the same message that came meanwhile. */
type OpenedMessage =
  | { integrity: 'failed'; reason: string }
  | { integrity: 'verified'; structure: ParsedStructure; parsed: ParsedPortalMessage };

/** What one reader gets: the structure, and the bytes of the attachment asked for if any. */
export type ReadMessage =
  | { integrity: 'failed' }
  | { integrity: 'verified'; structure: ParsedStructure; attachmentContent?: Buffer };

/** How often stored messages were opened and how the cache and the limiter answered, for tests and operators. */
export interface ReadingStats {
  decrypts: number;
  cacheHits: number;
  coalesced: number;
}

export class MessageOpener {
  /** Decrypt + parse of stored messages: a few at a time, a bounded queue, 503 beyond. */
  readonly openLimiter: HeavyWorkLimiter;
  readonly structureCache: ParsedMessageCache;
  /** Opens under way, by cache key: a second request for the same message waits for the first. */
  private readonly opening = new Map<string, Promise<OpenedMessage>>();
  readonly readingStats: ReadingStats = { decrypts: 0, cacheHits: 0, coalesced: 0 };

  constructor(private readonly options: MessageOpenerOptions) {
    const reading = options.reading ?? { openConcurrency: 2, openQueue: 16, cacheBytes: 64 * 1024 * 1024, cacheTtlMs: 300_000 };
    this.openLimiter = new HeavyWorkLimiter({
      concurrency: reading.openConcurrency,
      maxQueued: reading.openQueue,
      retryAfterSeconds: BUSY_RETRY_SECONDS,
    });
    this.structureCache = new ParsedMessageCache({ maxBytes: reading.cacheBytes, ttlMs: reading.cacheTtlMs, smallPartBytes: SMALL_PART_BYTES });
  }

  /**
   * The cache key names the message's content version and who may read it: a re-sealed, re-fingerprinted
   * or moved row misses the cache and is opened (and checked) again.
   */
  private structureKey(access: Access): string {
    const { row, thread } = access;
    return createHash('sha256')
      .update(JSON.stringify([row.id, row.contentSha256, row.wrappedDataKey.toString('base64'), accessBinding(row, thread)]))
      .digest('hex');
  }

  /**
   * Reads a message for one request: from the structure cache when it can, else through one decrypt +
   * parse shared with every concurrent request for the same message and limited by openLimiter. The
   * decrypted EML lives only while that one job runs; a large attachment only while it is being sent.
   */
  async read(access: Access, session: PortalSessionInfo, actor: Actor, attachmentId?: string): Promise<ReadMessage> {
    const key = this.structureKey(access);
    const cached = this.structureCache.get(key);
    if (cached) {
      const wanted = attachmentId === undefined ? undefined : cached.attachments.find((a) => a.id === attachmentId);
      if (attachmentId === undefined || !wanted || wanted.content) {
        this.readingStats.cacheHits += 1;
        return { integrity: 'verified', structure: cached, attachmentContent: wanted?.content };
      }
    }
    let job = this.opening.get(key);
    if (job) {
      this.readingStats.coalesced += 1;
    } else {
      job = this.openLimiter.run(() => this.openAndParse(access, key));
      this.opening.set(key, job);
      const started = job;
      const forget = () => {
        if (this.opening.get(key) === started) this.opening.delete(key);
      };
      started.then(forget, forget);
    }
    const opened = await job;
    if (opened.integrity === 'failed') {
      // Every reader who was shown the failure is audited, as when each request opened the message itself.
      await appendAudit(this.options.db, this.options.vault.auditKeys, {
        tenantId: session.tenantId,
        action: 'integrity_failed',
        actorId: session.id,
        actorAddress: session.address,
        clientIp: actor.clientIp,
        subjectId: access.row.id,
        details: { integrity: 'failed', reason: opened.reason, expectedSha256: access.row.contentSha256, channel: 'portal' },
      });
      this.options.logger.error({ portalMessageId: access.row.id, reason: opened.reason }, 'a portal message failed its integrity check');
      return { integrity: 'failed' };
    }
    const attachmentContent = attachmentId === undefined ? undefined : opened.parsed.attachments.find((a) => a.id === attachmentId)?.content;
    return { integrity: 'verified', structure: opened.structure, attachmentContent };
  }

  private async openAndParse(access: Access, key: string): Promise<OpenedMessage> {
    const { row, thread } = access;
    this.readingStats.decrypts += 1;
    const sealed = await withTenants(this.options.db, row.tenantId, (tx) => loadSealedEml(tx, row.id));
    if (!sealed) return { integrity: 'failed', reason: 'the stored content is missing' };
    const opened = await openEml(this.options.vault, row, thread, sealed);
    if (opened.integrity === 'failed') return { integrity: 'failed', reason: opened.reason };
    const parsed = await parsePortalMessage(opened.eml);
    const structure: ParsedStructure = {
      text: parsed.text,
      html: parsed.html,
      tooComplex: parsed.tooComplex,
      attachments: parsed.attachments.map(({ content, ...info }): CachedAttachment => ({
        ...info,
        ...(content.length <= this.structureCache.limits.smallPartBytes ? { content } : {}),
      })),
    };
    this.structureCache.set(key, structure);
    return { integrity: 'verified', structure, parsed };
  }

  /**
   * Exposes how opening stored messages went as `sealpost_portal_message_opens_total{outcome}`:
   * decrypted (a decrypt + parse ran), cached (served from the structure cache), shared (joined an open
   * under way), busy (answered 503). Few decrypts for many reads is the cache and the sharing at work.
   */
  registerMetrics(registry: Registry): void {
    const stats = this.readingStats;
    const limiter = this.openLimiter;
    new Counter({
      name: 'sealpost_portal_message_opens_total',
      help: 'Reads of stored portal messages, by how they were served: decrypted, cached, shared or busy (503)',
      labelNames: ['outcome'],
      registers: [registry],
      collect() {
        this.reset();
        this.inc({ outcome: 'decrypted' }, stats.decrypts);
        this.inc({ outcome: 'cached' }, stats.cacheHits);
        this.inc({ outcome: 'shared' }, stats.coalesced);
        this.inc({ outcome: 'busy' }, limiter.refused);
      },
    });
  }
}
