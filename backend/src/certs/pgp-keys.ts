/**
 * The tenant's store of outside correspondents' OpenPGP public keys, for OpenPGP to outside recipients.
 * Keys come in by import (armored or binary, one or many), from the key a signed inbound message carries,
 * or from an Autocrypt header; one row per key and address its user IDs name. Only the public part is
 * kept: a secret key in an import is reduced to its public key. As with certificates, a different key for
 * an address that already has one is kept beside it and marked as a change (key continuity), because a
 * correspondent's new key is also what someone who took over the address would present.
 */
import { and, asc, eq, gt, ilike, inArray, isNull, or } from 'drizzle-orm';
import * as openpgp from 'openpgp';
import { appendAudit } from '../audit/audit-log.ts';
import type { Database } from '../db/client.ts';
import { pgpKeys } from '../db/schema.ts';
import { withTenants } from '../db/tenant-scope.ts';
import type { AuditKeys } from '../vault/audit-keys.ts';
import { CertificateProblem } from './certificate-store.ts';

/** An import of this size is no bundle of keys. */
const MAX_IMPORT_BYTES = 1024 * 1024;
const MAX_KEYS = 100;

/** One public key as read from an import, with the facts the store keeps about it. */
export interface ParsedPgpKey {
  key: openpgp.PublicKey;
  /** The transferable public key, binary. */
  keyData: Buffer;
  fingerprint: string;
  userIds: string[];
  /** Lower-case addresses its user IDs name. */
  addresses: string[];
  algorithm: string;
  createdAt: Date;
  expiresAt: Date | null;
}

/** The address a user ID names: the part in angle brackets, or the whole ID when it is an address. */
export function userIdAddress(userId: string): string | undefined {
  const open = userId.lastIndexOf('<');
  const close = userId.lastIndexOf('>');
  const candidate = (open >= 0 && close > open ? userId.slice(open + 1, close) : userId).trim().toLowerCase();
  const at = candidate.indexOf('@');
  return at > 0 && at < candidate.length - 1 && !/[\s<>]/.test(candidate) ? candidate : undefined;
}

/** A short name for a key's algorithm, as the trace and the admin pages show it. */
export function algorithmName(key: openpgp.Key | openpgp.Subkey): string {
  const info = key.getAlgorithmInfo();
  if (info.bits) return `${info.algorithm.replace(/Encrypt|Sign/g, '')}${info.bits}`;
  return String(info.curve ?? info.algorithm);
}

async function describe(key: openpgp.Key): Promise<ParsedPgpKey> {
  const publicKey = key.isPrivate() ? key.toPublic() : (key as openpgp.PublicKey);
  const userIds = publicKey.getUserIDs();
  const addresses = [...new Set(userIds.map(userIdAddress).filter((a): a is string => a !== undefined))];
  const expiration = await publicKey.getExpirationTime().catch(() => null);
  return {
    key: publicKey,
    keyData: Buffer.from(publicKey.write()),
    fingerprint: publicKey.getFingerprint().toLowerCase(),
    userIds,
    addresses,
    algorithm: algorithmName(publicKey),
    createdAt: publicKey.getCreationTime(),
    expiresAt: expiration instanceof Date ? expiration : null,
  };
}

/** The public keys in an upload: armored text (public or secret key blocks) or binary packets. */
export async function readPgpKeys(input: Buffer): Promise<ParsedPgpKey[]> {
  if (input.length === 0) throw new CertificateProblem(400, 'Empty upload', 'the upload holds no OpenPGP key');
  if (input.length > MAX_IMPORT_BYTES) throw new CertificateProblem(400, 'Upload too large', `an import is at most ${MAX_IMPORT_BYTES} bytes`);
  let keys: openpgp.Key[];
  try {
    keys = input.includes('-----BEGIN PGP')
      ? await openpgp.readKeys({ armoredKeys: input.toString('utf8') })
      : await openpgp.readKeys({ binaryKeys: new Uint8Array(input) });
  } catch (error) {
    throw new CertificateProblem(400, 'Unreadable OpenPGP key', `the upload is no OpenPGP key: ${String((error as Error).message ?? error).slice(0, 160)}`);
  }
  if (keys.length > MAX_KEYS) throw new CertificateProblem(400, 'Too many keys', `an import holds at most ${MAX_KEYS} keys`);
  const byFingerprint = new Map<string, ParsedPgpKey>();
  for (const key of keys) {
    const parsed = await describe(key);
    byFingerprint.set(parsed.fingerprint, parsed);
  }
  return [...byFingerprint.values()];
}

