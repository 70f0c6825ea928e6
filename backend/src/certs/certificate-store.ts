/**
 * The tenant's store of public certificates, for S/MIME to outside recipients: certificates come in by
 * import (PEM, DER, PKCS#7 bundles, PKCS#12 with its password, of which only the certificates are kept)
 * or from the signatures of inbound mail, one row per certificate and address it names. When a different
 * certificate appears for an address that already has one, both are kept and the newcomer is marked as a
 * change (certificate continuity): a recipient's new key is something an operator should see, because it
 * is also what an attacker who took over the address would present.
 */
import { createHash, webcrypto } from 'node:crypto';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { and, asc, eq, gte, ilike, inArray, lte, or } from 'drizzle-orm';
import forge from 'node-forge';
import { appendAudit } from '../audit/audit-log.ts';
import type { Database } from '../db/client.ts';
import { certificates } from '../db/schema.ts';
import { withTenants } from '../db/tenant-scope.ts';
import type { AuditKeys } from '../vault/audit-keys.ts';
import { readCapabilitiesDer, SMIME_CAPABILITIES_OID } from './smime-capabilities.ts';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export class CertificateProblem extends Error {
  constructor(
    readonly status: 400 | 404,
    readonly title: string,
    detail: string,
  ) {
    super(detail);
  }
}

/** One certificate as read from an import: its DER and the facts the store keeps about it. */
export interface ParsedCertificate {
  der: Buffer;
  fingerprint: string;
  subject: string;
  issuer: string;
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
  /** Lower-case e-mail addresses it names (subject alternative names, else the subject's E=). */
  addresses: string[];
  /** The algorithms its SMIMECapabilities extension lists (RFC 4262), when it has one. */
  capabilities?: string[];
}

/** An import of this size is no bundle of certificates. */
const MAX_IMPORT_BYTES = 1024 * 1024;
const MAX_CERTIFICATES = 100;

function describe(certificate: x509.X509Certificate): ParsedCertificate {
  const der = Buffer.from(certificate.rawData);
  const san = certificate.getExtension(x509.SubjectAlternativeNameExtension);
  const fromSan = (san?.names.items ?? []).filter((name) => name.type === 'email').map((name) => name.value);
  const fromSubject = fromSan.length > 0 ? [] : certificate.subjectName.getField('E');
  const addresses = [...new Set([...fromSan, ...fromSubject].map((a) => a.trim().toLowerCase()).filter((a) => a.includes('@')))];
  const capabilityExtension = certificate.extensions.find((e) => e.type === SMIME_CAPABILITIES_OID);
  const capabilities = capabilityExtension ? readCapabilitiesDer(new Uint8Array(capabilityExtension.value)) : [];
  return {
    ...(capabilities.length > 0 ? { capabilities } : {}),
    der,
    fingerprint: createHash('sha256').update(der).digest('hex'),
    subject: certificate.subject,
    issuer: certificate.issuer,
    serialNumber: certificate.serialNumber,
    notBefore: certificate.notBefore,
    notAfter: certificate.notAfter,
    addresses,
  };
}

/** The DER blocks of the PEM sections in a text, by label. */
export function pemBlocks(text: string): Array<{ label: string; der: Buffer }> {
  const blocks: Array<{ label: string; der: Buffer }> = [];
  let at = 0;
  for (;;) {
    const begin = text.indexOf('-----BEGIN ', at);
    if (begin < 0) break;
    const labelEnd = text.indexOf('-----', begin + 11);
    if (labelEnd < 0) break;
    const label = text.slice(begin + 11, labelEnd).trim();
    const end = text.indexOf(`-----END ${label}-----`, labelEnd);
    if (end < 0) throw new CertificateProblem(400, 'Unreadable certificate', `the PEM section "${label}" has no END line`);
    blocks.push({ label, der: Buffer.from(text.slice(labelEnd + 5, end).replace(/[^A-Za-z0-9+/=]/g, ''), 'base64') });
    at = end + label.length + 14;
  }
  return blocks;
}

function fromPkcs12(der: Buffer, password: string | undefined): x509.X509Certificate[] {
  let p12: forge.pkcs12.Pkcs12Pfx;
  try {
    const asn1 = forge.asn1.fromDer(forge.util.createBuffer(der.toString('binary')));
    p12 = forge.pkcs12.pkcs12FromAsn1(asn1, false, password ?? '');
  } catch (error) {
    const message = (error as Error).message ?? '';
    if (/mac|password|decrypt/i.test(message)) {
      throw new CertificateProblem(400, 'Wrong password', password ? 'the PKCS#12 file does not open with this password' : 'the PKCS#12 file needs its password');
    }
    throw new CertificateProblem(400, 'Unreadable certificate', `the file is no certificate, PKCS#7 bundle or PKCS#12 file (${message.slice(0, 120)})`);
  }
  const certBag = forge.pki.oids.certBag!;
  const bags: forge.pkcs12.Bag[] = p12.getBags({ bagType: certBag })[certBag] ?? [];
  return bags
    .filter((bag) => bag.cert)
    .map((bag) => new x509.X509Certificate(bytes(Buffer.from(forge.asn1.toDer(forge.pki.certificateToAsn1(bag.cert!)).getBytes(), 'binary'))));
}

