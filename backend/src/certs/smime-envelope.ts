/**
 * S/MIME encryption (RFC 8551) of one MIME entity for any number of recipients: CMS EnvelopedData with
 * AES-256-CBC, or AuthEnvelopedData (RFC 5083) with AES-256-GCM (RFC 5084) for recipients that advertise
 * it. One content key encrypts the content once; each recipient gets it wrapped with RSA-OAEP (SHA-256) or,
 * for recipients that need it, RSA PKCS#1 v1.5. The ASN.1 structures come from pkijs; the cryptography is
 * node:crypto's, because pkijs has no AuthEnvelopedData and WebCrypto no RSA PKCS#1 v1.5 encryption.
 */
import {
  constants,
  createCipheriv,
  createDecipheriv,
  createHash,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import * as asn1js from 'asn1js';
import forge from 'node-forge';
import * as pkijs from 'pkijs';

export class SmimeError extends Error {}

const OID = {
  data: '1.2.840.113549.1.7.1',
  envelopedData: '1.2.840.113549.1.7.3',
  authEnvelopedData: '1.2.840.113549.1.9.16.1.23',
  aes128Cbc: '2.16.840.1.101.3.4.1.2',
  aes192Cbc: '2.16.840.1.101.3.4.1.22',
  aes256Cbc: '2.16.840.1.101.3.4.1.42',
  aes128Gcm: '2.16.840.1.101.3.4.1.6',
  aes256Gcm: '2.16.840.1.101.3.4.1.46',
  rsaEncryption: '1.2.840.113549.1.1.1',
  rsaOaep: '1.2.840.113549.1.1.7',
  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  sha512: '2.16.840.1.101.3.4.2.3',
  mgf1: '1.2.840.113549.1.1.8',
  ecPublicKey: '1.2.840.10045.2.1',
  aes128Wrap: '2.16.840.1.101.3.4.1.5',
  aes192Wrap: '2.16.840.1.101.3.4.1.25',
  aes256Wrap: '2.16.840.1.101.3.4.1.45',
  ecdhSha1Kdf: '1.3.133.16.840.63.0.2',
  ecdhSha224Kdf: '1.3.132.1.11.0',
  ecdhSha256Kdf: '1.3.132.1.11.1',
  ecdhSha384Kdf: '1.3.132.1.11.2',
  ecdhSha512Kdf: '1.3.132.1.11.3',
} as const;

/** Named curves by OID, as node:crypto names them. */
const CURVES: Record<string, string> = { '1.2.840.10045.3.1.7': 'prime256v1', '1.3.132.0.34': 'secp384r1', '1.3.132.0.35': 'secp521r1' };
/** RFC 5753 dhSinglePass-stdDH schemes: the X9.63 KDF's hash. */
const ECDH_KDF_HASHES: Record<string, string> = {
  [OID.ecdhSha1Kdf]: 'sha1',
  [OID.ecdhSha224Kdf]: 'sha224',
  [OID.ecdhSha256Kdf]: 'sha256',
  [OID.ecdhSha384Kdf]: 'sha384',
  [OID.ecdhSha512Kdf]: 'sha512',
};
const KEY_WRAPS: Record<string, { cipher: string; bytes: number }> = {
  [OID.aes128Wrap]: { cipher: 'id-aes128-wrap', bytes: 16 },
  [OID.aes192Wrap]: { cipher: 'id-aes192-wrap', bytes: 24 },
  [OID.aes256Wrap]: { cipher: 'id-aes256-wrap', bytes: 32 },
};
/** RFC 3394's default initial value. */
const KEY_WRAP_IV = Buffer.from('a6a6a6a6a6a6a6a6', 'hex');

const CBC_CIPHERS: Record<string, string> = { [OID.aes128Cbc]: 'aes-128-cbc', [OID.aes192Cbc]: 'aes-192-cbc', [OID.aes256Cbc]: 'aes-256-cbc' };
const GCM_CIPHERS: Record<string, string> = { [OID.aes128Gcm]: 'aes-128-gcm', [OID.aes256Gcm]: 'aes-256-gcm' };
const HASHES: Record<string, string> = { [OID.sha1]: 'sha1', [OID.sha256]: 'sha256', [OID.sha384]: 'sha384', [OID.sha512]: 'sha512' };

export interface EnvelopeRecipient {
  /** The recipient's certificate, DER. */
  certificate: Buffer;
  /** How the content key is wrapped for them (default RSA-OAEP with SHA-256). */
  keyTransport?: 'rsa-oaep' | 'rsa-pkcs1';
}

export type ContentEncryption = 'aes-256-cbc' | 'aes-256-gcm';

function certificateOf(der: Buffer): pkijs.Certificate {
  try {
    return pkijs.Certificate.fromBER(new Uint8Array(der));
  } catch (error) {
    throw new SmimeError(`a recipient certificate cannot be read: ${(error as Error).message.slice(0, 120)}`);
  }
}

function publicKeyPem(certificate: pkijs.Certificate): string {
  const spki = Buffer.from(certificate.subjectPublicKeyInfo.toSchema().toBER(false)).toString('base64');
  return `-----BEGIN PUBLIC KEY-----\n${spki.match(/.{1,64}/g)!.join('\n')}\n-----END PUBLIC KEY-----\n`;
}

function octets(bytes: Buffer): asn1js.OctetString {
  return new asn1js.OctetString({ valueHex: new Uint8Array(bytes).buffer });
}

function oaepSha256(): pkijs.AlgorithmIdentifier {
  const sha256 = new pkijs.AlgorithmIdentifier({ algorithmId: OID.sha256, algorithmParams: new asn1js.Null() });
  const params = new pkijs.RSAESOAEPParams({
    hashAlgorithm: sha256,
    maskGenAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: OID.mgf1, algorithmParams: sha256.toSchema() }),
  });
  return new pkijs.AlgorithmIdentifier({ algorithmId: OID.rsaOaep, algorithmParams: params.toSchema() });
}