/**
 * Whether a key can take encrypted mail now: its primary key verifies (not revoked or expired) and it has
 * a valid encryption key. The reason when not.
 */
export async function encryptionProblem(key: openpgp.PublicKey, at = new Date()): Promise<string | undefined> {
  try {
    await key.verifyPrimaryKey(at);
    await key.getEncryptionKey(undefined, at);
    return undefined;
  } catch (error) {
    return String((error as Error).message ?? error).slice(0, 200);
  }
}

export type PgpKeyRow = typeof pgpKeys.$inferSelect;

export interface PgpKeySource {
  source: 'import' | 'signed-mail' | 'autocrypt';
  by: string;
  messageId?: string;
  clientIp?: string;
  preferEncrypt?: 'mutual';
}

export interface ImportedPgpKey {
  id: string;
  address: string;
  fingerprint: string;
  outcome: 'added' | 'known' | 'changed';
  previousFingerprints?: string[];
}

export class PgpKeyStore {
  constructor(
    private readonly db: Database,
    private readonly auditKeys: AuditKeys,
  ) {}

  /**
   * Stores keys for every address they name: a key already there is only seen again (and its newer
   * signatures, revocations included, replace the stored packets); one for an address that has a different
   * key is kept beside it as a change, and the change is audited.
   */
  async add(tenantId: string, parsed: readonly ParsedPgpKey[], from: PgpKeySource): Promise<ImportedPgpKey[]> {
    const nameless = parsed.find((k) => k.addresses.length === 0);
    if (nameless) throw new CertificateProblem(400, 'No e-mail address', `the key ${nameless.fingerprint} names no e-mail address in its user IDs`);
    return withTenants(this.db, tenantId, async (tx) => {
      const results: ImportedPgpKey[] = [];
      const audit: Parameters<typeof appendAudit>[2] = [];
      for (const key of parsed) {
        for (const address of key.addresses) {
          const stored = await tx
            .select({ id: pgpKeys.id, fingerprint: pgpKeys.fingerprint })
            .from(pgpKeys)
            .where(and(eq(pgpKeys.tenantId, tenantId), eq(pgpKeys.address, address)));
          const same = stored.find((s) => s.fingerprint === key.fingerprint);
          if (same) {
            await tx
              .update(pgpKeys)
              .set({ lastSeenAt: new Date(), keyData: key.keyData, userIds: key.userIds, expiresAt: key.expiresAt, ...(from.preferEncrypt ? { preferEncrypt: from.preferEncrypt } : {}) })
              .where(eq(pgpKeys.id, same.id));
            results.push({ id: same.id, address, fingerprint: key.fingerprint, outcome: 'known' });
            continue;
          }
          const previous = stored.map((s) => s.fingerprint);
          const [row] = await tx
            .insert(pgpKeys)
            .values({
              tenantId,
              address,
              fingerprint: key.fingerprint,
              keyData: key.keyData,
              userIds: key.userIds,
              algorithm: key.algorithm,
              keyCreatedAt: key.createdAt,
              expiresAt: key.expiresAt,
              source: from.source,
              addedBy: from.by,
              ...(from.messageId ? { messageId: from.messageId } : {}),
              ...(from.preferEncrypt ? { preferEncrypt: from.preferEncrypt } : {}),
              ...(previous.length > 0 ? { replacesFingerprint: previous[previous.length - 1] } : {}),
            })
            .returning({ id: pgpKeys.id });
          const outcome = previous.length > 0 ? 'changed' : 'added';
          results.push({ id: row!.id, address, fingerprint: key.fingerprint, outcome, ...(previous.length > 0 ? { previousFingerprints: previous } : {}) });
          const details = { address, fingerprint: key.fingerprint, source: from.source, algorithm: key.algorithm, ...(from.messageId ? { messageId: from.messageId } : {}) };
          audit.push({ tenantId, action: 'pgp_key_added', actorAddress: from.by, ...(from.clientIp ? { clientIp: from.clientIp } : {}), subjectId: row!.id, details });
          if (outcome === 'changed') {
            audit.push({ tenantId, action: 'pgp_key_changed', actorAddress: from.by, subjectId: row!.id, details: { ...details, previousFingerprints: previous } });
          }
        }
      }
      await appendAudit(tx, this.auditKeys, audit);
      return results;
    });
  }

