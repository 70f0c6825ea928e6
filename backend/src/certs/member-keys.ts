/**
 * Members' own S/MIME keys and the tenant's CA. A member's certificate and private key come in as a
 * PKCS#12 file or PEM (certificate and PKCS#8 key), or are issued by the tenant's own CA, which Sealpost
 * creates for the tenant on first use. Private keys are sealed with the key vault (a data key of their
 * own under the tenant key, bound to the row and address), read only to sign a member's mail or decrypt
 * mail to them. Certificates come from @peculiar/x509 over node's WebCrypto; PKCS#12 is read with
 * node-forge, which handles RSA keys only (EC keys come as PEM).
 */
import { createHash, createPrivateKey, createPublicKey, randomBytes, webcrypto, type KeyObject } from 'node:crypto';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { and, desc, eq } from 'drizzle-orm';
import forge from 'node-forge';
import { appendAudit } from '../audit/audit-log.ts';
import type { Database, Queryable } from '../db/client.ts';
import { memberKeys, tenantCas } from '../db/schema.ts';
import { withTenants } from '../db/tenant-scope.ts';
import type { KeyVault } from '../vault/key-vault.ts';
import { CertificateProblem, certificatePem, pemBlocks, readCertificates } from './certificate-store.ts';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const subtle = webcrypto.subtle;
const RSA_SIGNING = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', publicExponent: new Uint8Array([1, 0, 1]) } as const;
/** How long an issued member certificate is valid, and the CA that issues it. */
const MEMBER_VALIDITY_DAYS = 365;
const CA_VALIDITY_YEARS = 10;
const DAY_MS = 86_400_000;

export type MemberKeyRow = typeof memberKeys.$inferSelect;

/** A member's key ready for use: its certificate, the chain to send beside it, and the private key. */
export interface MemberSigningKey {
  id: string;
  address: string;
  fingerprint: string;
  certificate: Buffer;
  chain: Buffer[];
  privateKey: KeyObject;
  notAfter: Date;
  source: string;
}

export interface MemberKeyInput {
  /** A PKCS#12 file (with `password`), or PEM text holding the certificate (and its chain) and a PKCS#8 or RSA key. */
  file: Buffer;
  password?: string;
}

const binding = (address: string) => `member-key:${address}`;
const fingerprintOf = (der: Buffer) => createHash('sha256').update(der).digest('hex');
const randomSerial = () => {
  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f;
  return serial.toString('hex');
};

/** The certificates and the private key in an upload. */
function readKeyFile(input: MemberKeyInput): { certificates: Buffer[]; key: KeyObject } {
  const text = input.file.subarray(0, 64).toString('latin1');
  if (text.includes('-----BEGIN ') || input.file.includes('-----BEGIN ')) {
    const keyBlock = pemBlocks(input.file.toString('latin1')).find((b) => b.label.endsWith('PRIVATE KEY'));
    if (!keyBlock) throw new CertificateProblem(400, 'No private key', 'the PEM text holds no PRIVATE KEY section');
    const lines = keyBlock.der.toString('base64').match(/.{1,64}/g) ?? [];
    let key: KeyObject;
    try {
      const pem = `-----BEGIN ${keyBlock.label}-----\n${lines.join('\n')}\n-----END ${keyBlock.label}-----\n`;
      key = createPrivateKey({ key: pem, format: 'pem', ...(input.password ? { passphrase: input.password } : {}) });
    } catch (error) {
      throw new CertificateProblem(400, 'Unreadable private key', `the private key cannot be read${input.password ? ' with this password' : ''}: ${(error as Error).message.slice(0, 100)}`);
    }
    return { certificates: readCertificates(input.file).map((c) => c.der), key };
  }
  let p12: forge.pkcs12.Pkcs12Pfx;
  try {
    p12 = forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(forge.util.createBuffer(input.file.toString('binary'))), false, input.password ?? '');
  } catch (error) {
    const message = (error as Error).message ?? '';
    if (/mac|password|decrypt/i.test(message)) {
      throw new CertificateProblem(400, 'Wrong password', input.password ? 'the PKCS#12 file does not open with this password' : 'the PKCS#12 file needs its password');
    }
    throw new CertificateProblem(400, 'Unreadable key file', `the file is no PKCS#12 file or PEM (${message.slice(0, 120)})`);
  }
  const shrouded = forge.pki.oids.pkcs8ShroudedKeyBag!;
  const plain = forge.pki.oids.keyBag!;
  const keyBags = [...(p12.getBags({ bagType: shrouded })[shrouded] ?? []), ...(p12.getBags({ bagType: plain })[plain] ?? [])];
  const forgeKey = keyBags.find((b) => b.key)?.key;
  if (!forgeKey) throw new CertificateProblem(400, 'No private key', 'the PKCS#12 file holds no private key this gateway can read (EC keys: import them as PEM)');
  const pkcs8 = Buffer.from(forge.asn1.toDer(forge.pki.wrapRsaPrivateKey(forge.pki.privateKeyToAsn1(forgeKey))).getBytes(), 'binary');
  const certBag = forge.pki.oids.certBag!;
  const certificates = (p12.getBags({ bagType: certBag })[certBag] ?? [])
    .filter((bag) => bag.cert)
    .map((bag) => Buffer.from(forge.asn1.toDer(forge.pki.certificateToAsn1(bag.cert!)).getBytes(), 'binary'));
  return { certificates, key: createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }) };
}

