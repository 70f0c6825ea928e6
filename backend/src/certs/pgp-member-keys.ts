/**
 * Members' own OpenPGP key pairs: generated here (v4 keys, Ed25519 for signing with a Curve25519
 * encryption subkey, which GnuPG 2.2 and later read; never v6 keys or AEAD-protected secret keys, which
 * it cannot) or imported (armored or binary secret key, with its passphrase). The secret key is kept
 * without passphrase but sealed with the key vault (a data key of its own under the tenant key, bound to
 * the row and its address), opened only to sign a member's mail or decrypt mail to them. Owners export a
 * key pair with a passphrase of their choice; every export is audited.
 */
import { randomUUID } from 'node:crypto';
import { and, desc, eq } from 'drizzle-orm';
import * as openpgp from 'openpgp';
import { appendAudit } from '../audit/audit-log.ts';
import type { Database, Queryable } from '../db/client.ts';
import { memberPgpKeys } from '../db/schema.ts';
import { withTenants } from '../db/tenant-scope.ts';
import type { KeyVault } from '../vault/key-vault.ts';
import { CertificateProblem } from './certificate-store.ts';
import { algorithmName, armoredPublicKey, userIdAddress } from './pgp-keys.ts';

/** How long a generated key pair is valid; members renew by generating a new one. */
const KEY_VALIDITY_SECONDS = 3 * 365 * 86_400;
const MAX_IMPORT_BYTES = 256 * 1024;
const MIN_EXPORT_PASSPHRASE = 10;

export type MemberPgpKeyRow = typeof memberPgpKeys.$inferSelect;
export type MemberPgpKeyListing = Omit<MemberPgpKeyRow, 'sealedKey' | 'wrappedDataKey'>;

/** A member's key pair ready for use. */
export interface OpenedPgpKey {
  id: string;
  address: string;
  fingerprint: string;
  privateKey: openpgp.PrivateKey;
  source: string;
}

const binding = (address: string) => `member-pgp-key:${address}`;

function keysOf(q: Queryable, tenantId: string, address: string): Promise<MemberPgpKeyRow[]> {
  return q
    .select()
    .from(memberPgpKeys)
    .where(and(eq(memberPgpKeys.tenantId, tenantId), eq(memberPgpKeys.address, address)))
    .orderBy(desc(memberPgpKeys.createdAt));
}

export class MemberPgpKeys {
  constructor(
    private readonly db: Database,
    private readonly vault: KeyVault,
  ) {}

  /** Generates a key pair for a member. */
  async generate(tenantId: string, address: string, by: { actor: string; clientIp?: string }, displayName?: string): Promise<MemberPgpKeyListing> {
    const member = address.trim().toLowerCase();
    const { privateKey } = await openpgp.generateKey({
      type: 'ecc',
      curve: 'curve25519Legacy',
      userIDs: [{ email: member, ...(displayName ? { name: displayName } : {}) }],
      keyExpirationTime: KEY_VALIDITY_SECONDS,
      format: 'object',
    });
    return this.store(tenantId, member, privateKey, 'generated', by);
  }

  /** Imports a member's secret key (armored or binary, with its passphrase when it has one); a user ID must name the member. */
  async import(tenantId: string, address: string, file: Buffer, passphrase: string | undefined, by: { actor: string; clientIp?: string }): Promise<MemberPgpKeyListing> {
    const member = address.trim().toLowerCase();
    if (file.length === 0 || file.length > MAX_IMPORT_BYTES) throw new CertificateProblem(400, 'Unreadable key file', `a key file is 1 to ${MAX_IMPORT_BYTES} bytes`);
    let key: openpgp.PrivateKey;
    try {
      key = file.includes('-----BEGIN PGP')
        ? await openpgp.readPrivateKey({ armoredKey: file.toString('utf8') })
        : await openpgp.readPrivateKey({ binaryKey: new Uint8Array(file) });
    } catch (error) {
      throw new CertificateProblem(400, 'No secret key', `the file holds no OpenPGP secret key: ${String((error as Error).message ?? error).slice(0, 120)}`);
    }
    if (!key.isDecrypted()) {
      if (!passphrase) throw new CertificateProblem(400, 'Passphrase needed', 'the secret key is protected: give its passphrase');
      try {
        key = await openpgp.decryptKey({ privateKey: key, passphrase });
      } catch {
        throw new CertificateProblem(400, 'Wrong passphrase', 'the secret key does not open with this passphrase');
      }
    }
    if (!key.getUserIDs().some((id) => userIdAddress(id) === member)) {
      throw new CertificateProblem(400, 'Key names another address', `no user ID of the key names ${member}`);
    }
    try {
      await key.getSigningKey();
      await key.getEncryptionKey();
    } catch (error) {
      throw new CertificateProblem(400, 'Key not usable', `the key cannot both sign and decrypt now: ${String((error as Error).message ?? error).slice(0, 120)}`);
    }
    return this.store(tenantId, member, key, 'import', by);
  }

  async list(tenantId: string, address?: string): Promise<MemberPgpKeyListing[]> {
    const rows = await withTenants(this.db, tenantId, (tx) =>
      tx
        .select()
        .from(memberPgpKeys)
        .where(and(eq(memberPgpKeys.tenantId, tenantId), address ? eq(memberPgpKeys.address, address.trim().toLowerCase()) : undefined))
        .orderBy(memberPgpKeys.address, desc(memberPgpKeys.createdAt)),
    );
    return rows.map(({ sealedKey: _sealed, wrappedDataKey: _wrapped, ...rest }) => rest);
  }