/**
 * The certificates in an upload: PEM (certificates and PKCS#7 sections), a DER certificate, a DER PKCS#7
 * bundle, or a PKCS#12 file (with `password`; its private key is not read into the public store).
 */
export function readCertificates(input: Buffer, password?: string): ParsedCertificate[] {
  if (input.length === 0) throw new CertificateProblem(400, 'Empty upload', 'the upload holds no certificate');
  if (input.length > MAX_IMPORT_BYTES) throw new CertificateProblem(400, 'Upload too large', `an import is at most ${MAX_IMPORT_BYTES} bytes`);
  const found: x509.X509Certificate[] = [];
  const text = input.subarray(0, 64).toString('latin1');
  if (text.includes('-----BEGIN ') || input.includes('-----BEGIN ')) {
    for (const block of pemBlocks(input.toString('latin1'))) {
      if (block.label === 'CERTIFICATE' || block.label === 'X509 CERTIFICATE' || block.label === 'TRUSTED CERTIFICATE') found.push(parseDer(block.der));
      else if (block.label === 'PKCS7') found.push(...parsePkcs7(block.der));
    }
    if (found.length === 0) throw new CertificateProblem(400, 'No certificate', 'the PEM text holds no CERTIFICATE or PKCS7 section');
  } else {
    const certificate = tryParse(() => [new x509.X509Certificate(bytes(input))]);
    found.push(...(certificate ?? tryParse(() => parsePkcs7(input)) ?? fromPkcs12(input, password)));
  }
  if (found.length > MAX_CERTIFICATES) throw new CertificateProblem(400, 'Too many certificates', `an import holds at most ${MAX_CERTIFICATES} certificates`);
  const byFingerprint = new Map(found.map(describe).map((c) => [c.fingerprint, c]));
  return [...byFingerprint.values()];
}

/** The bytes as a view of their own ArrayBuffer, as the x509 parser's types ask. */
function bytes(buffer: Buffer): Uint8Array<ArrayBuffer> {
  return new Uint8Array(buffer);
}

function tryParse<T>(parse: () => T): T | undefined {
  try {
    return parse();
  } catch {
    return undefined;
  }
}

function parseDer(der: Buffer): x509.X509Certificate {
  try {
    return new x509.X509Certificate(bytes(der));
  } catch (error) {
    throw new CertificateProblem(400, 'Unreadable certificate', `a certificate could not be read: ${(error as Error).message.slice(0, 120)}`);
  }
}

function parsePkcs7(der: Buffer): x509.X509Certificate[] {
  return [...new x509.X509Certificates(bytes(der))];
}

export type CertificateRow = typeof certificates.$inferSelect;

/** What an import did for each certificate and address. */
export interface ImportedCertificate {
  id: string;
  address: string;
  fingerprint: string;
  /** added: new for this address; known: already stored (seen again); changed: the address had another one. */
  outcome: 'added' | 'known' | 'changed';
  previousFingerprints?: string[];
}

export interface CertificateSource {
  source: 'import' | 'signed-mail';
  /** Who imported it, or the sender whose signed message brought it. */
  by: string;
  messageId?: string;
  clientIp?: string;
  /** What the signed message that brought it advertised (SMIMECapabilities): newer than the certificate's own. */
  capabilities?: string[];
}

export class CertificateStore {
  constructor(
    private readonly db: Database,
    private readonly auditKeys: AuditKeys,
  ) {}