/**
 * ECC-CMS-SharedInfo (RFC 5753 §7.2): the key-wrap algorithm, the sender's optional keying material and
 * the length of the key-encryption key in bits; the X9.63 KDF hashes it after the shared secret.
 */
function sharedInfo(wrapOid: string, kekBytes: number, ukm?: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(kekBytes * 8);
  const value: asn1js.AsnType[] = [new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: wrapOid })] })];
  if (ukm) value.push(new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: [octets(ukm)] }));
  value.push(new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 2 }, value: [octets(length)] }));
  return Buffer.from(new asn1js.Sequence({ value }).toBER(false));
}

/** ANSI X9.63 KDF: hash(Z || counter || SharedInfo) for counter 1, 2, … until enough bytes. */
function x963Kdf(secret: Buffer, info: Buffer, bytes: number, hash: string): Buffer {
  const blocks: Buffer[] = [];
  for (let counter = 1, have = 0; have < bytes; counter += 1) {
    const count = Buffer.alloc(4);
    count.writeUInt32BE(counter);
    const block = createHash(hash).update(secret).update(count).update(info).digest();
    blocks.push(block);
    have += block.length;
  }
  return Buffer.concat(blocks).subarray(0, bytes);
}

/** An EC public key from its curve and point, as node:crypto reads keys. */
function ecPublicKey(curveOid: string, point: Buffer): KeyObject {
  const spki = new asn1js.Sequence({
    value: [
      new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: OID.ecPublicKey }), new asn1js.ObjectIdentifier({ value: curveOid })] }),
      new asn1js.BitString({ valueHex: new Uint8Array(point).buffer }),
    ],
  });
  return createPublicKey({ key: Buffer.from(spki.toBER(false)), format: 'der', type: 'spki' });
}

function curveOf(certificate: pkijs.Certificate): string {
  const params = certificate.subjectPublicKeyInfo.algorithm.algorithmParams;
  const curveOid = params instanceof asn1js.ObjectIdentifier ? params.valueBlock.toString() : '';
  if (!CURVES[curveOid]) throw new SmimeError(`the recipient's EC key is on a curve this gateway does not use (${curveOid || 'unnamed'})`);
  return curveOid;
}

