/**
 * Inbound S/MIME: finding an encrypted message (application/pkcs7-mime with enveloped or auth-enveloped
 * data), decrypting it with whichever of the recipients' keys it was encrypted for, and judging a
 * signature: does it verify, does the signer's certificate chain to one of the tenant's trust anchors
 * (its own CA and the roots it configured) and is it valid and not revoked by its CRL (fetched over HTTP
 * with a time and size limit, cached until its next update). The result is written as RFC 8601
 * `smime` results: pass, fail (with the reason), or neutral for a signature that verifies but whose
 * signer no anchor vouches for.
 */
import './pkijs-engine.ts';
import * as asn1js from 'asn1js';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import * as pkijs from 'pkijs';
import { headerValue, type SplitMessage } from '../mail/header-block.ts';
import { contentTypeOf } from '../mail/mime-structure.ts';
import { decryptEnveloped, SmimeError, type DecryptionKey } from './smime-envelope.ts';
import type { MessageSignature } from './signed-mail.ts';
import { verifySignature } from './signed-mail.ts';

const ENCRYPTED_TYPES = new Set(['enveloped-data', 'authenveloped-data']);
const PKCS7_MIME = new Set(['application/pkcs7-mime', 'application/x-pkcs7-mime']);
/** An encrypted body larger than this is not decrypted here (the message is delivered as it came). */
const MAX_ENCRYPTED_BYTES = 64 * 1024 * 1024;
const CRL_TIMEOUT_MS = 3000;
const MAX_CRL_BYTES = 2 * 1024 * 1024;
const CRL_CACHE_MS = 60 * 60 * 1000;

/** The CMS content of an encrypted S/MIME message, when its top level is one. */
export function encryptedContent(message: SplitMessage): Buffer | undefined {
  const type = contentTypeOf(message.fields);
  if (!PKCS7_MIME.has(type.value)) return undefined;
  const smimeType = (type.params['smime-type'] ?? '').toLowerCase();
  // Older clients leave smime-type out; their smime.p7m is enveloped data unless it says signed.
  const encrypted = ENCRYPTED_TYPES.has(smimeType) || (smimeType === '' && /\.p7m$/i.test(type.params.name ?? ''));
  if (!encrypted) return undefined;
  const encoding = (headerValue(message.fields, 'content-transfer-encoding') ?? '').trim().toLowerCase();
  if (message.body.length > MAX_ENCRYPTED_BYTES * 1.4) return undefined;
  return encoding === 'base64' ? Buffer.from(message.body.toString('latin1'), 'base64') : message.body.subarray(2);
}

export interface MemberDecryptionKey extends DecryptionKey {
  address: string;
  fingerprint: string;
}

export type Decryption =
  | { outcome: 'decrypted'; entity: Buffer; algorithm: string; keyTransport: string; recipient: string; fingerprint: string }
  | { outcome: 'failed'; reason: string };

/** Decrypts with the first key the message was encrypted for; the reason when none opens it. */
export function decryptWithKeys(der: Buffer, keys: readonly MemberDecryptionKey[]): Decryption {
  if (keys.length === 0) return { outcome: 'failed', reason: 'no recipient of the message has a key with this gateway' };
  let problem = 'the message was not encrypted for any key the recipients have with this gateway';
  for (const key of keys) {
    try {
      const opened = decryptEnveloped(der, key);
      return { outcome: 'decrypted', entity: canonical(opened.content), algorithm: opened.algorithm, keyTransport: opened.keyTransport, recipient: key.address, fingerprint: key.fingerprint };
    } catch (error) {
      if (error instanceof SmimeError) {
        if (!/not encrypted for this certificate/.test(error.message)) problem = error.message;
      } else {
        // A structure the CMS reader trips over is malformed input, never a crash of the stage.
        problem = `the encrypted content is malformed: ${String((error as Error)?.message ?? error).slice(0, 120)}`;
      }
    }
  }
  return { outcome: 'failed', reason: problem };
}

