/**
 * The append-only, hash-chained audit log. Every entry carries the hash of the tenant's previous entry,
 * so a changed, removed or inserted row breaks the chain at that point; the database refuses UPDATE,
 * DELETE and TRUNCATE on the table for every role (trigger in the migration).
 */
import { createHash } from 'node:crypto';
import { and, asc, desc, eq, gt, sql } from 'drizzle-orm';
import { queryRows, type Queryable } from '../db/client.ts';
import { auditLog } from '../db/schema.ts';
import { storableJson, storableOptionalText } from '../db/storable-text.ts';

export const AUDIT_ACTIONS = [
  'sent',
  'read',
  'deleted',
  'attachment_downloaded',
  'signed_in',
  'link_issued',
  'replied',
  'revoked',
  'expiry_changed',
  'integrity_failed',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export const GENESIS_HASH = '0'.repeat(64);

export interface AuditEntryInput {
  tenantId: string;
  action: AuditAction;
  /** Who acted: a session id, a gateway message id for the gateway itself. */
  actorId?: string;
  actorAddress?: string;
  clientIp?: string;
  /** What the entry is about (usually a portal message id). */
  subjectId?: string;
  details?: Record<string, unknown>;
}

export interface AuditEntry {
  id: number;
  tenantId: string;
  seq: number;
  at: Date;
  action: string;
  actorId: string | null;
  actorAddress: string | null;
  clientIp: string | null;
  subjectId: string | null;
  details: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

/** Appends entries; each tenant's chain is extended under a transaction-scoped lock, so concurrent writers stay in order. */
export async function appendAudit(q: Queryable, entries: AuditEntryInput | AuditEntryInput[]): Promise<void> {
  const list = Array.isArray(entries) ? entries : [entries];
  if (list.length === 0) return;
  await q.transaction(async (tx) => {
    const tenants = [...new Set(list.map((e) => e.tenantId))].sort();
    for (const tenantId of tenants) {
      await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`audit:${tenantId}`}, 0))`);
    }
    const heads = new Map<string, { seq: number; hash: string }>();
    for (const tenantId of tenants) {
      const [last] = await tx
        .select({ seq: auditLog.seq, hash: auditLog.hash })
        .from(auditLog)
        .where(eq(auditLog.tenantId, tenantId))
        .orderBy(desc(auditLog.seq))
        .limit(1);
      heads.set(tenantId, last ? { seq: Number(last.seq), hash: last.hash } : { seq: 0, hash: GENESIS_HASH });
    }
    const rows = list.map((entry) => {
      const head = heads.get(entry.tenantId)!;
      const row = {
        tenantId: entry.tenantId,
        seq: head.seq + 1,
        at: new Date(),
        action: entry.action,
        // Made storable before hashing: the hash must cover exactly what the row holds (file names,
        // addresses and subjects from mail may carry NUL, which jsonb and text refuse).
        actorId: storableOptionalText(entry.actorId),
        actorAddress: storableOptionalText(entry.actorAddress),
        clientIp: storableOptionalText(entry.clientIp),
        subjectId: storableOptionalText(entry.subjectId),
        details: canonical(storableJson(entry.details ?? {})) as Record<string, unknown>,
        prevHash: head.hash,
      };
      const hash = entryHash(row);
      heads.set(entry.tenantId, { seq: row.seq, hash });
      return { ...row, hash };
    });
    await tx.insert(auditLog).values(rows);
  });
}

type HashedFields = Omit<AuditEntry, 'id' | 'hash'>;

export function entryHash(entry: HashedFields): string {
  const material = JSON.stringify(
    canonical([
      entry.tenantId,
      Number(entry.seq),
      new Date(entry.at).toISOString(),
      entry.action,
      entry.actorId,
      entry.actorAddress,
      entry.clientIp,
      entry.subjectId,
      entry.details,
      entry.prevHash,
    ]),
  );
  return createHash('sha256').update(material).digest('hex');
}

/** Objects with keys sorted at every level (jsonb does not keep key order), undefined dropped. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map((v) => (v === undefined ? null : canonical(v)));
  if (value instanceof Date) return value.toISOString();
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = canonical(v);
    }
    return out;
  }
  return value === undefined ? null : value;
}

export interface BrokenLink {
  tenantId: string;
  seq: number;
  id: number | null;
  reason: string;
}

export interface ChainVerification {
  ok: boolean;
  checked: number;
  tenants: number;
  firstBroken?: BrokenLink;
}

/** Walks each tenant's chain (one tenant, or all) and reports the first broken link. */
export async function verifyAuditChain(q: Queryable, tenantId?: string): Promise<ChainVerification> {
  const tenantIds = tenantId
    ? [tenantId]
    : (await queryRows<{ tenant_id: string }>(q, sql`select distinct tenant_id from audit_log order by tenant_id`)).map((r) => r.tenant_id);
  let checked = 0;
  for (const tenant of tenantIds) {
    let expectedSeq = 1;
    let prevHash = GENESIS_HASH;
    let afterSeq = 0;
    for (;;) {
      const batch = await q
        .select()
        .from(auditLog)
        .where(and(eq(auditLog.tenantId, tenant), gt(auditLog.seq, afterSeq)))
        .orderBy(asc(auditLog.seq))
        .limit(1000);
      if (batch.length === 0) break;
      for (const row of batch) {
        checked += 1;
        const seq = Number(row.seq);
        const broken = (reason: string): ChainVerification => ({
          ok: false,
          checked,
          tenants: tenantIds.length,
          firstBroken: { tenantId: tenant, seq, id: row.id, reason },
        });
        if (seq !== expectedSeq) return broken(`entry ${expectedSeq} is missing (the next entry is ${seq})`);
        if (row.prevHash !== prevHash) return broken('the entry does not carry the hash of the entry before it');
        if (entryHash({ ...row, seq }) !== row.hash) return broken('the entry was changed after it was written');
        prevHash = row.hash;
        expectedSeq += 1;
        afterSeq = seq;
      }
    }
  }
  return { ok: true, checked, tenants: tenantIds.length };
}

export async function readAudit(
  q: Queryable,
  tenantId: string,
  options: { limit?: number; subjectId?: string } = {},
): Promise<AuditEntry[]> {
  const where = options.subjectId
    ? and(eq(auditLog.tenantId, tenantId), eq(auditLog.subjectId, options.subjectId))
    : eq(auditLog.tenantId, tenantId);
  const rows = await q.select().from(auditLog).where(where).orderBy(desc(auditLog.seq)).limit(options.limit ?? 100);
  return rows.map((r) => ({ ...r, seq: Number(r.seq) }));
}
