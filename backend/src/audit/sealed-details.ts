/**
 * Message content that an audit entry must name (an attachment's file name) is not stored in clear: the
 * database files, backups and anyone reading the table would see it. It is sealed under the tenant's key,
 * like the message itself, and opened only for an authorised read of the audit log. The entry's hash covers
 * the ciphertext, so the chain verifies without the tenant key.
 */
import { randomUUID } from 'node:crypto';
import type { KeyVault } from '../vault/key-vault.ts';
import { storableJson } from '../db/storable-text.ts';

export interface SealedAuditDetails {
  id: string;
  /** base64 */
  content: string;
  /** base64 */
  wrappedKey: string;
}

/** The details key under which sealed content sits in an audit entry. */
export const SEALED_DETAILS_KEY = 'sealed';

const objectIdOf = (id: string) => `audit-details:${id}`;

export async function sealAuditDetails(vault: KeyVault, tenantId: string, content: Record<string, unknown>): Promise<SealedAuditDetails> {
  const id = randomUUID();
  // Sealed details read back like the open ones: text the database could store (no NUL, no lone surrogate).
  const sealed = await vault.seal(tenantId, objectIdOf(id), Buffer.from(JSON.stringify(storableJson(content)), 'utf8'));
  return { id, content: sealed.content.toString('base64'), wrappedKey: sealed.wrappedDataKey.toString('base64') };
}

/**
 * The details as an authorised reader sees them: sealed content opened and merged in. Content that does not
 * open (altered, or another tenant's) is reported as such, never guessed.
 */
export async function openAuditDetails(vault: KeyVault, tenantId: string, details: Record<string, unknown>): Promise<Record<string, unknown>> {
  const sealed = details[SEALED_DETAILS_KEY] as Partial<SealedAuditDetails> | undefined;
  if (!sealed || typeof sealed !== 'object') return details;
  const { [SEALED_DETAILS_KEY]: _sealed, ...rest } = details;
  try {
    if (typeof sealed.id !== 'string' || typeof sealed.content !== 'string' || typeof sealed.wrappedKey !== 'string') throw new Error('incomplete');
    const plain = await vault.open(tenantId, objectIdOf(sealed.id), {
      content: Buffer.from(sealed.content, 'base64'),
      wrappedDataKey: Buffer.from(sealed.wrappedKey, 'base64'),
    });
    return { ...rest, ...(JSON.parse(plain.toString('utf8')) as Record<string, unknown>) };
  } catch {
    return { ...rest, sealedDetailsUnreadable: true };
  }
}