/** The certificate among `certificates` whose public key is `key`'s, and the others as its chain. */
function pairWithKey(certificates: Buffer[], key: KeyObject): { certificate: Buffer; chain: Buffer[] } {
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const certificate = certificates.find((der) => Buffer.from(new x509.X509Certificate(new Uint8Array(der)).publicKey.rawData).equals(spki));
  if (!certificate) throw new CertificateProblem(400, 'Key and certificate differ', 'no certificate in the file belongs to its private key');
  return { certificate, chain: certificates.filter((c) => c !== certificate) };
}

/** A member's keys, newest first. */
function keysOf(q: Queryable, tenantId: string, address: string): Promise<MemberKeyRow[]> {
  return q
    .select()
    .from(memberKeys)
    .where(and(eq(memberKeys.tenantId, tenantId), eq(memberKeys.address, address)))
    .orderBy(desc(memberKeys.createdAt));
}

export class MemberKeys {
  constructor(
    private readonly db: Database,
    private readonly vault: KeyVault,
  ) {}

  /** Imports a member's certificate and private key; the certificate must name the member's address. */
  async import(tenantId: string, address: string, input: MemberKeyInput, by: { actor: string; clientIp?: string }): Promise<MemberKeyRow> {
    const member = address.trim().toLowerCase();
    const { certificates, key } = readKeyFile(input);
    const { certificate, chain } = pairWithKey(certificates, key);
    const [parsed] = readCertificates(certificate);
    if (!parsed!.addresses.includes(member)) {
      throw new CertificateProblem(400, 'Certificate for another address', `the certificate names ${parsed!.addresses.join(', ') || 'no address'}, not ${member}`);
    }
    return this.store(tenantId, member, { certificate, chain, key, source: 'import' }, by, 'member_key_imported');
  }