/** KeyAgreeRecipientInfo (RFC 5753): an ephemeral ECDH key, the X9.63 KDF with SHA-256, AES-256 key wrap. */
function ecdhRecipientInfo(certificate: pkijs.Certificate, contentKey: Buffer): pkijs.RecipientInfo {
  const curveOid = curveOf(certificate);
  const recipientKey = ecPublicKey(curveOid, Buffer.from(certificate.subjectPublicKeyInfo.subjectPublicKey.valueBlock.valueHexView));
  const ephemeral = generateKeyPairSync('ec', { namedCurve: CURVES[curveOid]! });
  const secret = diffieHellman({ privateKey: ephemeral.privateKey, publicKey: recipientKey });
  const kek = x963Kdf(secret, sharedInfo(OID.aes256Wrap, 32), 32, 'sha256');
  const wrap = createCipheriv('id-aes256-wrap', kek, KEY_WRAP_IV);
  const wrapped = Buffer.concat([wrap.update(contentKey), wrap.final()]);
  const ephemeralSpki = pkijs.PublicKeyInfo.fromBER(new Uint8Array(ephemeral.publicKey.export({ type: 'spki', format: 'der' })));
  return new pkijs.RecipientInfo({
    variant: 2,
    value: new pkijs.KeyAgreeRecipientInfo({
      version: 3,
      originator: new pkijs.OriginatorIdentifierOrKey({
        variant: 3,
        value: new pkijs.OriginatorPublicKey({ algorithm: new pkijs.AlgorithmIdentifier({ algorithmId: OID.ecPublicKey }), publicKey: ephemeralSpki.subjectPublicKey }),
      }),
      keyEncryptionAlgorithm: new pkijs.AlgorithmIdentifier({
        algorithmId: OID.ecdhSha256Kdf,
        algorithmParams: new pkijs.AlgorithmIdentifier({ algorithmId: OID.aes256Wrap }).toSchema(),
      }),
      recipientEncryptedKeys: new pkijs.RecipientEncryptedKeys({
        encryptedKeys: [
          new pkijs.RecipientEncryptedKey({
            rid: new pkijs.KeyAgreeRecipientIdentifier({ variant: 1, value: new pkijs.IssuerAndSerialNumber({ issuer: certificate.issuer, serialNumber: certificate.serialNumber }) }),
            encryptedKey: octets(wrapped),
          }),
        ],
      }),
    }),
  });
}

function recipientInfo(recipient: EnvelopeRecipient, contentKey: Buffer): pkijs.RecipientInfo {
  const certificate = certificateOf(recipient.certificate);
  const keyAlgorithm = certificate.subjectPublicKeyInfo.algorithm.algorithmId;
  if (keyAlgorithm === OID.ecPublicKey) return ecdhRecipientInfo(certificate, contentKey);
  if (keyAlgorithm !== OID.rsaEncryption) {
    throw new SmimeError(`the recipient key is neither RSA nor EC (${keyAlgorithm}): it cannot receive a wrapped key here`);
  }
  const key = publicKeyPem(certificate);
  const pkcs1 = recipient.keyTransport === 'rsa-pkcs1';
  const encryptedKey = pkcs1
    ? publicEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, contentKey)
    : publicEncrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, contentKey);
  return new pkijs.RecipientInfo({
    variant: 1,
    value: new pkijs.KeyTransRecipientInfo({
      version: 0,
      rid: new pkijs.IssuerAndSerialNumber({ issuer: certificate.issuer, serialNumber: certificate.serialNumber }),
      keyEncryptionAlgorithm: pkcs1 ? new pkijs.AlgorithmIdentifier({ algorithmId: OID.rsaEncryption, algorithmParams: new asn1js.Null() }) : oaepSha256(),
      encryptedKey: octets(encryptedKey),
    }),
  });
}

