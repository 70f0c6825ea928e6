/**
 * The append-only, hash-chained audit log. Every entry carries the hash of the tenant's previous entry,
 * so a changed, removed or inserted row breaks the chain at that point; the database refuses UPDATE,
 * DELETE and TRUNCATE on the table for every role (trigger in the migration).
 *
 * The database owner can switch that trigger off, so the hash is an HMAC under a key the database does not
 * hold (audit-keys.ts): a rewritten entry cannot be given a matching hash. What the key cannot show — the
 * newest entries removed — signed checkpoints outside the database show (audit-checkpoints.ts).
 */
import { createHash } from 'node:crypto';
import { and, asc, desc, eq, gt, sql } from 'drizzle-orm';
import { queryRows, type Queryable } from '../db/client.ts';
import { allTenantIds, withTenants } from '../db/tenant-scope.ts';
import { auditLog } from '../db/schema.ts';
import type { AuditCheckpoint, AuditCheckpointFile, AuditSigningKey } from './audit-checkpoints.ts';
import type { AuditKeys } from '../vault/audit-keys.ts';
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
  /** An operator released a message the gateway's stages had held or quarantined. */
  'message_released',
  /** An inbound policy was created, changed or deleted (details: the policy's settings, and before a change the previous ones). */
  'policy_created',
  'policy_updated',
  'policy_deleted',
  /** A quarantined message was looked at, released or deleted. */
  'quarantine_viewed',
  'quarantine_deleted',
  /** A public certificate came into the store (imported, or from a signed message), or was deleted. */
  'certificate_added',
  'certificate_deleted',
  /** A certificate appeared for an address that already had a different one (certificate continuity). */
  'certificate_changed',
  /** A member's own S/MIME key was imported, issued by the tenant's CA, or deleted. */
  'member_key_imported',
  'member_key_issued',
  'member_key_deleted',
  /** An owner exported a member's key with its private key (PKCS#12 or PEM). */
  'member_key_exported',
  /** An OpenPGP public key came into the store (imported, from a signed message or an Autocrypt header), changed, or was deleted. */
  'pgp_key_added',
  'pgp_key_changed',
  'pgp_key_deleted',
  /** A member's own OpenPGP key pair was generated, imported, exported or deleted. */
  'member_pgp_key_generated',
  'member_pgp_key_imported',
  'member_pgp_key_exported',
  'member_pgp_key_deleted',
  /** A recipient set up a second factor (authenticator app or passkey), proved one, failed one, used a recovery code. */
  'second_factor_enrolled',
  'second_factor_verified',
  'second_factor_failed',
  'recovery_code_used',
  /** An owner or operator removed a recipient's second factors (lost phone and codes). */
  'second_factor_reset',
  /** A member fetched a password to tell the recipients of a password PDF (the password itself is never logged). */
  'pdf_password_issued',
  /** An owner or operator changed the portal's settings (details: each changed field, old → new; of a template only whether it is the tenant's own and its length). */
  'portal_settings_changed',
  /** An admin downloaded the audit log (details: format, filter, how many entries, through which entry). */
  'audit_exported',
  /** An owner or operator added, changed (details: each changed field, old → new) or removed a member in the console. */
  'member_added',
  'member_changed',
  'member_removed',
  /** An owner or operator made an API token in the console, or revoked one (details: name, hint, expiry; never the token). */
  'api_token_created',
  'api_token_revoked',
  /** A portal sign-in was refused (details: channel, reason; the address is the one claimed). */
  'sign_in_failed',
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
export async function appendAudit(q: Queryable, keys: AuditKeys, entries: AuditEntryInput | AuditEntryInput[]): Promise<void> {
  const list = Array.isArray(entries) ? entries : [entries];
  if (list.length === 0) return;
  const tenants = [...new Set(list.map((e) => e.tenantId))].sort();
  await withTenants(q, tenants, async (tx) => {
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
      const hash = entryHash(keys, row);
      heads.set(entry.tenantId, { seq: row.seq, hash });
      return { ...row, hash };
    });
    await tx.insert(auditLog).values(rows);
  });
  keys.noteAppended(list.length);
}