  /** Issues a new key and certificate for a member from the tenant's CA (created on first use). */
  async issue(tenantId: string, tenantName: string, address: string, by: { actor: string; clientIp?: string }, displayName?: string): Promise<MemberKeyRow> {
    const member = address.trim().toLowerCase();
    const ca = await this.tenantCa(tenantId, tenantName);
    const keys = (await subtle.generateKey({ ...RSA_SIGNING, modulusLength: 2048 }, true, ['sign', 'verify'])) as CryptoKeyPair;
    const now = Date.now();
    const certificate = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      subject: [{ CN: [displayName?.trim() || member] }, { E: [member] }],
      issuer: ca.certificate.subjectName,
      notBefore: new Date(now - 5 * 60_000),
      notAfter: new Date(Math.min(now + MEMBER_VALIDITY_DAYS * DAY_MS, ca.certificate.notAfter.getTime())),
      signingAlgorithm: RSA_SIGNING,
      publicKey: keys.publicKey,
      signingKey: ca.key,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.emailProtection]),
        new x509.SubjectAlternativeNameExtension([{ type: 'email', value: member }]),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
        await x509.AuthorityKeyIdentifierExtension.create(ca.certificate),
      ],
    });
    const pkcs8 = Buffer.from(await subtle.exportKey('pkcs8', keys.privateKey));
    return this.store(
      tenantId,
      member,
      { certificate: Buffer.from(certificate.rawData), chain: [Buffer.from(ca.certificate.rawData)], key: createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }), source: 'tenant-ca' },
      by,
      'member_key_issued',
    );
  }

  /** The tenant CA's certificate (DER), creating the CA on first use: what partners add as a trust anchor. */
  async caCertificate(tenantId: string, tenantName: string): Promise<Buffer> {
    return Buffer.from((await this.tenantCa(tenantId, tenantName)).certificate.rawData);
  }

  /** The tenant CA's certificate (DER) when the tenant has one; never creates it. */
  async existingCaCertificate(tenantId: string): Promise<Buffer | undefined> {
    const [row] = await withTenants(this.db, tenantId, (tx) => tx.select({ certificate: tenantCas.certificate }).from(tenantCas).where(eq(tenantCas.tenantId, tenantId)));
    return row?.certificate;
  }

  /** The member's keys, newest first (without private keys). */
  async list(tenantId: string, address?: string): Promise<Array<Omit<MemberKeyRow, 'sealedKey' | 'wrappedDataKey'>>> {
    const rows = await withTenants(this.db, tenantId, (tx) =>
      tx
        .select()
        .from(memberKeys)
        .where(and(eq(memberKeys.tenantId, tenantId), address ? eq(memberKeys.address, address.trim().toLowerCase()) : undefined))
        .orderBy(memberKeys.address, desc(memberKeys.createdAt)),
    );
    return rows.map(({ sealedKey: _sealed, wrappedDataKey: _wrapped, ...rest }) => rest);
  }

  /** The newest key of the member that is valid now, with its private key opened; undefined when there is none. */
  async signingKey(tenantId: string, address: string, at = new Date()): Promise<MemberSigningKey | undefined> {
    const member = address.trim().toLowerCase();
    return withTenants(this.db, tenantId, async (tx) => {
      const row = (await keysOf(tx, tenantId, member)).find((r) => r.notBefore <= at && at <= r.notAfter);
      return row ? this.opened(row, tx) : undefined;
    });
  }

  /** Every key the member has (also expired ones: old mail stays readable), opened, newest first. */
  async decryptionKeys(tenantId: string, address: string): Promise<MemberSigningKey[]> {
    const member = address.trim().toLowerCase();
    return withTenants(this.db, tenantId, async (tx) => Promise.all((await keysOf(tx, tenantId, member)).map((row) => this.opened(row, tx))));
  }

  /**
   * A member's key with its certificate and chain, for the member to use in their own mail program:
   * PKCS#12 (RSA keys; AES-256, SHA-256 MAC) or PEM (an encrypted PKCS#8 key and the certificates), under
   * the password given. Audited.
   */
  async export(tenantId: string, id: string, password: string, format: 'pkcs12' | 'pem', by: { actor: string; clientIp?: string }): Promise<{ address: string; bytes: Buffer }> {
    if (password.length < 8) throw new CertificateProblem(400, 'Password too short', 'an exported key needs a password of at least 8 characters');
    return withTenants(this.db, tenantId, async (tx) => {
      const [row] = await tx.select().from(memberKeys).where(and(eq(memberKeys.tenantId, tenantId), eq(memberKeys.id, id)));
      if (!row) throw new CertificateProblem(404, 'No such key', 'No member key of your tenant has this id.');
      const key = await this.opened(row, tx);
      let bytes: Buffer;
      if (format === 'pem') {
        const pem = key.privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: password }).toString();
        bytes = Buffer.from([pem, certificatePem(key.certificate), ...key.chain.map(certificatePem)].join(''));
      } else {
        if (key.privateKey.asymmetricKeyType !== 'rsa') throw new CertificateProblem(400, 'Not an RSA key', 'only RSA keys export as PKCS#12 here: export this key as PEM');
        const forgeKey = forge.pki.privateKeyFromPem(key.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
        const certificates = [key.certificate, ...key.chain].map((der) => forge.pki.certificateFromAsn1(forge.asn1.fromDer(forge.util.createBuffer(der.toString('binary')))));
        const p12 = forge.pkcs12.toPkcs12Asn1(forgeKey, certificates, password, { algorithm: 'aes256', friendlyName: row.address });
        bytes = Buffer.from(forge.asn1.toDer(p12).getBytes(), 'binary');
      }
      await appendAudit(tx, this.vault.auditKeys, {
        tenantId,
        action: 'member_key_exported',
        actorAddress: by.actor,
        ...(by.clientIp ? { clientIp: by.clientIp } : {}),
        subjectId: id,
        details: { address: row.address, fingerprint: row.fingerprint, format },
      });
      return { address: row.address, bytes };
    });
  }

  async remove(tenantId: string, id: string, by: { actor: string; clientIp?: string }): Promise<void> {
    await withTenants(this.db, tenantId, async (tx) => {
      const [row] = await tx
        .delete(memberKeys)
        .where(and(eq(memberKeys.tenantId, tenantId), eq(memberKeys.id, id)))
        .returning({ address: memberKeys.address, fingerprint: memberKeys.fingerprint });
      if (!row) throw new CertificateProblem(404, 'No such key', 'No member key of your tenant has this id.');
      await appendAudit(tx, this.vault.auditKeys, {
        tenantId,
        action: 'member_key_deleted',
        actorAddress: by.actor,
        ...(by.clientIp ? { clientIp: by.clientIp } : {}),
        subjectId: id,
        details: { address: row.address, fingerprint: row.fingerprint },
      });
    });
  }

  private async opened(row: MemberKeyRow, q: Queryable): Promise<MemberSigningKey> {
    const pkcs8 = await this.vault.open(row.tenantId, row.id, { content: row.sealedKey, wrappedDataKey: row.wrappedDataKey }, q, binding(row.address));
    return {
      id: row.id,
      address: row.address,
      fingerprint: row.fingerprint,
      certificate: row.certificate,
      chain: row.chain.map((b64) => Buffer.from(b64, 'base64')),
      privateKey: createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }),
      notAfter: row.notAfter,
      source: row.source,
    };
  }

  private async store(
    tenantId: string,
    address: string,
    made: { certificate: Buffer; chain: Buffer[]; key: KeyObject; source: 'import' | 'tenant-ca' },
    by: { actor: string; clientIp?: string },
    action: 'member_key_imported' | 'member_key_issued',
  ): Promise<MemberKeyRow> {
    const [parsed] = readCertificates(made.certificate);
    const fingerprint = fingerprintOf(made.certificate);
    const pkcs8 = made.key.export({ type: 'pkcs8', format: 'der' });
    return withTenants(this.db, tenantId, async (tx) => {
      const id = webcrypto.randomUUID();
      const sealed = await this.vault.seal(tenantId, id, pkcs8, tx, binding(address));
      const [row] = await tx
        .insert(memberKeys)
        .values({
          id,
          tenantId,
          address,
          fingerprint,
          certificate: made.certificate,
          chain: made.chain.map((der) => der.toString('base64')),
          sealedKey: sealed.content,
          wrappedDataKey: sealed.wrappedDataKey,
          subject: parsed!.subject,
          issuer: parsed!.issuer,
          notBefore: parsed!.notBefore,
          notAfter: parsed!.notAfter,
          source: made.source,
          createdBy: by.actor,
        })
        .onConflictDoNothing()
        .returning();
      if (!row) throw new CertificateProblem(400, 'Already imported', `this certificate is already stored for ${address}`);
      await appendAudit(tx, this.vault.auditKeys, {
        tenantId,
        action,
        actorAddress: by.actor,
        ...(by.clientIp ? { clientIp: by.clientIp } : {}),
        subjectId: id,
        details: { address, fingerprint, source: made.source, notAfter: parsed!.notAfter.toISOString() },
      });
      return row;
    });
  }

  /** The tenant's CA: read, or created once (several processes may race: the first insert wins). */
  private async tenantCa(tenantId: string, tenantName: string): Promise<{ certificate: x509.X509Certificate; key: CryptoKey }> {
    const read = (q: Queryable) => q.select().from(tenantCas).where(eq(tenantCas.tenantId, tenantId));
    let [row] = await withTenants(this.db, tenantId, read);
    if (!row) {
      const keys = (await subtle.generateKey({ ...RSA_SIGNING, modulusLength: 3072 }, true, ['sign', 'verify'])) as CryptoKeyPair;
      const now = new Date();
      const certificate = await x509.X509CertificateGenerator.createSelfSigned({
        serialNumber: randomSerial(),
        name: [{ CN: [`${tenantName} S/MIME CA`] }, { O: [tenantName] }],
        notBefore: new Date(now.getTime() - 5 * 60_000),
        notAfter: new Date(now.getTime() + CA_VALIDITY_YEARS * 365 * DAY_MS),
        signingAlgorithm: RSA_SIGNING,
        keys,
        extensions: [
          new x509.BasicConstraintsExtension(true, 0, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
          await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
        ],
      });
      const pkcs8 = Buffer.from(await subtle.exportKey('pkcs8', keys.privateKey));
      await withTenants(this.db, tenantId, async (tx) => {
        const sealed = await this.vault.seal(tenantId, `tenant-ca:${tenantId}`, pkcs8, tx);
        await tx
          .insert(tenantCas)
          .values({ tenantId, certificate: Buffer.from(certificate.rawData), sealedKey: sealed.content, wrappedDataKey: sealed.wrappedDataKey })
          .onConflictDoNothing();
      });
      [row] = await withTenants(this.db, tenantId, read);
    }
    if (!row) throw new Error(`the CA of tenant ${tenantId} could not be created`);
    const pkcs8 = await this.vault.open(tenantId, `tenant-ca:${tenantId}`, { content: row.sealedKey, wrappedDataKey: row.wrappedDataKey });
    return {
      certificate: new x509.X509Certificate(new Uint8Array(row.certificate)),
      key: await subtle.importKey('pkcs8', pkcs8, RSA_SIGNING, false, ['sign']),
    };
  }
}