  /**
   * Stores certificates for every address they name: a certificate already there is only seen again; one
   * for an address that has a different one is kept beside it as a change, and the change is audited.
   * A certificate that names no address cannot be looked up and is refused.
   */
  async add(tenantId: string, parsed: readonly ParsedCertificate[], from: CertificateSource): Promise<ImportedCertificate[]> {
    const nameless = parsed.find((c) => c.addresses.length === 0);
    if (nameless) throw new CertificateProblem(400, 'No e-mail address', `the certificate "${nameless.subject}" names no e-mail address to use it for`);
    return withTenants(this.db, tenantId, async (tx) => {
      const results: ImportedCertificate[] = [];
      const audit: Parameters<typeof appendAudit>[2] = [];
      for (const certificate of parsed) {
        for (const address of certificate.addresses) {
          const stored = await tx
            .select({ id: certificates.id, fingerprint: certificates.fingerprint })
            .from(certificates)
            .where(and(eq(certificates.tenantId, tenantId), eq(certificates.address, address)));
          const same = stored.find((s) => s.fingerprint === certificate.fingerprint);
          const capabilities = from.capabilities ?? certificate.capabilities;
          if (same) {
            await tx
              .update(certificates)
              .set({ lastSeenAt: new Date(), ...(from.capabilities ? { capabilities: from.capabilities } : {}) })
              .where(eq(certificates.id, same.id));
            results.push({ id: same.id, address, fingerprint: certificate.fingerprint, outcome: 'known' });
            continue;
          }
          const previous = stored.map((s) => s.fingerprint);
          const [row] = await tx
            .insert(certificates)
            .values({
              tenantId,
              address,
              fingerprint: certificate.fingerprint,
              der: certificate.der,
              subject: certificate.subject,
              issuer: certificate.issuer,
              serialNumber: certificate.serialNumber,
              notBefore: certificate.notBefore,
              notAfter: certificate.notAfter,
              source: from.source,
              addedBy: from.by,
              ...(capabilities ? { capabilities } : {}),
              ...(from.messageId ? { messageId: from.messageId } : {}),
              ...(previous.length > 0 ? { replacesFingerprint: previous[previous.length - 1] } : {}),
            })
            .returning({ id: certificates.id });
          const outcome = previous.length > 0 ? 'changed' : 'added';
          results.push({ id: row!.id, address, fingerprint: certificate.fingerprint, outcome, ...(previous.length > 0 ? { previousFingerprints: previous } : {}) });
          const details = { address, fingerprint: certificate.fingerprint, source: from.source, notAfter: certificate.notAfter.toISOString(), ...(from.messageId ? { messageId: from.messageId } : {}) };
          audit.push({ tenantId, action: 'certificate_added', actorAddress: from.by, ...(from.clientIp ? { clientIp: from.clientIp } : {}), subjectId: row!.id, details });
          if (outcome === 'changed') {
            audit.push({ tenantId, action: 'certificate_changed', actorAddress: from.by, subjectId: row!.id, details: { ...details, previousFingerprints: previous } });
          }
        }
      }
      await appendAudit(tx, this.auditKeys, audit);
      return results;
    });
  }

  /** The stored certificates, optionally those whose address or subject contain `search`, by address. */
  async list(tenantId: string, search?: string): Promise<CertificateRow[]> {
    return withTenants(this.db, tenantId, (tx) => {
      const term = search?.trim().slice(0, 200);
      const pattern = term ? `%${term.replace(/[\\%_]/g, (c) => `\\${c}`)}%` : undefined;
      return tx
        .select()
        .from(certificates)
        .where(and(eq(certificates.tenantId, tenantId), pattern ? or(ilike(certificates.address, pattern), ilike(certificates.subject, pattern)) : undefined))
        .orderBy(asc(certificates.address), asc(certificates.firstSeenAt))
        .limit(1000);
    });
  }

  async get(tenantId: string, id: string): Promise<CertificateRow> {
    const [row] = await withTenants(this.db, tenantId, (tx) =>
      tx.select().from(certificates).where(and(eq(certificates.tenantId, tenantId), eq(certificates.id, id))),
    );
    if (!row) throw new CertificateProblem(404, 'No such certificate', 'No certificate of your tenant has this id.');
    return row;
  }

  /** The certificates for an address that are valid at `at`, the most recently seen first. */
  async validFor(tenantId: string, address: string, at = new Date()): Promise<CertificateRow[]> {
    const normalised = address.trim().toLowerCase();
    return (await this.validForEach(tenantId, [normalised], at)).get(normalised) ?? [];
  }

  /**
   * For each address (lower-case), its certificates valid at `at`, the most recently seen first; addresses
   * without one are absent. One query for all of them: a preview or a message may name hundreds.
   */
  async validForEach(tenantId: string, addresses: readonly string[], at = new Date()): Promise<Map<string, CertificateRow[]>> {
    const found = new Map<string, CertificateRow[]>();
    if (addresses.length === 0) return found;
    const rows = await withTenants(this.db, tenantId, (tx) =>
      tx
        .select()
        .from(certificates)
        .where(and(eq(certificates.tenantId, tenantId), inArray(certificates.address, [...new Set(addresses)]), lte(certificates.notBefore, at), gte(certificates.notAfter, at))),
    );
    for (const row of rows.sort((a, b) => b.lastSeenAt.getTime() - a.lastSeenAt.getTime())) {
      found.set(row.address, [...(found.get(row.address) ?? []), row]);
    }
    return found;
  }

  async remove(tenantId: string, id: string, by: { actor: string; clientIp?: string }): Promise<void> {
    await withTenants(this.db, tenantId, async (tx) => {
      const [row] = await tx
        .delete(certificates)
        .where(and(eq(certificates.tenantId, tenantId), eq(certificates.id, id)))
        .returning({ address: certificates.address, fingerprint: certificates.fingerprint });
      if (!row) throw new CertificateProblem(404, 'No such certificate', 'No certificate of your tenant has this id.');
      await appendAudit(tx, this.auditKeys, {
        tenantId,
        action: 'certificate_deleted',
        actorAddress: by.actor,
        ...(by.clientIp ? { clientIp: by.clientIp } : {}),
        subjectId: id,
        details: { address: row.address, fingerprint: row.fingerprint },
      });
    });
  }
}

/** A stored certificate as PEM, for export (public certificates only). */
export function certificatePem(der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}
