/**
 * S/MIME signatures on inbound mail (RFC 8551): finding the signature of a message (multipart/signed with
 * a PKCS#7 signature part, or an opaque application/pkcs7-mime signed-data body) and verifying it with
 * pkijs over node's WebCrypto, so that the sender's certificate can go into the tenant's store. The
 * multipart is read with indexOf over its boundary lines: the signed part must be taken byte for byte as
 * it came, which a MIME parser that decodes parts cannot give back.
 */
import './pkijs-engine.ts';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import type { SplitMessage } from '../mail/header-block.ts';
import { contentTypeOf } from '../mail/mime-structure.ts';
import { readCapabilities, SMIME_CAPABILITIES_OID } from './smime-capabilities.ts';

const SIGNED_DATA = '1.2.840.113549.1.7.2';
const SIGNATURE_TYPES = new Set(['application/pkcs7-signature', 'application/x-pkcs7-signature']);
const OPAQUE_TYPES = new Set(['application/pkcs7-mime', 'application/x-pkcs7-mime']);
/** A signature part larger than this holds more than a signature and its certificates. */
const MAX_SIGNATURE_BYTES = 512 * 1024;

export interface MessageSignature {
  /** The signed MIME entity, as it came (detached signature); absent for an opaque signature, which holds it. */
  signedContent?: Buffer;
  signedData: Buffer;
}

/** The S/MIME signature of a message, when its top level is signed. */
export function signatureOf(message: SplitMessage): MessageSignature | undefined {
  const type = contentTypeOf(message.fields);
  if (type.value === 'multipart/signed' && SIGNATURE_TYPES.has((type.params.protocol ?? '').toLowerCase()) && type.params.boundary) {
    return detachedSignature(message.body, type.params.boundary);
  }
  if (OPAQUE_TYPES.has(type.value) && (type.params['smime-type'] ?? '').toLowerCase() === 'signed-data') {
    const signedData = Buffer.from(message.body.toString('latin1'), 'base64');
    return signedData.length > 0 ? { signedData } : undefined;
  }
  return undefined;
}

/**
 * The two parts of a multipart/signed (RFC 1847): the signed entity, byte for byte as it came, and the
 * body of the signature part (still in its transfer encoding). S/MIME and OpenPGP signatures both use it,
 * and PGP/MIME's multipart/encrypted, which has the same two-part shape.
 */
export function signedParts(body: Buffer, boundary: string, maxSecondPartBytes = MAX_SIGNATURE_BYTES * 2): { signedContent: Buffer; signaturePart: Buffer; signatureFields: string } | undefined {
  const delimiter = Buffer.from(`--${boundary}`);
  const first = body.subarray(0, delimiter.length).equals(delimiter) ? 0 : body.indexOf(Buffer.from(`\r\n--${boundary}`));
  if (first < 0) return undefined;
  const firstLineEnd = body.indexOf('\r\n', first === 0 ? 0 : first + 2);
  if (firstLineEnd < 0) return undefined;
  const contentStart = firstLineEnd + 2;
  const second = body.indexOf(Buffer.from(`\r\n--${boundary}`), contentStart);
  if (second < 0) return undefined;
  const signedContent = body.subarray(contentStart, second);
  const partStart = body.indexOf('\r\n', second + 2);
  if (partStart < 0) return undefined;
  const headerEnd = body.indexOf('\r\n\r\n', partStart);
  if (headerEnd < 0) return undefined;
  const end = body.indexOf(Buffer.from(`\r\n--${boundary}`), headerEnd);
  const signaturePart = body.subarray(headerEnd + 4, end < 0 ? body.length : end);
  if (signaturePart.length > maxSecondPartBytes) return undefined;
  return { signedContent, signaturePart, signatureFields: body.subarray(partStart + 2, headerEnd + 2).toString('latin1') };
}

/** The signed entity of a multipart/signed and its S/MIME signature (base64 in the second part). */
function detachedSignature(body: Buffer, boundary: string): MessageSignature | undefined {
  const parts = signedParts(body, boundary);
  return parts ? { signedContent: parts.signedContent, signedData: Buffer.from(parts.signaturePart.toString('latin1'), 'base64') } : undefined;
}

export interface SignatureCheck {
  valid: boolean;
  /** Why it is not valid, in words. */
  problem?: string;
  /** The signer's certificate (DER), when the signature names one the message carries. */
  signer?: Buffer;
  /** The algorithms the signer says it reads (its SMIMECapabilities signed attribute), when it lists them. */
  capabilities?: string[];
}

/** The SMIMECapabilities in a signer's signed attributes. */
function signerCapabilities(signerInfo: pkijs.SignerInfo | undefined): string[] {
  const attribute = signerInfo?.signedAttrs?.attributes.find((a) => a.type === SMIME_CAPABILITIES_OID);
  return readCapabilities(attribute?.values[0]);
}

/** Verifies the first signer of a signature: the digest of the content and the signature over the signed attributes. */
export async function verifySignature(signature: MessageSignature): Promise<SignatureCheck> {
  if (signature.signedData.length > MAX_SIGNATURE_BYTES + (signature.signedContent ? 0 : 64 * 1024 * 1024)) {
    return { valid: false, problem: 'the signature is too large' };
  }
  const asn = asn1js.fromBER(new Uint8Array(signature.signedData));
  if (asn.offset === -1) return { valid: false, problem: 'the signature is not readable DER' };
  let signed: pkijs.SignedData;
  try {
    const info = new pkijs.ContentInfo({ schema: asn.result });
    if (info.contentType !== SIGNED_DATA) return { valid: false, problem: `the signature is a CMS ${info.contentType}, not signed data` };
    signed = new pkijs.SignedData({ schema: info.content });
  } catch (error) {
    return { valid: false, problem: `the signature cannot be read: ${(error as Error).message.slice(0, 120)}` };
  }
  if (signed.signerInfos.length === 0) return { valid: false, problem: 'the signature has no signer' };
  try {
    const content = signature.signedContent ? new Uint8Array(signature.signedContent).buffer : undefined;
    const result = await signed.verify({ signer: 0, ...(content ? { data: content } : {}), extendedMode: true, checkChain: false });
    const signer = result.signerCertificate ? Buffer.from(result.signerCertificate.toSchema().toBER(false)) : undefined;
    if (!result.signatureVerified) return { valid: false, problem: 'the signature does not match the message', ...(signer ? { signer } : {}) };
    const capabilities = signerCapabilities(signed.signerInfos[0]);
    return { valid: true, ...(signer ? { signer } : {}), ...(capabilities.length > 0 ? { capabilities } : {}) };
  } catch (error) {
    const reason = error instanceof Error ? error.message : typeof error === 'object' && error && 'message' in error ? String((error as { message: unknown }).message) : String(error);
    return { valid: false, problem: `the signature does not verify: ${reason.slice(0, 160)}` };
  }
}

/** The content an opaque signature holds (its eContent), read whole; undefined for a detached or unreadable one. */
export function signedContentOf(signedData: Buffer): Buffer | undefined {
  const asn = asn1js.fromBER(new Uint8Array(signedData));
  if (asn.offset === -1) return undefined;
  try {
    const info = new pkijs.ContentInfo({ schema: asn.result });
    if (info.contentType !== SIGNED_DATA) return undefined;
    const content = new pkijs.SignedData({ schema: info.content }).encapContentInfo.eContent;
    // getValue joins a constructed OCTET STRING's pieces, as other CMS writers send large content.
    return content ? Buffer.from(content.getValue()) : undefined;
  } catch {
    return undefined;
  }
}
