/**
 * The key hierarchy: master key → tenant key → per-object data key → content.
 * Tenant keys are created on first use and kept unwrapped in memory only.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { eq } from 'drizzle-orm';
import { AuditKeys } from './audit-keys.ts';
import type { Database, Queryable } from '../db/client.ts';
import { tenantKeys } from '../db/schema.ts';
import { withTenants } from '../db/tenant-scope.ts';
import { openWithKey, sealWithKey } from './envelope-encryption.ts';

export interface SealedObject {
  content: Buffer;
  wrappedDataKey: Buffer;
}

export class KeyVault {
  private readonly tenantKeyCache = new Map<string, Buffer>();
  /** The audit chain's HMAC keys: SEALPOST_AUDIT_KEY when configured, else their own branch of the master key. */
  readonly auditKeys: AuditKeys;
  private readonly fingerprintKeyCache = new Map<string, Buffer>();

  constructor(
    readonly db: Database,
    private readonly masterKey: Buffer,
    auditKey?: Buffer,
  ) {
    if (masterKey.length !== 32) throw new Error('the master key must be 32 bytes');
    this.auditKeys = auditKey ? new AuditKeys(auditKey) : AuditKeys.fromMasterKey(masterKey);
  }

  /**
   * `boundTo` names who may read the object (for a portal message: its thread, sender and addressee);
   * it is bound in with the ids, so a row whose access columns were changed no longer opens.
   */
  async seal(tenantId: string, objectId: string, plaintext: Buffer, q: Queryable = this.db, boundTo?: string): Promise<SealedObject> {
    const tenantKey = await this.tenantKey(tenantId, q);
    const dataKey = randomBytes(32);
    return {
      content: sealWithKey(dataKey, plaintext, contentAad(tenantId, objectId, boundTo)),
      wrappedDataKey: sealWithKey(tenantKey, dataKey, dataKeyAad(tenantId, objectId, boundTo)),
    };
  }

  async open(tenantId: string, objectId: string, sealed: SealedObject, q: Queryable = this.db, boundTo?: string): Promise<Buffer> {
    const tenantKey = await this.tenantKey(tenantId, q);
    const dataKey = openWithKey(tenantKey, sealed.wrappedDataKey, dataKeyAad(tenantId, objectId, boundTo));
    return openWithKey(dataKey, sealed.content, contentAad(tenantId, objectId, boundTo));
  }

  /**
   * A keyed fingerprint (HMAC-SHA256, key derived from the tenant key) of stored content. A plain
   * SHA-256 would let anyone holding the database confirm a guessed message; this one needs the keys.
   */
  async fingerprint(tenantId: string, data: Buffer, q: Queryable = this.db): Promise<string> {
    let key = this.fingerprintKeyCache.get(tenantId);
    if (!key) {
      key = createHmac('sha256', await this.tenantKey(tenantId, q)).update('sealpost:content-fingerprint').digest();
      this.fingerprintKeyCache.set(tenantId, key);
    }
    return `${FINGERPRINT_PREFIX}${createHmac('sha256', key).update(data).digest('hex')}`;
  }

  async tenantKey(tenantId: string, q: Queryable = this.db): Promise<Buffer> {
    const cached = this.tenantKeyCache.get(tenantId);
    if (cached) return cached;
    const fresh = sealWithKey(this.masterKey, randomBytes(32), tenantKeyAad(tenantId));
    // Several processes may create the key at once: the first insert wins, everyone reads the winner.
    const createOrRead = async (tx: Queryable) => {
      await tx.insert(tenantKeys).values({ tenantId, wrappedKey: fresh }).onConflictDoNothing();
      return tx.select().from(tenantKeys).where(eq(tenantKeys.tenantId, tenantId));
    };
    // A transaction handed in is already scoped to the tenant it works for.
    const [row] = q === this.db ? await withTenants(this.db, tenantId, createOrRead) : await createOrRead(q);
    if (!row) throw new Error(`tenant ${tenantId} has no key`);
    const key = openWithKey(this.masterKey, row.wrappedKey, tenantKeyAad(tenantId));
    this.tenantKeyCache.set(tenantId, key);
    return key;
  }
}

const tenantKeyAad = (tenantId: string) => `sealpost:tenant-key:${tenantId}`;
/** Marks a keyed fingerprint; a bare 64-digit hex value is a plain SHA-256 from before keyed fingerprints. */
export const FINGERPRINT_PREFIX = 'hmac-sha256:';

const bound = (boundTo: string | undefined) => (boundTo === undefined ? '' : `:bound:${boundTo}`);
const dataKeyAad = (tenantId: string, objectId: string, boundTo?: string) => `sealpost:data-key:${tenantId}:${objectId}${bound(boundTo)}`;
const contentAad = (tenantId: string, objectId: string, boundTo?: string) => `sealpost:content:${tenantId}:${objectId}${bound(boundTo)}`;

export interface MasterKeySource {
  key: Buffer;
  /** Set when the key was generated into the data folder, which is only fit for development. */
  generatedFile?: string;
}

/** The configured master key or the one in the data folder; never generates one (for tools such as audit:verify). */
export function loadExistingMasterKey(configured: Buffer | undefined, keyFile: string): Buffer {
  if (configured) return configured;
  if (!existsSync(keyFile)) throw new Error(`no master key: SEALPOST_MASTER_KEY is not set and ${keyFile} does not exist`);
  const key = Buffer.from(readFileSync(keyFile, 'utf8').trim(), 'base64');
  if (key.length !== 32) throw new Error(`${keyFile} does not hold a 32-byte base64 key`);
  return key;
}

/** The configured master key, or one generated once into the data folder. */
export function loadOrCreateMasterKey(configured: Buffer | undefined, keyFile: string): MasterKeySource {
  if (configured) return { key: configured };
  if (existsSync(keyFile)) {
    const key = Buffer.from(readFileSync(keyFile, 'utf8').trim(), 'base64');
    if (key.length !== 32) throw new Error(`${keyFile} does not hold a 32-byte base64 key`);
    return { key, generatedFile: keyFile };
  }
  mkdirSync(dirname(keyFile), { recursive: true });
  const key = randomBytes(32);
  writeFileSync(keyFile, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  return { key, generatedFile: keyFile };
}