/** The entity encrypted for the recipients: DER ContentInfo of EnvelopedData (CBC) or AuthEnvelopedData (GCM). */
export function encryptForRecipients(content: Buffer, recipients: readonly EnvelopeRecipient[], algorithm: ContentEncryption = 'aes-256-cbc'): Buffer {
  if (recipients.length === 0) throw new SmimeError('there is no recipient to encrypt for');
  const contentKey = randomBytes(32);
  const recipientInfos = recipients.map((r) => recipientInfo(r, contentKey));
  if (algorithm === 'aes-256-cbc') {
    const iv = randomBytes(16);
    const cipher = createCipheriv('aes-256-cbc', contentKey, iv);
    const encrypted = Buffer.concat([cipher.update(content), cipher.final()]);
    const enveloped = new pkijs.EnvelopedData({
      // RFC 5652 §6.1: version 2 when a recipient is reached by key agreement (its RecipientInfo is version 3).
      version: recipientInfos.some((r) => r.variant === 2) ? 2 : 0,
      recipientInfos,
      encryptedContentInfo: new pkijs.EncryptedContentInfo({
        contentType: OID.data,
        contentEncryptionAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: OID.aes256Cbc, algorithmParams: octets(iv) }),
        encryptedContent: octets(encrypted),
        disableSplit: true,
      }),
    });
    return contentInfo(OID.envelopedData, enveloped.toSchema());
  }
  // RFC 5084: a 12-byte nonce and a 16-byte tag; with no authenticated attributes the AAD is empty.
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', contentKey, nonce, { authTagLength: 16 });
  const encrypted = Buffer.concat([cipher.update(content), cipher.final()]);
  const tag = cipher.getAuthTag();
  const gcmParameters = new asn1js.Sequence({ value: [octets(nonce), new asn1js.Integer({ value: 16 })] });
  const encryptedContentInfo = new pkijs.EncryptedContentInfo({
    contentType: OID.data,
    contentEncryptionAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: OID.aes256Gcm, algorithmParams: gcmParameters }),
    encryptedContent: octets(encrypted),
    disableSplit: true,
  });
  // AuthEnvelopedData ::= SEQUENCE { version, originatorInfo [0] OPTIONAL, recipientInfos, authEncryptedContentInfo, authAttrs [1] OPTIONAL, mac }
  const authEnveloped = new asn1js.Sequence({
    value: [new asn1js.Integer({ value: 0 }), new asn1js.Set({ value: recipientInfos.map((r) => r.toSchema()) }), encryptedContentInfo.toSchema(), octets(tag)],
  });
  return contentInfo(OID.authEnvelopedData, authEnveloped);
}

function contentInfo(type: string, content: asn1js.Sequence): Buffer {
  return Buffer.from(new pkijs.ContentInfo({ contentType: type, content }).toSchema().toBER(false));
}

export type KeyTransport = 'rsa-oaep' | 'rsa-pkcs1' | 'ecdh';

/** The content key of a key-agreement recipient: ECDH with the sender's ephemeral key, the X9.63 KDF, AES key unwrap. */
function agreedKey(kari: pkijs.KeyAgreeRecipientInfo, encrypted: pkijs.RecipientEncryptedKey, certificate: pkijs.Certificate, privateKey: KeyObject): Buffer {
  const hash = ECDH_KDF_HASHES[kari.keyEncryptionAlgorithm.algorithmId];
  if (!hash) throw new SmimeError(`the content key is agreed with a scheme this gateway does not read (${kari.keyEncryptionAlgorithm.algorithmId})`);
  let wrapOid = '';
  try {
    wrapOid = new pkijs.AlgorithmIdentifier({ schema: kari.keyEncryptionAlgorithm.algorithmParams }).algorithmId;
  } catch {
    throw new SmimeError('the key-agreement recipient names no key-wrap algorithm');
  }
  const wrap = KEY_WRAPS[wrapOid];
  if (!wrap) throw new SmimeError(`the content key is wrapped with an algorithm this gateway does not read (${wrapOid})`);
  if (kari.originator.variant !== 3 || !(kari.originator.value instanceof pkijs.OriginatorPublicKey)) {
    throw new SmimeError("the key-agreement recipient does not carry the sender's ephemeral public key");
  }
  const point = Buffer.from(kari.originator.value.publicKey.valueBlock.valueHexView);
  const ukm = kari.ukm ? Buffer.from(kari.ukm.valueBlock.valueHexView) : undefined;
  try {
    const secret = diffieHellman({ privateKey, publicKey: ecPublicKey(curveOf(certificate), point) });
    const kek = x963Kdf(secret, sharedInfo(wrapOid, wrap.bytes, ukm), wrap.bytes, hash);
    const unwrap = createDecipheriv(wrap.cipher, kek, KEY_WRAP_IV);
    return Buffer.concat([unwrap.update(Buffer.from(encrypted.encryptedKey.valueBlock.valueHexView)), unwrap.final()]);
  } catch (error) {
    if (error instanceof SmimeError) throw error;
    throw new SmimeError('the content key does not unwrap with this private key');
  }
}