/** MIME wants CRLF; content written on a system with bare LF is brought to it. */
function canonical(entity: Buffer): Buffer {
  if (entity.includes('\r\n') || !entity.includes('\n')) return entity;
  return Buffer.from(entity.toString('latin1').replace(/\n/g, '\r\n'), 'latin1');
}

/** The decrypted message: the outer header fields without their content fields, and the decrypted entity. */
export function decryptedMessage(message: SplitMessage, entity: Buffer): Buffer {
  const content = new Set(['content-type', 'content-transfer-encoding', 'content-disposition', 'content-description', 'content-id', 'mime-version']);
  const outer = message.fields.filter((f) => !content.has(f.name.toLowerCase())).map((f) => f.raw);
  return Buffer.concat([...outer, Buffer.from('MIME-Version: 1.0\r\n'), entity]);
}

export interface SignatureJudgement {
  result: 'pass' | 'fail' | 'neutral';
  reason: string;
  signer?: string;
  fingerprint?: string;
  trust: 'anchor' | 'untrusted' | 'not-checked';
  revocation: 'good' | 'revoked' | 'unknown' | 'not-checked';
}

export interface JudgeOptions {
  /** DER certificates the tenant trusts as roots (its own CA and those it configured). */
  anchors: readonly Buffer[];
  at?: Date;
  crls?: CrlSource;
}

/** Fetches and caches CRLs by URL; unreachable ones are reported, never guessed. */
export class CrlSource {
  private readonly cache = new Map<string, { crl: pkijs.CertificateRevocationList; until: number }>();

  constructor(private readonly fetcher: typeof fetch = fetch) {}