type HashedFields = Omit<AuditEntry, 'id' | 'hash'>;

/** The entry's fields in a fixed order, the bytes its hash covers. */
function hashMaterial(entry: HashedFields): string {
  return JSON.stringify(
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
}

/** HMAC-SHA256 of the entry under the tenant's audit subkey. */
export function entryHash(keys: AuditKeys, entry: HashedFields): string {
  return keys.mac(entry.tenantId, hashMaterial(entry));
}

/**
 * The unkeyed SHA-256 that entries carried before the chain was keyed. Anyone can compute it, so it is
 * accepted only for entries a signed checkpoint vouches for (its legacyThrough).
 */
export function legacyEntryHash(entry: HashedFields): string {
  return createHash('sha256').update(hashMaterial(entry)).digest('hex');
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

/**
 * What verification can find:
 * - altered: the entry's HMAC does not match its content (changed, or re-hashed without the key);
 * - relinked: the entry does not carry the hash of the entry before it;
 * - missing: sequence numbers are skipped (entries removed from the middle);
 * - truncated: the chain ends before the newest signed checkpoint (the newest entries were removed);
 * - checkpoint_mismatch: the entry at a checkpoint's seq is not the one the checkpoint signed;
 * - bad_checkpoint_signature: a checkpoint that this deployment's signing key did not sign (forged or edited);
 * - unreadable_checkpoint: a line of the checkpoint file that is not a checkpoint.
 */
export type AuditProblemKind =
  | 'altered'
  | 'relinked'
  | 'missing'
  | 'truncated'
  | 'checkpoint_mismatch'
  | 'bad_checkpoint_signature'
  | 'unreadable_checkpoint';

export interface AuditProblem {
  kind: AuditProblemKind;
  /** Null for a checkpoint line that names no readable tenant. */
  tenantId: string | null;
  /** The entry (or the checkpoint's seq) the problem is about. */
  seq: number | null;
  /** The row, when the problem is about a row in the database. */
  id: number | null;
  reason: string;
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
  /** Signed checkpoints that were compared with the chain. */
  checkpoints: number;
  /** The first problem about an entry, as before checkpoints existed. */
  firstBroken?: BrokenLink;
  /** Every problem found (at most MAX_PROBLEMS_PER_TENANT a tenant, then one that counts the rest). */
  problems: AuditProblem[];
}

/** The signed checkpoints verification compares the chain with. */
export interface CheckpointSource {
  file: AuditCheckpointFile;
  signingKey: AuditSigningKey;
}

const MAX_PROBLEMS_PER_TENANT = 50;
const BATCH_ROWS = 1000;

interface WalkOptions {
  /** Start after this seq, whose hash is prevHash (0 and the genesis hash for the whole chain). */
  afterSeq: number;
  prevHash: string;
  /** Unkeyed hashes accepted up to this seq, or, with 'prefix', for as long as no keyed entry came yet. */
  legacy: number | 'prefix';
  anchors?: Map<number, AuditCheckpoint>;
  report: (problem: AuditProblem) => void;
}

interface WalkEnd {
  lastSeq: number;
  lastHash: string;
  checked: number;
  legacyThrough: number;
}

/** Checks one tenant's entries after afterSeq, in order: sequence, link, HMAC and any checkpoint at that seq. */
export async function walkTenantChain(q: Queryable, keys: AuditKeys, tenantId: string, options: WalkOptions): Promise<WalkEnd> {
  let expectedSeq = options.afterSeq + 1;
  let prevHash = options.prevHash;
  let afterSeq = options.afterSeq;
  let checked = 0;
  let legacyThrough = 0;
  let keyedSeen = false;
  for (;;) {
    const batch = await q
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.tenantId, tenantId), gt(auditLog.seq, afterSeq)))
      .orderBy(asc(auditLog.seq))
      .limit(BATCH_ROWS);
    if (batch.length === 0) break;
    for (const row of batch) {
      checked += 1;
      const seq = Number(row.seq);
      const problem = (kind: AuditProblemKind, reason: string) => options.report({ kind, tenantId, seq, id: row.id, reason });
      if (seq !== expectedSeq) {
        problem(
          'missing',
          seq === expectedSeq + 1
            ? `entry ${expectedSeq} is missing (the next entry is ${seq})`
            : `entries ${expectedSeq} to ${seq - 1} are missing (the next entry is ${seq})`,
        );
      } else if (row.prevHash !== prevHash) {
        problem('relinked', 'the entry does not carry the hash of the entry before it');
      }
      const fields = { ...row, seq };
      if (entryHash(keys, fields) === row.hash) {
        keyedSeen = true;
      } else {
        const legacyAllowed = options.legacy === 'prefix' ? !keyedSeen : seq <= options.legacy;
        if (legacyAllowed && legacyEntryHash(fields) === row.hash) {
          legacyThrough = seq;
        } else {
          problem('altered', 'the entry was changed after it was written: its HMAC does not match its content');
        }
      }
      const anchor = options.anchors?.get(seq);
      if (anchor && anchor.hash !== row.hash) {
        problem('checkpoint_mismatch', `the entry is not the one checkpoint ${seq} (signed ${anchor.at}) vouches for: the chain was rewritten`);
      }
      prevHash = row.hash;
      expectedSeq = seq + 1;
      afterSeq = seq;
    }
  }
  return { lastSeq: expectedSeq - 1, lastHash: prevHash, checked, legacyThrough };
}