export interface DecryptionKey {
  certificate: Buffer;
  privateKey: KeyObject;
}

/** The content of an EnvelopedData or AuthEnvelopedData for the recipient whose key is given. */
export function decryptEnveloped(der: Buffer, key: DecryptionKey): { content: Buffer; algorithm: string; keyTransport: KeyTransport } {
  const asn = asn1js.fromBER(new Uint8Array(der));
  if (asn.offset === -1) throw new SmimeError('the encrypted message is not readable DER');
  let info: pkijs.ContentInfo;
  try {
    info = new pkijs.ContentInfo({ schema: asn.result });
  } catch {
    throw new SmimeError('the encrypted message is no CMS content');
  }
  const certificate = certificateOf(key.certificate);
  if (info.contentType === OID.envelopedData) {
    const enveloped = new pkijs.EnvelopedData({ schema: info.content });
    const { contentKey, keyTransport } = unwrapKey(enveloped.recipientInfos, certificate, key.privateKey);
    const eci = enveloped.encryptedContentInfo;
    const cipherName = CBC_CIPHERS[eci.contentEncryptionAlgorithm.algorithmId];
    if (!cipherName) throw new SmimeError(`the content is encrypted with an algorithm this gateway does not read (${eci.contentEncryptionAlgorithm.algorithmId})`);
    const iv = Buffer.from((eci.contentEncryptionAlgorithm.algorithmParams as asn1js.OctetString).valueBlock.valueHexView);
    const decipher = createDecipheriv(cipherName, contentKey, iv);
    try {
      return { content: Buffer.concat([decipher.update(encryptedBytes(eci)), decipher.final()]), algorithm: cipherName, keyTransport };
    } catch {
      throw new SmimeError('the content does not decrypt with its key: it was changed, or the key is not the one it was encrypted with');
    }
  }
  if (info.contentType === OID.authEnvelopedData) {
    const sequence = info.content as asn1js.Sequence;
    const items = sequence.valueBlock.value;
    // version, [0] originatorInfo?, recipientInfos, authEncryptedContentInfo, [1] authAttrs?, mac
    const rest = items.slice(1).filter((item) => !(item.idBlock.tagClass === 3 && item.idBlock.tagNumber === 0));
    const recipientSet = rest[0] as asn1js.Set;
    const eci = new pkijs.EncryptedContentInfo({ schema: rest[1] });
    const authAttrs = rest.find((item) => item.idBlock.tagClass === 3 && item.idBlock.tagNumber === 1);
    const mac = rest[rest.length - 1] as asn1js.OctetString;
    const recipientInfos = recipientSet.valueBlock.value.map((schema) => new pkijs.RecipientInfo({ schema }));
    const { contentKey, keyTransport } = unwrapKey(recipientInfos, certificate, key.privateKey);
    const cipherName = GCM_CIPHERS[eci.contentEncryptionAlgorithm.algorithmId];
    if (!cipherName) throw new SmimeError(`the content is encrypted with an algorithm this gateway does not read (${eci.contentEncryptionAlgorithm.algorithmId})`);
    const params = eci.contentEncryptionAlgorithm.algorithmParams as asn1js.Sequence;
    const nonce = Buffer.from((params.valueBlock.value[0] as asn1js.OctetString).valueBlock.valueHexView);
    const tag = Buffer.from(mac.valueBlock.valueHexView);
    const decipher = createDecipheriv(cipherName as 'aes-256-gcm', contentKey, nonce, { authTagLength: tag.length });
    // RFC 5083: authenticated attributes are authenticated as their DER SET OF, not the [1] IMPLICIT tag.
    if (authAttrs) {
      const encoded = Buffer.from(authAttrs.toBER(false));
      encoded[0] = 0x31;
      decipher.setAAD(encoded);
    }
    decipher.setAuthTag(tag);
    try {
      return { content: Buffer.concat([decipher.update(encryptedBytes(eci)), decipher.final()]), algorithm: cipherName, keyTransport };
    } catch {
      throw new SmimeError('the content fails its integrity check: it was changed after it was encrypted');
    }
  }
  throw new SmimeError(`the message is a CMS ${info.contentType}, not encrypted content`);
}

