/**
 * The keys that make the audit chain hold against someone who can write to the database.
 *
 * A plain hash chain only shows accidents: whoever can edit a row can also recompute every hash after it.
 * Each entry is therefore authenticated with HMAC-SHA256 under a key the database never holds — derived
 * from the master key with HKDF (or configured on its own as SEALPOST_AUDIT_KEY) — and each tenant gets
 * its own subkey, so one tenant's entries can never be passed off as another's.
 */
import { createHmac, hkdfSync } from 'node:crypto';

const CHAIN_KEY_LABEL = 'sealpost:audit-chain:v1';
const TENANT_KEY_LABEL = 'sealpost:audit-chain:tenant:v1:';

export class AuditKeys {
  private readonly tenantKeys = new Map<string, Buffer>();
  private readonly appendListeners: Array<(count: number) => void> = [];

  /** chainKey: 32 bytes, SEALPOST_AUDIT_KEY or derived from the master key with fromMasterKey. */
  constructor(private readonly chainKey: Buffer) {
    if (chainKey.length !== 32) throw new Error('the audit key must be 32 bytes');
  }

  /** The audit key as its own HKDF branch of the master key: knowing it reveals nothing about the tenant keys. */
  static fromMasterKey(masterKey: Buffer): AuditKeys {
    return new AuditKeys(Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), CHAIN_KEY_LABEL, 32)));
  }

  /** HMAC-SHA256 of the material under the tenant's subkey, hex. */
  mac(tenantId: string, material: string): string {
    return createHmac('sha256', this.tenantKey(tenantId)).update(material, 'utf8').digest('hex');
  }

  /** Called after entries were appended (their transaction may still be open): the checkpointer counts them. */
  onAppended(listener: (count: number) => void): void {
    this.appendListeners.push(listener);
  }

  noteAppended(count: number): void {
    for (const listener of this.appendListeners) listener(count);
  }

  private tenantKey(tenantId: string): Buffer {
    let key = this.tenantKeys.get(tenantId);
    if (!key) {
      key = Buffer.from(hkdfSync('sha256', this.chainKey, Buffer.alloc(0), `${TENANT_KEY_LABEL}${tenantId}`, 32));
      this.tenantKeys.set(tenantId, key);
    }
    return key;
  }
}