/** Reads the checkpoint file: the checkpoints that verify, by tenant, and what is wrong with the others. */
export async function readSignedCheckpoints(
  source: CheckpointSource,
  tenantId?: string,
): Promise<{ byTenant: Map<string, Map<number, AuditCheckpoint>>; problems: AuditProblem[]; count: number }> {
  const byTenant = new Map<string, Map<number, AuditCheckpoint>>();
  const problems: AuditProblem[] = [];
  let count = 0;
  for await (const line of source.file.lines()) {
    if (!line.checkpoint) {
      if (!tenantId) {
        problems.push({ kind: 'unreadable_checkpoint', tenantId: null, seq: null, id: null, reason: `line ${line.line}: ${line.unreadable}` });
      }
      continue;
    }
    const c = line.checkpoint;
    if (tenantId && c.tenantId !== tenantId) continue;
    const wrong = source.signingKey.problemWith(c);
    if (wrong) {
      problems.push({ kind: 'bad_checkpoint_signature', tenantId: c.tenantId, seq: c.seq, id: null, reason: `checkpoint on line ${line.line}: ${wrong}` });
      continue;
    }
    let anchors = byTenant.get(c.tenantId);
    if (!anchors) byTenant.set(c.tenantId, (anchors = new Map()));
    const earlier = anchors.get(c.seq);
    if (earlier && earlier.hash !== c.hash) {
      // Two genuine checkpoints that disagree: the chain was rewritten between them, after the first was signed.
      problems.push({
        kind: 'checkpoint_mismatch',
        tenantId: c.tenantId,
        seq: c.seq,
        id: null,
        reason: `checkpoints signed ${earlier.at} and ${c.at} name different hashes for entry ${c.seq}`,
      });
      continue;
    }
    anchors.set(c.seq, c);
    count += 1;
  }
  return { byTenant, problems, count };
}

/**
 * Walks each tenant's chain (one tenant, or all), checks every entry's HMAC and link and, given the
 * checkpoints, that the chain still holds every checkpointed entry and reaches the newest checkpoint.
 */