  async get(url: string): Promise<pkijs.CertificateRevocationList | undefined> {
    const cached = this.cache.get(url);
    if (cached && cached.until > Date.now()) return cached.crl;
    if (!/^https?:\/\//i.test(url)) return undefined;
    try {
      const response = await this.fetcher(url, { signal: AbortSignal.timeout(CRL_TIMEOUT_MS), redirect: 'error' });
      if (!response.ok) return undefined;
      const length = Number(response.headers.get('content-length') ?? 0);
      if (length > MAX_CRL_BYTES) return undefined;
      const bytes = Buffer.from(await response.arrayBuffer());
      if (bytes.length > MAX_CRL_BYTES) return undefined;
      const der = bytes.subarray(0, 11).toString('latin1').startsWith('-----BEGIN') ? Buffer.from(bytes.toString('latin1').replace(/-----[^-]+-----|\s/g, ''), 'base64') : bytes;
      const crl = pkijs.CertificateRevocationList.fromBER(new Uint8Array(der));
      const next = crl.nextUpdate?.value.getTime();
      this.cache.set(url, { crl, until: Math.min(next ?? Number.POSITIVE_INFINITY, Date.now() + CRL_CACHE_MS) });
      return crl;
    } catch {
      return undefined;
    }
  }
}

function crlUrls(der: Buffer): string[] {
  try {
    const certificate = new x509.X509Certificate(new Uint8Array(der));
    const extension = certificate.getExtension(x509.CRLDistributionPointsExtension);
    return (extension?.distributionPoints ?? []).flatMap((point) =>
      (point.distributionPoint?.fullName ?? []).flatMap((name) => (name.uniformResourceIdentifier ? [name.uniformResourceIdentifier] : [])),
    );
  } catch {
    return [];
  }
}

function signedCertificates(signature: MessageSignature): pkijs.Certificate[] {
  try {
    const info = new pkijs.ContentInfo({ schema: asn1js.fromBER(new Uint8Array(signature.signedData)).result });
    const signed = new pkijs.SignedData({ schema: info.content });
    return (signed.certificates ?? []).filter((c): c is pkijs.Certificate => c instanceof pkijs.Certificate);
  } catch {
    return [];
  }
}

/** Verifies a signature and judges its signer: chain to an anchor, validity, revocation. */
export async function judgeSignature(signature: MessageSignature, options: JudgeOptions): Promise<SignatureJudgement> {
  const check = await verifySignature(signature);
  if (!check.valid || !check.signer) {
    return { result: 'fail', reason: check.problem ?? 'the signature names no certificate', trust: 'not-checked', revocation: 'not-checked' };
  }
  const signerDer = check.signer;
  const x = new x509.X509Certificate(new Uint8Array(signerDer));
  const san = x.getExtension(x509.SubjectAlternativeNameExtension);
  const signer = (san?.names.items ?? []).find((n) => n.type === 'email')?.value.toLowerCase() ?? x.subjectName.getField('E')[0]?.toLowerCase();
  const fingerprint = Buffer.from(await x.getThumbprint('SHA-256')).toString('hex');
  const named = { ...(signer ? { signer } : {}), fingerprint };
  const at = options.at ?? new Date();
  if (at < x.notBefore || at > x.notAfter) {
    return { result: 'fail', reason: `the signer's certificate is valid from ${x.notBefore.toISOString()} to ${x.notAfter.toISOString()}, not now`, ...named, trust: 'not-checked', revocation: 'not-checked' };
  }
  if (options.anchors.length === 0) {
    return { result: 'neutral', reason: 'the signature verifies, but the tenant has no trust anchors to check its signer against', ...named, trust: 'untrusted', revocation: 'not-checked' };
  }
  const anchors = options.anchors.flatMap((der) => {
    try {
      return [pkijs.Certificate.fromBER(new Uint8Array(der))];
    } catch {
      return [];
    }
  });
  const certs = signedCertificates(signature);
  const chain = new pkijs.CertificateChainValidationEngine({ trustedCerts: anchors, certs, checkDate: at });
  let chained: { result: boolean; resultMessage?: string };
  try {
    chained = await chain.verify();
  } catch (error) {
    const message = typeof error === 'object' && error && 'resultMessage' in error ? String((error as { resultMessage: unknown }).resultMessage) : String(error);
    chained = { result: false, resultMessage: message };
  }
  if (!chained.result) {
    return { result: 'neutral', reason: `the signature verifies, but no trust anchor of the tenant vouches for its signer (${(chained.resultMessage ?? 'no chain').slice(0, 120)})`, ...named, trust: 'untrusted', revocation: 'not-checked' };
  }
  // Revocation: the signer's CRL, where its certificate names one we can reach.
  const urls = crlUrls(signerDer);
  if (urls.length === 0 || !options.crls) {
    return { result: 'pass', reason: 'the signature verifies and its signer chains to a trust anchor; its certificate names no CRL', ...named, trust: 'anchor', revocation: 'not-checked' };
  }
  for (const url of urls) {
    const crl = await options.crls.get(url);
    if (!crl) continue;
    // Only a CRL its issuer signed counts.
    const issuer = [...anchors, ...certs].find((c) => c.subject.isEqual(crl.issuer));
    if (!issuer || !(await crl.verify({ issuerCertificate: issuer }).catch(() => false))) continue;
    const serial = BigInt(`0x${x.serialNumber}`);
    const revoked = (crl.revokedCertificates ?? []).some((r) => BigInt(`0x${Buffer.from(r.userCertificate.valueBlock.valueHexView).toString('hex') || '0'}`) === serial);
    if (revoked) return { result: 'fail', reason: `the signer's certificate is revoked, says the CRL at ${url}`, ...named, trust: 'anchor', revocation: 'revoked' };
    return { result: 'pass', reason: `the signature verifies, its signer chains to a trust anchor and is not revoked, says the CRL at ${url}`, ...named, trust: 'anchor', revocation: 'good' };
  }
  return { result: 'pass', reason: `the signature verifies and its signer chains to a trust anchor; its CRL at ${urls[0]} could not be fetched`, ...named, trust: 'anchor', revocation: 'unknown' };
}