function encryptedBytes(eci: pkijs.EncryptedContentInfo): Buffer {
  const content = eci.encryptedContent;
  if (!content) throw new SmimeError('the encrypted content is missing');
  // A constructed OCTET STRING (chunks) or a primitive one.
  if (content.valueBlock.isConstructed) {
    return Buffer.concat(content.valueBlock.value.map((chunk) => Buffer.from((chunk as asn1js.OctetString).valueBlock.valueHexView)));
  }
  return Buffer.from(content.valueBlock.valueHexView);
}

function unwrapKey(
  recipientInfos: readonly pkijs.RecipientInfo[],
  certificate: pkijs.Certificate,
  privateKey: KeyObject,
): { contentKey: Buffer; keyTransport: KeyTransport } {
  const serial = Buffer.from(certificate.serialNumber.valueBlock.valueHexView).toString('hex');
  const issuer = Buffer.from(certificate.issuer.toSchema().toBER(false)).toString('hex');
  const names = (rid: unknown) =>
    rid instanceof pkijs.IssuerAndSerialNumber &&
    Buffer.from(rid.serialNumber.valueBlock.valueHexView).toString('hex') === serial &&
    Buffer.from(rid.issuer.toSchema().toBER(false)).toString('hex') === issuer;
  for (const info of recipientInfos) {
    if (!(info.value instanceof pkijs.KeyAgreeRecipientInfo)) continue;
    const encrypted = info.value.recipientEncryptedKeys.encryptedKeys.find((k) => k.rid.variant === 1 && names(k.rid.value));
    if (encrypted) return { contentKey: agreedKey(info.value, encrypted, certificate, privateKey), keyTransport: 'ecdh' };
  }
  const mine = recipientInfos
    .map((info) => info.value)
    .find((value): value is pkijs.KeyTransRecipientInfo => {
      if (!(value instanceof pkijs.KeyTransRecipientInfo) || !(value.rid instanceof pkijs.IssuerAndSerialNumber)) return false;
      return (
        Buffer.from(value.rid.serialNumber.valueBlock.valueHexView).toString('hex') === serial &&
        Buffer.from(value.rid.issuer.toSchema().toBER(false)).toString('hex') === issuer
      );
    });
  if (!mine) throw new SmimeError('the message is not encrypted for this certificate (no recipient names its issuer and serial number)');
  const wrapped = Buffer.from(mine.encryptedKey.valueBlock.valueHexView);
  const algorithm = mine.keyEncryptionAlgorithm.algorithmId;
  try {
    if (algorithm === OID.rsaOaep) {
      const params = mine.keyEncryptionAlgorithm.algorithmParams ? new pkijs.RSAESOAEPParams({ schema: mine.keyEncryptionAlgorithm.algorithmParams }) : undefined;
      const hash = HASHES[params?.hashAlgorithm.algorithmId ?? OID.sha1] ?? 'sha1';
      return { contentKey: privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, wrapped), keyTransport: 'rsa-oaep' };
    }
    if (algorithm === OID.rsaEncryption) {
      // Node 20 refuses RSA PKCS#1 v1.5 private decryption (CVE-2023-46809, the Marvin timing attack) unless
      // the whole process runs with --security-revert. Senders still use it (OpenSSL's default): the key is
      // unwrapped with node-forge instead, for this one 32-byte key only.
      const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
      const forgeKey = forge.pki.privateKeyFromPem(pem);
      return { contentKey: Buffer.from(forgeKey.decrypt(wrapped.toString('binary'), 'RSAES-PKCS1-V1_5'), 'binary'), keyTransport: 'rsa-pkcs1' };
    }
  } catch {
    throw new SmimeError('the content key does not unwrap with this private key');
  }
  throw new SmimeError(`the content key is wrapped with an algorithm this gateway does not read (${algorithm})`);
}