export async function verifyAuditChain(
  q: Queryable,
  keys: AuditKeys,
  options: { tenantId?: string; checkpoints?: CheckpointSource } = {},
): Promise<ChainVerification> {
  const { tenantId } = options;
  const signed = options.checkpoints
    ? await readSignedCheckpoints(options.checkpoints, tenantId)
    : { byTenant: new Map<string, Map<number, AuditCheckpoint>>(), problems: [], count: 0 };
  const inDatabase = tenantId
    ? [tenantId]
    : (
        await withTenants(q, await allTenantIds(q), (tx) =>
          queryRows<{ tenant_id: string }>(tx, sql`select distinct tenant_id from audit_log order by tenant_id`),
        )
      ).map((r) => r.tenant_id);
  // A tenant whose entries are all gone is still known to its checkpoints.
  const tenantIds = [...new Set([...inDatabase, ...signed.byTenant.keys()])].sort();
  const problems: AuditProblem[] = [...signed.problems];
  let checked = 0;
  for (const tenant of tenantIds) {
    const anchors = signed.byTenant.get(tenant) ?? new Map<number, AuditCheckpoint>();
    let reported = 0;
    let unreported = 0;
    let lastUnreported: AuditProblem | undefined;
    const report = (problem: AuditProblem) => {
      if (reported < MAX_PROBLEMS_PER_TENANT) {
        problems.push(problem);
        reported += 1;
      } else {
        unreported += 1;
        lastUnreported = problem;
      }
    };
    const legacy = Math.max(0, ...[...anchors.values()].map((a) => a.legacyThrough));
    const end = await withTenants(q, tenant, (tx) => walkTenantChain(tx, keys, tenant, { afterSeq: 0, prevHash: GENESIS_HASH, legacy, anchors, report }));
    checked += end.checked;
    const newest = [...anchors.values()].reduce<AuditCheckpoint | undefined>((a, b) => (!a || b.seq > a.seq ? b : a), undefined);
    if (newest && newest.seq > end.lastSeq) {
      report({
        kind: 'truncated',
        tenantId: tenant,
        seq: newest.seq,
        id: null,
        reason:
          `the chain ends at entry ${end.lastSeq}, but checkpoint ${newest.seq} (signed ${newest.at}) vouches for entries up to ${newest.seq}: ` +
          `entries after ${end.lastSeq} were removed`,
      });
    }
    if (lastUnreported) {
      // The list stays readable for a chain rewritten from its start; the count says how far it goes.
      problems.push({
        ...lastUnreported,
        reason: `${unreported} more problems in this tenant's chain are not listed; the last: ${lastUnreported.reason}`,
      });
    }
  }
  const first = problems.find((p) => p.tenantId !== null && p.seq !== null && p.id !== null);
  return {
    ok: problems.length === 0,
    checked,
    tenants: tenantIds.length,
    checkpoints: signed.count,
    ...(first ? { firstBroken: { tenantId: first.tenantId!, seq: first.seq!, id: first.id, reason: first.reason } } : {}),
    problems,
  };
}

export async function readAudit(
  q: Queryable,
  tenantId: string,
  options: { limit?: number; subjectId?: string } = {},
): Promise<AuditEntry[]> {
  const where = options.subjectId
    ? and(eq(auditLog.tenantId, tenantId), eq(auditLog.subjectId, options.subjectId))
    : eq(auditLog.tenantId, tenantId);
  const rows = await withTenants(q, tenantId, (tx) => tx.select().from(auditLog).where(where).orderBy(desc(auditLog.seq)).limit(options.limit ?? 100));
  return rows.map((r) => ({ ...r, seq: Number(r.seq) }));
}

/** One line for a person: where, what kind, why. */
export function formatAuditProblem(problem: AuditProblem): string {
  const where = [
    problem.tenantId ? `tenant ${problem.tenantId}` : 'checkpoint file',
    problem.seq !== null ? `entry ${problem.seq}` : undefined,
    problem.id !== null ? `(row ${problem.id})` : undefined,
  ]
    .filter(Boolean)
    .join(' ');
  return `${where}: ${problem.kind}: ${problem.reason}`;
}
