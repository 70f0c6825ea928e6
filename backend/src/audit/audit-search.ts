/**
 * Finding entries in one tenant's audit log: by action, actor, subject and time, a page at a time.
 *
 * Pages are cut by seq (keyset paging), never by offset: a page asked for with `before` shows the same
 * entries however many were written since, and the cost of a page does not grow with how far back it is.
 * Every read runs in a transaction scoped to the tenant (withTenants), so row-level security backs the
 * tenant condition each query states as well.
 */
import { and, asc, desc, eq, gt, gte, lt, lte, sql, type SQL } from 'drizzle-orm';
import type { Queryable } from '../db/client.ts';
import { withTenants } from '../db/tenant-scope.ts';
import { auditLog } from '../db/schema.ts';
import { AUDIT_ACTIONS, type AuditAction, type AuditEntry } from './audit-log.ts';

export interface AuditFilter {
  action?: AuditAction;
  /** Part of the actor's address, any case ("@partner.example" finds everyone there). */
  actor?: string;
  /** The entry's subject, exactly (usually a portal message id). */
  subjectId?: string;
  /** Entries at or after this time. */
  from?: Date;
  /** Entries before this time. */
  to?: Date;
}

export interface AuditPageRequest {
  limit: number;
  /** The page of entries older than this seq (the next page back). */
  before?: number;
  /** The page of entries newer than this seq (the page forward again). */
  after?: number;
}

export interface AuditPage {
  /** Newest first. */
  entries: AuditEntry[];
  /** Whether entries matching the filter exist before the last entry of this page (seq of the oldest shown). */
  hasOlder: boolean;
  /** Whether entries matching the filter exist after the first entry of this page. */
  hasNewer: boolean;
}

/** The longest actor search term taken: addresses are at most 320 characters. */
export const MAX_ACTOR_FILTER = 320;

export const isAuditAction = (value: string): value is AuditAction => (AUDIT_ACTIONS as readonly string[]).includes(value);

/** Why a filter cannot be used, in words a person can act on; undefined when it can. */
export function auditFilterProblem(filter: AuditFilter): string | undefined {
  if (filter.from && Number.isNaN(filter.from.getTime())) return 'from is not a date and time; give it as ISO 8601, e.g. 2026-12-01T00:00:00Z.';
  if (filter.to && Number.isNaN(filter.to.getTime())) return 'to is not a date and time; give it as ISO 8601, e.g. 2026-12-31T23:59:59Z.';
  if (filter.from && filter.to && filter.from.getTime() >= filter.to.getTime()) {
    return `The time range is empty: from (${filter.from.toISOString()}) must be before to (${filter.to.toISOString()}).`;
  }
  if (filter.actor !== undefined && filter.actor.length > MAX_ACTOR_FILTER) return `actor is longer than ${MAX_ACTOR_FILTER} characters.`;
  return undefined;
}

function conditions(tenantId: string, filter: AuditFilter): SQL[] {
  const where: SQL[] = [eq(auditLog.tenantId, tenantId)];
  if (filter.action) where.push(eq(auditLog.action, filter.action));
  // A plain substring test, not LIKE: the term's % and _ are characters to find, never patterns.
  if (filter.actor) where.push(sql`strpos(lower(coalesce(${auditLog.actorAddress}, '')), ${filter.actor.toLowerCase()}) > 0`);
  if (filter.subjectId) where.push(eq(auditLog.subjectId, filter.subjectId));
  if (filter.from) where.push(gte(auditLog.at, filter.from));
  if (filter.to) where.push(lt(auditLog.at, filter.to));
  return where;
}

const asEntry = (row: typeof auditLog.$inferSelect): AuditEntry => ({ ...row, seq: Number(row.seq) });

/** One page of the tenant's entries that match the filter, newest first. */
export async function searchAudit(q: Queryable, tenantId: string, filter: AuditFilter, page: AuditPageRequest): Promise<AuditPage> {
  return withTenants(q, tenantId, async (tx) => {
    const where = conditions(tenantId, filter);
    const exists = async (extra: SQL) => (await tx.select({ seq: auditLog.seq }).from(auditLog).where(and(...where, extra)).limit(1)).length > 0;
    if (page.after !== undefined) {
      // Forward: the entries just newer than `after`, read oldest first and shown newest first.
      const rows = await tx.select().from(auditLog).where(and(...where, gt(auditLog.seq, page.after))).orderBy(asc(auditLog.seq)).limit(page.limit + 1);
      const hasNewer = rows.length > page.limit;
      const entries = rows.slice(0, page.limit).map(asEntry).reverse();
      const oldest = entries.at(-1)?.seq ?? page.after + 1;
      return { entries, hasNewer, hasOlder: await exists(lt(auditLog.seq, oldest)) };
    }
    const rows = await tx
      .select()
      .from(auditLog)
      .where(and(...where, ...(page.before !== undefined ? [lt(auditLog.seq, page.before)] : [])))
      .orderBy(desc(auditLog.seq))
      .limit(page.limit + 1);
    const hasOlder = rows.length > page.limit;
    const entries = rows.slice(0, page.limit).map(asEntry);
    const newest = entries[0]?.seq ?? (page.before !== undefined ? page.before - 1 : undefined);
    const hasNewer = newest === undefined ? false : await exists(gt(auditLog.seq, newest));
    return { entries, hasOlder, hasNewer };
  });
}

/** How many entries match the filter, counted no further than `cap` + 1 (enough to tell whether an export is cut). */
export async function countAudit(q: Queryable, tenantId: string, filter: AuditFilter, cap: number, throughSeq: number): Promise<number> {
  return withTenants(q, tenantId, async (tx) => {
    const matching = tx
      .select({ seq: auditLog.seq })
      .from(auditLog)
      .where(and(...conditions(tenantId, filter), lte(auditLog.seq, throughSeq)))
      .limit(cap + 1)
      .as('matching');
    const [row] = await tx.select({ count: sql<number>`count(*)::int` }).from(matching);
    return Number(row?.count ?? 0);
  });
}

/** The tenant's newest seq now (0 for an empty log): an export reads up to it, so entries written meanwhile do not shift it. */
export async function newestAuditSeq(q: Queryable, tenantId: string): Promise<number> {
  return withTenants(q, tenantId, async (tx) => {
    const [row] = await tx.select({ seq: auditLog.seq }).from(auditLog).where(eq(auditLog.tenantId, tenantId)).orderBy(desc(auditLog.seq)).limit(1);
    return row ? Number(row.seq) : 0;
  });
}

const EXPORT_BATCH = 1000;

/**
 * The matching entries up to `throughSeq`, newest first, at most `cap` of them, in batches: each batch is
 * its own short transaction, so a long download holds no connection while the browser reads.
 */
export async function* auditEntriesThrough(q: Queryable, tenantId: string, filter: AuditFilter, options: { cap: number; throughSeq: number }): AsyncGenerator<AuditEntry[]> {
  let before = options.throughSeq + 1;
  let left = options.cap;
  const where = conditions(tenantId, filter);
  while (left > 0) {
    const limit = Math.min(EXPORT_BATCH, left);
    const rows = await withTenants(q, tenantId, (tx) =>
      tx.select().from(auditLog).where(and(...where, lt(auditLog.seq, before))).orderBy(desc(auditLog.seq)).limit(limit),
    );
    if (rows.length === 0) return;
    const entries = rows.map(asEntry);
    yield entries;
    left -= entries.length;
    before = entries.at(-1)!.seq;
    if (rows.length < limit) return;
  }
}