  /** The member's newest key pair that is not expired, opened; undefined when there is none. */
  async signingKey(tenantId: string, address: string, at = new Date()): Promise<OpenedPgpKey | undefined> {
    const member = address.trim().toLowerCase();
    return withTenants(this.db, tenantId, async (tx) => {
      const row = (await keysOf(tx, tenantId, member)).find((r) => !r.expiresAt || r.expiresAt > at);
      return row ? this.opened(row, tx) : undefined;
    });
  }

  /** Every key pair of the member (expired ones too: old mail stays readable), opened, newest first. */
  async decryptionKeys(tenantId: string, address: string): Promise<OpenedPgpKey[]> {
    const member = address.trim().toLowerCase();
    return withTenants(this.db, tenantId, async (tx) => Promise.all((await keysOf(tx, tenantId, member)).map((row) => this.opened(row, tx))));
  }

  /** The public key, armored (anyone in the tenant may hand it out). */
  async publicKey(tenantId: string, id: string): Promise<{ address: string; armored: string }> {
    const [row] = await withTenants(this.db, tenantId, (tx) =>
      tx.select().from(memberPgpKeys).where(and(eq(memberPgpKeys.tenantId, tenantId), eq(memberPgpKeys.id, id))),
    );
    if (!row) throw new CertificateProblem(404, 'No such key', 'No member OpenPGP key of your tenant has this id.');
    return { address: row.address, armored: armoredPublicKey(row.publicKey) };
  }

  /** The key pair, armored, its secret key protected with `passphrase`; audited. */
  async exportSecret(tenantId: string, id: string, passphrase: string, by: { actor: string; clientIp?: string }): Promise<{ address: string; armored: string }> {
    if (passphrase.length < MIN_EXPORT_PASSPHRASE) {
      throw new CertificateProblem(400, 'Passphrase too short', `an exported secret key is protected with a passphrase of at least ${MIN_EXPORT_PASSPHRASE} characters`);
    }
    return withTenants(this.db, tenantId, async (tx) => {
      const [row] = await tx.select().from(memberPgpKeys).where(and(eq(memberPgpKeys.tenantId, tenantId), eq(memberPgpKeys.id, id)));
      if (!row) throw new CertificateProblem(404, 'No such key', 'No member OpenPGP key of your tenant has this id.');
      const opened = await this.opened(row, tx);
      const locked = await openpgp.encryptKey({ privateKey: opened.privateKey, passphrase });
      await appendAudit(tx, this.vault.auditKeys, {
        tenantId,
        action: 'member_pgp_key_exported',
        actorAddress: by.actor,
        ...(by.clientIp ? { clientIp: by.clientIp } : {}),
        subjectId: id,
        details: { address: row.address, fingerprint: row.fingerprint },
      });
      return { address: row.address, armored: locked.armor() };
    });
  }

  async remove(tenantId: string, id: string, by: { actor: string; clientIp?: string }): Promise<void> {
    await withTenants(this.db, tenantId, async (tx) => {
      const [row] = await tx
        .delete(memberPgpKeys)
        .where(and(eq(memberPgpKeys.tenantId, tenantId), eq(memberPgpKeys.id, id)))
        .returning({ address: memberPgpKeys.address, fingerprint: memberPgpKeys.fingerprint });
      if (!row) throw new CertificateProblem(404, 'No such key', 'No member OpenPGP key of your tenant has this id.');
      await appendAudit(tx, this.vault.auditKeys, {
        tenantId,
        action: 'member_pgp_key_deleted',
        actorAddress: by.actor,
        ...(by.clientIp ? { clientIp: by.clientIp } : {}),
        subjectId: id,
        details: { address: row.address, fingerprint: row.fingerprint },
      });
    });
  }

  private async opened(row: MemberPgpKeyRow, q: Queryable): Promise<OpenedPgpKey> {
    const binary = await this.vault.open(row.tenantId, row.id, { content: row.sealedKey, wrappedDataKey: row.wrappedDataKey }, q, binding(row.address));
    const privateKey = await openpgp.readPrivateKey({ binaryKey: new Uint8Array(binary) });
    return { id: row.id, address: row.address, fingerprint: row.fingerprint, privateKey, source: row.source };
  }

  private async store(tenantId: string, address: string, key: openpgp.PrivateKey, source: 'generated' | 'import', by: { actor: string; clientIp?: string }): Promise<MemberPgpKeyListing> {
    const fingerprint = key.getFingerprint().toLowerCase();
    const expiration = await key.getExpirationTime().catch(() => null);
    const id = randomUUID();
    return withTenants(this.db, tenantId, async (tx) => {
      const existing = (await keysOf(tx, tenantId, address)).find((r) => r.fingerprint === fingerprint);
      if (existing) throw new CertificateProblem(400, 'Key already there', `${address} already has the key ${fingerprint}`);
      const sealed = await this.vault.seal(tenantId, id, Buffer.from(key.write()), tx, binding(address));
      const [row] = await tx
        .insert(memberPgpKeys)
        .values({
          id,
          tenantId,
          address,
          fingerprint,
          publicKey: Buffer.from(key.toPublic().write()),
          sealedKey: sealed.content,
          wrappedDataKey: sealed.wrappedDataKey,
          algorithm: algorithmName(key),
          expiresAt: expiration instanceof Date ? expiration : null,
          source,
          createdBy: by.actor,
        })
        .returning();
      await appendAudit(tx, this.vault.auditKeys, {
        tenantId,
        action: source === 'generated' ? 'member_pgp_key_generated' : 'member_pgp_key_imported',
        actorAddress: by.actor,
        ...(by.clientIp ? { clientIp: by.clientIp } : {}),
        subjectId: id,
        details: { address, fingerprint, algorithm: algorithmName(key) },
      });
      const { sealedKey: _sealed, wrappedDataKey: _wrapped, ...listing } = row!;
      return listing;
    });
  }
}
