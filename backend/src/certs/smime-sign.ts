/**
 * S/MIME signing (RFC 8551 §3.5): CMS SignedData over a MIME entity with SHA-256, signed attributes
 * (content type, message digest, signing time, and SMIMECapabilities saying what mail to the signer may
 * use) and the signer's certificate and chain. Detached for multipart/signed, or with the content inside
 * (opaque). The structures come from pkijs; the signature is WebCrypto's (RSA PKCS#1 v1.5 or ECDSA).
 */
import './pkijs-engine.ts';
import { createHash, webcrypto, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { CAPABILITY, SMIME_CAPABILITIES_OID } from './smime-capabilities.ts';
import { SmimeError } from './smime-envelope.ts';

const OID = {
  data: '1.2.840.113549.1.7.1',
  signedData: '1.2.840.113549.1.7.2',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  signingTime: '1.2.840.113549.1.9.5',
  aes128Cbc: '2.16.840.1.101.3.4.1.2',
} as const;

/** What mail to a Sealpost signer may use, strongest first: the gateway reads all of it. */
const ADVERTISED = [CAPABILITY.aes256Gcm, CAPABILITY.aes256Cbc, OID.aes128Cbc, CAPABILITY.rsaOaep, CAPABILITY.rsaEncryption];

export interface Signer {
  certificate: Buffer;
  chain: readonly Buffer[];
  privateKey: KeyObject;
}

function capabilitiesValue(): asn1js.Sequence {
  return new asn1js.Sequence({ value: ADVERTISED.map((oid) => new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: oid })] })) });
}

async function webKey(key: KeyObject): Promise<CryptoKey> {
  const pkcs8 = key.export({ type: 'pkcs8', format: 'der' });
  if (key.asymmetricKeyType === 'rsa') {
    return webcrypto.subtle.importKey('pkcs8', pkcs8, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['sign']) as Promise<CryptoKey>;
  }
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    const namedCurve = curve === 'prime256v1' ? 'P-256' : curve === 'secp384r1' ? 'P-384' : curve === 'secp521r1' ? 'P-521' : undefined;
    if (!namedCurve) throw new SmimeError(`the signing key's curve ${curve ?? '(unknown)'} is not supported`);
    return webcrypto.subtle.importKey('pkcs8', pkcs8, { name: 'ECDSA', namedCurve }, false, ['sign']) as Promise<CryptoKey>;
  }
  throw new SmimeError(`a ${key.asymmetricKeyType ?? 'unknown'} key cannot sign S/MIME here`);
}

/** CMS SignedData (DER) over `content`: detached (the content travels beside it) or opaque (inside). */
export async function signContent(content: Buffer, signer: Signer, form: 'detached' | 'opaque', signingTime = new Date()): Promise<Buffer> {
  let certificate: pkijs.Certificate;
  let chain: pkijs.Certificate[];
  try {
    certificate = pkijs.Certificate.fromBER(new Uint8Array(signer.certificate));
    chain = signer.chain.map((der) => pkijs.Certificate.fromBER(new Uint8Array(der)));
  } catch (error) {
    throw new SmimeError(`the signer's certificate cannot be read: ${(error as Error).message.slice(0, 120)}`);
  }
  const digest = createHash('sha256').update(content).digest();
  const attribute = (type: string, value: asn1js.AsnType) => new pkijs.Attribute({ type, values: [value] });
  const signerInfo = new pkijs.SignerInfo({
    version: 1,
    sid: new pkijs.IssuerAndSerialNumber({ issuer: certificate.issuer, serialNumber: certificate.serialNumber }),
    signedAttrs: new pkijs.SignedAndUnsignedAttributes({
      type: 0,
      attributes: [
        attribute(OID.contentType, new asn1js.ObjectIdentifier({ value: OID.data })),
        attribute(OID.signingTime, new asn1js.UTCTime({ valueDate: signingTime })),
        attribute(OID.messageDigest, new asn1js.OctetString({ valueHex: new Uint8Array(digest).buffer })),
        attribute(SMIME_CAPABILITIES_OID, capabilitiesValue()),
      ],
    }),
  });
  const signed = new pkijs.SignedData({
    version: 1,
    encapContentInfo: new pkijs.EncapsulatedContentInfo({
      eContentType: OID.data,
      ...(form === 'opaque' ? { eContent: new asn1js.OctetString({ valueHex: new Uint8Array(content).buffer }) } : {}),
    }),
    signerInfos: [signerInfo],
    certificates: [certificate, ...chain],
  });
  await signed.sign(await webKey(signer.privateKey), 0, 'SHA-256');
  const info = new pkijs.ContentInfo({ contentType: OID.signedData, content: signed.toSchema(true) });
  return Buffer.from(info.toSchema().toBER(false));
}
