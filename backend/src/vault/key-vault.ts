/**
 * The key hierarchy: master key → tenant key → per-object data key → content.
 * Tenant keys are created on first use and kept unwrapped in memory only.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { eq } from 'drizzle-orm';
import { AuditKeys } from '../audit/audit-keys.ts';
import type { Database, Queryable } from '../db/client.ts';
import { tenantKeys } from '../db/schema.ts';
import { openWithKey, sealWithKey } from './envelope-encryption.ts';

export interface SealedObject {
  content: Buffer;
  wrappedDataKey: Buffer;
}

export class KeyVault {
  private readonly tenantKeyCache = new Map<string, Buffer>();
  /** The audit chain's HMAC keys: SEALPOST_AUDIT_KEY when configured, else their own branch of the master key. */
  readonly auditKeys: AuditKeys;

  constructor(
    private readonly db: Database,
    private readonly masterKey: Buffer,
    auditKey?: Buffer,
  ) {
    if (masterKey.length !== 32) throw new Error('the master key must be 32 bytes');
    this.auditKeys = auditKey ? new AuditKeys(auditKey) : AuditKeys.fromMasterKey(masterKey);
  }

  async seal(tenantId: string, objectId: string, plaintext: Buffer, q: Queryable = this.db): Promise<SealedObject> {
    const tenantKey = await this.tenantKey(tenantId, q);
    const dataKey = randomBytes(32);
    return {
      content: sealWithKey(dataKey, plaintext, contentAad(tenantId, objectId)),
      wrappedDataKey: sealWithKey(tenantKey, dataKey, dataKeyAad(tenantId, objectId)),
    };
  }

  async open(tenantId: string, objectId: string, sealed: SealedObject, q: Queryable = this.db): Promise<Buffer> {
    const tenantKey = await this.tenantKey(tenantId, q);
    const dataKey = openWithKey(tenantKey, sealed.wrappedDataKey, dataKeyAad(tenantId, objectId));
    return openWithKey(dataKey, sealed.content, contentAad(tenantId, objectId));
  }

  async tenantKey(tenantId: string, q: Queryable = this.db): Promise<Buffer> {
    const cached = this.tenantKeyCache.get(tenantId);
    if (cached) return cached;
    const fresh = sealWithKey(this.masterKey, randomBytes(32), tenantKeyAad(tenantId));
    // Several processes may create the key at once: the first insert wins, everyone reads the winner.
    await q.insert(tenantKeys).values({ tenantId, wrappedKey: fresh }).onConflictDoNothing();
    const [row] = await q.select().from(tenantKeys).where(eq(tenantKeys.tenantId, tenantId));
    if (!row) throw new Error(`tenant ${tenantId} has no key`);
    const key = openWithKey(this.masterKey, row.wrappedKey, tenantKeyAad(tenantId));
    this.tenantKeyCache.set(tenantId, key);
    return key;
  }
}

const tenantKeyAad = (tenantId: string) => `sealpost:tenant-key:${tenantId}`;
const dataKeyAad = (tenantId: string, objectId: string) => `sealpost:data-key:${tenantId}:${objectId}`;
const contentAad = (tenantId: string, objectId: string) => `sealpost:content:${tenantId}:${objectId}`;

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
