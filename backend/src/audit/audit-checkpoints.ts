/**
 * Signed checkpoints of the audit chain, kept outside the database.
 *
 * The keyed chain (vault/audit-keys.ts) stops anyone without the audit key from rewriting entries, but not from
 * removing the newest ones: a shorter chain is still a valid chain. So the gateway signs, per tenant, the
 * newest sequence number and hash it has verified ({tenantId, seq, hash, at}) with an Ed25519 key that is not
 * in the database, and appends the checkpoint to a JSON-lines file in the data folder. An organisation can
 * copy the checkpoints elsewhere (GET /api/admin/audit/checkpoints); verification then finds truncation
 * (the chain ends before a checkpoint) and re-hashing (the entry at a checkpoint's seq has another hash),
 * the latter even without the audit key.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { appendFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';

export interface AuditCheckpoint {
  tenantId: string;
  seq: number;
  /** The entry's hash (HMAC) at seq. */
  hash: string;
  /** When the checkpoint was signed (ISO 8601). */
  at: string;
  /**
   * Entries up to this seq were written before the chain was keyed (plain SHA-256); this checkpoint, the
   * tenant's first, vouches for them. 0 when there are none.
   */
  legacyThrough: number;
  /** Which signing key: the first 16 hex digits of the SHA-256 of its public key (SPKI DER). */
  keyId: string;
  /** Ed25519 signature over the fields above, base64. */
  signature: string;
}

export type UnsignedCheckpoint = Omit<AuditCheckpoint, 'keyId' | 'signature'>;

/** One line in the checkpoint file is never this long; a longer one is reported, not parsed. */
const MAX_LINE_CHARS = 4096;
const SIGNED_CONTEXT = 'sealpost-audit-checkpoint-v1';

export class AuditSigningKey {
  readonly keyId: string;
  readonly publicKeyPem: string;

  constructor(
    readonly publicKey: KeyObject,
    private readonly privateKey?: KeyObject,
    /** Set when the key was generated into the data folder. */
    readonly generatedFile?: string,
  ) {
    if (publicKey.asymmetricKeyType !== 'ed25519') throw new Error('the audit signing key must be an Ed25519 key');
    this.keyId = keyIdOf(publicKey);
    this.publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  }

  canSign(): boolean {
    return this.privateKey !== undefined;
  }

  sign(fields: UnsignedCheckpoint): AuditCheckpoint {
    if (!this.privateKey) throw new Error('this audit signing key is a public key only; it cannot sign checkpoints');
    const signature = sign(null, signedBytes(fields), this.privateKey).toString('base64');
    return { ...fields, keyId: this.keyId, signature };
  }

  /** Undefined when the checkpoint is signed by this key; otherwise why not. */
  problemWith(checkpoint: AuditCheckpoint): string | undefined {
    if (checkpoint.keyId !== this.keyId) {
      return `it names signing key ${checkpoint.keyId}, not this deployment's key ${this.keyId}`;
    }
    const signature = Buffer.from(checkpoint.signature, 'base64');
    if (signature.length !== 64 || !verify(null, signedBytes(checkpoint), this.publicKey, signature)) {
      return 'its signature does not verify with the audit signing key';
    }
    return undefined;
  }
}

/** The configured signing key (PEM file), or one generated once into the data folder. */
export function loadOrCreateAuditSigningKey(configuredFile: string | undefined, generatedFile: string): AuditSigningKey {
  if (configuredFile) {
    const key = signingKeyFromPem(readFileSync(configuredFile, 'utf8'), configuredFile);
    if (!key.canSign()) throw new Error(`${configuredFile} holds a public key; the gateway needs the Ed25519 private key to sign checkpoints`);
    return key;
  }
  if (existsSync(generatedFile)) return signingKeyFromPem(readFileSync(generatedFile, 'utf8'), generatedFile, generatedFile);
  mkdirSync(dirname(generatedFile), { recursive: true });
  const { privateKey } = generateKeyPairSync('ed25519');
  try {
    writeFileSync(generatedFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
  } catch (error) {
    // Another process on the same data folder generated one first: everyone signs with that one.
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return signingKeyFromPem(readFileSync(generatedFile, 'utf8'), generatedFile, generatedFile);
  }
  return new AuditSigningKey(createPublicKey(privateKey), privateKey, generatedFile);
}

/** A private key (signs and verifies) or a public key (verifies only), PEM. */
export function signingKeyFromPem(pem: string, source: string, generatedFile?: string): AuditSigningKey {
  try {
    if (pem.includes('PRIVATE KEY')) {
      const privateKey = createPrivateKey(pem);
      return new AuditSigningKey(createPublicKey(privateKey), privateKey, generatedFile);
    }
    return new AuditSigningKey(createPublicKey(pem));
  } catch (error) {
    throw new Error(`${source} does not hold an Ed25519 key in PEM: ${(error as Error).message}`);
  }
}

function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
}

/** The bytes signed: the fields in a fixed order, so that no JSON key order or extra field can change them. */
function signedBytes(c: UnsignedCheckpoint): Buffer {
  return Buffer.from(JSON.stringify([SIGNED_CONTEXT, c.tenantId, c.seq, c.hash, c.at, c.legacyThrough]), 'utf8');
}

export interface CheckpointLine {
  line: number;
  checkpoint?: AuditCheckpoint;
  /** Why the line is not a checkpoint. */
  unreadable?: string;
}

/** The append-only file of checkpoints, one JSON object a line. */
export class AuditCheckpointFile {
  constructor(readonly path: string) {}

  async append(checkpoints: AuditCheckpoint[]): Promise<void> {
    if (checkpoints.length === 0) return;
    mkdirSync(dirname(this.path), { recursive: true });
    // One write in append mode: lines from several processes do not interleave within a line.
    await appendFile(this.path, checkpoints.map((c) => `${JSON.stringify(c)}\n`).join(''), { mode: 0o600 });
  }

  /** Every line, in file order; no file means no checkpoints yet. */
  async *lines(): AsyncGenerator<CheckpointLine> {
    if (!existsSync(this.path)) return;
    const reader = createInterface({ input: createReadStream(this.path, { encoding: 'utf8' }), crlfDelay: Infinity });
    let line = 0;
    for await (const text of reader) {
      line += 1;
      if (text.trim() === '') continue;
      if (text.length > MAX_LINE_CHARS) {
        yield { line, unreadable: `the line is longer than ${MAX_LINE_CHARS} characters` };
        continue;
      }
      yield parseCheckpoint(line, text);
    }
  }
}

function parseCheckpoint(line: number, text: string): CheckpointLine {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { line, unreadable: 'the line is not JSON' };
  }
  const c = value as Partial<AuditCheckpoint> | null;
  const valid =
    c !== null &&
    typeof c === 'object' &&
    typeof c.tenantId === 'string' &&
    Number.isSafeInteger(c.seq) &&
    (c.seq as number) > 0 &&
    typeof c.hash === 'string' &&
    /^[0-9a-f]{64}$/.test(c.hash) &&
    typeof c.at === 'string' &&
    Number.isSafeInteger(c.legacyThrough) &&
    typeof c.keyId === 'string' &&
    typeof c.signature === 'string';
  if (!valid) return { line, unreadable: 'the line lacks the fields of a checkpoint' };
  const { tenantId, seq, hash, at, legacyThrough, keyId, signature } = c as AuditCheckpoint;
  return { line, checkpoint: { tenantId, seq, hash, at, legacyThrough, keyId, signature } };
}