  /** The stored keys, optionally those whose address or fingerprint contain `search`, by address. */
  async list(tenantId: string, search?: string): Promise<PgpKeyRow[]> {
    return withTenants(this.db, tenantId, (tx) => {
      const term = search?.trim().slice(0, 200);
      const pattern = term ? `%${term.replace(/[\\%_]/g, (c) => `\\${c}`)}%` : undefined;
      return tx
        .select()
        .from(pgpKeys)
        .where(and(eq(pgpKeys.tenantId, tenantId), pattern ? or(ilike(pgpKeys.address, pattern), ilike(pgpKeys.fingerprint, pattern)) : undefined))
        .orderBy(asc(pgpKeys.address), asc(pgpKeys.firstSeenAt))
        .limit(1000);
    });
  }

  async get(tenantId: string, id: string): Promise<PgpKeyRow> {
    const [row] = await withTenants(this.db, tenantId, (tx) => tx.select().from(pgpKeys).where(and(eq(pgpKeys.tenantId, tenantId), eq(pgpKeys.id, id))));
    if (!row) throw new CertificateProblem(404, 'No such key', 'No OpenPGP key of your tenant has this id.');
    return row;
  }

  /**
   * For each address (lower-case), its keys not expired at `at`, the most recently seen first; addresses
   * without one are absent. One query for all of them. Revocations inside the key are checked where the
   * key is used (encryptionProblem).
   */
  async unexpiredForEach(tenantId: string, addresses: readonly string[], at = new Date()): Promise<Map<string, PgpKeyRow[]>> {
    const found = new Map<string, PgpKeyRow[]>();
    if (addresses.length === 0) return found;
    const rows = await withTenants(this.db, tenantId, (tx) =>
      tx
        .select()
        .from(pgpKeys)
        .where(and(eq(pgpKeys.tenantId, tenantId), inArray(pgpKeys.address, [...new Set(addresses)]), or(isNull(pgpKeys.expiresAt), gt(pgpKeys.expiresAt, at)))),
    );
    for (const row of rows.sort((a, b) => b.lastSeenAt.getTime() - a.lastSeenAt.getTime())) {
      found.set(row.address, [...(found.get(row.address) ?? []), row]);
    }
    return found;
  }

  async remove(tenantId: string, id: string, by: { actor: string; clientIp?: string }): Promise<void> {
    await withTenants(this.db, tenantId, async (tx) => {
      const [row] = await tx
        .delete(pgpKeys)
        .where(and(eq(pgpKeys.tenantId, tenantId), eq(pgpKeys.id, id)))
        .returning({ address: pgpKeys.address, fingerprint: pgpKeys.fingerprint });
      if (!row) throw new CertificateProblem(404, 'No such key', 'No OpenPGP key of your tenant has this id.');
      await appendAudit(tx, this.auditKeys, {
        tenantId,
        action: 'pgp_key_deleted',
        actorAddress: by.actor,
        ...(by.clientIp ? { clientIp: by.clientIp } : {}),
        subjectId: id,
        details: { address: row.address, fingerprint: row.fingerprint },
      });
    });
  }
}

/**
 * A stored key, armored, for export (public keys only). With the CRC-24 checksum line: GnuPG 2.2 cannot
 * read armor whose base64 ends without padding when the checksum is left out.
 */
export function armoredPublicKey(keyData: Buffer): string {
  return openpgp.armor(openpgp.enums.armor.publicKey, new Uint8Array(keyData), undefined, undefined, undefined, true);
}
